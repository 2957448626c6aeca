"""Exports for slides, from the real Explorer: the histogram animation as an HTML file that
plays offline and as a GIF, and a chart as a PNG at twice its pixels with a caption."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from bnviz import Settings
from bnviz.app.harness import PROJECTOR, chart_frame, exceptions, open_app
from bnviz.engine import checkpoint_steps

from .helpers import screenshot

URL = "/?steps=200"
N_FRAMES = len(checkpoint_steps(Settings(steps=200).steps))


def _download(page, label: str, tmp_path):
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=label).click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_the_animation_downloads_as_html_that_plays_offline_and_as_a_gif(app_server, browser, new_page,
                                                                         tmp_path):
    page = new_page(PROJECTOR)
    open_app(page, app_server + URL)
    html = _download(page, "animation (HTML, plays offline)", tmp_path)
    assert html.name.endswith(".html")
    gif = _download(page, "animation (GIF)", tmp_path)
    image = Image.open(gif)
    assert image.format == "GIF" and getattr(image, "n_frames", 1) == N_FRAMES
    assert exceptions(page) == []

    offline = browser.new_context()
    fetched: list[str] = []

    def block(route) -> None:  # nothing but the file itself may load
        if not route.request.url.startswith("file://"):
            fetched.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    offline.route("**/*", block)
    try:
        view = offline.new_page()
        view.goto(html.as_uri())
        view.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot');"
                               " return gd && gd._transitionData && gd._transitionData._frames.length > 0; }",
                               timeout=120_000)
        frames = view.evaluate("() => document.querySelector('.js-plotly-plot')"
                               "._transitionData._frames.length")
        assert frames == N_FRAMES
        assert view.locator(".slider-container").count() == 1  # Plotly's own step slider
        view.get_by_text("▶ Play").click()
        view.wait_for_function("() => document.querySelector('.slider-container .slider-label, "
                               ".slider-container text') !== null", timeout=60_000)
        screenshot(view, "export-animation-offline")
        assert fetched == []
    finally:
        offline.close()


def test_a_chart_saves_as_a_png_at_twice_its_pixels_with_a_caption(app_server, new_page, tmp_path):
    page = new_page(PROJECTOR)
    open_app(page, app_server + URL)
    frame = chart_frame(page, "curves")
    width = frame.locator("#chart").evaluate("el => el.clientWidth")
    # the height drawn: Plotly's responsive resize (the iframe's width changing after the first
    # draw, as the page settles) drops `layout.height` and keeps drawing at `_fullLayout.height`
    height = frame.locator("#chart").evaluate("el => el._fullLayout.height")
    assert height == frame.locator("#chart").evaluate("el => el.clientHeight") > 0
    with page.expect_download(timeout=60_000) as info:
        frame.locator("#chart").evaluate("() => window.livechartSavePng()")
    path = tmp_path / "curves.png"
    info.value.save_as(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    png_width, png_height = struct.unpack(">II", data[16:24])
    assert png_width == 2 * width
    assert png_height == 2 * (height + 28), "the caption's line is added under the chart"
    shown = Image.open(io.BytesIO(data))
    assert shown.size == (png_width, png_height)
    assert info.value.suggested_filename == "bnviz-curves.png"


def test_the_histograms_save_as_a_png_from_their_players_button_with_a_caption(
        app_server, new_page, tmp_path):
    """The histograms are drawn on a canvas (no Plotly toolbar): the "⤓ PNG" button of their
    player saves what the canvas shows, at twice its pixels, with the caption and the step."""
    page = new_page(PROJECTOR)
    open_app(page, app_server + URL)
    frame = chart_frame(page, "movie")
    chart = frame.locator("#chart")
    width, height = chart.evaluate("el => [el.clientWidth, el.layout.height]")
    with page.expect_download(timeout=60_000) as info:
        frame.get_by_role("button", name="Download as PNG").click()
    path = tmp_path / "movie.png"
    info.value.save_as(path)
    shown = Image.open(path)
    assert shown.size == (2 * width, 2 * (height + 28)), "the caption's line is added under the chart"
    assert info.value.suggested_filename == "bnviz-movie.png"
    # the bars are in it (the Z panel's blue, bnviz.charts.style.HIST[0]), and the caption's line
    # has text in it: pixels drawn under the figure
    pixels = np.asarray(shown.convert("RGBA"))
    blue = int(((pixels[..., 3] > 200) & (pixels[..., :3] == (0x00, 0x72, 0xB2)).all(axis=-1)).sum())
    assert blue > 2000, blue
    assert pixels[2 * height :, :, 3].any(), "the caption is written"
    assert exceptions(page) == []
