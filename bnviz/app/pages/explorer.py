"""Explorer: move a slider, watch a small network train with and without Batch Normalization.

Layout only. Settings come from the sidebar (and the URL), runs from ``ui.cached_run``,
the numbers in the equations from ``bnviz.explorer``, figures from ``bnviz.charts.explorer``.
What redraws on which control:

- a sidebar setting: the whole page (both runs come from the cache or are trained);
- Reset / Step (the step the equations, curves and statistics show): the whole page,
  no training;
- layer / unit: only the ``unit_view`` fragment (histograms, their equations, the
  statistics panel); the training curves do not depend on them and stay as drawn. The
  histograms go out first, then the fragment pauses (``HEAD_START_S``) so the browser
  draws them before the rest arrives. Once somebody has looked around a run, the server
  builds the histograms of the layer's other units in the background (``livechart.Views``)
  and the chart draws a unit chosen in the Unit box itself, before the rerun; the rerun
  then brings the rest of the view (equations, statistics) without the pause;
- every chart is a live chart (``bnviz.app.livechart``): a new figure updates the mounted
  chart in place instead of replacing it. Each figure is built once per server for every
  session (its ``cache_key``: the runs' ``bnviz.explorer.run_identity`` and the view's
  choices) and the large ones go by reference, so a rerun that sends a figure the browser
  has costs neither the server's time nor the figure's bytes;
- the layer/unit view does not fade while it reruns (``CSS``): it is back within half a
  second, and the fade Streamlit starts on each element slowed its histograms down;
- Play / Pause, the speed and the scrubber under the histograms: the figure carries one
  frame per checkpoint and the live chart's player shows them in the browser. When the
  player stops (Pause, the end, a scrubber release) it reports its frame; the page takes
  it as the shown step and reruns whole, so the header, equations, step markers and
  tables show the same step as the histograms. While Play runs they wait for it.
"""

from __future__ import annotations

import bisect
import math
import time
from typing import Any

import pyarrow as pa
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from bnviz import Settings, budget, fmt
from bnviz import explorer as numbers
from bnviz.app import livechart, shared, ui
from bnviz.charts import explorer as charts
from bnviz.charts import export
from bnviz.charts.boundaries import boundaries_spec
from bnviz.train import Run

# A rerun of the layer/unit fragment alone pauses this long after sending the histograms,
# so the browser draws them before the equations and statistics reach it: on the page's
# one main thread the two otherwise compete, and the histograms come last. With the pause,
# the histograms are redrawn in 201 ms instead of 283 and the statistics chart in 384 instead
# of 355 (medians of 14 on 2 cores; `bench/ab_display.py --base REV` against a revision with
# HEAD_START_S = 0 measures it; docs/performance.md). Not when the chart holds the layer's
# units (livechart.Views): it has drawn the chosen one before the rerun began.
HEAD_START_S = 0.1
# Less empty space above the title, so the histograms fit a 1280×720 projector's first screen.
# And no stale fade inside the layer/unit view: it reruns in a few hundred ms, so the fade
# (0.5 s delay, then 1 s) would never show, but the browser starts and cancels it on every
# element of the view at each rerun, and that work comes before the histograms are drawn:
# without the rule they take 191 ms to redraw, with it 134 (medians of 30;
# `bench/ab_display.py --base REV` against a revision without it; docs/performance.md).
CSS = ('[data-testid="stMainBlockContainer"] {padding-top: 3.6rem;}\n'
       '.st-key-unit_view .stElementContainer[data-stale="true"] {transition: none !important; '
       'opacity: 1 !important;}')
# Rows that wrap rather than squeeze, for a projector and 150 % zoom: each part of a row (a
# horizontal container) keeps at least the width its text and equations need, and the
# parts that do not fit move under the others instead of cutting an equation or a label.
# The flex item of a keyed container is the layout wrapper around it.
_ITEM = '[data-testid="stLayoutWrapper"]:has(> .st-key-{})'
WRAP_CSS = "\n".join([
    _ITEM.format("summary") + " {flex: 1 1 24rem; min-width: min(24rem, 100%);}",
    ".st-key-step_counter p {white-space: nowrap;}",
    *(_ITEM.format(f"math_{part}") + " {flex: 1 1 16rem; min-width: min(16rem, 100%);}"
      for part in ("z", "off", "norm", "tilde")),
    _ITEM.format("stats") + " {flex: 1.6 1 24rem; min-width: min(24rem, 100%);}",
    _ITEM.format("stats_math") + " {flex: 1 1 20rem; min-width: min(20rem, 100%);}",
    _ITEM.format("accuracy") + " {flex: 0 1 32rem; min-width: min(24rem, 100%);}",
    _ITEM.format("norm_grid") + " {flex: 0 1 28rem; min-width: min(20rem, 100%);}",  # the widest grid
    _ITEM.format("norm_words") + " {flex: 1 1 20rem; min-width: min(18rem, 100%);}",
])


