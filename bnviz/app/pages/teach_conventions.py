"""Teaching view 6: the same running estimate in the note's, PyTorch's and Keras's conventions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnviz import Settings, fmt, teach
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this, url_float
from bnviz.charts import teach as charts

M_CHOICES = (2, 4, 8, 32, 128)
STEPS = 300

intro(
    "Conventions: the note, PyTorch, Keras",
    "The note's exponentially weighted average keeps a fraction *decay* of the old estimate. "
    "PyTorch calls the *new* value's weight `momentum` (so momentum = 1 − decay, default 0.1), "
    "Keras calls the *old* value's weight `momentum` (so momentum = decay, default 0.99). PyTorch also "
    "stores the unbiased variance σ²·m/(m−1) in its running variance, although it normalizes each "
    "training batch with the biased σ² of the note. Both frameworks start the running variance at 1, "
    "the note's average starts at 0. ε defaults to 1e-5 in PyTorch and 1e-3 in Keras.",
    [
        r"\text{the note: } v \leftarrow \text{decay}\cdot v + (1-\text{decay})\,x",
        r"\text{PyTorch: } \hat x \leftarrow (1-\text{momentum})\,\hat x + \text{momentum}\cdot x_t",
        r"\text{Keras: } \hat x \leftarrow \text{momentum}\cdot\hat x + (1-\text{momentum})\,x_t",
        r"\text{PyTorch's } x_t \text{ for the variance: } \sigma^2_B \cdot \frac{m}{m-1}",
    ],
)

notices: list[str] = []
if first_run("conv"):
    st.session_state.cv_decay = url_float("cv_decay", 0.9, 0.5, 0.999, notices)
    m = int(url_float("cv_m", 4, 2, 128, notices))
    st.session_state.cv_m = m if m in M_CHOICES else 4
for key, default in (("cv_decay", 0.9), ("cv_m", 4), ("cv_unit", 1)):
    persist(key, default)
show_notices(notices)

c1, c2, c3 = st.columns(3)
decay = c1.select_slider(
    "EWA decay (the note's)", ui.ladder("decay", st.session_state.cv_decay), key="cv_decay"
)
m = c2.select_slider(
    "Batch size m", M_CHOICES, key="cv_m", help="The m/(m−1) correction matters most for small m."
)
unit = c3.slider("Unit of hidden layer 1", 1, 16, key="cv_unit")
ui.sync_url(extra={"cv_decay": fmt.exact(decay), "cv_m": str(m)})

st.subheader("The same decay, three ways to write it")
st.dataframe(
    pd.DataFrame(
        {
            "": ["bnviz (the note)", "PyTorch", "Keras"],
            "parameter": [
                f"decay = {fmt.number(decay, 6)}",
                f"momentum = {fmt.number(teach.momentum('pytorch', decay), 4)}",
                f"momentum = {fmt.number(teach.momentum('keras', decay), 4)}",
            ],
            "default": ["0.9", "0.1 (decay 0.9)", "0.99 (decay 0.99)"],
            "default ε": [fmt.epsilon(teach.DEFAULT_EPS[c]) for c in teach.CONVENTIONS],
            "σ² starts at": [fmt.number(teach.INITIAL[c][1], 4) for c in teach.CONVENTIONS],
            "σ² averaged": ["σ²_B (1/m)", "σ²_B·m/(m−1)", "σ²_B (1/m)"],
        }
    ),
    hide_index=True,
    key="cv_params",
)

settings = Settings(batch_size=m, decay=float(decay), steps=STEPS)
run = ui.cached_run(settings)
view = teach.running_var_by_convention(run, unit - 1)
st.subheader(f"One unit's running σ² while a network trains (moons, m = {m}, {STEPS} steps)")
ui.plotly_chart(
    charts.conventions_figure(view.steps, view.batch_var, view.running_var, view.population_var),
    key="cv_chart",
)
st.caption(
    "The same recorded mini-batch σ²_B (grey) averaged four ways. Dotted red: σ² of the whole training set "
    "with the final weights. PyTorch's line sits higher by m/(m−1); the frameworks start at 1, the note's "
    "average at 0 (which bias correction undoes)."
)

st.subheader("Does bnviz reproduce each convention?")
table = teach.conventions_check(run, unit - 1)
st.dataframe(table.style.format(precision=6).format(fmt.number_cells(2), subset=[table.columns[-1]]),
             hide_index=True, key="cv_check")  # fmt: skip
st.caption(
    "max |diff| is over every unit, for μ and σ². bnviz: `teach.running_estimates` — the note's "
    "`bn.ewa` with each framework's start and input. "
    "Reference column: the update exactly as PyTorch's and Keras's documentation writes it. For the note's "
    "row, the reference is the running estimate the training loop itself kept (in float64, while "
    "the recorded σ²_B are float32: hence a difference near 1e-8)."
)

st.subheader("ε: 1e-5 or 1e-3?")
st.dataframe(
    teach.eps_shrink_table().style.format(fmt.number_cells(3)),
    hide_index=True,
    key="cv_eps",
)
st.caption(
    "z_norm should have spread 1; a unit with σ² near ε is shrunk to √(σ²/(σ²+ε)). For ordinary "
    "units (σ² ≫ ε) the choice does not matter."
)

try_this(
    "Set m = 2: PyTorch's running σ² is twice the note's, because m/(m−1) = 2. Then set the decay to 0.999: "
    "the note's raw average is still far below the others after 300 steps, the bias-corrected one is not."
)
