"""The Explorer's sidebar lists the one-click scenarios, and each link opens its settings."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from streamlit.testing.v1 import AppTest

from bnviz.app.ui import plain
from bnviz.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_sidebar_links_every_scenario_with_its_sentence():
    at = app()
    expander = next(e for e in at.sidebar.expander if e.label == "Scenarios")
    text = " ".join(m.value for m in expander.markdown)
    links = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", text)
    assert [href for _, href in links] == [s.href for s in SCENARIOS]
    for scenario in SCENARIOS:  # written as plain text (escaped Markdown)
        assert f"]({scenario.href}): {plain(scenario.look)}" in text


def test_opening_a_scenario_link_shows_its_settings_without_notices():
    scenario = next(s for s in SCENARIOS if s.name == "Batch of 1")
    query = dict(parse_qsl(urlsplit(scenario.href).query))
    at = app(query)
    assert not at.warning or all("not used as given" not in w.value for w in at.warning)
    assert at.session_state["s_batch_size"] == 1 and at.query_params["batch_size"] == "1"
    assert any("m = 1" in w.value for w in at.warning), "the page says what m = 1 does"
