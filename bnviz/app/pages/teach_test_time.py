"""Teaching view 5: at test time, one example at a time."""

from __future__ import annotations

import numpy as np
import streamlit as st

from bnviz import nn, teach
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this, url_float
from bnviz.charts import teach as charts

GRID_M = (2, 8, 32)
GRID_DECAY = (0.9, 0.99, 0.999)

intro(
    "At test time",
    "A network in use sees one example at a time, and one example is not a mini-batch: its "
    "$\\mu$ is the example itself and its $\\sigma^2$ is 0, so every $z_{norm}$ is 0 and the "
    "prediction no longer depends on the input. So during training we keep exponentially weighted "
    "averages of the mini-batch $\\mu^{\\{1\\}}, \\mu^{\\{2\\}}, \\dots$ and $\\sigma^{2\\{1\\}}, "
    "\\dots$ and normalize with those at test time. Any reasonable estimate works: the averages "
    "corrected for their start at 0, or $\\mu$ and $\\sigma^2$ recomputed over the whole training set.",
    [
        r"v_\mu \leftarrow \text{decay}\cdot v_\mu + (1-\text{decay})\,\mu^{\{t\}}, \quad "
        r"v_{\sigma^2} \leftarrow \text{decay}\cdot v_{\sigma^2} + (1-\text{decay})\,\sigma^{2\{t\}}, "
        r"\quad v_0 = 0",
        r"z_{norm} = \frac{z - v_\mu}{\sqrt{v_{\sigma^2} + \epsilon}} \qquad "
        r"(\text{bias-corrected: } v / (1 - \text{decay}^t))",
    ],
)
notices = list(ui.url_notices())
settings = ui.settings_sidebar(
    fields=["dataset", "noise", "batch_size", "decay", "depth", "width", "steps", "seed"]
)
settings = settings.replace(use_bn=True)

with st.spinner("Training…"):
    run = ui.cached_run(settings)
ds = run.dataset
if first_run("test"):
    st.session_state.tt_example = int(url_float("tt_example", 1, 1, len(ds.X_test), notices))
persist("tt_example", 1)
if st.session_state.tt_example > len(ds.X_test):
    st.session_state.tt_example = len(ds.X_test)
show_notices(notices)
if run.diverged:
    st.warning(ui.plain(run.diverged))

st.subheader("One test example")
example = st.slider("Test example", 1, len(ds.X_test), key="tt_example")
ui.sync_url(settings, extra={"tt_example": str(example)})
x = ds.X_test[example - 1 : example]
z_norm, probs = {}, {}
for label, choice in teach.TEST_TIME_CHOICES.items():
    if choice == "one":
        _, taps = nn.forward(run.net, x.astype(run.net.theta.dtype))
    else:
        _, taps = nn.forward(run.net, x.astype(run.net.theta.dtype), run.inference_stats(choice))
    assert taps[0].z_norm is not None
    z_norm[label] = taps[0].z_norm[0]
    probs[label] = teach.probabilities(teach.logits_with(run, x, choice))[0]
st.plotly_chart(
    charts.test_example_figure(z_norm, probs, int(ds.y_test[example - 1])), key="tt_example_chart"
)
st.caption(
    "Left: z_norm of every unit of hidden layer 1 for this example alone. As a batch of one, all are 0; "
    "with estimated statistics they vary. Right: the network's class probabilities."
)

accs = teach.test_time_accuracies(run)
cols = st.columns(len(accs))
for col, (label, acc) in zip(cols, accs.items()):
    col.metric(label, f"{acc:.1%}")
majority = float(np.bincount(ds.y_test).max() / len(ds.y_test))
st.caption(
    f"Test accuracy of this network ({settings.steps} steps, m = {settings.batch_size}, decay = "
    f"{settings.decay:g}). A batch of one gives every example the same output: at best the share of the "
    f"largest class, {majority:.1%}. *Batches of m* normalizes random test mini-batches of the training "
    "size with their own statistics, as training did: the gap to the estimates is the small-batch "
    "train/inference gap."
)

st.subheader("Which estimate, for which batch size and decay")
with st.spinner(f"Training {len(GRID_M) * len(GRID_DECAY)} networks (cached afterwards)…"):
    runs = [ui.cached_run(settings.replace(batch_size=m, decay=d)) for m in GRID_M for d in GRID_DECAY]
table = teach.test_time_table(runs)
choices = [c for c in table.columns if c not in ("m", "decay")]
st.plotly_chart(charts.test_time_figure(table, choices), key="tt_grid_chart")
st.dataframe(
    table.style.format({"decay": "{:g}", **{c: "{:.1%}" for c in choices}}),
    hide_index=True,
    key="tt_grid_table",
)
t = settings.steps
st.caption(
    f"Each network: the sidebar's settings, {t} steps. The raw EWA starts at 0 and keeps a weight "
    f"decay^t of that start: {0.9**t:.2g}, {0.99**t:.2g} and {0.999**t:.2g} for the three decays, which "
    "is why decay 0.999 with few steps fails unless bias-corrected."
)

try_this(
    "Set the decay in the sidebar to 0.999 and the steps to 200: the raw running estimate has not "
    "caught up yet, the bias-corrected one has. Then look at m = 2: normalizing by batches of two "
    "during training is very noisy, and the estimates do not match it exactly."
)
