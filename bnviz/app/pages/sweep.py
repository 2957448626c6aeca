"""Sweep: many networks trained at once, one or two settings varied, one metric read off.

Layout only. The sweep runs in ``bnviz.sweep`` (vectorized across models) and is cached
per SweepSpec, so going back to an earlier sweep is instant; figures come from
``bnviz.charts.sweep``. Settings that are not swept come from the shared sidebar.

The URL holds the question (``sweep=decay``), the metric (``sweep_metric=...``) and every
setting, so a shared link reproduces the page: on a session's first visit the question
starts from the link's settings, not its own defaults; only the settings the question
sweeps are its own, and a notice names each link value that this replaced. A sweep of
one's own (``sweep=custom``) is not in the URL beyond its settings: such a link opens the
first question with those settings, and says so.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

import pandas as pd
import streamlit as st

from bnviz import Settings, budget
from bnviz.app import ui
from bnviz.charts import sweep as charts
from bnviz.data import n_train
from bnviz.sweep import METRICS, PRESETS, SWEEPABLE, SweepSpec, cli_command, run, summarize

CUSTOM = "custom"
DEFAULT_PRESET = "small-batch"
URL_PRESET, URL_METRIC = "sweep", "sweep_metric"  # the page's own query keys
CACHE_ENTRIES = 16
CACHE_TTL_SECONDS = 3600
NONE = "—"

# The values a range slider offers per swept setting; a range takes every value inside it.
LADDERS: dict[str, tuple[Any, ...]] = {
    "batch_size": (1, 2, 4, 8, 16, 32, 64, 128, 256),
    "eps": (0.0, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0),
    "decay": (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999),
    "lr": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    "gamma_init": (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    "beta_init": (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0),
    "noise": (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
    "depth": (1, 2, 3, 4, 5, 6, 7, 8),
    "width": (2, 4, 8, 16, 32, 64),
    "steps": (50, 100, 200, 300, 500, 1000),
}
DEFAULT_RANGES: dict[str, tuple[Any, Any]] = {
    "batch_size": (4, 64), "eps": (1e-8, 1e-2), "decay": (0.5, 0.999), "lr": (0.01, 1.0),
    "gamma_init": (0.0, 2.0), "beta_init": (-1.0, 1.0), "noise": (0.0, 0.5), "depth": (1, 4),
    "width": (4, 32), "steps": (50, 300),
}  # fmt: skip


# --------------------------------------------------------------------------- state


def choices_of(name: str) -> tuple[Any, ...]:
    """What a multiselect offers for a bool or choice setting."""
    spec = Settings.spec(name)
    return (False, True) if spec.kind == "bool" else spec.choices


def values_key(slot: int, name: str) -> str:
    """Widget key of a value picker; a new preset starts a new generation of keys, so the
    widgets take the preset's values as their defaults (no Session State writes needed)."""
    return f"sw_v{slot}_{name}_{st.session_state.get('sw_gen', 0)}"


def set_values(slot: int, name: str, values: tuple[Any, ...]) -> None:
    """Make a preset's values the default of the picker of ``slot``."""
    st.session_state.setdefault("sw_defaults", {})[(slot, name)] = values


def apply_preset() -> None:
    """Callback of the question box: set every widget the preset needs, sidebar included."""
    key = st.session_state["sw_preset"]
    if key != CUSTOM:
        load_preset(key, PRESETS[key].spec.base)


def load_preset(key: str, base: Settings) -> None:
    """Set the question's widgets to preset ``key``'s sweep and the sidebar to ``base``."""
    preset = PRESETS[key]
    spec = preset.spec
    st.session_state["sw_gen"] = st.session_state.get("sw_gen", 0) + 1
    st.session_state["sw_defaults"] = {}
    (p1, v1), *rest = spec.params
    st.session_state["sw_p1"] = p1
    set_values(1, p1, v1)
    st.session_state["sw_p2"] = rest[0][0] if rest else NONE
    if rest:
        set_values(2, *rest[0])
    st.session_state["sw_metric"] = preset.metric
    st.session_state["sw_seeds"] = spec.seeds
    ui.load_settings(base)


