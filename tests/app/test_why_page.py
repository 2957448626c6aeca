"""Teaching view 8 (Why does BN help?) under Streamlit's AppTest: it renders at its defaults and
for bad URL values, and the numbers it shows are the core's (recomputed from bnviz.why)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from threadpoolctl import threadpool_limits

from bnviz import fmt, why
from bnviz.train import train

PAGE = Path(__file__).resolve().parents[2] / "bnviz" / "app" / "pages" / "teach_why.py"
TIMEOUT = 600  # seconds: generous, the machine is shared; nothing here asserts on time


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):  # as app.py does for the server
        yield


def page(**query: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def no_errors(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value if isinstance(value, str) else value[-1]


def notices(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.warning, *at.text])


def test_the_page_renders_at_its_defaults():
    at = page()
    no_errors(at)
    assert at.radio(key="why_net").value == why.DEFAULT_NETWORK
    assert at.select_slider(key="why_noise").value == why.DEFAULT_NOISE
    assert qp(at, "why_net") == why.DEFAULT_NETWORK and qp(at, "why_unit") == "1"
    m = metrics(at)
    assert {"Final test accuracy, BN", "Final test accuracy, noisy BN", "Final test accuracy, no BN",
            "Loss variation, BN | no BN", "Gradient change, BN | no BN"} <= set(m)  # fmt: skip
    assert len(at.latex) >= 2
    assert at.info[-1].value.startswith("**Try this.**")
    assert "trains this fixed experiment once" in " ".join(str(c.value) for c in at.caption)


def test_the_explorers_network_shows_the_cores_numbers():
    at = page(why_net="explorer", why_noise="2", why_unit="3")
    no_errors(at)
    assert at.slider(key="why_unit").value == 3
    base = why.base_settings("explorer")
    runs = [train(s) for s in why.noise_settings(base, 2.0)]
    result = why.noise_result(runs, ("BN", "noisy BN", "no BN"))
    m = metrics(at)
    for name, acc, drift in zip(result.labels, result.final_test_acc, result.drift):
        assert m[f"Final test accuracy, {name}"] == fmt.percent(acc)
        assert m[f"Median moved, {name}"] == fmt.number(drift, 3)
    bn_ls, plain_ls = (why.landscape([s])[0] for s in (base, base.replace(use_bn=False)))
    s_bn, s_plain = why.summary(bn_ls), why.summary(plain_ls)
    assert m["Loss variation, BN | no BN"] == (
        f"{fmt.number(s_bn.loss_variation, 3)} | {fmt.number(s_plain.loss_variation, 3)}"
    )
    assert m["Gradient change, BN | no BN"] == (
        f"{fmt.number(s_bn.grad_change, 3)} | {fmt.number(s_plain.grad_change, 3)}"
    )
    assert not at.caption or "trains this fixed experiment once" not in str(at.caption[0].value)


def test_bad_url_values_give_notices_and_defaults():
    at = page(why_net="vgg", why_noise="0.7", why_unit="9999")
    no_errors(at)
    text = notices(at)
    assert "why_net='vgg'" in text and "why_noise=0.7" in text and "why_unit=" in text
    assert at.radio(key="why_net").value == why.DEFAULT_NETWORK
    assert at.select_slider(key="why_noise").value == why.DEFAULT_NOISE
    assert at.slider(key="why_unit").value == 100  # clamped, then to the network's width


def test_switching_to_the_small_network_keeps_the_unit_within_its_width():
    at = page(why_net="explorer", why_unit="12")
    at.radio(key="why_net").set_value("covariate").run()
    no_errors(at)
    assert at.slider(key="why_unit").value == 12
    at.slider(key="why_unit").set_value(80).run()
    at.radio(key="why_net").set_value("explorer").run()
    no_errors(at)
    assert at.slider(key="why_unit").value == 12
    assert qp(at, "why_net") == "explorer"
