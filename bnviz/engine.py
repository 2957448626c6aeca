"""The training loop: K models stacked along a leading axis, trained together (K = 1 for one run).

The K models of a :class:`Stack` share every array shape and code path (the settings in
``GROUP_FIELDS``) and may differ in the rest (``MODEL_FIELDS``). They are stacked:
``theta`` of shape ``(K, P)``, ``W[l]`` of shape ``(K, n_in, n_out)``, mini-batches of shape
``(K, m, n_in)``, so one batched NumPy computation trains all of them, and each model gets
exactly the numbers it would get alone.

Each model k has its own data ``data.load(dataset, noise, seed)`` and its own generator
``np.random.default_rng([seed, 1])``, which draws its initial weights and then one
permutation of its training set per epoch. Step t = 1 ... T of :func:`train`:

1. the next m examples of that permutation (the last partial batch of an epoch is dropped);
2. the training-mode forward pass (BN with this batch's mu_B and sigma²_B) and backward pass;
   with ``normalization`` "layer" or "group" each example is normalized over its own units; with
   "renorm" BN is corrected by r and d towards the running estimates, bias-corrected
   (v_t / (1 - decay^t) after t steps, whatever ``bias_correction`` says: the raw v_t starts
   at 0, which would clip r and d to their limits for the first ~1/(1 - decay) steps), and
   at step 1, before anything is averaged, is BN itself (r = 1, d = 0);
   with noise after BN (``bn_noise`` n > 0), each BN layer's z_tilde becomes s * z_tilde + d
   before the activation, with s_j ~ U(1/(1+n), 1+n) and d_j ~ U(-n, n) drawn afresh for
   every unit j at every step from the model's own noise generator
   ``np.random.default_rng([seed, 2])`` (all layers' s, then all layers' d); a model with
   n = 0 draws nothing, so its numbers are those of a run without the setting;
3. the running estimates (for "batch" and "renorm"; LayerNorm and GroupNorm have none), an
   exponentially weighted average of the batch statistics starting from v_0 = 0::

       v_mu  <- decay * v_mu  + (1 - decay) * mu_B
       v_var <- decay * v_var + (1 - decay) * sigma²_B

   which inference may use bias-corrected, v_t / (1 - decay^t) (``bn.bias_corrected``);
4. an optimizer step, with the gradients of gamma and beta zeroed where they are frozen.

A model whose mini-batch loss is not <= ``DIVERGED_LOSS`` (inf, NaN or exploded) stops
before that step's update; one whose weights are not all finite at a checkpoint stops
there. A stopped model is held on the weights of its last checkpoint (so no NaN reaches
any arithmetic) without affecting the others, and the loop ends when every model has stopped.

At the ``checkpoint_steps`` (about ``N_CHECKPOINTS`` + 1 from 0 to T) the engine keeps a copy
of each model (``Stack.last``) with the mean mini-batch loss since the previous checkpoint
(at step 0: the loss over the whole training set). A :class:`Recorder` is told about every
step and every checkpoint, and records what it needs: :func:`population` passes the whole
training set through the weights, :func:`evaluate` measures every accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import bn, data, nn, norms
from .optim import Optimizer
from .settings import Settings

Stats = list[tuple[NDArray, NDArray]]  # (mu, var) per hidden layer

N_CHECKPOINTS = 50
# A cross-entropy this large means the right class's logit trails by thousands: the run
# has blown up even if the numbers are still finite (ReLU nets often "recover" into
# all-dead units afterwards). A model stops there, as it does at inf or NaN.
DIVERGED_LOSS = 1e4
# Settings that fix array shapes or code paths: models differing in them cannot be stacked.
GROUP_FIELDS = (
    "dataset", "batch_size", "depth", "width", "activation", "use_bn", "normalization", "groups",
    "bn_position", "optimizer", "steps",
)  # fmt: skip
# Settings that may differ between the stacked models of one group.
MODEL_FIELDS = (
    "noise",
    "eps",
    "gamma_init",
    "beta_init",
    "freeze_affine",
    "decay",
    "bias_correction",
    "bn_noise",
    "renorm_r_max",
    "renorm_d_max",
    "lr",
    "seed",
)
STATS_COLUMNS = {s: f"test_acc_{s}" for s in nn.STATS}


def checkpoint_steps(steps: int) -> NDArray[np.int32]:
    """About N_CHECKPOINTS + 1 evenly spaced steps from 0 to ``steps``, both included."""
    return np.unique(np.linspace(0, steps, N_CHECKPOINTS + 1).round().astype(np.int32))


def group_key(s: Settings) -> tuple:
    """Models with equal keys share every array shape and code path, so they stack. The
    normalization (and its position) counts only with ``use_bn`` on, its ``groups`` only for
    GroupNorm."""
    unused: tuple[str, ...] = ("normalization", "groups", "bn_position")
    if s.use_bn:
        unused = () if s.normalization == "group" else ("groups",)
    return tuple(None if name in unused else getattr(s, name) for name in GROUP_FIELDS)


def corrected(running: Stats, decay: NDArray | float, t: NDArray | int) -> Stats:
    """Bias-corrected running estimates after ``t`` steps (``decay`` and ``t`` broadcast
    against the estimates). At t = 0 nothing has been averaged yet: v_0 stands as it is."""
    t = np.asarray(t)
    started, t1 = t > 0, np.maximum(t, 1)
    return [
        (
            np.where(started, bn.bias_corrected(mu, decay, t1), mu),
            np.where(started, bn.bias_corrected(var, decay, t1), var),
        )
        for mu, var in running
    ]


def final_stats(which: str, running: Stats, population: Stats | None, decay: float,
                steps: int) -> Stats | None:
    """A trained model's statistics for inference by name (``nn.STATS``): its running
    estimates raw or bias-corrected after ``steps`` steps, the population's, or None for
    the batch's own."""
    if which == "running":
        return running
    if which == "corrected":
        return corrected(running, decay, steps)
    if which == "population":
        return population
    if which == "batch":
        return None
    raise ValueError(f"statistics must be one of {nn.STATS}, got {which!r}")