# --------------------------------------------------------------------------- formatting


ZERO = 1e-9  # |x| below this is the rounding noise of an exact zero, written 0


def tex(x: float | None, digits: int = 3) -> str:
    """A number for LaTeX (``fmt.latex``), 3 significant digits; a dash for a value not recorded."""
    return r"\text{–}" if x is None else fmt.latex(x, digits, zero_below=ZERO)


def num(x: float) -> str:
    """A number for text (``fmt.number``), 3 significant digits."""
    return fmt.number(x, 3, zero_below=ZERO)


# --------------------------------------------------------------------------- view state


def _view_from_url(settings: Settings) -> list[str]:
    """On a session's first run: layer, unit and step from the URL; notices for bad values."""
    notices: list[str] = []
    q = st.query_params

    def read(name: str, lo: int, hi: int, default: int | None, words: tuple[str, ...] = ()) -> int | None:
        if name not in q or str(q[name]).strip().lower() in words:
            return default
        value = ui.url_number(name, default, lo, hi, notices, integer=True)
        return None if value is None else int(value)

    st.session_state.v_layer = (read("layer", 1, settings.depth, 1) or 1) - 1
    unit = read("unit", 1, settings.width, 1, ("all", "pooled"))
    st.session_state.v_unit = -1 if str(q.get("unit", "")).lower() in ("all", "pooled") else (unit or 1) - 1
    st.session_state.v_t = read("t", 0, settings.steps, None, ("end",))
    norm = str(q.get("norm", "batch")).strip().lower()
    if norm not in (*numbers.NORMALIZE, numbers.EXAMPLE):
        notices.append(f"norm={norm!r} is not one of {', '.join(numbers.NORMALIZE)}: showing batch.")
        norm = "batch"
    st.session_state.v_norm = norm
    return notices


def _init_view(settings: Settings) -> None:
    if "v_loaded" not in st.session_state:
        st.session_state.v_loaded = True
        st.session_state.v_url_notices = _view_from_url(settings)
    st.session_state.setdefault("v_layer", 0)
    st.session_state.setdefault("v_unit", 0)
    st.session_state.setdefault("v_t", None)
    st.session_state.setdefault("v_norm", "batch")


def _moved() -> None:
    """The page moved the step itself: the histograms' player jumps there (its ``sync``)."""
    st.session_state.v_t_sync = st.session_state.get("v_t_sync", 0) + 1


def _reset() -> None:
    st.session_state.v_t = 0
    _moved()


def _step(step_of: list[int]) -> None:
    """One checkpoint on (sets a value computed from the state, so a repeated click is one more step)."""
    k = _current_k(step_of)
    st.session_state.v_t = step_of[min(k + 1, len(step_of) - 1)]
    _moved()


def _follow_player(step_of: list[int], frame: int) -> None:
    """The histograms' player stopped on checkpoint ``frame``: the page shows that step
    (the last checkpoint is "the end", as when no step is chosen)."""
    k = min(max(frame, 0), len(step_of) - 1)
    st.session_state.v_t = None if k == len(step_of) - 1 else step_of[k]


def _current_k(step_of: list[int]) -> int:
    """The checkpoint shown: the last one at or before the chosen step (None = the end)."""
    t = st.session_state.v_t
    if t is None:
        return len(step_of) - 1
    return max(bisect.bisect_right(step_of, t) - 1, 0)


# --------------------------------------------------------------------------- sections


