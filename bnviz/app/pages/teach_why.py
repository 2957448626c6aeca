"""Teaching view 8: why does BN help? The note's covariate-shift intuition beside Santurkar et al. 2018."""

from __future__ import annotations

import streamlit as st

from bnviz import budget, fmt, why
from bnviz.app import ui
from bnviz.app.ui import first_run, intro, persist, show_notices, try_this, url_float
from bnviz.charts import why as charts
from bnviz.settings import Settings

LABELS = ("BN", "noisy BN", "no BN")

intro(
    "Why does BN help?",
    "The note's intuition: while a network trains, the layers below keep changing, so a deeper layer's "
    "input drifts (the note's *covariance drift*, Ioffe & Szegedy's *internal covariate shift*, view 3), "
    "and BN at least keeps its mean and variance fixed. Santurkar, Tsipras, Ilyas & Madry (2018, *How "
    "Does Batch Normalization Help Optimization?*) put that to two tests. **(a)** Add random noise after "
    "BN, a fresh scale $s$ and shift $d$ per unit at every step: every layer's input distribution now "
    "moves all the time, yet the network trains about as well as with plain BN. **(b)** Look at the loss "
    "along the direction training moves: with BN it changes less over a step, and the gradient here "
    "predicts the gradient a step further better. Here are both, on a network bnviz can train.",
    [
        r"\text{noisy BN: } \tilde z_j \leftarrow s_j\,\tilde z_j + d_j, \quad "
        r"s_j \sim U\!\left(\tfrac{1}{1+n},\, 1+n\right),\ d_j \sim U(-n, n) \ \text{afresh at every step}",
        r"\text{loss variation} = \max_\eta L(\theta_t - \eta g) - \min_\eta L(\theta_t - \eta g), \qquad "
        r"g = \nabla L(\theta_t)",
        r"\text{gradient change} = \lVert \Delta_\eta \rVert, \quad "
        r"\Delta_\eta = \nabla L(\theta_t) - \nabla L(\theta_t - \eta g), \qquad "
        r"\text{effective smoothness} = \max_\eta \frac{\lVert \Delta_\eta \rVert}{\lVert \eta g \rVert}",
    ],
)

notices: list[str] = []
if first_run("why"):
    given = str(st.query_params.get("why_net", why.DEFAULT_NETWORK))
    if given not in why.NETWORKS:
        notices.append(f"why_net={given[:32]!r}: not one of {', '.join(why.NETWORKS)}; "
                       f"{why.DEFAULT_NETWORK} is used")  # fmt: skip
        given = why.DEFAULT_NETWORK
    st.session_state.why_net = given
    noise = url_float("why_noise", why.DEFAULT_NOISE, 0.0, 3.0, notices)
    if noise not in why.NOISE_CHOICES:
        choices = ", ".join(fmt.number(n) for n in why.NOISE_CHOICES)
        notices.append(f"why_noise={fmt.number(noise, 6)}: must be one of {choices}; "
                       f"{fmt.number(why.DEFAULT_NOISE)} is used")  # fmt: skip
        noise = why.DEFAULT_NOISE
    st.session_state.why_noise = noise
    st.session_state.why_unit = int(url_float("why_unit", 1, 1, 128, notices))
for key, default in (("why_net", why.DEFAULT_NETWORK), ("why_noise", why.DEFAULT_NOISE), ("why_unit", 1)):
    persist(key, default)
show_notices(notices)

c1, c2, c3 = st.columns([5, 3, 3])
network = c1.radio(
    "Network (plain SGD, learning rate 0.5)",
    list(why.NETWORKS),
    format_func=lambda k: why.NETWORKS[k],
    key="why_net",
    help="Both are fixed experiments, trained once and then read from the cache by every session.",
)
noise = c2.select_slider(
    "Noise after BN, n",
    list(why.NOISE_CHOICES),
    key="why_noise",
    format_func=fmt.number,
    help="Every step, each BN unit's z̃ becomes s·z̃ + d with fresh s ~ U(1/(1+n), 1+n), d ~ U(−n, n). "
    "Training only: inference adds no noise.",
)
base = why.base_settings(network)
# set on every run: the slider's range follows the network, and a slider whose range changed
# starts from the value given here, not from its minimum
st.session_state.why_unit = min(int(st.session_state.why_unit), base.width)
unit = c3.slider("Unit of the last hidden layer", 1, base.width, key="why_unit")
ui.sync_url(extra={"why_net": network, "why_noise": fmt.number(noise, 6), "why_unit": str(unit)})

