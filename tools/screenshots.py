"""Regenerate the README screenshots in ``assets/`` from the real app.

Starts ``app.py`` on a free port, opens "/" in headless Chromium at 1440×900 in the
light theme, and takes the pages from the app's own navigation links; the
``st.Page(...)`` entries of ``app.py`` name the files (pages/explorer.py →
``assets/explorer.png``, pages/teach_bias.py → ``assets/teach-bias.png``). Each page
is opened fresh, at its defaults, and photographed once it is idle, its fonts are
loaded and every chart is drawn (no sleeps).

A page registered in app.py whose file does not exist yet is skipped with a message;
a page that shows an exception box or a browser error is reported and its old PNG
kept. Exit status 1 if any page failed that way.

    .venv/bin/python tools/screenshots.py                 # every page
    .venv/bin/python tools/screenshots.py explorer sweep  # only these (url paths or names)
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Error, Page, sync_playwright

from bnviz.app.harness import (
    DESKTOP,
    IDLE_JS,
    LOGS,
    PROJECTOR,
    ROOT,
    free_port,
    launch_chromium,
    missing_chromium,
    start_server,
    stop_server,
)

ASSETS = ROOT / "assets"
LOG = LOGS / "screenshots-server.log"
TIMEOUT_MS = 120_000

NAV_JS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]'))
  .map(a => [new URL(a.href).pathname, a.innerText.replace(/\\s+/g, ' ').trim()])"""
# Idle as bnviz.app.harness.IDLE_JS (live charts included), plus: web fonts loaded,
# images decoded, every Plotly chart drawn and every formula typeset.
READY_JS = """() => {
  if (!(""" + IDLE_JS + """)()) return false;
  if (document.fonts.status !== 'loaded') return false;
  if (Array.from(document.images).some(img => !img.complete)) return false;
  const charts = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"], .stPlotlyChart'));
  if (charts.some(c => !c.querySelector('.js-plotly-plot .main-svg'))) return false;
  const formulas = Array.from(document.querySelectorAll('[data-testid="stLatex"], .stLatex'));
  return !formulas.some(f => !f.querySelector('.katex'));
}"""


@dataclass(frozen=True)
class Registered:
    """One ``st.Page(...)`` of app.py."""

    file: str
    url_path: str
    title: str
    default: bool = False

    @property
    def name(self) -> str:
        """The PNG's name: the page file's stem, with dashes (teach_bias → teach-bias)."""
        return Path(self.file).stem.replace("_", "-")

    def exists(self) -> bool:
        return (ROOT / self.file).is_file()