def _math_histograms(run: Run, n: numbers.UnitNumbers, unit: int, layer: int) -> None:
    """The note's equations under the Z, Z_norm, Z̃ panels, numbers of this step and unit."""
    # side by side while each gets its width (WRAP_CSS), else wrapped under one another
    box = st.container(horizontal=True, key="unit_math")
    m = n.m
    sub = unit >= 0
    name = numbers.norm_names(run.settings)[0]
    with box.container(key="math_z"):
        ui.equations(r"\mu = \frac{1}{m}\sum_{i=1}^{m} z^{(i)}" + (f" = {tex(n.mu)}" if sub else ""),
                     r"\sigma^2 = \frac{1}{m}\sum_{i=1}^{m}\left(z^{(i)}-\mu\right)^2"
                     + (f" = {tex(n.var)}" if sub else ""))
        st.caption({
            numbers.EXAMPLE: f"Here μ, σ² are the unit's mean and variance over the mini-batch step "
                             f"{max(n.step, 1)} trained on (m = {m}), for comparison only: {name} did not "
                             "normalize with them. It normalized each example with that example's own "
                             "μ⁽ⁱ⁾, σ²⁽ⁱ⁾ (next box), and the points under Z_norm and Z̃ are what it "
                             "computed; "
                             f"the bars are the training set at step {n.step}, normalized the same way.",
            "batch": f"Here μ, σ² are μ_B, σ²_B of the mini-batch step {max(n.step, 1)} trained on "
                     f"(m = {m}, its points under the histograms); the bars are the training set "
                     f"at step {n.step}.",
            "running": "Here μ, σ² are the running EWA of the mini-batch statistics at step "
                       f"{n.step}{', bias-corrected' if run.settings.bias_correction else ''}: "
                       "what test time uses.",
            "population": f"Here m = {m}: the whole training set, passed through the network at step "
                          f"{n.step} (training itself uses mini-batches of m = {run.settings.batch_size}).",
        }[n.stats])
    if len(run.quantities) == 1:
        with box.container(key="math_off"):
            st.info("Batch Norm is off: Z = W·A + b goes straight into the activation, A = g(Z). "
                    "Switch **Batch Norm** on in the sidebar to see Z_norm and Z̃.")
        return
    if n.stats == numbers.EXAMPLE:
        _math_per_example(run, n, unit, layer, box, name)
        return
    with box.container(key="math_norm"):
        lines = [r"z_{norm} = \frac{z-\mu}{\sqrt{\sigma^2+\epsilon}}"]
        if sub:
            lines.append(rf"= \frac{{z - ({tex(n.mu)})}}{{\sqrt{{{tex(n.var)} + {tex(n.eps)}}}}}")
        renorm = n.stats == "batch" and run.settings.normalization == "renorm"  # r·(z − μ_B)/σ_B + d
        if renorm:
            lines += [r"r\,z_{norm} + d:\ \operatorname{mean} = d = " + tex(n.norm_mean),
                      r"\operatorname{sd} = r\sqrt{\frac{\sigma^2}{\sigma^2+\epsilon}} = "
                      + tex(n.sd_norm, 4)]
        else:
            lines.append(r"\operatorname{sd}(z_{norm}) = \sqrt{\frac{\sigma^2}{\sigma^2+\epsilon}} = "
                         + tex(n.sd_norm, 4))
        ui.equations(*lines)
        st.caption("b is redundant: z = W·a + b, and μ contains the same b, so z − μ does not "
                   "depend on b; its gradient is exactly 0. ε > σ² shrinks z_norm's spread below 1."
                   + (" Batch Renorm then scales by r and shifts by d (per unit, clipped), which move "
                      "the batch's z_norm towards what the running estimates give." if renorm else ""))
    with box.container(key="math_tilde"):
        lines = [r"\tilde z = \gamma\, z_{norm} + \beta"]
        if sub:
            lines.append(rf"= {tex(n.gamma)}\, z_{{norm}} + ({tex(n.beta)})")
        lines.append(rf"\operatorname{{mean}}(\tilde z) = \gamma d + \beta = {tex(n.implied_mean)}" if renorm
                     else rf"\operatorname{{mean}}(\tilde z) = \beta = {tex(n.implied_mean)}")
        lines.append(r"\operatorname{sd}(\tilde z) = |\gamma|\,\operatorname{sd}(z_{norm}) = "
                     + tex(n.implied_sd))
        ui.equations(*lines)
        affine = "frozen at their initial values" if run.settings.freeze_affine else "learned"
        st.caption(f"γ and β of layer {layer + 1} are {affine}; grey lines mark what they imply.")


