"""Teaching view 7: BN folded into the weights at inference, a plain network with the same outputs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bnviz import fmt, fold
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this

CHOICES = {"running": "running EWA", "corrected": "bias-corrected EWA", "population": "population"}
UNITS = 5  # units shown per hidden layer

intro(
    "BN folded away at inference",
    "At test time BN normalizes with fixed estimates $v_\\mu$, $v_{\\sigma^2}$ instead of the "
    "mini-batch's. With every number in it fixed, BN is a scale and a shift per unit, and a scale "
    "and a shift after $z = a W + b$ is again a layer $a W' + b'$: fold $\\gamma$, $\\beta$ and the "
    "estimates into the weights and the BN layer disappears. (Rows are examples, so column $j$ of "
    "$W$ holds unit $j$'s incoming weights.)",
    [
        r"\tilde z_j = \gamma_j\,\frac{z_j - v_{\mu,j}}{\sqrt{v_{\sigma^2,j} + \epsilon}} + \beta_j, "
        r"\qquad z = a W + b \qquad (\text{the note at test time})",
        r"W'_{:,j} = \frac{\gamma_j}{\sqrt{v_{\sigma^2,j} + \epsilon}}\,W_{:,j}, \qquad "
        r"b'_j = \frac{\gamma_j\,(b_j - v_{\mu,j})}{\sqrt{v_{\sigma^2,j} + \epsilon}} + \beta_j",
        r"\tilde z = a W' + b'",
    ],
)

notices = list(ui.url_notices())
if first_run("folding"):
    given = str(st.query_params.get("fold_stats", "running"))
    if given not in CHOICES:
        notices.append(f"fold_stats={given[:32]!r}: not one of {', '.join(CHOICES)}; running is used")
        given = "running"
    st.session_state.fold_stats = given
persist("fold_stats", "running")
show_notices(notices)

settings = ui.settings_sidebar(
    fields=["dataset", "noise", "batch_size", "eps", "decay", "depth", "width", "activation", "lr", "steps",
            "seed"]
)
with st.spinner("Training…"):
    run = ui.cached_run(settings.note_bn())
if not settings.use_bn:
    st.info(
        "Batch Norm is off in your settings; this view trains the same network with BN on, "
        "since a network without BN has nothing to fold.",
        icon=":material/info:",
    )
if run.diverged:
    st.warning(ui.plain(run.diverged))

which = st.radio(
    "Statistics folded in", list(CHOICES), format_func=CHOICES.__getitem__, horizontal=True, key="fold_stats",
    help="The estimates v_μ, v_σ² the BN network infers with, and the folded network is built from.",
)
ui.sync_url(settings, extra={"fold_stats": which})
stats = run.inference_stats(which)
assert stats is not None  # running, corrected and population are all fixed statistics
folded = fold.fold(run.net, stats)
ds = run.dataset
same = fold.compare(run.net, stats, folded, ds.X_test, ds.y_test)

st.subheader("The same outputs")
m1, m2, m3 = st.columns(3)
m1.metric("max |logit difference|", fmt.number(same.max_difference, 3),
          help="Over every test example and class: the BN network inferring against the folded network.")
m2.metric("Test accuracy: BN network", fmt.percent(same.bn_accuracy))
m3.metric("Test accuracy: folded network", fmt.percent(same.folded_accuracy))
st.caption(
    f"On the {same.examples} test examples the two networks classify {same.disagreements} differently; "
    "their logits differ only by floating-point rounding (float64 keeps about 16 digits)."
)
st.markdown(
    "**Why deployed BN costs nothing.** The folded network is a plain network: one matrix multiply "
    "and one bias add per layer, with no $\\gamma$, $\\beta$ or statistics left to apply. It keeps "
    f"{fmt.number(fold.inference_numbers(folded))} numbers where the BN network keeps "
    f"{fmt.number(fold.inference_numbers(run.net))}."
)

st.subheader(f"What folding did, first {min(UNITS, settings.width)} units of each hidden layer")
st.caption(
    f"v_μ, v_σ²: the {CHOICES[which]} statistics. Each column of W is scaled by γ/√(v_σ² + ε), "
    "so its norm is scaled by |γ|/√(v_σ² + ε); b′ takes in β and the mean v_μ. (Under BN the "
    "gradient of b is zero, so b stays at its start, 0, up to rounding of about 1e-16.)"
)
for layer in range(settings.depth):
    table = pd.DataFrame(fold.summary(run.net, stats, folded, layer, UNITS))
    st.markdown(f"**Hidden layer {layer + 1}**")
    st.dataframe(
        table.style.format(fmt.number_cells(4)),
        hide_index=True,
        key=f"fold_table_{layer}",
    )

try_this(
    "Switch between the statistics: the folded weights change with them, the difference stays at "
    "rounding level. Set m = 2 and decay 0.999 with few steps in the sidebar: the running estimates "
    "are poor and the accuracy drops, but the folded network drops with the BN network, exactly."
)
