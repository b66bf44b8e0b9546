"""The browser panel in headless Chromium: time to first render and the update rate it keeps.

    .venv/bin/python benchmarks/panel.py [--rate 100] [--seconds 10] [--loads 5]

Serves benchmarks/panel.toml (one Thing, ``ticker``, whose observable ``stamp`` is the
wall-clock time of publication, published ``rate`` times a second) and opens its page
in Debian's Chromium (the same headless browser as tests/panel) through Playwright.

- first render: from navigation start to the page showing every property's value and
  the live plot's first points (median and worst of ``--loads`` fresh loads);
- update rate: values received per second by the page's stream, value renders per
  second (the page renders at most once per animation frame), and the lag of what is
  on screen: the time now minus the displayed ``stamp``, sampled every 100 ms. A page
  that drops behind shows a lag that grows; one that keeps up shows a flat lag of about
  one frame plus delivery.

Figures on the development machine (2 shared cores under a load average of 10 to 15 from
other work, Debian Chromium 156 headless, Python 3.11):

    first render (5 fresh loads)    median 445 ms, worst 736 ms (load ~10);
                                    median 1077 ms, worst 1427 ms (load ~15)
    100 Hz, 10 s                    100.0 values/s received (100%), 59 renders/s,
                                    lag median 17 ms, p95 26 ms, max 31 ms (flat: keeps up)
    500 Hz, 10 s                    500.0 values/s received (100%), 60 renders/s,
                                    lag median 12 ms, p95 19 ms, max 20 ms; plot full at 2000

The page keeps up: every value arrives and is plotted, the number on screen is redrawn
once per frame with the newest value, and the lag does not grow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import servient

# As in tests/panel/conftest.py (not imported: that would import pytest and the package).
CHROMIUM = os.environ.get("WOT_LABTHING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

READY = (  # waited for with selectors: wait_for_function evaluates strings, which CSP forbids
    "[data-property=stamp] output[data-value]",
    "[data-property=gain] output[data-value]",
    "[data-plot=stamp][data-points]",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    os.environ["PANEL_BENCH_RATE"] = str(args.rate)
    if not Path(CHROMIUM).exists():
        sys.exit(
            f"{CHROMIUM} not found: run scripts/bootstrap as root (installs Debian's chromium)"
        )
    executable = CHROMIUM
    from playwright.sync_api import sync_playwright

    with servient("benchmarks/panel.toml") as (url, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        page_url = url.rstrip("/") + "/?td=/things/ticker&poll=0"
        firsts = []
        for _ in range(args.loads):
            context = browser.new_context()
            page = context.new_page()
            start = time.perf_counter()
            page.goto(page_url, wait_until="commit")
            for selector in READY:
                page.wait_for_selector(selector, state="attached", timeout=30_000)
            firsts.append((time.perf_counter() - start) * 1000)
            context.close()
        print(f"first render of the Thing page ({args.loads} fresh loads): ")
        print(f"  median {statistics.median(firsts):.0f} ms, worst {max(firsts):.0f} ms")

        context = browser.new_context()
        page = context.new_page()
        page.goto(page_url)
        for selector in READY:
            page.wait_for_selector(selector, state="attached", timeout=30_000)
        time.sleep(1)  # let the stream settle before measuring
        lag_js = (
            "Date.now() / 1000 - "
            "Number(document.querySelector('[data-property=stamp] output').dataset.value)"
        )
        before = page.evaluate("({...window.wlPanel, t: performance.now()})")
        lags = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            lags.append(page.evaluate(lag_js) * 1000)
            time.sleep(0.1)
        after = page.evaluate("({...window.wlPanel, t: performance.now()})")
        elapsed = (after["t"] - before["t"]) / 1000
        received = (after["events"] - before["events"]) / elapsed
        renders = (after["renders"] - before["renders"]) / elapsed
        points = page.evaluate("document.querySelector('[data-plot=stamp]').dataset.points")
        context.close()
        browser.close()
    third = max(1, len(lags) // 3)
    print(f"property changing at {args.rate:g} Hz, measured over {elapsed:.1f} s:")
    print(
        f"  values received by the page: {received:.1f}/s ({received / args.rate:.1%} of published)"
    )
    print(f"  value renders: {renders:.1f}/s (one per animation frame at most)")
    print(
        f"  on-screen lag: median {statistics.median(lags):.1f} ms, "
        f"p95 {sorted(lags)[int(0.95 * (len(lags) - 1))]:.1f} ms, max {max(lags):.1f} ms; "
        f"first third median {statistics.median(lags[:third]):.1f} ms, "
        f"last third {statistics.median(lags[-third:]):.1f} ms"
    )
    print(f"  plot history: {points} points (bounded at 2000)")


if __name__ == "__main__":
    main()