def _math_per_example(run: Run, n: numbers.UnitNumbers, unit: int, layer: int, box: DeltaGenerator,
                      name: str) -> None:
    """LayerNorm's and GroupNorm's equations: example i normalized with its own μ⁽ⁱ⁾, σ²⁽ⁱ⁾
    (over its units, or its unit's group), example 1's numbers; the spread the panels draw."""
    kk = numbers.checkpoint_at(run, n.step)
    ex = shared.value(("example", numbers.run_identity(run), layer, unit, kk),
                      lambda: numbers.example_stats(run, layer, unit, kk))
    over = "its units" if run.settings.normalization == "layer" else "its unit's group of units"
    with box.container(key="math_norm"):
        lines = [r"z_{norm}^{(i)} = \frac{z^{(i)}-\mu^{(i)}}{\sqrt{\sigma^{2\,(i)}+\epsilon}}"]
        if ex is not None:
            lines.append(rf"z_{{norm}}^{{(1)}} = \frac{{z^{{(1)}} - ({tex(ex[0])})}}"
                         rf"{{\sqrt{{{tex(ex[1])} + {tex(n.eps)}}}}}")
        ui.equations(*lines, rf"\operatorname{{mean}}(z_{{norm}}) = {tex(n.norm_mean)}",
                     rf"\operatorname{{sd}}(z_{{norm}}) = {tex(n.sd_norm)}")
        st.caption(f"{name}: μ⁽ⁱ⁾, σ²⁽ⁱ⁾ are example i's own, over {over} (example 1's above). A unit's "
                   "z_norm over the examples need not have mean 0 and sd 1 (the bars' mean and sd, "
                   "red); and b is not redundant: z − μ⁽ⁱ⁾ keeps each unit's b minus the mean b.")
    with box.container(key="math_tilde"):
        lines = [r"\tilde z = \gamma\, z_{norm} + \beta"]
        if unit >= 0:
            lines.append(rf"= {tex(n.gamma)}\, z_{{norm}} + ({tex(n.beta)})")
        ui.equations(*lines, rf"\operatorname{{mean}}(\tilde z) = {tex(n.implied_mean)}",
                     rf"\operatorname{{sd}}(\tilde z) = {tex(n.implied_sd)}")
        affine = "frozen at their initial values" if run.settings.freeze_affine else "learned"
        st.caption(f"γ and β of layer {layer + 1} are {affine}; grey lines mark β and β ± |γ|.")


def _norm_over(run: Run, unit: int) -> None:
    """What the normalization normalizes over: the mini-batch as examples × units with the set
    that shares one μ and σ² outlined, its caption and its μ, σ² in the note's notation."""
    over, svg = shared.value(("norm_over", run.settings, unit), lambda: _norm_over_parts(run.settings, unit))
    st.markdown(f"#### What {over.name} normalizes over")
    with st.container(horizontal=True, key="norm_over"):
        with st.container(key="norm_grid"):
            # a small inline SVG, nothing to mount or draw (st.html's sanitizer drops SVG;
            # the string is built from numbers and fixed words only)
            st.markdown(svg, unsafe_allow_html=True)
        with st.container(key="norm_words"):
            st.markdown(f"**{over.title}**")
            st.caption(over.caption)
            ui.equations(over.mu_tex, over.var_tex, *over.extra_tex)  # extra: Batch Renorm's r and d


def _norm_over_parts(settings: Settings, unit: int) -> tuple[numbers.NormOver, str]:
    over = numbers.norm_over(settings, unit)
    return over, charts.norm_over_svg(over)


def _accuracy(run: Run, k: int) -> tuple[pa.Table, dict[str, Any]]:
    """The accuracy table as the page shows it (percentages, "–" where undefined) and its columns' help.

    An Arrow table, not a DataFrame: ``st.dataframe`` converts a DataFrame to Arrow on every
    rerun (2 % of a classroom server's interpreter time for these four rows); a table it
    only serialises. Made from ``charts.accuracy_rows`` without pandas: 3 ms a step through
    a DataFrame, and every Step in a class shows a step no session has shown."""
    rows = charts.accuracy_rows(run, k)
    values = [col for col in rows[0] if col != "statistics"]
    undefined = {col: any(math.isnan(r[col]) for r in rows) for col in values}
    shown = {col: ["–" if math.isnan(r[col]) else fmt.percent(r[col]) for r in rows] for col in values}
    config = {col: st.column_config.TextColumn(col, help=charts.UNDEFINED_WHY if undefined[col] else None)
              for col in values}
    return pa.table({"statistics": [r["statistics"] for r in rows], **shown}), config