runs_asked = why.noise_settings(base, noise)
landscape_asked = (runs_asked[0], runs_asked[2])
plan = budget.why(runs_asked, landscape_asked, why.PROBES, len(why.STEP_MULTIPLIERS))
if plan.notes:
    st.caption(" ".join(plan.notes))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def landscapes(bn: Settings, plain: Settings) -> tuple[why.Landscape, why.Landscape]:
    """The landscape probed along the training of the BN and the no-BN network (cached): both
    side by side on the training workers, so the second or two of work each does holds no
    other session up."""
    jobs = [ui.trainer().call(why.landscape, [s]) for s in (bn, plain)]
    return jobs[0].result()[0], jobs[1].result()[0]


bn_run, noisy_run, plain_run = ui.cached_runs(plan.runs, "the three networks (BN, noisy BN, no BN)")
with st.spinner("Probing the loss along training (cached afterwards)…"):
    bn_ls, plain_ls = landscapes(*plan.grid)
runs = (bn_run, noisy_run, plain_run)
result = why.noise_result(runs, LABELS)
steps = base.steps

# ----------------------------------------------------------------------------- (a)
st.subheader("(a) Noisy BN: inputs that move at every step")
left, right = st.columns([2, 3])
ui.plotly_chart(charts.accuracy_figure([(n, r.curves) for n, r in zip(LABELS, runs)]), key="why_acc",
                container=left)  # fmt: skip
shown = (("no BN", plain_run), ("BN", bn_run), ("noisy BN", noisy_run))
tracks = [(n, why.percentile_tracks(r, unit - 1)) for n, r in shown]
ui.plotly_chart(charts.percentile_figure(tracks, unit), key="why_pct", container=right)
acc_bn, acc_noisy, acc_plain = result.final_test_acc
drift_bn, drift_noisy, drift_plain = result.drift
m = st.columns(3)
for col, name, acc in zip(m, LABELS, result.final_test_acc):
    col.metric(f"Final test accuracy, {name}", fmt.percent(acc),
               help="After the last training step, in inference mode (no noise).")  # fmt: skip
m = st.columns(3)
for col, name, drift in zip(m, LABELS, result.drift):
    col.metric(f"Median moved, {name}", fmt.number(drift, 3),
               help="How far the median of each unit's sigmoid input moved over training (max − min "
                    "over the checkpoints), the median over the last hidden layer's units: view 3's "
                    "drift.")  # fmt: skip
st.markdown(
    f"""
- **Paper (VGG on CIFAR-10):** with noise after BN the activations' distributions were far less stable than
  without BN, and the network still trained about as fast and as well as with plain BN.
- **This run ({steps} steps, n = {fmt.number(noise)}):** the median of the sigmoid's input moved by
  {fmt.number(drift_noisy, 3)} with noisy BN, {fmt.number(drift_bn, 3)} with BN and
  {fmt.number(drift_plain, 3)} without BN (view 3's measure, with each checkpoint's noise in it); the
  final test accuracies are {fmt.percent(acc_noisy)}, {fmt.percent(acc_bn)} and {fmt.percent(acc_plain)}.
"""
)
if drift_noisy <= drift_plain:
    st.warning("In this run the noisy network's inputs moved no more than the plain network's: the noise "
               "is too small to show the paper's point. Choose a larger n.")  # fmt: skip
if acc_noisy < acc_plain:
    st.warning(f"At n = {fmt.number(noise)} the noisy network ends below the network without BN: here "
               "the noise is more than training can absorb, unlike the paper's finding. Choose a smaller "
               "n.")  # fmt: skip