@dataclass
class Models:
    """K stacked networks at one moment: weights, running estimates, and what inference needs."""

    net: nn.MLP  # lead (K,)
    running: Stats  # (K, width) each: v_mu, v_var (uncorrected)
    t: NDArray[np.int64]  # (K,) the step each model is at (of Stack.now: set at checkpoints)
    decay: NDArray[np.float64]  # (K, 1) the EWA decay
    bias_correction: NDArray[np.bool_]  # (K, 1) inference uses the corrected estimates

    def corrected(self) -> Stats:
        return corrected(self.running, self.decay, self.t[:, None])

    def chosen(self, corrected: Stats | None = None) -> Stats:
        """Each model's own statistics for inference: corrected with bias correction, else
        running. ``corrected``: :meth:`corrected`, when already computed."""
        bc = self.bias_correction
        if not bc.any():
            return self.running
        corrected = self.corrected() if corrected is None else corrected
        if bc.all():
            return corrected
        return [
            (np.where(bc, cmu, mu), np.where(bc, cvar, var))
            for (mu, var), (cmu, cvar) in zip(self.running, corrected)
        ]

    def take(self, idx: NDArray[np.intp]) -> Models:
        """A copy of the models ``idx`` only."""
        return Models(
            net=_network(self.net, idx),
            running=[(mu[idx], var[idx]) for mu, var in self.running],
            t=self.t[idx],
            decay=self.decay[idx],
            bias_correction=self.bias_correction[idx],
        )

    def copy(self) -> Models:
        return self.take(np.arange(len(self.t)))

    def assign(self, other: Models, mask: NDArray[np.bool_] | None = None) -> None:
        """Models ``mask`` (None: all) become those of ``other`` (weights, running estimates, step)."""
        if mask is None:
            np.copyto(self.net.theta, other.net.theta)
            for (mu, var), (omu, ovar) in zip(self.running, other.running):
                np.copyto(mu, omu)
                np.copyto(var, ovar)
            np.copyto(self.t, other.t)
            return
        self.net.theta[mask] = other.net.theta[mask]
        for (mu, var), (omu, ovar) in zip(self.running, other.running):
            mu[mask], var[mask] = omu[mask], ovar[mask]
        self.t[mask] = other.t[mask]


