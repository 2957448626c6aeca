"""A/B: the Explorer's display-only latency of two versions, measured side by side.

    .venv/bin/python bench/ab_display.py --base HEAD~3 [--changes 16]

Runs of ``bench/app_latency.py`` a few minutes apart differ by 20–30 % on a shared
machine, more than most single changes gain. This serves the working tree and ``--base``
(a git revision, checked out into a temporary worktree) at once, opens one browser page
on each, and alternates unit changes between them, so both see the same machine. It
prints, for each version, the median time from the key press to the redrawn histograms
and to the redrawn statistics chart (clocks as in app_latency.py), and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from app_latency import MOVIE, STATS, choose_unit, open_page, serve, timed  # a sibling: bench/ is sys.path[0]
from playwright.sync_api import sync_playwright

from bnviz.app.harness import ROOT, launch_chromium, stop_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the git revision to compare the working tree with")
    ap.add_argument("--changes", type=int, default=16, help="unit changes per version (default 16)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bnviz-ab-") as tmp:
        base_dir = Path(tmp) / "base"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", "-q", str(base_dir), args.base], check=True)
        servers = []
        try:
            # `streamlit run` puts the script's folder first on sys.path: each server imports
            # the bnviz next to its app.py, not the installed one
            urls = {}
            for name, root in (("base", base_dir), ("working tree", ROOT)):
                proc, urls[name] = serve(root / "app.py", log_name=f"ab-{name.split()[0]}")
                servers.append(proc)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                pages = {name: open_page(browser, url) for name, url in urls.items()}
                ms: dict[str, list[list[float]]] = {name: [] for name in pages}
                for i in range(args.changes):
                    for name, page in pages.items():
                        page.bring_to_front()
                        ms[name].append(timed(page, [MOVIE, STATS], partial(page.keyboard.press, "Enter"),
                                              prepare=partial(choose_unit, page, i)))
                browser.close()
        finally:
            for proc in servers:
                stop_server(proc)
            subprocess.run([*git, "remove", "--force", str(base_dir)], check=False)
    med = {name: [statistics.median(m[j] for m in runs) for j in (0, 1)] for name, runs in ms.items()}
    print(f"display-only (Unit), medians of {args.changes} interleaved changes (ms): "
          "histograms / statistics chart")
    for name, (hist, stats) in med.items():
        label = f"{name} ({args.base})" if name == "base" else name
        print(f"  {label:28s} {hist:6.0f} / {stats:6.0f}")
    (bh, bs), (wh, ws) = med["base"], med["working tree"]
    print(f"  working tree / base          {wh / bh:6.2f} / {ws / bs:6.2f}")


if __name__ == "__main__":
    main()
