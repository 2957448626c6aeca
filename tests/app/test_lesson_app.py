"""A lesson step in presenter mode under AppTest: its settings drawn once, above the page
(not in the sidebar), with their URL sync; out of presenter mode they stay in the sidebar."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from streamlit.testing.v1 import AppTest

from bnviz import lessons

TIMEOUT = 120  # seconds: the machine is shared; nothing here asserts on time
ROOT = Path(__file__).resolve().parents[2]
LESSON = lessons.load("batch-normalization-in-20-minutes")


def step_app(index: int, present: bool) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in parse_qsl(urlsplit(lessons.step_url(LESSON, index)).query):
        at.query_params[k] = v
    if present:
        at.query_params["present"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(widgets) -> list[str]:
    return [w.key for w in widgets]


def explorer_step(controls: tuple[str, ...]) -> int:
    return next(i for i, s in enumerate(LESSON.steps) if s.page == "explorer" and s.controls == controls)


def test_presenter_mode_draws_the_steps_settings_above_the_page_once():
    i = explorer_step(("gamma_init", "beta_init"))
    at = step_app(i, present=True)
    main, side = keys(at.main.slider), keys(at.sidebar.slider)
    assert "s_gamma_init" in main and "s_beta_init" in main
    assert "s_gamma_init" not in side and "s_beta_init" not in side
    assert "s_noise" in side and "s_noise" not in main  # the others stay in the (hidden) sidebar
    at.slider(key="s_gamma_init").set_value(2.0).run()
    assert not at.exception
    assert float(at.query_params["gamma_init"]) == 2.0  # the URL holds the new value
    assert at.query_params["step"] == str(i + 1) and at.query_params["present"] == "1"


def test_out_of_presenter_mode_the_settings_stay_in_the_sidebar():
    at = step_app(explorer_step(("batch_size",)), present=False)
    assert "s_batch_size" in keys(at.sidebar.select_slider)
    assert "s_batch_size" not in keys(at.main.select_slider)
    assert "Batch size m" in " ".join(m.value for m in at.markdown)  # the bar names it
