"""Teaching view 5: at test time, one example at a time."""

from __future__ import annotations

import streamlit as st

from bnviz import Settings, budget, caveats, fmt, teach
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
settings = ui.settings_sidebar(
    fields=["dataset", "noise", "batch_size", "decay", "depth", "width", "steps", "seed"]
)
notices = list(ui.url_notices())  # after the sidebar: a session's first run reads the URL there
settings = settings.note_bn()


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def grid_table(grid: tuple[Settings, ...]):
    return teach.test_time_table(teach.train_final(grid))


plan = budget.test_time(settings, GRID_M, GRID_DECAY)
if plan.reduced:
    st.info(ui.plain(plan.message()), icon=":material/speed:")
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
one = teach.one_example(run, example - 1)
ui.plotly_chart(charts.test_example_figure(one.z_norm, one.probs, one.true_class), key="tt_example_chart")
st.caption(
    "Left: z_norm of every unit of hidden layer 1 for this example alone. As a batch of one, all are 0; "
    "with estimated statistics they vary. Right: the network's class probabilities."
)

accs = teach.test_time_accuracies(run)
cols = st.columns(len(accs))
for col, (label, acc) in zip(cols, accs.items()):
    col.metric(label, fmt.percent(acc))
majority = teach.majority_share(ds.y_test)
st.caption(
    f"Test accuracy of this network ({settings.steps} steps, m = {settings.batch_size}, decay = "
    f"{fmt.number(settings.decay, 6)}). A batch of one gives every example the same output: at best the "
    f"share of the largest class, {fmt.percent(majority)}. *Batches of m* normalizes random test "
    "mini-batches of the training size with their own statistics, as training did: the gap to the "
    "estimates is the small-batch train/inference gap."
)

st.subheader("Which estimate, for which batch size and decay")
if plan.grid:
    with st.spinner(f"Training {len(plan.grid)} networks (cached afterwards)…"):
        table = grid_table(plan.grid)
    choices = [c for c in table.columns if c not in ("m", "decay")]
    ui.plotly_chart(charts.test_time_figure(table, choices), key="tt_grid_chart")
    st.dataframe(
        table.style.format({"decay": fmt.number_cells(6), **dict.fromkeys(choices, fmt.percent_cells(1))}),
        hide_index=True,
        key="tt_grid_table",
    )
    t = plan.grid[0].steps
    st.caption(
        f"Each network: the sidebar's settings, {t} steps. The raw EWA starts at 0 and keeps a weight "
        f"decay^t of that start: {fmt.number(teach.ewa_start_weight(0.9, t), 2)}, "
        f"{fmt.number(teach.ewa_start_weight(0.99, t), 2)} and "
        f"{fmt.number(teach.ewa_start_weight(0.999, t), 2)} for the three decays, which "
        "is why decay 0.999 with few steps fails unless bias-corrected."
    )
else:
    st.warning(ui.plain(" ".join(plan.notes)), icon=":material/speed:")

st.subheader("What bias correction does not correct")
small = caveats.SHOWN[0]
m_small = small.batch_size
caveat_runs = ui.cached_runs(plan.runs[1:], f"the {len(plan.runs) - 1} small-batch networks")
caveat = caveats.ratio_table([caveats.variance_bias_of(r) for r in caveat_runs])
ui.plotly_chart(charts.variance_bias_figure(caveat, m_small), key="tt_caveat_chart")
shown = caveat.rename(columns={"mean": f"mean of {len(caveat_runs)} seeds", "law": "expected"})
st.dataframe(
    shown.style.format(fmt.number_cells(3), subset=list(shown.columns[1:])),
    hide_index=True,
    key="tt_caveat_table",
)
raw, corrected, unbiased = (float(v) for v in caveat["mean"])
st.caption(
    f"A network with one hidden layer, m = {m_small}, decay {fmt.number(small.decay)}, {small.steps} steps, "
    f"seeds 0–{len(caveat_runs) - 1}: each final running σ² of hidden layer 1 divided by the population σ² "
    "(the whole training set through the final weights), the mean over its units. The note's σ²_B divides "
    f"by m, so on average it is (m − 1)/m = {fmt.number((m_small - 1) / m_small, 3)} of the variance it "
    f"estimates, and the running EWA inherits that: {fmt.number(raw, 2)}×. Bias correction divides by "
    f"1 − decayᵗ, which undoes only the EWA's start at 0; after {small.steps} steps that is 1 to 14 digits, "
    f"so the corrected estimate is as low ({fmt.number(corrected, 2)}×). PyTorch feeds m/(m − 1)·σ²_B into "
    "its running variance (while normalizing each training batch with the 1/m σ²_B): "
    f"{fmt.number(unbiased, 2)}×."
)

try_this(
    "Set the decay in the sidebar to 0.999 and the steps to 200: the raw running estimate has not "
    "caught up yet, the bias-corrected one has. Then look at m = 2: normalizing by batches of two "
    "during training is very noisy, and the estimates do not match it exactly."
)
