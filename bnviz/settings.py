"""Every setting a slider can change: one frozen dataclass, its limits, and its URL form.

As in TensorFlow Playground's ``state.ts``, each field carries its own spec (kind,
default, limits, help text) so that the app builds its widgets from it, the URL
parser clamps to it, and validation names the field that is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import fmt
from .data import DATASETS, n_classes, n_features, n_total, n_train
from .nn import ACTIVATIONS, NORMS, POSITIONS
from .optim import OPTIMIZERS

# Multiply-adds any run may use (Settings.cost), from the app, a notebook or the CLI: about
# 10 s of one core. The app holds each request to a tighter budget (bnviz.budget: one run of
# the sidebar's settings may use budget.RUN_SECONDS, half a request); this ceiling only
# keeps any Settings from occupying a core for minutes.
MAX_COST = 2e10
# Fields that only matter when Batch Norm is on.
BN_ONLY = (
    "eps", "gamma_init", "beta_init", "freeze_affine", "decay", "bias_correction", "bn_noise",
    "normalization", "groups", "renorm_r_max", "renorm_d_max", "bn_position",
)  # fmt: skip
# Fields that matter only with running estimates: use_bn on and normalization "batch" or
# "renorm".
RUNNING_ONLY = ("decay", "bias_correction")
# How an on/off setting may be written in a URL or on the command line.
ON_WORDS = ("1", "true", "on", "yes")
OFF_WORDS = ("0", "false", "off", "no")


@dataclass(frozen=True)
class Spec:
    kind: str  # "choice" | "int" | "float" | "bool"
    label: str
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    log: bool = False


def _f(default: Any, spec: Spec) -> Any:
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class Settings:
    dataset: str = _f(
        "moons", Spec("choice", "Dataset", "Which data the network learns to classify.", choices=DATASETS)
    )
    noise: float = _f(
        0.2, Spec("float", "Noise", "How much the 2-D points are blurred (ignored for digits).", 0.0, 1.0)
    )
    batch_size: int = _f(
        32,
        Spec(
            "int",
            "Batch size m",
            "Examples per mini-batch; BN's mu and sigma² are computed over these m.",
            1,
            max(n_train(name) for name in DATASETS),  # the largest training set: a full batch
            log=True,
        ),
    )
    eps: float = _f(
        1e-5,
        Spec(
            "float",
            "ε",
            "Added to σ² inside the square root so a tiny variance cannot blow up z_norm.",
            0.0,
            1.0,
            log=True,
        ),
    )
    gamma_init: float = _f(
        1.0, Spec("float", "γ (initial)", "Initial scale of every BN unit: z̃ = γ·z_norm + β.", -3.0, 3.0)
    )
    beta_init: float = _f(
        0.0, Spec("float", "β (initial)", "Initial shift of every BN unit: z̃ = γ·z_norm + β.", -3.0, 3.0)
    )
    freeze_affine: bool = _f(
        False, Spec("bool", "Freeze γ, β", "Keep γ and β at their initial values instead of learning them.")
    )
    decay: float = _f(
        0.9,
        Spec(
            "float",
            "EWA decay",
            "Running estimate v ← decay·v + (1−decay)·μ_B; closer to 1 = smoother and slower.",
            0.0,
            0.9999,
        ),
    )
    bias_correction: bool = _f(
        False,
        Spec(
            "bool",
            "Bias correction",
            "Divide the running estimate by 1 − decayᵗ, which removes its pull towards the starting value 0.",
        ),
    )
    bn_noise: float = _f(
        0.0,
        Spec(
            "float",
            "Noise after BN",
            "Training only: every step, each BN unit's z̃ becomes s·z̃ + d with fresh random "
            "s ~ U(1/(1+n), 1+n) and d ~ U(−n, n), n this value (Santurkar et al. 2018's noisy BN: "
            "a shift of each layer's input distribution that changes every step). 0 = none; "
            "inference never adds it.",
            0.0,
            3.0,
        ),
    )
    lr: float = _f(0.05, Spec("float", "Learning rate", "Step size of the optimizer.", 1e-5, 10.0, log=True))
    optimizer: str = _f(
        "momentum", Spec("choice", "Optimizer", "How gradients become parameter updates.", choices=OPTIMIZERS)
    )
    # The defaults (moons, 4 x 12 sigmoid units, momentum at lr 0.05, m = 32, 500 steps) are a
    # network that BN visibly helps: over seeds 0-4 it ends 17 points higher on average than
    # without BN and reaches no-BN's final accuracy by step 10 of 500, also at half and twice
    # the learning rate (`.venv/bin/python bench/defaults.py`; tests/core/test_defaults.py).
    depth: int = _f(4, Spec("int", "Hidden layers", "Number of Linear → BN → activation layers.", 1, 8))
    width: int = _f(12, Spec("int", "Units per layer", "Width of every hidden layer.", 1, 128))
    activation: str = _f(
        "sigmoid", Spec("choice", "Activation g", "The non-linearity applied to z̃.", choices=ACTIVATIONS)
    )
    use_bn: bool = _f(
        True,
        Spec(
            "bool",
            "Batch Norm",
            "The one switch for normalization: on, every hidden layer normalizes Z (with BN, or the "
            "Normalization chosen below); off, the plain network Z → g(Z) with its bias b, for comparison.",
        ),
    )
    normalization: str = _f(
        "batch",
        Spec(
            "choice",
            "Normalization",
            "Which normalization the hidden layers use while Batch Norm is on. batch: the note's BN, each "
            "unit over the m examples of the mini-batch. layer: LayerNorm, each example over its own units "
            "(a batch of one works; no running estimates). group: GroupNorm, each example over each group "
            "of units. renorm: Batch Renormalization, BN corrected towards the running estimates by r and "
            "d (clipped to r max, d max), so training normalizes closer to the way inference does.",
            choices=NORMS,
        ),
    )
    bn_position: str = _f(
        "before",
        Spec(
            "choice",
            "Normalize before or after g",
            "before: the note's layer, Z → BN → g. after: Z → g → BN, so BN normalizes the activation's "
            "output and its z̃ is the next layer's input; the Z panels then show g's output, what BN "
            "normalizes.",
            choices=POSITIONS,
        ),
    )
    groups: int = _f(
        2,
        Spec(
            "int",
            "Groups",
            "GroupNorm only: the units of a layer form this many groups of consecutive units, and each "
            "example is normalized over each group. 1 = LayerNorm; it must divide the units per layer.",
            1,
            128,
        ),
    )
    renorm_r_max: float = _f(
        3.0,
        Spec(
            "float",
            "Renorm r max",
            "Batch Renorm only: r = σ_B/σ (batch over running standard deviation) is clipped to "
            "[1/r max, r max]. r max = 1 and d max = 0 is BN.",
            1.0,
            10.0,
        ),
    )
    renorm_d_max: float = _f(
        5.0,
        Spec(
            "float",
            "Renorm d max",
            "Batch Renorm only: d = (μ_B − μ)/σ (the batch mean's offset from the running mean) is "
            "clipped to [−d max, d max].",
            0.0,
            10.0,
        ),
    )
    steps: int = _f(500, Spec("int", "Training steps", "Mini-batch updates to train for.", 1, 5000))
    seed: int = _f(
        0, Spec("int", "Seed", "Fixes the data, the initial weights and the batch order.", 0, 2**31 - 1)
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is out of its limits."""
        for f in dataclasses.fields(self):
            spec: Spec = f.metadata["spec"]
            value = getattr(self, f.name)
            problem = _check(spec, value)
            if problem:
                raise ValueError(f"{f.name}: {problem}")
        limit = n_train(self.dataset)
        if self.batch_size > limit:
            raise ValueError(
                f"batch_size: {self.batch_size} is more than the {limit} training examples of {self.dataset}"
            )
        if self.use_bn and self.normalization == "group" and self.width % self.groups:
            raise ValueError(
                f"groups: {self.groups} groups do not divide the {self.width} units per layer; choose a "
                f"divisor of {self.width} (e.g. {fitting_groups(self.width, self.groups)})"
            )
        if self.cost() > MAX_COST:
            need, budget = (fmt.number(round(c / 1e9)) for c in (self.cost(), MAX_COST))
            raise ValueError(
                f"steps: {self.steps} steps of this network need about {need} billion multiply-adds, "
                f"more than the {budget} billion one run may use on a shared server; lower steps, "
                "batch size, width or depth"
            )

    def cost(self) -> float:
        """Multiply-adds one training run needs, roughly: the budget guard's measure.

        Training: forward + backward (about 3 forwards) of each mini-batch; every one of
        the ~51 checkpoints: the training set twice and the test set four times, plus
        the decision-boundary grid (1,024 points).
        """
        n_in, n_out = n_features(self.dataset), n_classes(self.dataset)
        per_example = n_in * self.width + (self.depth - 1) * self.width**2 + self.width * n_out
        total = n_total(self.dataset)
        checkpoint = 2 * n_train(self.dataset) + 4 * (total - n_train(self.dataset)) + 1024
        return float(per_example * (3 * self.steps * self.batch_size + 51 * checkpoint))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def note_bn(self) -> Settings:
        """The same network with the note's BN: on, batch statistics, before the activation,
        without noise after BN (what the teaching views explain, whatever the sidebar says).
        Canonical, so the other normalizations' settings (GroupNorm's groups, the r/d limits)
        left in a link do not make the views' caches train the same network again."""
        note = self.replace(use_bn=True, normalization="batch", bn_position="before", bn_noise=0.0)
        return note.canonical()

    def canonical(self) -> Settings:
        """The same run with every field that cannot affect it at its default.

        Without BN, ε, γ/β init, freezing, decay, bias correction, the noise after BN and the
        choice of normalization change nothing, so a cache keyed on ``canonical()`` trains
        the no-BN baseline once, not once per ε. With it, ``groups`` matters only for
        GroupNorm, the r/d limits only for Batch Renorm, and decay and bias correction only
        where there are running estimates (not for LayerNorm or GroupNorm).
        """
        if not self.use_bn:
            return self.replace(**{name: getattr(Settings, name) for name in BN_ONLY})
        unused: tuple[str, ...] = ()
        if self.normalization != "group":
            unused += ("groups",)
        if self.normalization != "renorm":
            unused += ("renorm_r_max", "renorm_d_max")
        if not self.running_estimates:
            unused += RUNNING_ONLY
        return self.replace(**{name: getattr(Settings, name) for name in unused}) if unused else self

    @property
    def running_estimates(self) -> bool:
        """Whether the network keeps running estimates and has population statistics: BN on
        with normalization "batch" or "renorm" (LayerNorm and GroupNorm normalize each example alone)."""
        return self.use_bn and self.normalization in ("batch", "renorm")

    def replace_unchecked(self, **changes: Any) -> Settings:
        """A copy with ``changes`` and no validation (for measuring, e.g. cost())."""
        out = Settings.__new__(Settings)
        for f in dataclasses.fields(self):
            object.__setattr__(out, f.name, changes.get(f.name, getattr(self, f.name)))
        return out

    def to_query(self) -> dict[str, str]:
        """Every field as a URL query value (floats by ``fmt.exact``: they round-trip exactly)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                ("1" if v else "0") if isinstance(v, bool)
                else fmt.exact(v) if isinstance(v, float)
                else str(v)
            )  # fmt: skip
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """Settings from URL query values, and a notice for each value not taken as is.

        Unknown keys are ignored; malformed values fall back to the default; numbers
        outside the limits are clamped. Never raises.
        """
        notices: list[str] = []
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in params:
                continue
            raw = params[f.name]
            if isinstance(raw, list | tuple):
                raw = raw[-1] if raw else ""
            text = str(raw)[:64]
            value, note = _parse(f.metadata["spec"], text, f.default)
            if note:
                notices.append(f"{f.name}={text!r}: {note}")
            values[f.name] = value
        dataset = values.get("dataset", cls.dataset)
        limit = n_train(dataset)
        if values.get("batch_size", 0) > limit:
            notices.append(f"batch_size: clamped to the {limit} training examples of {dataset}")
            values["batch_size"] = limit
        use_bn = values.get("use_bn", cls.use_bn)
        group_norm = use_bn and values.get("normalization", cls.normalization) == "group"
        width, groups = values.get("width", cls.width), values.get("groups", cls.groups)
        if group_norm and width % groups:
            values["groups"] = fitting_groups(width, groups)
            notices.append(
                f"groups: {groups} groups do not divide the {width} units per layer; using {values['groups']}"
            )
        settings = cls().replace_unchecked(**values)  # measure the cost before validating
        if settings.cost() > MAX_COST:
            fitted = fit_budget(settings)
            was, now = settings, fitted
            notices.append(
                f"steps={was.steps}, width={was.width}, depth={was.depth}: more compute than one run may "
                f"use here; reduced to steps={now.steps}, width={now.width}, depth={now.depth}"
                + (f", groups={now.groups}" if now.groups != was.groups else "")
            )
            return fitted, notices
        return cls(**values), notices

    @classmethod
    def spec(cls, name: str) -> Spec:
        return next(f.metadata["spec"] for f in dataclasses.fields(cls) if f.name == name)


def fitting_groups(width: int, groups: int) -> int:
    """The largest number of groups up to ``groups`` that divides ``width`` (at least 1)."""
    return next(g for g in range(min(groups, width), 0, -1) if width % g == 0)


def fit_budget(settings: Settings) -> Settings:
    """The nearest Settings within MAX_COST: fewer steps first, then a smaller network (with
    GroupNorm's groups cut to a divisor of the smaller width)."""
    s = settings
    while True:
        fixed = s.replace_unchecked(steps=0).cost()  # the checkpoints' share
        per_step = s.replace_unchecked(steps=1).cost() - fixed
        if MAX_COST - fixed >= per_step:
            return s.replace(
                steps=min(s.steps, int((MAX_COST - fixed) // per_step)),
                groups=fitting_groups(s.width, s.groups) if s.normalization == "group" else s.groups,
            )
        if s.width > 16:
            s = s.replace_unchecked(width=s.width // 2)
        elif s.depth > 1:
            s = s.replace_unchecked(depth=s.depth - 1)
        else:
            s = s.replace_unchecked(batch_size=max(1, s.batch_size // 2))


def _check(spec: Spec, value: Any) -> str | None:
    if spec.kind == "bool":
        return None if isinstance(value, bool) else f"must be True or False, got {value!r}"
    if spec.kind == "choice":
        return None if value in spec.choices else f"must be one of {spec.choices}, got {value!r}"
    if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be a whole number, got {value!r}"
    if spec.kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"must be a number, got {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    assert spec.lo is not None and spec.hi is not None
    if not spec.lo <= value <= spec.hi:
        return f"must be between {fmt.number(spec.lo, 6)} and {fmt.number(spec.hi, 6)}, got {value!r}"
    return None


def number_from_url(
    text: str, default: Any, lo: float, hi: float, integer: bool = False
) -> tuple[Any, str | None]:
    """A number typed into a URL: malformed -> ``default``, out of [lo, hi] -> clamped.

    Returns the value and a notice saying what was changed (None when taken as is).
    The same rules as every Settings field's, for a page's own URL keys; the text is
    read by ``fmt.parse_number``.
    """
    return _parse(Spec("int" if integer else "float", "", "", lo, hi), text[:64], default)


def _parse(spec: Spec, text: str, default: Any) -> tuple[Any, str | None]:
    text = text.strip()
    if spec.kind == "bool":
        if text.lower() in ON_WORDS:
            return True, None
        if text.lower() in OFF_WORDS:
            return False, None
        return default, "not on/off, using the default"
    if spec.kind == "choice":
        if text in spec.choices:
            return text, None
        return default, f"not one of {', '.join(spec.choices)}, using the default"
    try:
        number = fmt.parse_number(text)
    except fmt.NumberError as err:
        return default, f"{err.reason}, using the default"
    assert spec.lo is not None and spec.hi is not None
    note = None
    if number < spec.lo or number > spec.hi:
        number = min(max(number, spec.lo), spec.hi)
        lo, hi, now = (fmt.number(v, 6) for v in (spec.lo, spec.hi, number))
        note = f"outside {lo} … {hi}, clamped to {now}"
    if spec.kind == "int":
        if number != int(number):
            note = note or f"not a whole number, rounded to {round(number)}"
        return round(number), note
    return number, note
