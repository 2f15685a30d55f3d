"""Benchmark (run by hand): the compatibility page of a record set, its size, and how long real headless
Chromium takes to show it: first contentful paint, DOMContentLoaded (the inline script has built the grid by
then), the load event, and the wall time from navigation to the load event.

    .venv/bin/python benchmarks/page_load.py                       # docs/compat.json, 5 loads
    .venv/bin/python benchmarks/page_load.py --page old.html       # a page written earlier, as it is
    .venv/bin/python benchmarks/page_load.py --page old.html --page new.html   # loads alternate: on a busy
                                                                   # machine both see the same load
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
import browser as browser_mod  # noqa: E402  (tests/browser.py: Chromium over the DevTools pipe)

from hangmatrix.report import html, selection  # noqa: E402

TIMES = """(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
  return {dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, fcp: paint['first-contentful-paint'],
          ready: document.body.getAttribute('data-ready'), cells: document.querySelectorAll('#grid td').length,
          squares: document.querySelectorAll('#glance td[data-i]').length};
})()"""


def measure(page_paths, loads):
    """{page: [timings per load]}; the pages take turns, one load each per round, in one browser."""
    binary = browser_mod.chromium()
    profile = tempfile.mkdtemp(prefix="hangmatrix-bench-chromium-")
    rows = {page: [] for page in page_paths}
    with open(os.path.join(profile, "..", os.path.basename(profile) + ".log"), "wb") as log:
        browser = browser_mod.Browser(binary, profile, log)
    try:
        for page_path in [p for _ in range(loads) for p in page_paths]:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            browser.call("Page.enable", session=session)
            browser.call("Performance.enable", session=session)
            started = time.time()
            browser.call("Page.navigate", {"url": "file://" + page_path}, session=session)
            browser.wait_event("Page.loadEventFired", timeout=120)
            wall = time.time() - started
            got = browser_mod.evaluate(browser, session, TIMES)
            assert got["ready"] == "1", "the page's script did not finish"
            got["wall"] = wall * 1000
            metrics = {
                m["name"]: m["value"] for m in browser.call("Performance.getMetrics", session=session)["metrics"]
            }
            for name in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration"):
                got[name] = metrics.get(name, 0) * 1000
            rows[page_path].append(got)
            browser.call("Target.closeTarget", {"targetId": target})
    finally:
        browser.close()
        left = browser_mod.leftovers(profile)
        shutil.rmtree(profile, ignore_errors=True)
        os.unlink(os.path.join(os.path.dirname(profile), os.path.basename(profile) + ".log"))
    assert not left, "Chromium processes outlived the benchmark: %s" % left
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=os.path.join(REPO, "docs", "compat.json"))
    parser.add_argument(
        "--page",
        action="append",
        help="an HTML page to load as it is (else: rendered from --records); give it more than once to compare pages",
    )
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hangmatrix-bench-page-") as tmp:
        pages = [os.path.abspath(p) for p in args.page or []]
        if not pages:
            recs = selection.load(args.records)
            started = time.time()
            text = html.html(recs)
            print("rendered %d records in %.1f s" % (len(recs), time.time() - started))
            pages = [os.path.join(tmp, "compat.html")]
            with open(pages[0], "w", encoding="utf-8") as f:
                f.write(text)
        got = measure(pages, args.loads)
        for page, rows in got.items():
            print("page: %s, %d bytes" % (page if args.page else "(rendered)", os.path.getsize(page)))
            for key in (
                "fcp",
                "dcl",
                "load",
                "wall",
                "ScriptDuration",
                "LayoutDuration",
                "RecalcStyleDuration",
                "TaskDuration",
            ):
                vals = [r[key] for r in rows if r.get(key) is not None]
                if vals:
                    print(
                        "  %-19s median %7.0f ms  (min %.0f, max %.0f, %d loads)"
                        % (key, statistics.median(vals), min(vals), max(vals), len(vals))
                    )
            print("  grid cells %d, map squares %d" % (rows[-1]["cells"], rows[-1]["squares"]))


if __name__ == "__main__":
    main()