def url_text(name: str) -> str:
    """Query value ``name`` as text (the last one when the URL repeats it)."""
    raw = st.query_params.get_all(name)
    return str(raw[-1]) if raw else ""


def preset_from_url(notices: list[str]) -> str:
    """The question the URL names (``sweep=...``), or the first one."""
    if URL_PRESET not in st.query_params:
        return DEFAULT_PRESET
    key = url_text(URL_PRESET)
    if key in PRESETS:
        return key
    if key == CUSTOM:
        notices.append(f"{URL_PRESET}={key!r}: a sweep of your own is not kept in a link; showing "
                       f"the question {DEFAULT_PRESET!r} with the link's other settings")  # fmt: skip
    else:
        notices.append(f"{URL_PRESET}={key[:32]!r}: no such question (questions: {', '.join(PRESETS)}); "
                       f"showing {DEFAULT_PRESET!r}")  # fmt: skip
    return DEFAULT_PRESET


def settings_from_url(key: str, notices: list[str]) -> Settings:
    """Preset ``key``'s settings with every setting the URL gives, except those it sweeps.

    A teacher's link then reproduces what they saw (their sidebar, over the question's
    defaults). A swept setting has no single value: the URL's is not used, and a notice
    says so when it differs from the question's own (a link the page wrote never does).
    """
    spec = PRESETS[key].spec
    given = [f.name for f in dataclasses.fields(Settings) if f.name in st.query_params]
    if not given:
        return spec.base
    url, problems = Settings.from_query(st.query_params.to_dict())
    notices += problems
    for name in given:
        if name in spec.names and getattr(url, name) != getattr(spec.base, name):
            values = dict(spec.params)[name]
            shown = ", ".join(charts.value_label(name, v) for v in values)
            notices.append(f"{name}={url_text(name)[:32]!r}: the question {key!r} sweeps {name} "
                           f"({shown}), so this value was replaced")  # fmt: skip
    try:
        return spec.base.replace(**{n: getattr(url, n) for n in given if n not in spec.names})
    except ValueError as err:
        notices.append(f"the link's settings do not fit the question {key!r} ({err}); its own are used")
        return spec.base


def metric_from_url(key: str, notices: list[str]) -> str:
    """The metric the URL names (``sweep_metric=...``), or the question's."""
    if URL_METRIC not in st.query_params:
        return PRESETS[key].metric
    name = url_text(URL_METRIC)
    if name in METRICS:
        return name
    notices.append(f"{URL_METRIC}={name[:32]!r}: no such metric (metrics: {', '.join(METRICS)}); "
                   f"showing {PRESETS[key].metric!r}")  # fmt: skip
    return PRESETS[key].metric


def to_custom() -> None:
    st.session_state["sw_preset"] = CUSTOM


def values_widget(slot: int, name: str, where: Any, dataset: str) -> tuple[Any, ...]:
    """The values to sweep for ``name``: a range slider over its ladder, or a multiselect."""
    key = values_key(slot, name)
    label = f"{charts.param_label(name)}: values"
    preset = st.session_state.get("sw_defaults", {}).get((slot, name))
    fmt = lambda v: charts.value_label(name, v)  # noqa: E731
    if name in LADDERS:
        ladder = [v for v in LADDERS[name] if name != "batch_size" or v <= n_train(dataset)]
        lo, hi = (min(preset), max(preset)) if preset else DEFAULT_RANGES[name]
        lo, hi = (lo if lo in ladder else ladder[0]), (hi if hi in ladder else ladder[-1])
        lo, hi = where.select_slider(
            label, ladder, value=(lo, hi), key=key, on_change=to_custom, format_func=fmt
        )
        return tuple(v for v in ladder if lo <= v <= hi)
    options = choices_of(name)
    default = [v for v in options if preset is None or v in preset]
    picked = where.multiselect(label, options, default=default, key=key, on_change=to_custom, format_func=fmt)
    return tuple(v for v in options if v in picked)


# --------------------------------------------------------------------------- the sweep