def _math_stats(s: numbers.StatNumbers) -> None:
    d, t = s.decay, s.t
    w = s.pytorch_momentum  # 1 − decay: the weight of the new μ_B
    update = r"v_\mu \leftarrow \text{decay}\cdot v_\mu + (1-\text{decay})\,\mu_B"
    if s.mu_B is not None:
        prev = tex(s.prev_mu) if s.prev_mu is not None else r"v_\mu^{\{t-1\}}"
        ui.equations(update,
                     rf"{tex(s.run_mu)} = {tex(d)}\cdot ({prev}) + {tex(w)}\cdot ({tex(s.mu_B)})",
                     r"\hat v_\mu = \frac{v_\mu}{1-\text{decay}^{\,t}} = "
                     rf"\frac{{{tex(s.run_mu)}}}{{1-{tex(d)}^{{{t}}}}} = {tex(s.cor_mu)}",
                     rf"v_{{\sigma^2}} = {tex(s.run_var)},\quad "
                     rf"\hat v_{{\sigma^2}} = {tex(s.cor_var)},\quad \sigma^2_B = {tex(s.var_B)}")
    else:
        ui.equations(update, r"v_\mu = v_{\sigma^2} = 0 \quad\text{(before the first step)}")
    st.caption(f"Step t = {t}, decay = {fmt.number(d, 6)} (PyTorch momentum = {fmt.number(w, 4)}, "
               f"Keras momentum = {fmt.number(d, 6)}). "
               f"Population at this step: μ = {num(s.pop_mu)}, σ² = {num(s.pop_var)}.")


def _notices(settings: Settings, run: Run) -> None:
    ui.show_notices(ui.url_notices() + st.session_state.get("v_url_notices", []))
    ui.show_settings_problem()  # the sidebar's values describe no allowed run: say so, and what is shown
    for note in numbers.setting_notes(settings):  # after g, noise after it, sets of 1 or 2 units
        st.info(note, icon=":material/info:")
    if settings.running_estimates and settings.batch_size == 1:  # LayerNorm/GroupNorm: m = 1 works
        st.warning(
            "Batch size m = 1: each mini-batch is a single example, so μ_B = z and σ²_B = 0, and "
            "z_norm = (z − μ_B)/√(0 + ε) = 0 for every unit. Every z̃ is just β: no signal passes "
            "through BN and the network cannot learn. Try m ≥ 8.",
            icon="⚠️",
        )
    if run.diverged:
        st.error(ui.plain(run.diverged), icon=":material/error:")


# --------------------------------------------------------------------------- the page


settings = ui.settings_sidebar()
_init_view(settings)
st.session_state.v_page_runs = st.session_state.get("v_page_runs", 0) + 1  # whole-page runs so far
# The run the settings describe and its baseline (BN switched), trained side by side on the
# worker processes (bnviz.workers); the budget plan says if anything had to be cut.
plan = budget.explorer(settings)
run, other = ui.cached_runs(plan.runs[:2],
                            f"both networks (with and without {numbers.norm_names(settings)[0]})")
step_of = [int(x) for x in run.ckpt_steps]
if st.session_state.v_t is not None and st.session_state.v_t > step_of[-1]:
    st.session_state.v_t = None  # the run is shorter now: show its end

st.html(f"<style>{CSS}\n{WRAP_CSS}</style>")
st.markdown("### bnviz · Batch Normalization, visible")
_notices(settings, run)
if plan.reduced:
    st.info(ui.plain(plan.message()), icon=":material/speed:")
baseline_notice = st.container()  # filled once the baseline is there
# The summary and the step controls share a row while both fit; on a narrow screen (or at
# 150 % zoom) the controls wrap under the summary instead of squeezing their labels.
with st.container(horizontal=True, vertical_alignment="center", key="page_head"):
    summary = st.container(key="summary")  # likewise
    with st.container(horizontal=True, width="content", vertical_alignment="center", key="step_row"):
        st.button("Reset", key="v_reset", on_click=_reset, icon=":material/replay:",
                  help="Back to step 0: histograms, equations, curves and statistics.")
        st.button("Step", key="v_step", on_click=_step, args=(step_of,), icon=":material/skip_next:",
                  help="Advance one recorded checkpoint: the histograms, equations, curves and "
                       "statistics all follow.")
        k_shown = _current_k(step_of)
        with st.container(key="step_counter", width="content"):
            st.markdown(f"**Step {step_of[k_shown]}**/{settings.steps} · "
                        f":gray[checkpoint {k_shown + 1}/{len(step_of)}]")
