"""Streamlit helpers shared by the pages: settings widgets, the URL, the cached run.

Pages use three things from here::

    from bnviz import ui

    settings = ui.settings_sidebar()        # widgets built from Settings' field specs,
                                            # loaded from / written to the URL
    ui.show_notices(ui.url_notices())       # what the URL said that was not taken as is
    run = ui.cached_run(settings)           # bnviz.train.train, cached by Settings

How settings, widgets and the URL relate:

- ``st.session_state["bnviz_settings"]`` holds the current :class:`Settings` of the
  session; every page reads and writes the same one, so switching pages keeps them.
- On a session's first run the settings come from ``st.query_params`` through
  :meth:`Settings.from_query` (which never raises); its notices are kept for
  :func:`url_notices`.
- Each widget has the key ``"s_" + field name``. Widget values are the truth after
  the first run; :func:`settings_sidebar` returns the Settings they describe and
  writes them to the URL with :func:`sync_url`, so a copied URL reproduces them.

Presenter mode (``?present=1``, :func:`presenting`) changes two things here:
:func:`controls_above` lets the lesson chrome put a step's settings above the charts
instead of the hidden sidebar (each widget is still drawn once, with its own key and URL
sync), and :func:`plotly_chart` draws a page's figure with its text scaled for a
projector, as the live charts do.

This module holds no math and builds no charts.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from .. import budget, fmt, workers
from ..charts.style import PRESENTER_SCALE, pinned_text, scaled_text
from ..data import n_train
from ..scenarios import SCENARIOS
from ..settings import Settings, number_from_url
from ..train import Run

__all__ = [
    "GROUPS",
    "KEY_PREFIX",
    "cached_run",
    "cached_runs",
    "controls_above",
    "controls_missing",
    "controls_placed",
    "current_settings",
    "ladder",
    "ladder_format",
    "load_settings",
    "plain",
    "plotly_chart",
    "presenting",
    "scenario_links",
    "settings_from_widgets",
    "settings_problem",
    "settings_sidebar",
    "show_notices",
    "show_settings_problem",
    "sync_url",
    "trainer",
    "url_notices",
    "url_number",
    "widget",
]

KEY_PREFIX = "s_"
PROGRESS_AFTER_S = 0.5  # training longer than this shows a progress bar
PROGRESS_POLL_S = 0.1  # how often it is updated (and Streamlit may stop an abandoned script)
_STATE = "bnviz_settings"
_NOTICES = "bnviz_url_notices"
_FROM_URL = "bnviz_url_settings"
_PROBLEM = "bnviz_settings_problem"
_ABOVE = "bnviz_controls_above"  # (container, field names) for this script run, or None
_PLACED = "bnviz_controls_placed"  # the fields settings_sidebar drew there in this run
PRESENT_PARAM = "present"  # ?present=1: presenter mode

# The sidebar's sections, in order; every Settings field appears exactly once.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Data", ("dataset", "noise")),
    ("Batch Norm", ("use_bn", "normalization", "bn_position", "groups", "renorm_r_max", "renorm_d_max",
                    "batch_size", "eps", "gamma_init", "beta_init", "freeze_affine", "decay",
                    "bias_correction", "bn_noise")),
    ("Network", ("depth", "width", "activation")),
    ("Training", ("optimizer", "lr", "steps", "seed")),
)

# Fields shown as a select slider over a fixed, readable ladder of values (log-like
# scales). The current value is always added to its ladder, so a URL value such as
# lr=0.037 is shown as is.
_LADDERS: dict[str, tuple[float, ...]] = {
    "eps": (0.0, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0),
    "lr": tuple(float(f"{m}e{e}") for e in range(-5, 2) for m in (1, 2, 5) if float(f"{m}e{e}") <= 10.0),
    "decay": (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999),
    "steps": (1, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000),
    "width": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128),
}
_SLIDER_STEP = {"noise": 0.05, "gamma_init": 0.1, "beta_init": 0.1, "depth": 1}


@st.cache_resource
def trainer() -> workers.Trainer:
    """This server's :class:`bnviz.workers.Trainer`: worker processes and the shared run cache."""
    return workers.Trainer()


