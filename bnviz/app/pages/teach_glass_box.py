"""Teaching view 1: one mini-batch of one unit, by hand (glass box)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnviz import fmt, teach
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this, url_float
from bnviz.charts import teach as charts

DEFAULT = ["2", "4", "9", "5"]

intro(
    "One mini-batch, by hand",
    "Batch Norm looks at one unit at a time. Take the values $z$ that this unit produced for the "
    "$m$ examples of one mini-batch: subtract their mean $\\mu$, divide by their standard deviation "
    "(with a small $\\epsilon$ inside the square root, for numerical stability), then scale by "
    "$\\gamma$ and shift by $\\beta$ — the two parameters the network learns. Edit the numbers and "
    "watch every intermediate.",
    r"\mu = \frac1m \sum_i z^{(i)}, \quad \sigma^2 = \frac1m \sum_i (z^{(i)} - \mu)^2, \quad "
    r"z_{norm}^{(i)} = \frac{z^{(i)} - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad "
    r"\tilde z^{(i)} = \gamma\, z_{norm}^{(i)} + \beta",
)

notices: list[str] = []
if first_run("glass"):
    text = str(st.query_params.get("z", ""))
    # an empty text gives no values and no problems; at most MAX_GLASS_VALUES are kept (and said so)
    values, problems = teach.parse_text(text, limit=teach.MAX_GLASS_VALUES)
    notices += [f"z in the URL: {p}" for p in problems]
    st.session_state.gb_values = [fmt.number(v, 10) for v in values] or DEFAULT
    st.session_state.gb_version = 0
    for name, default, lo, hi in (
        ("gamma", 1.0, -3.0, 3.0),
        ("beta", 0.0, -3.0, 3.0),
        ("eps", 1e-5, 0.0, 1.0),
    ):
        st.session_state["gb_" + name] = url_float("gb_" + name, default, lo, hi, notices)
    st.session_state.gb_m = max(1, min(len(st.session_state.gb_values), teach.MAX_GLASS_VALUES))
for key, default in (("gb_gamma", 1.0), ("gb_beta", 0.0), ("gb_eps", 1e-5), ("gb_m", 4)):
    persist(key, default)
show_notices(notices)


def set_values(values: list[str]) -> None:
    st.session_state.gb_values = values
    st.session_state.gb_version += 1


def random_values() -> None:
    set_values([fmt.number(round(float(v), 2), 4) for v in teach.random_batch(st.session_state.gb_m)])


def network_values() -> None:
    run = ui.cached_run(ui.current_settings().note_bn())
    m = min(st.session_state.gb_m, len(run.dataset.X_train))
    drawn = teach.draw_from_network(run, m, layer=0, unit=0, seed=None)
    set_values([fmt.number(round(float(v), 3), 4) for v in drawn])


def batch_of_one() -> None:
    st.session_state.gb_m = 1
    set_values(st.session_state.gb_values[:1] or ["3"])


left, right = st.columns([1, 2], gap="large")
with left:
    st.caption("The mini-batch: one value of z per row (edit, add or delete rows)")
    edited = st.data_editor(
        pd.DataFrame({"z": st.session_state.gb_values}),
        key=f"gb_editor_{st.session_state.gb_version}",
        num_rows="dynamic",
        column_config={"z": st.column_config.TextColumn("z", help="a number, e.g. 2.5 or -1e-3")},
        hide_index=True,
        width="stretch",
    )
    st.slider("γ (scale)", -3.0, 3.0, step=0.1, key="gb_gamma")
    st.slider("β (shift)", -3.0, 3.0, step=0.1, key="gb_beta")
    st.select_slider(
        "ε", ui.ladder("eps", st.session_state.gb_eps), key="gb_eps",
        format_func=ui.ladder_format("eps"),
    )  # fmt: skip
    st.number_input("m for new values", 1, teach.MAX_GLASS_VALUES, step=1, key="gb_m")
    b1, b2 = st.columns(2)
    b1.button("Random", on_click=random_values, help="m values drawn at random", width="stretch")
    b2.button(
        "From network",
        on_click=network_values,
        width="stretch",
        help="z of unit 1, hidden layer 1, for m random training examples, through the "
        "network trained with the explorer's settings",
    )
    st.button("Batch of one", on_click=batch_of_one, help="keep only the first value", width="stretch")

values, problems = teach.parse_values(edited["z"].tolist())
gamma, beta, eps = (
    float(st.session_state.gb_gamma),
    float(st.session_state.gb_beta),
    float(st.session_state.gb_eps),
)

with right:
    for p in problems:
        st.error(ui.plain(f"{p}: left out."), icon=":material/edit:")
    if len(values) > teach.MAX_GLASS_VALUES:
        st.warning(f"Only the first {teach.MAX_GLASS_VALUES} of {len(values)} values are used.")
        values = values[: teach.MAX_GLASS_VALUES]
    if len(values) == 0:
        st.error("The mini-batch is empty: type at least one number into the table.", icon=":material/edit:")
        st.stop()
    gb = teach.glass_box(values, gamma, beta, eps)
    ui.sync_url(extra={"z": ";".join(fmt.number(v, 10) for v in gb.z), "gb_gamma": fmt.exact(gamma),
                       "gb_beta": fmt.exact(beta), "gb_eps": fmt.exact(eps)})  # fmt: skip
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("m", gb.m)
    c2.metric("μ", fmt.number(gb.mu, 4))
    c3.metric("σ²", fmt.number(gb.var, 4), delta="underflows in float64" if gb.var_underflows else None,
              delta_color="off", delta_arrow="off")  # fmt: skip
    c4.metric("√(σ² + ε)", fmt.number(gb.denom, 4))
    terms = " + ".join(fmt.latex(v, 4) for v in gb.z) if gb.m <= 6 else r"\dots"
    sq = " + ".join(fmt.latex(v, 4) for v in gb.squared) if gb.m <= 4 else r"\dots"
    st.latex(
        rf"\mu = \tfrac{{1}}{{{gb.m}}}({terms}) = {fmt.latex(gb.mu, 4)}, \qquad "
        rf"\sigma^2 = \tfrac{{1}}{{{gb.m}}}({sq}) = {fmt.latex(gb.var, 4)}"
    )
    st.latex(rf"\sqrt{{\sigma^2 + \epsilon}} = \sqrt{{{fmt.latex(gb.var, 4)} + {fmt.latex(eps, 4)}}} = "
             + fmt.latex(gb.denom, 4))
    for note in gb.notes:
        st.warning(note, icon=":material/search:")
    st.dataframe(gb.table().style.format(precision=4), hide_index=True, width="stretch", key="gb_table")
    ui.plotly_chart(charts.glass_box_figure(gb), key="gb_line", config={"displayModeBar": False})
    st.caption(
        "The shaded band is μ ± √(σ² + ε) on the z line, 0 ± 1 on the z_norm line and β ± |γ| "
        "on the z̃ line: each equation moves and rescales the same band."
    )

try_this(
    "Click **Batch of one**: μ equals the value, σ² = 0 and z_norm = 0 — whatever z was, z̃ = β. "
    "Then set ε = 0 and make all values equal. Finally type a huge outlier (say 1000) into the table "
    "and see how it squeezes every other z_norm together."
)