def _string(node: ast.expr | None, names: dict[str, str]) -> str | None:
    """The value of a string literal, a module-level string constant or an f-string made of
    those (``f"{PAGES}/sweep.py"``); None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.conversion != -1 or value.format_spec is not None:
                    return None
                value = value.value
            part = _string(value, names)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return None


def registered_pages(app: Path) -> list[Registered]:
    """The ``st.Page("file", title=..., url_path=...)`` calls of app.py, in order (no import).

    A page given as a function (not a file) has no PNG of its own and is left out.
    """
    tree = ast.parse(app.read_text(), str(app))
    names = {}  # module-level NAME = "text", for f-strings such as f"{PAGES}/sweep.py"
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            text = _string(stmt.value, {})
            if text is not None:
                names[stmt.targets[0].id] = text
    pages = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
            continue
        if (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) != "Page":
            continue
        file = _string(node.args[0] if node.args else None, names)
        if file is None:
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        url = _string(kw.get("url_path"), names) or Path(file).stem
        title = _string(kw.get("title"), names) or Path(file).stem
        default = kw.get("default")
        is_default = isinstance(default, ast.Constant) and bool(default.value)
        pages.append(Registered(file, url.strip("/"), title, is_default))
    if pages and not any(p.default for p in pages):  # Streamlit's default: the first page
        pages[0] = Registered(pages[0].file, pages[0].url_path, pages[0].title, True)
    return pages


def collect_into(errors: list[str]) -> Callable[[Error], None]:
    """A ``pageerror`` handler that appends each uncaught browser error to ``errors``."""
    return lambda exc: errors.append(f"browser error: {exc}")


def wait_ready(page: Page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=TIMEOUT_MS)
    page.wait_for_function(READY_JS, timeout=TIMEOUT_MS, polling=100)


def problems(page: Page, errors: list[str]) -> list[str]:
    """Exception boxes and uncaught browser errors on the page."""
    boxes = page.locator('[data-testid="stException"]').all_inner_texts()
    return [" ".join(t.split())[:300] for t in boxes] + errors


def shoot(page: Page, url: str, path: Path, errors: list[str], full_page: bool) -> list[str]:
    """Open ``url``, wait until drawn, save ``path`` unless the page shows a problem."""
    page.goto(url, timeout=TIMEOUT_MS)
    wait_ready(page)
    found = problems(page, errors)
    if found:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return []


# Views the navigation does not list, taken on a 1280×720 projector (the README shows them): a
# lesson step in presenter mode, the Explorer with LayerNorm and with BN after the activation.
EXTRA = [("/lesson?name=batch-normalization-in-20-minutes&step=4&present=1", "lesson-presenter"),
         ("/?normalization=layer&batch_size=4", "explorer-layernorm"),
         ("/?bn_position=after&activation=tanh", "explorer-bn-after")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="url paths or PNG names of the pages to take (default: all)")
    parser.add_argument("--out", type=Path, default=ASSETS, help="where the PNGs go (default assets/)")
    parser.add_argument("--full-page", action="store_true", help="the whole page instead of 1440×900")
    args = parser.parse_args(argv)
    if missing := missing_chromium():
        parser.error(missing)

    registered = registered_pages(ROOT / "app.py")
    for p in registered:
        if not p.exists():
            print(f"skip {p.name}: {p.file} is registered in app.py but does not exist yet")
    # The default page is served at "/" (its url_path too).
    by_url = {("" if p.default else p.url_path): p for p in registered if p.exists()}

    # The server's look for pictures: light theme, no "Deploy" button in the toolbar.
    os.environ["STREAMLIT_THEME_BASE"] = "light"
    os.environ["STREAMLIT_CLIENT_TOOLBAR_MODE"] = "minimal"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(ROOT / "app.py", port, LOG)
    failed: list[str] = []
    written: list[Path] = []
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = browser.new_context(viewport=DESKTOP, color_scheme="light", device_scale_factor=1)
            home = context.new_page()
            home.goto(base + "/", timeout=TIMEOUT_MS)  # "/" first: the app's own navigation
            wait_ready(home)
            nav = home.evaluate(NAV_JS)
            home.close()
            if not nav:  # one page only: Streamlit hides the navigation
                nav = [["/", "home"]]
            shown = {urllib.parse.unquote(path).strip("/") for path, _ in nav}
            for url_path, p in by_url.items():
                if url_path not in shown:
                    print(f"note {p.name}: registered in app.py but not in the app's navigation")
            for path, label in nav:
                url_path = urllib.parse.unquote(path).strip("/")
                reg = by_url.get(url_path)
                name = reg.name if reg else (url_path or "home").replace("_", "-")
                if args.only and not ({name, url_path} & set(args.only)):
                    continue
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", collect_into(errors))
                target = args.out / f"{name}.png"
                try:
                    found = shoot(page, base + path, target, errors, args.full_page)
                except Exception as exc:  # a page that never gets ready: report, go on
                    found = [f"{type(exc).__name__}: {str(exc).splitlines()[0]}"]
                page.close()
                if found:
                    failed.append(name)
                    print(f"FAIL {name} ({label}, {path}): kept the old PNG\n  " + "\n  ".join(found))
                else:
                    written.append(target)
                    print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} "
                          f"({label}, {target.stat().st_size // 1024} KB)")
            for path, name in EXTRA:  # views the navigation does not list
                if args.only and name not in args.only:
                    continue
                projector = browser.new_context(viewport=PROJECTOR, color_scheme="light",
                                                device_scale_factor=1)
                page = projector.new_page()
                errors = []
                page.on("pageerror", collect_into(errors))
                target = args.out / f"{name}.png"
                try:
                    found = shoot(page, base + path, target, errors, args.full_page)
                except Exception as exc:
                    found = [f"{type(exc).__name__}: {str(exc).splitlines()[0]}"]
                projector.close()
                if found:
                    failed.append(name)
                    print(f"FAIL {name} ({path}): kept the old PNG\n  " + "\n  ".join(found))
                else:
                    written.append(target)
                    print(f"wrote {name}.png ({path}, 1280×720)")
            browser.close()
    finally:
        stop_server(proc)
    print(f"{len(written)} screenshots written, {len(failed)} pages failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