@st.cache_data(max_entries=CACHE_ENTRIES, ttl=CACHE_TTL_SECONDS, show_spinner=False)
def cached_sweep(spec: SweepSpec) -> pd.DataFrame:
    """``bnviz.sweep.run(spec)`` with a progress bar; cached for every session."""
    models = spec.size()
    bar = st.progress(0.0, text=f"Training {models} networks at once …")
    shown = [-1]

    def progress(done: int, total: int) -> None:
        pct = int(50 * done / max(total, 1)) * 2  # every 2 %
        if pct != shown[0]:
            shown[0] = pct
            bar.progress(pct / 100, text=f"Training {models} networks at once … {pct} %")

    table = run(spec, progress=progress)
    bar.empty()
    return table


def explorer_link(settings: Settings) -> str:
    """A relative link to the Explorer with these settings.

    The Explorer is the default page, which Streamlit serves at the app's root only
    (``/explorer?...`` answers "Page not found"); ``./?`` also works under a base path.
    """
    return "./?" + urllib.parse.urlencode(settings.to_query())


def picked_config(event: Any, summary: pd.DataFrame, names: tuple[str, ...]) -> int | None:
    """The configuration a click on the chart chose (None without a click).

    Points of the figures carry their config number as ``customdata[7]``; a point
    without it (a seed band) is matched by its x value.
    """
    points = getattr(getattr(event, "selection", None), "points", None) or []
    if not points:
        return None
    p = points[0]
    custom = p.get("customdata")
    if isinstance(custom, list | tuple) and len(custom) > 7 and int(custom[7]) >= 0:
        return int(custom[7])
    if "x" not in p or len(names) != 1:
        return None
    rows = summary[(summary[names[0]].map(lambda v: charts.value_label(names[0], v)) == str(p["x"]))
                   | (summary[names[0]].astype(str) == str(p["x"]))]  # fmt: skip
    return int(rows["config"].iloc[0]) if len(rows) == 1 else None


# --------------------------------------------------------------------------- layout

st.title("Sweeps")
st.caption(
    "Many small networks trained at once (stacked into one NumPy computation): vary one or two "
    "settings, read one number off each configuration, with the spread over seeds."
)

if "sw_preset" not in st.session_state:  # the session's first visit: the URL's question and settings
    link_notices: list[str] = []
    first_key = preset_from_url(link_notices)
    st.session_state["sw_preset"] = first_key
    st.session_state["sw_link_base"] = settings_from_url(first_key, link_notices)
    load_preset(first_key, st.session_state["sw_link_base"])
    st.session_state["sw_metric"] = metric_from_url(first_key, link_notices)
    st.session_state["sw_link_notices"] = link_notices

st.selectbox(
    "Question",
    [*PRESETS, CUSTOM],
    key="sw_preset",
    on_change=apply_preset,
    format_func=lambda k: "Your own sweep" if k == CUSTOM else f"{PRESETS[k].title}: {PRESETS[k].question}",
)

c1, c2, c3 = st.columns([1, 1, 1])
p1 = c1.selectbox("Sweep", SWEEPABLE, key="sw_p1", on_change=to_custom, format_func=charts.param_label)
p2_options = [NONE, *(n for n in SWEEPABLE if n != p1)]
if st.session_state.get("sw_p2") not in p2_options:
    st.session_state["sw_p2"] = NONE
p2 = c2.selectbox(
    "against", p2_options, key="sw_p2", on_change=to_custom,
    format_func=lambda n: "nothing (a line)" if n == NONE else charts.param_label(n),
)  # fmt: skip
metric = c3.selectbox(
    "Metric",
    list(METRICS),
    key="sw_metric",
    format_func=lambda m: METRICS[m].label,
    help="What each run reports.",
)

swept = [p1] + ([p2] if p2 != NONE else [])
base = ui.settings_sidebar(fields=[f.name for f in dataclasses.fields(Settings) if f.name not in swept])
ui.sync_url(extra={URL_PRESET: st.session_state["sw_preset"], URL_METRIC: metric})
if base == st.session_state.get("sw_link_base"):  # until the user moves a setting
    ui.show_notices(st.session_state.get("sw_link_notices", []))

c1, c2, c3 = st.columns([1, 1, 1])
v1 = values_widget(1, p1, c1, base.dataset)
v2 = values_widget(2, p2, c2, base.dataset) if p2 != NONE else ()
with c3:
    seeds = st.slider("Seeds per configuration", 1, 5, key="sw_seeds", on_change=to_custom)
    view = "heatmap"
    if p2 != NONE and st.toggle("Lines instead of a heatmap", key="sw_lines"):
        view = "lines"
    target = 0.9
    if metric == "steps_to_target":
        target = st.slider("Target test accuracy", 0.5, 1.0, 0.9, 0.01, key="sw_target")