st.session_state.v_page_t = st.session_state.v_t  # the step this whole-page run shows

dark = getattr(getattr(st.context, "theme", None), "type", None) == "dark"


def _exports(run: Run, layer: int, unit: int, norm: str) -> None:
    """The histogram animation for slides: one HTML file that plays offline, and a GIF.

    Made only when clicked (Streamlit calls the function then); the camera button on
    every chart saves the frame shown as a PNG at twice the screen's resolution."""
    labels = [str(int(t)) for t in run.ckpt_steps]
    who = "all" if unit < 0 else str(unit + 1)
    name = f"bnviz-histograms-layer{layer + 1}-unit{who}-{norm}"
    where = f"layer {layer + 1}, {'all units' if unit < 0 else f'unit {unit + 1}'}"
    text = f"{export.caption(run.settings)} · {where}"

    def spec() -> dict:
        return charts.movie_spec(run, layer, unit, 0, dark=False, normalize=norm)

    def html() -> str:
        return export.animation_html(export.animated_figure(spec(), labels, text), "bnviz: " + text)

    def gif() -> bytes:
        return export.animation_gif(spec(), labels, text)

    with st.container(horizontal=True, key="movie_exports"):
        st.download_button("animation (HTML, plays offline)", html, file_name=f"{name}.html",
                           mime="text/html", on_click="ignore", key="dl_movie_html", icon=":material/movie:")
        st.download_button("animation (GIF)", gif, file_name=f"{name}.gif", mime="image/gif",
                           on_click="ignore", key="dl_movie_gif", icon=":material/gif_box:")