def cached_runs(settings: Sequence[Settings], what: str = "") -> list[Run]:
    """``bnviz.train.train`` of each of ``settings``, trained side by side on the worker
    processes and cached for every session (``bnviz.workers``).

    The cache key is ``settings.canonical()``: a run without BN ignores ε, γ/β, decay,
    bias correction and freezing, so moving those does not retrain the no-BN baseline
    (its ``run.settings`` then holds the defaults of those fields). The runs are shared
    by every session: their arrays are read-only.

    While anything trains for longer than ``PROGRESS_AFTER_S``, a progress bar says so
    (``what`` names it). Its updates are also where Streamlit stops this script when the
    session reruns or goes away: the ``finally`` then lets go of the runs, and a run
    nobody else waits for stops training (``Ticket.release``).
    """
    t = trainer()
    tickets: list[workers.Ticket] = []
    try:
        tickets = [t.submit(s) for s in settings]
        waiting, start, bar = [tk for tk in tickets if not tk.done()], time.monotonic(), None
        while waiting:
            waiting[0].wait(PROGRESS_POLL_S)
            waiting = [tk for tk in waiting if not tk.done()]
            if waiting and time.monotonic() - start > PROGRESS_AFTER_S:
                done = sum(tk.progress() * tk.settings.steps for tk in tickets)
                total = sum(tk.settings.steps for tk in tickets)
                bar = bar or st.empty()
                n = len(tickets)
                name = what or (f"{n} networks" if n > 1 else "the network")
                bar.progress(min(done / total, 1.0), text=f"Training {name}… {round(100 * done / total)} %")
        if bar is not None:
            bar.empty()
        return [tk.result() for tk in tickets]
    finally:
        for tk in tickets:
            tk.release()


def cached_run(settings: Settings, what: str = "") -> Run:
    """:func:`cached_runs` of one run."""
    return cached_runs([settings], what)[0]


def ladder(name: str, value: Any, dataset: str | None = None) -> list[Any]:
    """The values a ladder widget offers for field ``name``, always including ``value``.

    ``batch_size`` gets powers of two up to the training-set size of ``dataset``,
    and that size itself (the full batch).
    """
    if name == "batch_size":
        top = n_train(dataset or Settings.dataset)
        values: list[Any] = [2**i for i in range(int(math.log2(top)) + 1)] + [top]
    else:
        values = list(_LADDERS[name])
    if value not in values:
        values.append(value)
    return sorted(set(values))


def ladder_format(name: str) -> Callable[[Any], str]:
    """How a ladder widget of field ``name`` writes its values: ε as powers of ten (1e-5),
    the others as numbers (``fmt.number``, 6 digits: a URL value such as 0.037 as is)."""
    if name == "eps":
        return fmt.epsilon
    return lambda v: fmt.number(v, 6)