if not v1 or (p2 != NONE and not v2):
    st.warning("Pick at least one value for each swept setting.")
    st.stop()
params = ((p1, v1),) + (((p2, v2),) if p2 != NONE else ())
try:
    spec = SweepSpec(params=params, base=base, seeds=seeds, target=target)
except ValueError as e:
    st.error(f"This sweep has an invalid configuration: {ui.plain(str(e))}")
    st.stop()

plan = budget.sweep(spec.runs(), seeds)  # one request's budget; more goes to the terminal
if not plan.grid:
    st.warning(ui.plain(plan.message()), icon=":material/speed:")
    st.code(cli_command(spec), language="bash")
    st.stop()
if plan.reduced:
    st.info(ui.plain(plan.message()), icon=":material/speed:")
    seeds = len(plan.grid) // len(spec.configs())
    spec = SweepSpec(params=params, base=base, seeds=seeds, target=target)

table = cached_sweep(spec)
summary = summarize(table, spec.names, metric)

if p2 == NONE:
    fig = charts.line(summary, p1, metric)
elif view == "heatmap":
    fig = charts.heatmap(summary, p1, p2, metric)
else:
    fig = charts.line(summary, p1, metric, series=p2)
event = st.plotly_chart(fig, key="sw_chart", on_select="rerun", selection_mode="points")
st.caption(
    f"{METRICS[metric].help} Mean over {seeds} seed{'s' * (seeds > 1)}"
    + (
        " (band: lowest to highest seed)."
        if p2 == NONE or view == "lines"
        else "; hover a cell for the spread."
    )
    + " Click a point or cell to pick that configuration."
    + (" * = some seeds diverged." if view == "heatmap" and p2 != NONE else "")
)
preset = PRESETS.get(st.session_state["sw_preset"])
if preset is not None:
    st.info(f"**{preset.question}** {preset.look_for}", icon=":material/lightbulb:")

# Open one configuration in the explorer.
configs = spec.configs()
clicked = picked_config(event, summary, spec.names)
if clicked is not None and st.session_state.get("sw_clicked") != (spec, clicked):
    st.session_state["sw_clicked"] = (spec, clicked)  # a new click, not the one still selected
    st.session_state["sw_pick"] = clicked
if st.session_state.get("sw_pick", 0) >= len(configs):
    st.session_state["sw_pick"] = 0


def config_label(i: int) -> str:
    return ", ".join(
        f"{charts.param_label(n)} = {charts.value_label(n, getattr(configs[i], n))}" for n in spec.names
    )


c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
pick = c1.selectbox("Configuration", range(len(configs)), key="sw_pick", format_func=config_label)
c2.link_button("Open in the explorer ↗", explorer_link(configs[pick]), width="stretch")

shown = summary.copy()
for n in spec.names:
    shown[n] = shown[n].map(lambda v, n=n: charts.value_label(n, v))
shown["explorer"] = [explorer_link(configs[int(i)]) for i in shown["config"]]
shown = shown[[*spec.names, "mean", "std", "min", "max", "n_diverged", "explorer"]]
fmt = "percent" if METRICS[metric].fmt.endswith("%") else "%.3g"
st.dataframe(
    shown,
    hide_index=True,
    key="sw_table",
    column_config={
        **{n: st.column_config.TextColumn(charts.param_label(n)) for n in spec.names},
        **{c: st.column_config.NumberColumn(c, format=fmt) for c in ("mean", "std", "min", "max")},
        "n_diverged": st.column_config.NumberColumn("diverged seeds"),
        "explorer": st.column_config.LinkColumn("explorer", display_text="open ↗"),
    },
)

c1, c2 = st.columns([1, 3])
c1.download_button(
    "Download all runs (CSV)", table.to_csv(index=False), file_name="bnviz-sweep.csv", mime="text/csv"
)
with c2.expander("The same sweep from a terminal"):
    st.code(cli_command(spec), language="bash")