@st.fragment
def unit_view(run: Run) -> None:
    """Everything that depends on the layer and unit: a change here reruns only this."""
    if st.session_state.v_t != st.session_state.get("v_page_t"):
        # the histograms' player stopped on another step (_follow_player): the whole page shows it
        st.rerun(scope="app")
    s = run.settings
    step_of = [int(x) for x in run.ckpt_steps]
    if st.session_state.v_layer >= s.depth:
        st.session_state.v_layer = s.depth - 1
    if st.session_state.v_unit >= s.width:
        st.session_state.v_unit = s.width - 1
    k = _current_k(step_of)
    t = step_of[k]
    layer, unit = int(st.session_state.v_layer), int(st.session_state.v_unit)
    choices = numbers.normalize_choices(s)  # LayerNorm, GroupNorm: each example's own, nothing else
    if st.session_state.v_norm not in choices:
        st.session_state.v_norm = choices[0]
    norm = st.session_state.v_norm
    name, _ = numbers.norm_names(s)

    # The histograms first: their update leaves the server before anything else in this
    # fragment, and the boxes above them are filled in afterwards.
    # The figure's own data are the last checkpoint's whatever the step (the player draws
    # frame k): a rerun that only moves the step sends the same figure, and the browser
    # does not redraw it.
    head = st.container()
    player = {**charts.movie_player(run, k), "sync": st.session_state.get("v_t_sync", 0)}
    # one figure per (run, layer, unit, statistics, theme) for every session: built and
    # serialised once, sent by reference (bnviz.app.livechart); the numbers and tables below
    # likewise, once per server (bnviz.app.shared)
    rid = numbers.run_identity(run)
    view = (rid, layer, unit, k, norm)
    alone = st.session_state.get("v_fragment_saw") == st.session_state.v_page_runs

    def movie(u: int) -> Any:
        return lambda: charts.movie_spec(run, layer, u, len(step_of) - 1, dark=dark, normalize=norm)

    def movie_key(u: int) -> tuple[Any, ...]:  # the chart's figure and the views' must match
        return ("movie", rid, layer, u, norm, dark)

    # The other units' histograms, which the chart draws itself as soon as one is chosen in
    # the Unit box (the server's rerun then finds them on screen). Built in the background
    # once somebody looks around this run (a rerun of this fragment alone), for everybody.
    block = numbers.unit_block(s.width, unit)
    units = livechart.Views(".st-key-v_unit input", ("movie-units", rid, layer, block[-1], norm, dark),
                            {numbers.unit_label(u): (movie_key(u), movie(u)) for u in block})
    chart_has_units = livechart.plotly_chart(movie(unit), views=units, build_views=alone, canvas=True,
                           cache_key=movie_key(unit),
                           key="movie", caption=f"{export.caption(s)} · layer {layer + 1}, "
                                                f"{'all units' if unit < 0 else f'unit {unit + 1}'}",
                           title=shared.value(("summary", *view),
                                              lambda: numbers.movie_summary(run, layer, unit, k, norm))
                           + ". Play, pause and a step scrubber below.",
                           player=player, on_frame=lambda frame: _follow_player(step_of, frame))
    if alone and not chart_has_units:
        # a rerun of this fragment alone (HEAD_START_S), unless the chart drew the unit itself
        time.sleep(HEAD_START_S)
    st.session_state.v_fragment_saw = st.session_state.v_page_runs
    _exports(run, layer, unit, norm)

    # the choosers in one row (wrapping on a narrow screen), right above the histograms
    row = head.container(horizontal=True, vertical_alignment="bottom", key="unit_pick")
    row.selectbox("Layer ℓ", list(range(s.depth)), key="v_layer", format_func=lambda i: f"ℓ = {i + 1}",
                  help="Which hidden layer's Z, Z_norm, Z̃ to show.", width=110)
    row.selectbox("Unit", [-1, *range(s.width)], key="v_unit",
                  format_func=numbers.unit_label,
                  help="One unit (a column of Z), or every unit of the layer pooled together.", width=170)
    row.selectbox("Normalize with", choices, key="v_norm",
                  format_func=lambda w: charts.NORMALIZE_LABELS[w], width=230,
                  help=(f"{name} normalizes each example with its own μ and σ², in training and at test "
                        "time alike, and keeps no running estimates: there are no other statistics to "
                        "normalize with." if norm == numbers.EXAMPLE else
                        "Display only: the statistics the histograms and the mini-batch's points are "
                        "normalized with. Training always uses the mini-batch's own μ_B, σ²_B."))
    at_end = st.session_state.v_t is None
    ui.sync_url(extra={"layer": str(layer + 1), "unit": "all" if unit < 0 else str(unit + 1), "norm": norm,
                       **({} if at_end else {"t": str(t)})}, drop=("t",) if at_end else ())

    st.caption("▶ Play and the scrubber move the histograms at once; the rest of the page follows "
               "when the player stops (Pause, the end, letting go of the scrubber)."
               + (" Right: the prediction over the plane, with training points, from the running "
                  "statistics (bias-corrected if switched on)." if run.boundary is not None else ""))
    # what the layer computes, over its equations (the heading and the equation wrap when narrow)
    flow = st.container(horizontal=True, vertical_alignment="center", key="unit_flow")
    flow.markdown(f"#### Inside layer {layer + 1}", width="content")
    lo, hi = f"{{[{layer}]}}", f"{{[{layer + 1}]}}"
    if s.use_bn and s.bn_position == "after":  # Z' = W·A + b -> g -> Z -> norm -> Z~ = A
        flow.latex(rf"\small A^{lo} \xrightarrow{{W^{hi}}} Z'^{hi} \xrightarrow{{g}} Z^{hi} = g(Z'^{hi})"
                   rf" \xrightarrow[\text{{{name}}}]{{\gamma^{hi},\,\beta^{hi}}} \tilde Z^{hi} = A^{hi}",
                   width="content")
    else:
        flow.latex(rf"\small A^{lo} \xrightarrow{{W^{hi}}} Z^{hi} \xrightarrow[\text{{{name}}}]"
                   rf"{{\gamma^{hi},\,\beta^{hi}}} \tilde Z^{hi} \to A^{hi} = g(\tilde Z^{hi})",
                   width="content")
    n = shared.value(("unit", *view), lambda: numbers.unit_numbers(run, layer, unit, k, norm))
    _math_histograms(run, n, unit, layer)
    if s.use_bn:
        _norm_over(run, unit)

    who = "all units (mean)" if unit < 0 else f"unit {unit + 1}"
    if s.use_bn and not s.running_estimates:
        st.info(f"{name} normalizes each example with its own μ and σ², in training and at test time "
                "alike: there are no mini-batch statistics and no running estimates to track, and test "
                f"time needs none. Test accuracy at step {t}: "
                f"{fmt.percent(float(run.curves['test_acc'].iloc[k]))}. Choose normalization **batch** "
                "or **renorm** to see μ_B, σ²_B and their running estimates.")
        return
    st.markdown(f"#### Statistics of layer {layer + 1}, {who}: mini-batch vs running vs population")
    if not s.use_bn:
        st.info("Batch Norm is off, so there are no mini-batch statistics to track. "
                "Switch **Batch Norm** on to see μ_B, σ²_B and their running estimates.")
        return
    with st.container(horizontal=True, key="stats_row"):  # the equations wrap under the chart when narrow
        livechart.plotly_chart(lambda: charts.stats_spec(run, layer, unit, t), key="stats",
                               cache_key=("stats", rid, layer, unit, t),
                               caption=f"{export.caption(s, t)} · layer {layer + 1}",
                               title=f"Mini-batch, running and population statistics, layer {layer + 1}")
        with st.container(key="stats_math"):
            _math_stats(shared.value(("stats", rid, layer, unit, t),
                                     lambda: numbers.stat_numbers(run, layer, unit, t)))
    tab_row = st.container(horizontal=True, vertical_alignment="bottom", key="table_row")
    with tab_row.container(key="accuracy"):
        chosen = "running EWA, bias-corrected" if s.bias_correction else "running EWA (raw)"
        table, columns = shared.value(("accuracy", rid, k), lambda: _accuracy(run, k))
        st.dataframe(table, hide_index=True, width="stretch", column_config=columns)
        st.caption(f"Test accuracy of the {name} network in inference mode with each choice of statistics. "
                   f"The curves below use “{chosen}” (the bias-correction switch).")
    tab_row.download_button(f"statistics, layer {layer + 1} (CSV)",
                            lambda: charts.stats_table(run, layer).to_csv(index=False),
                            file_name=f"bnviz-statistics-layer{layer + 1}.csv", mime="text/csv",
                            on_click="ignore", key="dl_stats", icon=":material/download:")


