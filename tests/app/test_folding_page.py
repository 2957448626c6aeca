"""Teaching view 7 (BN folded away) under Streamlit's AppTest: it renders, its numbers are the
core's (recomputed here from bnviz.train and bnviz.fold), and the statistics choice acts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from threadpoolctl import threadpool_limits

from bnviz import Settings, fold
from bnviz.train import Run, train

PAGE = Path(__file__).resolve().parents[2] / "bnviz" / "app" / "pages" / "teach_folding.py"
TIMEOUT = 600  # seconds: generous, the machine is shared; nothing here asserts on time
QUERY = {"depth": "2", "width": "8", "steps": "120", "batch_size": "16", "seed": "3"}
MAX_DIFFERENCE = "max |logit difference|"


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):  # as app.py does for the server
        yield


@pytest.fixture(scope="module")
def bn_run() -> Run:
    settings, notices = Settings.from_query(QUERY)
    assert notices == []
    return train(settings.replace(use_bn=True))


def page(**query: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    for k, v in {**QUERY, **query}.items():
        at.query_params[k] = v
    return at.run()


def no_errors(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value if isinstance(value, str) else value[-1]


def shown_as_folded(at: AppTest, run: Run, which: str) -> None:
    """The page's difference, accuracies and tables are those of ``run`` folded with ``which``."""
    m = metrics(at)
    assert float(m[MAX_DIFFERENCE]) <= 1e-10  # written as a number, e.g. "3.11e-15" or "0"
    assert m["Test accuracy: BN network"] == m["Test accuracy: folded network"]
    stats = run.inference_stats(which)
    assert stats is not None
    folded = fold.fold(run.net, stats)
    ds = run.dataset
    accuracy = fold.compare(run.net, stats, folded, ds.X_test, ds.y_test).bn_accuracy
    assert float(m["Test accuracy: BN network"].rstrip("%")) == pytest.approx(100 * accuracy, abs=0.05)
    tables = [df.value for df in at.dataframe]
    assert len(tables) == run.net.depth
    for layer, table in enumerate(tables):
        expected = fold.summary(run.net, stats, folded, layer, 5)
        assert list(table.columns) == list(fold.SUMMARY_COLUMNS)
        for name, values in expected.items():
            np.testing.assert_allclose(table[name].to_numpy(dtype=float), values, rtol=1e-12, err_msg=name)


def test_the_page_shows_the_folded_network_matching(bn_run):
    at = page()
    no_errors(at)
    shown_as_folded(at, bn_run, "running")
    assert len(at.latex) >= 3  # the inference formula and the folding formulas
    assert qp(at, "fold_stats") == "running"
    assert at.info[0].value.startswith("**Try this.**")  # BN is on: no word about a BN twin
    text = " ".join(str(md.value) for md in at.markdown)
    assert "costs nothing" in text and "one matrix multiply" in text


@pytest.mark.parametrize("which", ["corrected", "population"])
def test_switching_the_statistics_folds_those(bn_run, which):
    at = page()
    at.radio(key="fold_stats").set_value(which).run()
    no_errors(at)
    shown_as_folded(at, bn_run, which)
    assert qp(at, "fold_stats") == which
    label = {"corrected": "bias-corrected EWA", "population": "population"}[which]
    assert any(f"the {label} statistics" in str(c.value) for c in at.caption)


def test_the_url_chooses_the_statistics(bn_run):
    at = page(fold_stats="population")
    no_errors(at)
    assert at.radio(key="fold_stats").value == "population"
    shown_as_folded(at, bn_run, "population")


def test_a_session_without_bn_sees_its_bn_twin_folded(bn_run):
    at = page(use_bn="false")
    no_errors(at)
    shown_as_folded(at, bn_run, "running")
    assert any("Batch Norm is off in your settings" in str(i.value) for i in at.info)
    assert qp(at, "use_bn") == "0"  # the session's own setting is left as it is


def test_an_unknown_statistics_name_in_the_url_says_so(bn_run):
    at = page(fold_stats="median")
    no_errors(at)
    assert any("fold_stats='median'" in str(t.value) for t in at.text)
    assert at.radio(key="fold_stats").value == "running"
    shown_as_folded(at, bn_run, "running")