def _network(like: nn.MLP, idx: NDArray[np.intp]) -> nn.MLP:
    """A copy of the models ``idx`` of the stacked network ``like``: weights and the per-model
    columns (eps, r_max, d_max: (K, 1) each, or one float for all)."""

    def pick(v: float | NDArray) -> float | NDArray:
        return v[idx] if isinstance(v, np.ndarray) else v

    net = nn.like(like, pick(like.eps), (len(idx),), r_max=pick(like.r_max), d_max=pick(like.d_max))
    net.theta[...] = like.theta[idx]
    return net


class Divergence(NamedTuple):
    """Why a model stopped: at ``step``, its mini-batch ``loss`` (None: its weights were not finite)."""

    step: int
    loss: float | None


@dataclass
class Stack:
    """K models trained together: their settings, data, state and bookkeeping."""

    settings: list[Settings]
    datasets: list[data.Dataset]  # per model; models with equal (noise, seed) share one
    X_train: NDArray  # (K, n, d)
    Y_train: NDArray  # (K, n, classes) one-hot
    X_flat: NDArray  # (K * n, d): X_train, model after model (a view)
    Y_flat: NDArray
    y_train: NDArray  # (K, n)
    X_test: NDArray
    y_test: NDArray
    now: Models  # the models as they train
    last: Models  # each model at its last checkpoint
    last_loss: NDArray[np.float64]  # (K,) mean mini-batch loss over the interval ending there
    opt: Optimizer
    rngs: list[np.random.Generator]
    ewa_decay: float | NDArray  # decay and 1 - decay: (K, 1) in the training dtype, or one float
    ewa_rest: float | NDArray
    frozen: NDArray[np.intp]  # models whose gamma and beta do not train
    bn_noise: NDArray[np.float64]  # (K,) noise after BN n per model (0 without BN)
    noise_rngs: list[np.random.Generator]  # per model: draws the noise after BN
    alive: NDArray[np.bool_]  # (K,) not stopped
    n_alive: int
    divergence: list[Divergence | None]
    loss_sum: NDArray[np.float64]  # (K,) mini-batch losses since the last checkpoint
    loss_n: int = 0

    @property
    def K(self) -> int:
        return len(self.settings)

    @property
    def net(self) -> nn.MLP:
        return self.now.net

    @property
    def use_bn(self) -> bool:
        return self.settings[0].use_bn

    @property
    def running_estimates(self) -> bool:
        """The models keep running estimates (normalization "batch" or "renorm", use_bn on)."""
        return self.net.batch_stats

    def steps_done(self) -> NDArray[np.int64]:
        """Steps each model completed: T, or the steps before the one it stopped at."""
        T = self.settings[0].steps
        return np.array([T if d is None else d.step - 1 for d in self.divergence], np.int64)

    @classmethod
    def create(cls, settings: Sequence[Settings], dtype: DTypeLike = np.float64) -> Stack:
        """Data, initial weights (from each model's own generator) and optimizer of K models."""
        group = list(settings)
        s0 = group[0]
        if any(group_key(s) != group_key(s0) for s in group):
            raise ValueError(f"stacked models must share {', '.join(GROUP_FIELDS)}")
        K = len(group)
        loaded: dict[tuple[float, int], data.Dataset] = {}
        for s in group:
            if (s.noise, s.seed) not in loaded:
                loaded[s.noise, s.seed] = data.load(s0.dataset, s.noise, s.seed)
        sets = [loaded[s.noise, s.seed] for s in group]
        C = sets[0].n_classes
        sizes = (sets[0].n_features,) + (s0.width,) * s0.depth + (C,)

        def column(name: str, dt: DTypeLike = dtype) -> NDArray:
            return np.array([[getattr(s, name)] for s in group], dtype=dt)

        def shared(name: str) -> float | NDArray:
            """One value for all models as a float (NumPy broadcasts it faster than a (K, 1)
            column: a third of the EWA update's time for one model), else the column."""
            values = {getattr(s, name) for s in group}
            return float(values.pop()) if len(values) == 1 else column(name)

        net = nn.create(
            sizes, s0.activation, s0.use_bn, column("eps"), lead=(K,), dtype=dtype, norm=s0.normalization,
            groups=s0.groups, r_max=column("renorm_r_max"), d_max=column("renorm_d_max"),
            position=s0.bn_position,
        )  # fmt: skip
        rngs = []
        for k, s in enumerate(group):
            rng = np.random.default_rng([s.seed, 1])
            one = nn.like(net, s.eps, (), r_max=s.renorm_r_max, d_max=s.renorm_d_max)
            net.theta[k] = nn.init(one, rng, s.gamma_init, s.beta_init).theta
            rngs.append(rng)
        running = [(np.zeros((K, s0.width), dtype), np.zeros((K, s0.width), dtype)) for _ in range(s0.depth)]
        decay = column("decay", np.float64)
        ewa_decay = shared("decay")
        ewa_rest = 1.0 - ewa_decay if isinstance(ewa_decay, float) else (1.0 - decay).astype(dtype)
        now = Models(net, running, np.zeros(K, np.int64), decay, column("bias_correction", bool))
        y_train = np.stack([d.y_train for d in sets])
        X_train = np.stack([d.X_train for d in sets]).astype(dtype)
        Y_train = np.eye(C, dtype=dtype)[y_train]
        return cls(
            settings=group,
            datasets=sets,
            X_train=X_train,
            Y_train=Y_train,
            X_flat=X_train.reshape(-1, X_train.shape[-1]),
            Y_flat=Y_train.reshape(-1, C),
            y_train=y_train,
            X_test=np.stack([d.X_test for d in sets]).astype(dtype),
            y_test=np.stack([d.y_test for d in sets]),
            now=now,
            last=now.copy(),
            last_loss=np.full(K, np.nan),
            opt=Optimizer(s0.optimizer, shared("lr"), net.theta),
            rngs=rngs,
            ewa_decay=ewa_decay,
            ewa_rest=ewa_rest,
            frozen=np.array([k for k, s in enumerate(group) if s.freeze_affine and s.use_bn], np.intp),
            bn_noise=np.array([s.bn_noise if s.use_bn else 0.0 for s in group]),
            noise_rngs=[np.random.default_rng([s.seed, 2]) for s in group],
            alive=np.ones(K, bool),
            n_alive=K,
            divergence=[None] * K,
            loss_sum=np.zeros(K),
        )