elif acc_noisy < acc_bn - 0.05:
    st.info(f"At n = {fmt.number(noise)} noisy BN trails plain BN by more than 5 points, though it stays "
            "above no BN: the paper's runs lost less.", icon=":material/info:")  # fmt: skip
st.caption(
    "So keeping each layer's input distribution fixed is not what makes BN work: noisy BN shifts it more "
    "than no BN ever does, and trains like BN. The percentiles of the noisy run include the noise of the "
    "step after each checkpoint (the input the next forward pass sees)."
)

# ----------------------------------------------------------------------------- (b)
st.subheader("(b) The loss along the gradient, with and without BN")
ui.plotly_chart(charts.landscape_figure([("BN", bn_ls.table()), ("no BN", plain_ls.table())]),
                key="why_landscape")  # fmt: skip
s_bn, s_plain = why.summary(bn_ls), why.summary(plain_ls)
m = st.columns(3)


def pair(bn: float, plain: float) -> str:
    return f"{fmt.number(bn, 3)} | {fmt.number(plain, 3)}"


m[0].metric("Loss variation, BN | no BN", pair(s_bn.loss_variation, s_plain.loss_variation),
            help="Median over the probe steps of (1): max − min over η of L(θ − ηg).")
m[1].metric("Gradient change, BN | no BN", pair(s_bn.grad_change, s_plain.grad_change),
            help="Median over the probe steps of (2)'s largest value.")
m[2].metric("Effective smoothness, BN | no BN", pair(s_bn.smoothness, s_plain.smoothness),
            help="Median over the probe steps of max over η of ‖Δ gradient‖ / ‖η g‖: the gradient's change "
                 "per unit moved, which does not grow with the gradient's size.")  # fmt: skip
multipliers = ", ".join(fmt.number(c) for c in why.STEP_MULTIPLIERS)
st.caption(
    f"At {len(bn_ls.steps)} probe steps (every {fmt.number(100 / why.PROBES)} % of training), on that step's "
    f"mini-batch in training mode: g is the gradient at the weights θ_t, and the probe moves along −g by "
    f"η = lr × ({multipliers}). Training here is plain SGD, whose step is −lr·g: η = lr is the step it "
    "took. (With momentum or Adam the step points elsewhere; the probe would still move along −g.) The "
    "networks are (a)'s BN and no-BN networks, trained again with the probes: the same weights."
)
ratio = s_bn.grad_norm / s_plain.grad_norm if s_plain.grad_norm > 0 else float("nan")
smaller = [name for name, b, p in (("the loss variation", s_bn.loss_variation, s_plain.loss_variation),
                                   ("the gradient change", s_bn.grad_change, s_plain.grad_change),
                                   ("the effective smoothness", s_bn.smoothness, s_plain.smoothness))
           if b < p]  # fmt: skip
if len(smaller) == 3:
    st.markdown(
        "**As in the paper:** with BN the loss changes less along the gradient and the gradient changes less "
        "over a step, also per unit moved: a smoother, more predictable landscape, which lets a larger step "
        f"stay safe. (BN's gradients here are {fmt.number(ratio, 2)}× the size of no BN's, median ‖g‖; the "
        "effective smoothness divides the size out.)"
    )
else:
    kept = " and ".join(smaller) if smaller else "none of the three"
    st.warning(
        f"Only partly as in the paper: with BN {kept} {'is' if len(smaller) == 1 else 'are'} smaller. This "
        f"network's BN gradients are {fmt.number(ratio, 2)}× as large as its no-BN gradients (median ‖g‖), "
        "so the same step size moves it further; the effective smoothness divides that out. The paper's "
        "effect is weak on this small network.",
        icon=":material/info:",
    )

try_this(
    "Raise n to 3: the noisy network's inputs swing far more, its accuracy barely moves. Then switch to the "
    "Explorer's network: noisy BN still trains like BN, but the loss-landscape effect is weak there, which "
    "a small, shallow network need not show."
)