def plain(text: str) -> str:
    """``text`` escaped for Streamlit Markdown, so it shows literally (no links, HTML, math)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$:&" else c for c in str(text))


def url_number(
    name: str, default: Any, lo: float, hi: float, notices: list[str], integer: bool = False
) -> Any:
    """Query parameter ``name`` as a number in [lo, hi] (``default`` when absent or malformed).

    What was not taken as is gets a notice appended to ``notices`` (show them with
    :func:`show_notices`). Same rules as the Settings fields (``settings.number_from_url``).
    """
    if name not in st.query_params:
        return default
    text = str(st.query_params[name])
    value, note = number_from_url(text, default, lo, hi, integer)
    if note:
        notices.append(f"{name}={text[:32]!r}: {note}")
    return value


def show_notices(notices: Iterable[str], container: Any = None) -> None:
    """Show notices under one warning, as plain text (a URL's content is never markup or a link)."""
    notices = list(notices)
    if not notices:
        return
    where = container if container is not None else st
    where.warning(
        "Some values in the link were not used as given (defaults or limits apply):", icon="⚠️"
    )
    where.text("\n".join(notices))


def url_notices() -> list[str]:
    """Notices from reading this session's URL (malformed or clamped values).

    Empty once the settings differ from what the URL gave (the user has moved on).
    """
    if st.session_state.get(_STATE) != st.session_state.get(_FROM_URL):
        return []
    return list(st.session_state.get(_NOTICES, []))


def current_settings() -> Settings:
    """The session's Settings: from the URL on the first run, later the last ones used."""
    if _STATE not in st.session_state:
        settings, notices = Settings.from_query(st.query_params.to_dict())
        settings, note = budget.fit_run(settings)  # one run's share of a request's budget
        notices = notices + [note] if note else notices
        st.session_state[_STATE] = st.session_state[_FROM_URL] = settings
        st.session_state[_NOTICES] = notices
    return st.session_state[_STATE]


def widget(name: str, container: Any = None, dataset: str | None = None) -> Any:
    """Draw the widget of Settings field ``name`` (key ``"s_" + name``) and return its value.

    The widget's kind follows the field's Spec: a toggle for "bool", a select box for
    "choice", a select slider over a ladder for log-like fields, a number box for the
    seed, a slider otherwise. Its label and one-line help come from the Spec. The
    session-state key must already hold a valid value (``settings_sidebar`` sees to it).
    """
    where = container if container is not None else st
    spec = Settings.spec(name)
    key = KEY_PREFIX + name
    value = st.session_state[key]
    if spec.kind == "bool":
        return where.toggle(spec.label, key=key, help=spec.help)
    if spec.kind == "choice":
        return where.selectbox(spec.label, spec.choices, key=key, help=spec.help)
    if name in _LADDERS or name == "batch_size":
        return where.select_slider(
            spec.label, ladder(name, value, dataset), key=key, help=spec.help,
            format_func=ladder_format(name),
        )
    assert spec.lo is not None and spec.hi is not None
    if name == "seed":
        return where.number_input(spec.label, int(spec.lo), int(spec.hi), step=1, key=key, help=spec.help)
    if spec.kind == "int":
        return where.slider(spec.label, int(spec.lo), int(spec.hi), step=1, key=key, help=spec.help)
    return where.slider(
        spec.label, float(spec.lo), float(spec.hi), step=_SLIDER_STEP.get(name, 0.01), key=key, help=spec.help
    )


def settings_from_widgets(base: Settings) -> Settings:
    """Settings from the widgets' session state, ``base`` for fields without a widget.

    When the widgets describe no valid Settings (e.g. more compute than one run may use,
    ``budget.run_problem``), returns ``base`` (what worked last) and keeps the
    reason for :func:`settings_problem`, so the page can say so instead of silently
    ignoring the slider.
    """
    values = {}
    for f in dataclasses.fields(Settings):
        v = st.session_state.get(KEY_PREFIX + f.name, getattr(base, f.name))
        values[f.name] = type(getattr(base, f.name))(v)
    values["batch_size"] = min(values["batch_size"], n_train(values["dataset"]))
    try:
        settings = Settings(**values)
        problem = budget.run_problem(settings)  # more than one run's share of a request
        if problem:
            raise ValueError(problem)
    except ValueError as err:
        kept = [f"{name} = {getattr(base, name)} (not {values[name]})"
                for name in values if values[name] != getattr(base, name)]
        st.session_state[_PROBLEM] = (str(err), kept)
        return base
    st.session_state.pop(_PROBLEM, None)
    return settings


def load_settings(settings: Settings) -> None:
    """Set every settings widget to ``settings``: the sidebar shows them when it is next drawn.

    For a callback (e.g. a preset) that changes several settings at once; it must run
    before :func:`settings_sidebar` draws the widgets in this script run.
    """
    for f in dataclasses.fields(Settings):
        st.session_state[KEY_PREFIX + f.name] = getattr(settings, f.name)


def settings_problem() -> str | None:
    """Why the last widget values were not used (plain text), or None when they were.

    Says the core's reason (e.g. "steps: ... billion multiply-adds ...") and which
    settings are in effect instead.
    """
    problem = st.session_state.get(_PROBLEM)
    if not problem:
        return None
    reason, kept = problem
    still = "; ".join(kept) if kept else "the previous values"
    return f"These settings were not used: {reason}. Still showing the last settings that worked: {still}."


def show_settings_problem(container: Any = None) -> None:
    """A warning with :func:`settings_problem`, as plain text (nothing when there is none)."""
    text = settings_problem()
    if text is not None:
        (container if container is not None else st).warning(plain(text), icon=":material/block:")


def presenting() -> bool:
    """``?present=1`` (or true / yes / on) in the URL: presenter mode."""
    return str(st.query_params.get(PRESENT_PARAM, "")).strip().lower() in ("1", "true", "yes", "on")


def controls_above(container: Any | None, names: Sequence[str] = ()) -> None:
    """In this script run, :func:`settings_sidebar` draws the fields ``names`` in ``container``
    (side by side, above the page's charts) instead of the sidebar; the others stay there.

    Called before the page runs, on every run (``None``: every widget in the sidebar). A
    widget keeps its key, so it is drawn once, keeps its value and writes the URL as it
    does from the sidebar. :func:`controls_placed` tells which names a page did draw.
    """
    st.session_state[_ABOVE] = (container, tuple(names)) if container is not None and names else None
    st.session_state[_PLACED] = []


def controls_placed() -> list[str]:
    """The fields :func:`settings_sidebar` drew in the :func:`controls_above` container this run."""
    return list(st.session_state.get(_PLACED, []))


def controls_missing() -> tuple[Any, list[str]]:
    """The :func:`controls_above` container and the fields it names that no
    :func:`settings_sidebar` drew there this run (the page has no such setting)."""
    container, names = st.session_state.get(_ABOVE) or (None, ())
    return container, [n for n in names if n not in controls_placed()]


def plotly_chart(figure: go.Figure, *, key: str, container: Any = None, **kwargs: Any) -> Any:
    """``st.plotly_chart(figure, key=key, **kwargs)`` in ``container`` (default: the page).

    In presenter mode every font of the figure is scaled by ``PRESENTER_SCALE`` first, as
    the live charts do (``bnviz.app.livechart``), and the texts Streamlit's theme would
    shrink get the scaled base size (``pinned_text``): chart text of at least 18 px on a
    projector.
    """
    if presenting():
        figure = go.Figure(pinned_text(scaled_text(figure.to_plotly_json(), PRESENTER_SCALE)))
    return (container if container is not None else st).plotly_chart(figure, key=key, **kwargs)


def _draw_setting(name: str, where: Any) -> None:
    """The widget of field ``name`` in ``where``, with what it needs around it."""
    if name == "batch_size":  # its ladder depends on the dataset
        top = n_train(st.session_state[KEY_PREFIX + "dataset"])
        if st.session_state[KEY_PREFIX + "batch_size"] > top:
            st.session_state[KEY_PREFIX + "batch_size"] = top
        widget(name, where, st.session_state[KEY_PREFIX + "dataset"])
    else:
        widget(name, where)
    if name == "decay":
        d = float(st.session_state[KEY_PREFIX + "decay"])
        where.caption(f"= PyTorch momentum {fmt.number(1 - d, 4)} · Keras momentum {fmt.number(d, 4)}")


def settings_sidebar(fields: Sequence[str] | None = None, groups: bool = True) -> Settings:
    """Draw the settings widgets in the sidebar and return the Settings they describe.

    ``fields`` limits the widgets to those names (the rest keep their current values);
    default: every field, in the sections of ``GROUPS``. Widget state is initialized
    from :func:`current_settings` (the URL on a session's first run). The result is
    stored as the session's settings and written to the URL. Fields that
    :func:`controls_above` names are drawn in its container instead (with the warning
    when the widgets' values cannot be used, which the sidebar shows otherwise).
    """
    base = current_settings()
    wanted = set(fields) if fields is not None else None
    found: tuple[Any, tuple[str, ...]] = st.session_state.get(_ABOVE) or (None, ())
    container, above = found
    placed = [n for n in above if wanted is None or n in wanted]
    problem_box = (container if placed else st.sidebar).empty()  # filled once the values are known
    if fields is None:  # the full sidebar (the Explorer's)
        scenario_links()
    for f in dataclasses.fields(Settings):
        key = KEY_PREFIX + f.name
        if key not in st.session_state:
            st.session_state[key] = getattr(base, f.name)
    for title, names in GROUPS:
        shown = [n for n in names if (wanted is None or n in wanted) and n not in placed]
        if not shown:
            continue
        if groups:
            st.sidebar.markdown(f"**{title}**")
        for name in shown:
            _draw_setting(name, st.sidebar)
    if placed:
        for name, column in zip(placed, container.columns(max(len(placed), 2))):
            _draw_setting(name, column)
        st.session_state[_PLACED] = placed
    settings = settings_from_widgets(base)
    show_settings_problem(problem_box)
    st.session_state[_STATE] = settings
    sync_url(settings)
    return settings


def scenario_links() -> None:
    """A "Scenarios" expander in the sidebar: one link per ``bnviz.scenarios.SCENARIOS`` and
    what to look at. A link is a permalink (``./?<settings>``): it opens the Explorer in a
    new tab, whose new session reads the settings from the URL."""
    with st.sidebar.expander("Scenarios", icon=":material/play_circle:"):
        st.markdown("\n".join(f"- [{plain(s.name)}]({s.href}): {plain(s.look)}" for s in SCENARIOS))
        st.caption("Each opens in a new tab with its settings; the others keep their defaults.")


def sync_url(settings: Settings | None = None, extra: Mapping[str, str] | None = None,
             drop: Iterable[str] = ()) -> None:
    """Write ``settings`` (all fields) and ``extra`` view keys to ``st.query_params``.

    Keys in ``drop`` are removed. Only changed keys are written, so an unchanged
    view sends nothing to the browser.
    """
    wanted = dict(settings.to_query()) if settings is not None else {}
    wanted.update(extra or {})
    current = st.query_params.to_dict()
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changed:
        st.query_params.update(changed)
    for k in drop:
        if k in current:
            del st.query_params[k]


# --------------------------------------------------------------------------- page layout


def intro(title: str, text: str, latex: str | Sequence[str]) -> None:
    """Title, a few plain sentences, then the equation(s)."""
    st.title(title)
    st.markdown(text)
    for eq in [latex] if isinstance(latex, str) else latex:
        st.latex(eq)


# between two equations of one block: the gap separate blocks would leave
EQUATION_BREAK = r" \\[0.8em] "
_BLOCK = (r"\begin{gathered} ", r" \end{gathered}")


def equations(*lines: str, container: Any = None) -> None:
    """Equations one under the other, each centred, in small type, as one element.

    One ``st.latex`` for the block instead of one per equation: each element of a page is a
    message the server builds, hashes and sends on every rerun, and the browser lays out.
    :func:`equation_lines` reads the block back.
    """
    where = container if container is not None else st
    body = lines[0] if len(lines) == 1 else _BLOCK[0] + EQUATION_BREAK.join(lines) + _BLOCK[1]
    where.latex(r"\small " + body)


def equation_lines(source: str) -> list[str]:
    """The equations of a block that :func:`equations` wrote, from its ``st.latex`` source."""
    body = source.strip("$\n ").removeprefix(r"\small ").strip()
    if not body.startswith(_BLOCK[0]):
        return [body]
    inner = body.removeprefix(_BLOCK[0]).removesuffix(_BLOCK[1])
    return [line.strip() for line in inner.split(EQUATION_BREAK.strip())]


def try_this(text: str) -> None:
    st.info(f"**Try this.** {text}", icon=":material/lightbulb:")


def url_float(name: str, default: float, lo: float, hi: float, notices: list[str]) -> float:
    """A number from the URL, clamped to [lo, hi]; a notice when it was not taken as is."""
    return float(url_number(name, default, lo, hi, notices))


def first_run(key: str) -> bool:
    """True once per session and page: the moment to read the page's own URL keys."""
    flag = f"_loaded_{key}"
    if flag in st.session_state:
        return False
    st.session_state[flag] = True
    return True



def persist(key: str, default: object) -> None:
    """Give widget ``key`` a value that survives visits to other pages.

    Streamlit forgets a widget's state when a run does not draw it (another page);
    a plain copy under another key does not get forgotten.
    """
    store = "_keep_" + key
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(store, default)
    st.session_state[store] = st.session_state[key]
