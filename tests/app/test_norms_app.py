"""The Explorer and the teaching pages with each normalization (``Settings.normalization``), with
BN after the activation and with noise after BN: they render without an exception, the
Explorer trains what the URL says, and the teaching views keep teaching the note's BN."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "bnviz" / "app" / "pages"
TIMEOUT = 600  # seconds: generous, the machine is shared; nothing here asserts on time
QUERIES = [
    {"normalization": "layer"},
    {"normalization": "group", "groups": "3"},
    {"normalization": "renorm"},
    {"normalization": "layer", "batch_size": "1"},
    {"normalization": "batch", "batch_size": "1"},
    {"bn_noise": "0.5"},
    {"bn_position": "after", "activation": "tanh"},
]
# what the teaching pages get: each normalization, and BN after g with noise after it
TEACHING = [*QUERIES[:3], {"bn_position": "after", "bn_noise": "0.5"}]


def name(query: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):  # as app.py does for the server
        yield


def run(path: Path, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert [e.value for e in at.exception] == []
    return at


def qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value if isinstance(value, str) else value[-1]


@pytest.mark.parametrize("query", QUERIES, ids=name)
def test_the_explorer_renders_every_normalization_and_keeps_it_in_the_url(query):
    at = run(ROOT / "app.py", query)
    assert not at.error, [e.value for e in at.error]
    for key, value in query.items():
        assert qp(at, key) == value
    assert at.selectbox(key="s_normalization").value == query.get("normalization", "batch")
    degenerate = any("Batch size m = 1" in w.value for w in at.warning)
    assert degenerate == (query.get("batch_size") == "1" and query.get("normalization") != "layer")


_DEFAULT_METRICS: dict[str, list[tuple[str, str]]] = {}
# teaching pages whose numbers follow these settings on purpose: only that they render
OWN_SETTINGS = {"teach_why.py"}  # "Why does BN help?": noisy BN is its subject


@pytest.mark.parametrize("query", TEACHING, ids=name)
@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("teach_*.py")))
def test_every_teaching_page_renders_with_every_normalization_and_teaches_bn(page, query):
    """The teaching views are about the note's BN: whatever the sidebar's normalization, its
    position and the noise after it, they show the numbers they show by default."""
    shown = [(m.label, m.value) for m in run(PAGES / page, query).metric]
    if page in OWN_SETTINGS:
        return
    if page not in _DEFAULT_METRICS:
        _DEFAULT_METRICS[page] = [(m.label, m.value) for m in run(PAGES / page, {}).metric]
    assert shown == _DEFAULT_METRICS[page]


@pytest.mark.parametrize(("query", "over", "set_words"), [
    ({"normalization": "layer", "batch_size": "1"}, "What LayerNorm normalizes over", "each example (a row)"),
    ({"normalization": "group", "groups": "3"}, "What GroupNorm normalizes over", "a row segment"),
    ({"normalization": "renorm"}, "What Batch Renorm normalizes over", "each unit (a column)"),
    ({}, "What BN normalizes over", "each unit (a column)"),
], ids=lambda v: name(v) if isinstance(v, dict) else "")
def test_the_explorer_says_what_each_normalization_normalizes_over(query, over, set_words):
    at = run(ROOT / "app.py", query)
    assert any(m.value == f"#### {over}" for m in at.markdown)
    assert any(set_words in c.value for c in at.caption)
    html = [m.value for m in at.markdown if m.value.startswith("<svg")]
    assert any("<svg" in h and "example 1" in h for h in html), "the schematic of the mini-batch"
    per_example = query.get("normalization") in ("layer", "group")
    choices = at.selectbox(key="v_norm").options
    assert (choices == ["each example's own"]) == per_example, choices
    names = ("BN", "no BN") if not query else (over.split()[1], "none")
    if query.get("normalization") == "renorm":
        names = ("Batch Renorm", "none")
    assert any(m.value.startswith(f"#### Training: with and without {names[0]}") for m in at.markdown)
    summary = next(m.value for m in at.markdown if m.value.startswith("Test accuracy"))
    assert f"with {names[0]}," in summary
    if per_example:
        assert not any("μ_B, σ²_B of the mini-batch" in c.value for c in at.caption), \
            "no claim that the unit's μ_B, σ²_B normalized it"
        assert any("did not normalize with them" in c.value for c in at.caption)
        assert any("no running estimates to track" in i.value for i in at.info)
        assert not any(m.value.startswith("#### Statistics of layer") for m in at.markdown)
        assert qp(at, "norm") == "example"


@pytest.mark.parametrize(("query", "words"), [
    ({"normalization": "group", "width": "8", "groups": "4"}, "GroupNorm over groups of 2 units"),
    ({"bn_position": "after", "bn_noise": "0.5"}, "The Z panels show g's output"),
    ({"bn_position": "after", "bn_noise": "0.5"}, "Noise after BN, n = 0.5"),
], ids=lambda v: name(v) if isinstance(v, dict) else "")
def test_the_explorer_notes_settings_that_change_what_its_panels_mean(query, words):
    at = run(ROOT / "app.py", query)
    assert any(words in i.value for i in at.info), [i.value for i in at.info]
    assert not any(words in i.value for i in run(ROOT / "app.py", {}).info), "not by default"


def test_the_layers_flow_puts_the_normalization_after_g_when_it_is():
    flows = {}
    for position in ("before", "after"):
        at = run(ROOT / "app.py", {"bn_position": position})
        equations = [e.value.strip("$\n") for e in at.latex]
        flows[position] = next(e for e in equations if e.startswith(r"\small A^"))
    assert flows["before"].endswith(r"A^{[1]} = g(\tilde Z^{[1]})")
    assert r"\xrightarrow{g} Z^{[1]} = g(Z'^{[1]})" in flows["after"]
    assert flows["after"].endswith(r"\tilde Z^{[1]} = A^{[1]}")
