import multiprocessing


def render(side):
    """Stands in for the CPU-bound work we keep out of the event loop."""
    return side * side


def render_all(sides, processes=2):
    """Render every size in a pool of processes."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(render, sides)
