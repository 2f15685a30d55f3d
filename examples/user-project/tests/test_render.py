from thumbs.render import render, render_all


def test_render():
    assert render(32) == 1024


def test_render_all():
    assert render_all([32, 64, 128]) == [1024, 4096, 16384]
