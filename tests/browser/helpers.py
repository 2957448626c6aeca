"""What only the browser tests need beside :mod:`bnviz.app.harness`: saving screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG under tests/output/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
