"""The Explorer with BN after the activation and with noise after BN, in a real browser at the
projector's size: the page trains and draws what the URL says with no exception, says what
the normalization normalized (with BN after g the Z panels show g's output) and what the
noise does, and the sidebar's widget holds the setting."""

from __future__ import annotations

import pytest

from bnviz.app.harness import MOVIE_JS, PROJECTOR, exceptions, open_app, plot_data

from .helpers import screenshot

pytestmark = pytest.mark.browser
# Both runs train on first opening: on a shared, busy machine that takes longer than a page's usual run.
FIRST_VISIT_MS = 180_000

CASES = [
    ("after", "/?bn_position=after&activation=tanh", "s_bn_position", "after",
     ["BN after g:", "The Z panels show g's output"]),
    ("noise", "/?bn_noise=0.5", "s_bn_noise", "0.5",
     ["Noise after BN, n = 0.5", "without it, as inference computes it"]),
]


@pytest.mark.parametrize(("kind", "query", "key", "shown", "words"), CASES, ids=[c[0] for c in CASES])
def test_the_explorer_draws_bn_after_g_and_noise_after_bn_and_says_so(
    app_server, new_page, kind, query, key, shown, words
):
    page = new_page(PROJECTOR)
    open_app(page, app_server + query, timeout=FIRST_VISIT_MS)  # both runs, every chart of the first
    assert exceptions(page) == [] and page.bnviz_errors == []
    for param in query[2:].split("&"):
        assert param in page.url, "the URL keeps the setting"
    notes = page.locator('[data-testid="stAlert"]').filter(has_text=words[0])
    assert notes.count() == 1, "one note says what this setting changes"
    text = notes.inner_text()
    assert all(w in text for w in words), text
    widget = page.locator(f'[data-testid="stSidebar"] .st-key-{key}')
    assert widget.count() == 1 and shown in widget.inner_text(), "the sidebar shows the setting"
    page.wait_for_function(f"() => {{ {MOVIE_JS} return movie() && movie().data.length > 0; }}",
                           timeout=FIRST_VISIT_MS)
    assert plot_data(page)[0], "the histograms are drawn"
    screenshot(page, f"explorer-bn-{kind}-1280x720")
    widget.scroll_into_view_if_needed()
    screenshot(page, f"explorer-bn-{kind}-1280x720-sidebar")