class Recorder:
    """Told about every step and checkpoint of :func:`train`; override what you record.

    ``on_step`` comes after the step's update, ``on_checkpoint`` after the checkpoint's
    checks and copy (``stack.last``, ``stack.last_loss``), the first at step 0 (k = 0).
    Neither comes for a step at which every model stopped.
    """

    def on_step(self, t: int, loss: NDArray, taps: list[nn.Tap], stack: Stack) -> None:
        pass

    def on_checkpoint(self, k: int, t: int, stack: Stack) -> None:
        pass


class Stopped(Exception):
    """Raised out of :func:`train` when its ``watch`` says the result is no longer wanted."""


# Told the step t about to run (1 ... T); returns True to stop the training there.
Watch = Callable[[int], bool]


def train(stack: Stack, recorder: Recorder, watch: Watch | None = None) -> Stack:
    """Train every model of ``stack`` for its T steps (or until it stops): THE loop.

    ``watch(t)`` is called before each step (a cheap check: a flag in shared memory,
    e.g. ``bnviz.workers``); when it returns True the loop raises :class:`Stopped`, so
    nobody computes a result nobody waits for.
    """
    T, m = stack.settings[0].steps, stack.settings[0].batch_size
    n = stack.X_train.shape[1]
    ckpts = checkpoint_steps(T).tolist()
    with np.errstate(all="ignore"):
        logits, _, _ = population(stack.net, stack.X_train)
        stack.last_loss[:] = nn.softmax_cross_entropy(logits, stack.Y_train)[0]
        recorder.on_checkpoint(0, 0, stack)
        order, pos, k = _epoch(stack, n), 0, 1
        for t in range(1, T + 1):
            if watch is not None and watch(t):
                raise Stopped(f"stopped before step {t}")
            if pos + m > n:
                order, pos = _epoch(stack, n), 0
            loss, taps = _forward_backward(stack, order[:, pos : pos + m], t)
            pos += m
            _check_loss(stack, loss, t)
            if not stack.n_alive:
                break
            _update(stack, taps, loss, t)
            recorder.on_step(t, loss, taps, stack)
            if t == ckpts[k]:
                _checkpoint(stack, t)
                if not stack.n_alive:
                    break
                recorder.on_checkpoint(k, t, stack)
                k += 1
            if stack.n_alive < stack.K:  # the stopped wait on their last checkpoint
                stack.now.assign(stack.last, ~stack.alive)
    return stack


