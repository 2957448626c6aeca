"""Teaching view 2: why the bias b does nothing once BN follows it."""

from __future__ import annotations

import streamlit as st

from bnviz import budget, fmt, teach
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this, url_float
from bnviz.charts import teach as charts

intro(
    "Why b does nothing",
    "A layer computes $z = W a + b$ and BN then subtracts the mini-batch mean $\\mu$. The bias $b$ "
    "adds the same number to every example, so it moves $\\mu$ by exactly $b$ and vanishes in "
    "$z - \\mu$. With BN, $b$ has no effect on the output and its gradient is zero: $\\beta$ takes "
    "over its job. Without BN, $b$ is an ordinary, useful parameter.",
    r"z^{(i)} = W a^{(i)} + b \;\Rightarrow\; \mu = \tfrac1m \textstyle\sum_i W a^{(i)} + b "
    r"\;\Rightarrow\; z^{(i)} - \mu = W a^{(i)} - \tfrac1m \textstyle\sum_j W a^{(j)} "
    r"\quad (\text{no } b \text{ left})",
)

notices: list[str] = []
if first_run("bias"):
    st.session_state.bias_shift = url_float("bias_shift", 1.0, -3.0, 3.0, notices)
    st.session_state.bias_layer = int(url_float("bias_layer", 1, 1, 8, notices))
persist("bias_shift", 1.0)
persist("bias_layer", 1)
show_notices(notices)

settings = ui.settings_sidebar(
    fields=["dataset", "noise", "depth", "width", "activation", "lr", "steps", "seed"]
)
show_notices(ui.url_notices())  # after the sidebar: a session's first run reads the URL there
plan = budget.bias(settings, len(teach.BIAS_SHIFTS))
if plan.reduced:
    st.info(ui.plain(plan.message()), icon=":material/speed:")
bn_run, plain_run = ui.cached_runs(plan.runs[:2], "the two networks")  # side by side, with a progress bar
for run in (bn_run, plain_run):
    if run.diverged:
        st.warning(ui.plain(run.diverged))

c1, c2 = st.columns(2)
if st.session_state.bias_layer > settings.depth:
    st.session_state.bias_layer = settings.depth
layer = (
    c1.slider("Hidden layer ℓ whose b is shifted", 1, settings.depth, key="bias_layer")
    if settings.depth > 1
    else 1
)
shift = c2.slider("Shift δ added to every entry of b[ℓ]", -3.0, 3.0, step=0.25, key="bias_shift")
ui.sync_url(settings, extra={"bias_shift": fmt.exact(shift), "bias_layer": str(layer)})

ds = bn_run.dataset
bn_effect = teach.bias_shift_effect(bn_run.net, ds.X_train, ds.y_train, layer - 1, teach.BIAS_SHIFTS)
plain_effect = teach.bias_shift_effect(plain_run.net, ds.X_train, ds.y_train, layer - 1, teach.BIAS_SHIFTS)
now_bn = teach.bias_shift_effect(bn_run.net, ds.X_train, ds.y_train, layer - 1, [shift]).iloc[0]
now_plain = teach.bias_shift_effect(plain_run.net, ds.X_train, ds.y_train, layer - 1, [shift]).iloc[0]

st.subheader(f"Shift b[{layer}] by δ = {fmt.number(shift, 6)} in the trained networks")
m1, m2, m3, m4 = st.columns(4)
m1.metric("With BN: max |Δ output|", fmt.number(now_bn["max |Δ output|"], 3))
m2.metric("With BN: training accuracy", fmt.percent(now_bn["accuracy"]))
m3.metric("Without BN: max |Δ output|", fmt.number(now_plain["max |Δ output|"], 3))
m4.metric("Without BN: training accuracy", fmt.percent(now_plain["accuracy"]))
ui.plotly_chart(charts.bias_shift_figure(bn_effect, plain_effect, shift), key="bias_shift_chart")
st.caption(
    "The whole training set goes through each network as one batch (training mode, so BN uses "
    "that batch's own μ and σ²). With BN the loss is flat: any change is rounding, about 1e-15."
)

st.subheader("The gradient of b")
left, right = st.columns(2)
with left:
    st.markdown("**With BN** — one training step on the whole training set")
    grads = teach.gradients(bn_run.net, ds.X_train, ds.y_train)
    st.dataframe(grads.style.format(fmt.number_cells(3)), hide_index=True, key="bias_grad_bn")
with right:
    st.markdown("**Without BN**")
    grads = teach.gradients(plain_run.net, ds.X_train, ds.y_train)
    st.dataframe(grads.style.format(fmt.number_cells(3)), hide_index=True, key="bias_grad_plain")
b_bn, b_plain = teach.largest_hidden_bias(bn_run.net), teach.largest_hidden_bias(plain_run.net)
st.markdown(
    f"Every b starts at 0. After {bn_run.steps_done} training steps the hidden layers' largest |b| is "
    f"**{fmt.number(b_bn, 3)}** with BN (a zero gradient never moves it) and "
    f"**{fmt.number(b_plain, 3)}** without BN."
)

try_this(
    "Drag δ from −3 to 3: the BN network's outputs do not move, the plain network's accuracy "
    "collapses. Then switch the activation to tanh or sigmoid in the sidebar — the BN result stays "
    "exactly the same, because b is cancelled before the activation ever sees it."
)
