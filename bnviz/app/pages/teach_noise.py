"""Teaching view 4: mini-batch noise, the 1/√m law, and the train/test gap against batch size."""

from __future__ import annotations

import streamlit as st

from bnviz import Settings, budget, fmt, teach
from bnviz.app import ui
from bnviz.app.ui import intro, persist, show_notices, try_this
from bnviz.charts import explorer as explorer_charts
from bnviz.charts import teach as charts
from bnviz.data import n_train

DRAWS = 200
GAP_SIZES = (2, 4, 8, 16, 32, 64, 128)

intro(
    "Noise and regularization",
    "Each mini-batch is normalized with its own $\\mu_B$ and $\\sigma^2_B$, computed from only $m$ "
    "examples, so they scatter around the values of the whole training set — and every example's "
    "$\\tilde z$ carries a little noise from the other examples in its batch. Like the mean of any "
    "$m$ samples, the scatter shrinks like $1/\\sqrt{m}$. This noise has a slight regularizing "
    "effect, similar to dropout; but BN is not meant as a regularization tool.",
    r"\operatorname{sd}(\mu_B) = \frac{\sigma}{\sqrt m}, \qquad "
    r"\operatorname{sd}(\sigma^2_B) \approx \sigma^2 \sqrt{\frac{\kappa - 1}{m}} "
    r"\quad (\kappa = \text{kurtosis of the unit})",
)
settings = ui.settings_sidebar(
    fields=["dataset", "noise", "batch_size", "depth", "width", "activation", "lr", "steps", "seed"]
)
show_notices(ui.url_notices())  # after the sidebar: a session's first run reads the URL there
settings = settings.note_bn()


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def spread_table(s: Settings, draws: int):
    run = ui.cached_run(s)
    sizes = teach.spread_batch_sizes(len(run.dataset.X_train))
    return teach.batch_stat_spread(run.net, run.dataset.X_train, sizes, layer=0, draws=draws)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def gap_table(grid: tuple[Settings, ...]):
    return teach.train_test_gap_grid(grid)


N = n_train(settings.dataset)
plan = budget.noise(settings, teach.spread_batch_sizes(N), [m for m in GAP_SIZES if m <= N], DRAWS)
if plan.reduced:
    st.info(ui.plain(plan.message()), icon=":material/speed:")
draws = plan.draws
with st.spinner("Training and drawing mini-batches…"):
    run = ui.cached_run(settings)
    spread = spread_table(settings, draws)

st.subheader("How far μ_B and σ²_B stray from the population values")
ui.plotly_chart(charts.spread_figure(spread), key="noise_spread")
st.caption(
    f"The final network trained with the sidebar's settings; {draws} random mini-batches of m distinct "
    f"training examples for each m, passed through it in training mode; hidden layer 1, averaged over its "
    f"units. Dotted: the laws for m of the N = {N} examples drawn without replacement, "
    "1/√m·√((N−m)/(N−1)) for μ_B and the exact spread of σ²_B (about √((κ−1)/m) when N ≫ m); at m = N "
    "every batch is the whole set and the spread is 0. Deeper layers are not shown: "
    "their input was already normalized with the same batch, so their μ_B are not independent samples."
)
with st.expander("The numbers"):
    shown = spread.rename(columns={
        "sd_mu": "sd(μ_B)/σ", "law_mu": "1/√m", "law_mu_fpc": "1/√m·√((N−m)/(N−1))",
        "sd_var": "sd(σ²_B)/σ²", "law_var": "√((κ−1)/m)", "law_var_fpc": "the same, without replacement",
        "mean_var_ratio": "mean σ²_B / σ²",
    })  # fmt: skip
    st.dataframe(shown.style.format(precision=4), hide_index=True, key="noise_spread_table")
    st.caption("mean σ²_B / σ² is about (m − 1)/m: the 1/m variance of a small batch is biased low. "
               "√((κ−1)/m) is the spread of σ²_B for m values drawn with replacement; drawn without "
               "replacement from N (as mini-batches are) the exact spread is smaller, and 0 at m = N.")

st.subheader(f"The noise during training (m = {settings.batch_size})")
persist("noise_unit", 1)
st.session_state.noise_unit = min(st.session_state.noise_unit, settings.width)  # the width may have shrunk
unit = st.slider("Unit of hidden layer 1", 1, settings.width, key="noise_unit") if settings.width > 1 else 1
ui.plotly_chart(explorer_charts.stats_figure(run, 0, unit - 1), key="noise_stats")

st.subheader("Train/test gap against batch size")
if plan.grid:
    with st.spinner(f"Training {len(plan.grid)} networks, one per batch size (cached afterwards)…"):
        gap = gap_table(plan.grid)
    ui.plotly_chart(charts.gap_figure(gap), key="noise_gap")
    st.caption(
        f"Every network has the sidebar's settings and trains {plan.grid[0].steps} steps; only m differs. "
        "Accuracies are in inference mode (running EWA estimates). Smaller batches see fewer examples in "
        "the same number of steps, so the gap mixes the regularizing noise with less training."
    )
    smallest, largest = gap.iloc[0], gap.iloc[-1]
    st.markdown(
        f"Here the gap is **{fmt.percent(smallest['gap'], signed=True)}** at m = {int(smallest['m'])} and "
        f"**{fmt.percent(largest['gap'], signed=True)}** at m = {int(largest['m'])}; the spread of μ_B is "
        f"{fmt.number(float(spread['sd_mu'].iloc[1]), 2)}·σ at m = {int(spread['m'].iloc[1])}."
    )
    if gap["diverged"].any():
        st.warning("Some of these networks diverged; lower the learning rate in the sidebar.")
else:
    st.warning(ui.plain(" ".join(plan.notes)), icon=":material/speed:")

try_this(
    "Pick the digits dataset and a width of 64, then compare the gap at m = 2 and m = 128. Read off "
    "the spread at m = 4 and m = 16: four times the batch, half the noise."
)