def _epoch(stack: Stack, n: int) -> NDArray[np.intp]:
    """Each model's order of its n training examples for the next epoch, as (K, n) rows of
    ``stack.X_flat`` (model k's examples are rows k*n ... k*n + n - 1)."""
    order = np.empty((stack.K, n), np.intp)
    for k, rng in enumerate(stack.rngs):
        order[k] = rng.permutation(n)
        order[k] += k * n
    return order


def _forward_backward(stack: Stack, rows: NDArray[np.intp], t: int) -> tuple[NDArray, list[nn.Tap]]:
    """Training-mode forward and backward of step t of each model on its mini-batch: loss
    (K,), taps.

    ``rows`` (K, m) index ``stack.X_flat``; ``take`` gathers them as one (K, m, d) batch,
    many times faster than indexing ``X_train[k_index, idx]`` with two index arrays.
    """
    noise = _noise(stack) if stack.bn_noise.any() else None
    running = None
    if stack.net.norm == "renorm" and stack.net.use_bn and t > 1:  # see the module docstring
        running = _renorm_running(stack.now, t - 1)
    logits, taps = nn.forward(stack.net, stack.X_flat.take(rows, axis=0), None, noise, running)
    return nn.backward(stack.net, logits, taps, stack.Y_flat.take(rows, axis=0)), taps


def _renorm_running(now: Models, t: int) -> Stats:
    """``corrected(now.running, now.decay, t)`` for t >= 1, the estimates Batch Renorm corrects
    towards, bit for bit: the same 1 - decay^t as :func:`bnviz.bn.bias_corrected`, computed once
    per step for every layer rather than once per estimate (``.venv/bin/python bench/core.py``
    times Batch Renorm's steps against BN's)."""
    c = 1.0 - np.asarray(now.decay, dtype=np.float64) ** np.asarray(t)
    if c.min() == 1.0:  # 1 - decay^t rounds to 1: the corrected estimates are the running ones
        return now.running
    c = c.astype(now.net.theta.dtype, copy=False)
    if c.size == 1:  # one model (every run the app draws): a scalar of that dtype divides the
        c = c[0, 0]  # same, without broadcasting a (1, 1) array
    return [(mu / c, var / c) for mu, var in now.running]


def _noise(stack: Stack) -> list[nn.Noise]:
    """This step's noise after BN per hidden layer: (s, d) of shape (K, width) each, drawn
    from each model's noise generator where its n > 0; s = 1, d = 0 (no change) elsewhere."""
    net = stack.net
    depth, width, dtype = net.depth, net.sizes[1], net.theta.dtype
    if stack.K == 1:  # the one model draws (else no call), the same numbers into (depth, 1, width)
        n, rng = float(stack.bn_noise[0]), stack.noise_rngs[0]
        scale = rng.uniform(1 / (1 + n), 1 + n, (depth, 1, width)).astype(dtype, copy=False)
        shift = rng.uniform(-n, n, (depth, 1, width)).astype(dtype, copy=False)
        return list(zip(scale, shift))
    scale = np.ones((depth, stack.K, width), dtype)
    shift = np.zeros((depth, stack.K, width), dtype)
    for k in np.flatnonzero(stack.bn_noise):
        n, rng = float(stack.bn_noise[k]), stack.noise_rngs[k]
        scale[:, k] = rng.uniform(1 / (1 + n), 1 + n, (depth, width))
        shift[:, k] = rng.uniform(-n, n, (depth, width))
    return list(zip(scale, shift))


