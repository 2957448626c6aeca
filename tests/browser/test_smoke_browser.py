"""The app starts in a real browser with no error on the page, and its charts get Plotly's
bundle as the compressed file the server sends as it is (bnviz.app.livechart); the
histograms, drawn on a canvas, never evaluate it.

The Explorer's look at the sizes a class uses is tests/browser/test_explorer_browser.py's.
"""

from bnviz.app.harness import DESKTOP, exceptions, open_app, plot_data

from .helpers import screenshot

# Which of the Explorer's live charts have Plotly in their iframe, by the key of their container.
PLOTLY_IN_JS = """() => Object.fromEntries(['movie', 'stats', 'curves', 'boundaries'].map(key => {
  const frame = document.querySelector('.st-key-' + key + ' iframe');
  return [key, frame ? typeof frame.contentWindow.Plotly : null];
}))"""


def test_the_app_opens_and_its_charts_load_plotly_compressed_once_on_the_server(app_server, new_page):
    page = new_page(DESKTOP)
    bundles = []
    page.on("response", lambda r: bundles.append(r) if "/plotly.min.js" in r.url else None)
    open_app(page, app_server)
    assert exceptions(page) == [] and page.bnviz_errors == []
    assert len(plot_data(page)) == 4, "every chart of the Explorer drawn"
    assert {r.url.rsplit("/", 1)[1] for r in bundles} == {"plotly.min.js.gz"}, [r.url for r in bundles]
    for r in bundles:
        headers = r.all_headers()
        # compressed once, on disk: the server sends the file as it is, compressing nothing
        assert headers.get("content-type") == "application/gzip", headers
        assert "content-encoding" not in headers, headers
        assert 1_000_000 < int(headers["content-length"]) < 2_000_000
    assert page.evaluate(PLOTLY_IN_JS) == {"movie": "undefined", "stats": "object", "curves": "object",
                                           "boundaries": "object"}, "Plotly only where it draws"
    screenshot(page, "home-1440x900")
