"""The test-time view's section "What bias correction does not correct" under AppTest: its table
is caveats.ratio_table of the fixed small-batch runs, and its caption says their numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from threadpoolctl import threadpool_limits

from bnviz import caveats, fmt
from bnviz.train import train

PAGE = Path(__file__).resolve().parents[2] / "bnviz" / "app" / "pages" / "teach_test_time.py"
TIMEOUT = 600  # seconds: generous, the machine is shared; nothing here asserts on time


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):  # as app.py does for the server
        yield


def test_the_test_time_view_shows_what_bias_correction_does_not_correct():
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert [e.value for e in at.exception] == []
    assert "What bias correction does not correct" in [str(h.value) for h in at.subheader]
    table = at.dataframe[-1].value  # the page's last table
    expected = caveats.ratio_table([caveats.variance_bias_of(train(s)) for s in caveats.SHOWN])
    assert list(table["estimate"]) == list(expected["estimate"])
    assert table["mean of 8 seeds"].tolist() == pytest.approx(expected["mean"].tolist(), rel=1e-12)
    assert table["expected"].tolist() == [0.5, 0.5, 1.0]
    caption = " ".join(str(c.value) for c in at.caption)
    raw, _, unbiased = expected["mean"]
    assert f"inherits that: {fmt.number(raw, 2)}×" in caption
    assert f"with the 1/m σ²_B): {fmt.number(unbiased, 2)}×" in caption