def _check_loss(stack: Stack, loss: NDArray, t: int) -> None:
    """Stop the models whose mini-batch loss is not <= DIVERGED_LOSS (inf, NaN, exploded)."""
    if not loss.max() <= DIVERGED_LOSS:  # max is NaN if any loss is
        _stop(stack, stack.alive & ~(loss <= DIVERGED_LOSS), t, loss)


def _stop(stack: Stack, bad: NDArray[np.bool_], t: int, loss: NDArray | None) -> None:
    """Models ``bad`` stop at step t: by their ``loss``, or (loss None) by their weights."""
    for k in np.flatnonzero(bad):
        stack.divergence[k] = Divergence(t, None if loss is None else float(loss[k]))
    stack.alive &= ~bad
    stack.n_alive = int(stack.alive.sum())


def _update(stack: Stack, taps: list[nn.Tap], loss: NDArray, t: int) -> None:
    """The running estimates' EWA, then the optimizer step (frozen and stopped models: no gradient)."""
    now, net = stack.now, stack.net
    stack.loss_sum += loss
    stack.loss_n += 1
    if net.batch_stats:
        for (mu, var), tap in zip(now.running, taps):
            c = tap.cache
            assert isinstance(c, bn.Cache | norms.BatchRenormCache)
            mu *= stack.ewa_decay
            mu += stack.ewa_rest * c.mu
            var *= stack.ewa_decay
            var += stack.ewa_rest * c.var
    if net.use_bn:
        if len(stack.frozen):
            for sl in net.slices["gamma"] + net.slices["beta"]:
                net.grad[stack.frozen, sl] = 0
    if stack.n_alive < stack.K:
        net.grad[~stack.alive] = 0
    stack.opt.step(net.theta, net.grad)


def _checkpoint(stack: Stack, t: int) -> None:
    """Stop the models whose weights are not all finite; keep a copy of the others."""
    finite = np.isfinite(stack.net.theta).all(axis=1)
    if not finite.all():
        _stop(stack, stack.alive & ~finite, t, None)
    stack.now.t[:] = t
    alive = None if stack.n_alive == stack.K else stack.alive
    stack.last.assign(stack.now, alive)
    interval = stack.loss_sum / max(stack.loss_n, 1)
    stack.last_loss[:] = interval if alive is None else np.where(alive, interval, stack.last_loss)
    stack.loss_sum[:], stack.loss_n = 0.0, 0


def population(net: nn.MLP, X_train: NDArray) -> tuple[NDArray, list[nn.Tap], Stats | None]:
    """The whole training set as one batch through the weights: logits, taps, and (with
    batch statistics: BN, Batch Renorm) each layer's mu and var over it, the population
    statistics. Batch Renorm's pass is BN's (r = 1, d = 0): the set's own statistics.
    LayerNorm and GroupNorm have none (None): each example is normalized by itself."""
    logits, taps = nn.forward(net, X_train)
    if not net.batch_stats:
        return logits, taps, None
    stats = []
    for tap in taps:
        assert isinstance(tap.cache, bn.Cache)
        stats.append((tap.cache.mu, tap.cache.var))
    return logits, taps, stats


def accuracy(net: nn.MLP, X: NDArray, y: NDArray, stats: Stats | None) -> NDArray[np.float64]:
    """Share of examples classified right, per model; ``stats=None`` normalizes X by itself."""
    return (nn.predict(net, X, stats) == y).mean(axis=-1)


def predict_many(net: nn.MLP, X: NDArray, choices: Sequence[Stats | None]) -> NDArray[np.intp]:
    """``nn.predict(net, X, stats)`` for every ``stats`` of ``choices``: the argmax of
    :func:`logits_many`, shape ``(len(choices),) + lead + (n,)``."""
    return logits_many(net, X, choices).argmax(axis=-1)