with st.container(key="unit_view"):  # for the CSS above
    unit_view(run)

bn_run, plain_run = (run, other) if settings.use_bn else (other, run)
names = numbers.norm_names(settings)  # ("BN", "no BN"), ("LayerNorm", "none"), …
if settings.use_bn and plain_run.diverged:
    baseline_notice.info(f"The baseline without {names[0]}: " + ui.plain(plain_run.diverged),
                         icon=":material/info:")
summary.markdown(
    f"Test accuracy **{fmt.percent(bn_run.curves['test_acc'].iloc[-1])}** with {names[0]}, "
    f"**{fmt.percent(plain_run.curves['test_acc'].iloc[-1])}** without · final loss "
    f"({names[0] if settings.use_bn else names[1]}) {fmt.number(run.curves['loss'].iloc[-1], 3)} · "
    f"{run.steps_done}/{settings.steps} steps trained.  \n"
    ":gray[Sidebar settings retrain (both networks, same seed); layer, unit and step only "
    "change the view.]"
)

st.markdown(f"#### Training: with and without {names[0]}")
both_runs = (numbers.run_identity(bn_run), numbers.run_identity(plain_run))  # cache keys of their figures
livechart.plotly_chart(lambda: charts.curves_spec(bn_run, plain_run, step_of[k_shown],
                                                  chosen_bn=settings.use_bn, names=names),
                       cache_key=("curves", *both_runs, step_of[k_shown], settings.use_bn, names),
                       key="curves", title=f"Loss and accuracy by step, with and without {names[0]}",
                       caption=f"{export.caption(bn_run.settings, step_of[k_shown])} · "
                               f"and without {names[0]}")
st.download_button("curves (CSV)", lambda: charts.curves_table(bn_run, plain_run).to_csv(index=False),
                   file_name="bnviz-curves.csv", mime="text/csv", on_click="ignore", key="dl_curves",
                   icon=":material/download:")

if bn_run.boundary is not None and plain_run.boundary is not None:  # the 2-D datasets
    st.markdown(f"#### Decision boundaries at step {step_of[k_shown]}: with and without {names[0]}")
    livechart.plotly_chart(lambda: boundaries_spec(bn_run, plain_run, step_of[k_shown], dark=dark),
                           cache_key=("boundaries", *both_runs, step_of[k_shown], dark),
                           key="boundaries", caption=export.caption(bn_run.settings, step_of[k_shown]),
                           title=f"Decision boundaries with and without {names[0]}, step {step_of[k_shown]}")
    st.caption("P(class 1) over the plane for the two networks trained from the same seed, with the first "
               + (f"training points; the {names[0]} network predicts with its running statistics "
                  "(bias-corrected if switched on). " if bn_run.settings.running_estimates else
                  f"training points; the {names[0]} network normalizes each point by itself. ")
               + "Both show the step the page shows.")