def logits_many(net: nn.MLP, X: NDArray, choices: Sequence[Stats | None]) -> NDArray:
    """The logits of ``nn.forward(net, X, stats)`` for every ``stats`` of ``choices``, bit for
    bit, in one pass: shape ``(len(choices),) + lead + (n, classes)``. For a network with
    batch statistics (BN, Batch Renorm); ``None`` normalizes X by itself (its own mu and var
    at every layer).

    The choices share layer 1's z (X W + b); from there each choice is a slice of one
    stacked array, so the pass makes the NumPy calls of one ``nn.predict`` instead of one
    per choice. Each slice goes through the operations ``nn.forward`` makes, in its order
    (``bnviz.bn.infer``, and for None ``bnviz.bn.forward``'s mu and var), so every
    prediction is the one ``nn.predict`` makes (tests/core/test_engine.py compares them).
    """
    assert net.batch_stats, "LayerNorm, GroupNorm and no normalization have no statistics to choose"
    S, lead, width = len(choices), net.lead, net.sizes[1:-1]
    own = [s for s, c in enumerate(choices) if c is None]  # normalized with X's own statistics
    a = X
    for l in range(net.depth):
        z: NDArray = a @ net.W[l]
        z += net.b[l][..., None, :]
        if net.after:
            z = nn.activate(net.activation, z)
        mu = np.empty((S,) + lead + (width[l],), z.dtype)
        var = np.empty_like(mu)
        for s, c in enumerate(choices):
            if c is not None:
                mu[s], var[s] = c[l]
        for s in own:  # bn.forward's mu and var of this choice's z
            mu[s], var[s], _ = bn.batch_stats(z if l == 0 else z[s])
        z_tilde, _ = bn.infer(z, net.gamma[l], net.beta[l], net.eps, mu, var)
        a = z_tilde if net.after else nn.activate(net.activation, z_tilde)
    logits = a @ net.W[-1]
    logits += net.b[-1][..., None, :]
    return logits


def evaluate(stack: Stack, models: Models, population: Stats | None) -> dict[str, NDArray[np.float64]]:
    """Every accuracy of ``models`` (K, with ``stack``'s data), per model.

    ``train_acc`` and ``test_acc`` with each model's own statistics (:meth:`Models.chosen`);
    ``test_acc_<stats>`` with each choice of ``nn.STATS``: the running estimates,
    bias-corrected, the ``population`` statistics, or each set's own (batch). Without BN,
    and with LayerNorm or GroupNorm (each example normalized by itself), there are no
    statistics to choose: one number for every column. The test set's choices go through
    the network in one pass (:func:`predict_many`).
    """
    net = models.net
    if not net.batch_stats:
        test = accuracy(net, stack.X_test, stack.y_test, None)
        return {
            "train_acc": accuracy(net, stack.X_train, stack.y_train, None),
            "test_acc": test,
            **{STATS_COLUMNS[w]: test for w in nn.STATS},
        }
    running, corrected = models.running, models.corrected()
    # Once 1 - decay^t rounds to 1 the corrected estimates are the running ones, bit for bit.
    same = all(np.array_equal(c, r) for pc, pr in zip(corrected, running) for c, r in zip(pc, pr))
    names = ["running", "population", "batch"] + ([] if same else ["corrected"])
    choices = {"running": running, "population": population, "batch": None, "corrected": corrected}
    hits = predict_many(net, stack.X_test, [choices[w] for w in names]) == stack.y_test
    acc = dict(zip(names, hits.mean(axis=-1)))
    if same:
        acc["corrected"] = acc["running"]
    bc = models.bias_correction[:, 0]
    return {
        "train_acc": accuracy(net, stack.X_train, stack.y_train, models.chosen(corrected)),
        "test_acc": np.where(bc, acc["corrected"], acc["running"]),
        **{STATS_COLUMNS[w]: acc[w] for w in nn.STATS},
    }
