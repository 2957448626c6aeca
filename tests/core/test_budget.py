"""One budget per request (bnviz.budget): every page's plan at the worst reachable settings."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bnviz import Settings, budget, nn, teach, why
from bnviz.data import load, n_train
from bnviz.sweep import PRESETS, SweepSpec
from bnviz.train import train

GAP_SIZES = (2, 4, 8, 16, 32, 64, 128)  # the noise page's grid
GRID_M, GRID_DECAY = (2, 8, 32), (0.9, 0.99, 0.999)  # the test-time page's grid
LARGEST = n_train("digits")

# Settings a slider or a link can reach, at their most expensive.
WORST = [
    dict(dataset="digits", depth=8, width=128, steps=5000, batch_size=LARGEST),
    dict(dataset="digits", depth=2, width=128, steps=5000, batch_size=2),
    dict(dataset="digits", depth=2, width=128, steps=4950, batch_size=32),
    dict(dataset="digits", depth=1, width=1, steps=5000, batch_size=LARGEST),
    dict(dataset="moons", depth=8, width=128, steps=5000, batch_size=400),
    dict(dataset="moons", depth=2, width=128, steps=5000, batch_size=2),
    dict(dataset="spirals", depth=8, width=16, steps=5000, batch_size=1),
]


def fitted(url: dict) -> Settings:
    """What the app makes of such a link: one run's share of a request."""
    s, _ = budget.fit_run(Settings().replace_unchecked(**url))
    return s


def page_plans(s: Settings) -> dict[str, budget.Plan]:
    N = n_train(s.dataset)
    return {
        "explorer": budget.explorer(s),
        "bias": budget.bias(s, len(teach.BIAS_SHIFTS)),
        "noise": budget.noise(s, teach.spread_batch_sizes(N), [m for m in GAP_SIZES if m <= N]),
        "test-time": budget.test_time(s, GRID_M, GRID_DECAY),
    }


@pytest.mark.parametrize("url", WORST, ids=lambda u: "-".join(f"{k}={v}" for k, v in u.items()))
def test_every_page_plans_its_worst_settings_within_the_budget(url):
    s = fitted(url)
    assert budget.run_seconds(s) <= budget.RUN_SECONDS
    assert budget.run_problem(s) is None
    for name, plan in page_plans(s).items():
        assert plan.within, (name, plan.seconds, plan.notes)
        assert plan.seconds <= plan.asked + 1e-9
        assert plan.reduced == (plan.asked > budget.REQUEST_SECONDS), name
        if plan.reduced:
            assert plan.message().startswith("This page would need about")
        for run in plan.runs:
            Settings(**{k: getattr(run, k) for k in Settings.__dataclass_fields__})  # valid settings


def test_a_link_over_one_runs_share_is_reduced_and_says_so():
    url = dict(dataset="digits", depth=8, width=128, steps=5000, batch_size=LARGEST)
    s, note = budget.fit_run(Settings().replace_unchecked(**url))
    assert note is not None and "more compute than one run may use" in note
    assert f"steps={s.steps}, width={s.width}, depth={s.depth}" in note
    assert budget.run_seconds(s) <= budget.RUN_SECONDS
    small = Settings()
    assert budget.fit_run(small) == (small, None)


def test_a_run_over_its_share_names_what_to_lower():
    s = Settings().replace_unchecked(dataset="digits", depth=2, width=128, steps=5000)
    problem = budget.run_problem(s)
    assert problem is not None and problem.startswith("steps: ")
    assert "width or depth" in problem  # its checkpoints alone are too dear: fewer steps cannot help
    few = Settings().replace_unchecked(dataset="digits", depth=1, width=16, steps=5000, batch_size=LARGEST)
    assert "lower steps or batch size" in (budget.run_problem(few) or "")


def test_a_grid_over_the_budget_trains_fewer_steps_then_fewer_points():
    s = fitted(dict(dataset="moons", depth=2, width=128, steps=5000, batch_size=2))
    plan = budget.noise(s, teach.spread_batch_sizes(400), [m for m in GAP_SIZES if m <= 400])
    assert plan.reduced and plan.grid
    assert all(g.steps < s.steps for g in plan.grid)
    assert any("steps each instead of" in n for n in plan.notes)
    heavy = Settings().replace_unchecked(dataset="digits", depth=2, width=40, steps=5000, batch_size=LARGEST)
    plan = budget.test_time(heavy.replace_unchecked(steps=50), GRID_M, GRID_DECAY)
    assert plan.within


def test_the_estimate_grows_with_every_setting_that_costs():
    s = Settings(dataset="digits", depth=2, width=16, steps=100)
    for name, more in (("steps", 1000), ("width", 32), ("depth", 3), ("batch_size", 128)):
        bigger = s.replace(**{name: more})
        assert budget.run_seconds(bigger) > budget.run_seconds(s), name
        assert budget.bare_seconds(bigger) > budget.bare_seconds(s), name
    assert budget.explorer(s.replace(steps=1000)).asked > budget.explorer(s).asked


def test_the_estimate_tracks_the_measured_cost():
    """More steps: more estimated and more measured CPU time, in about the same ratio."""
    with threadpool_limits(1, user_api="blas"):
        train(Settings(steps=5))  # warm up
        measured = {}
        for steps in (100, 2000):
            s = Settings(steps=steps)
            t = time.process_time()
            train(s)
            measured[steps] = time.process_time() - t
    est = {steps: budget.run_seconds(Settings(steps=steps)) for steps in measured}
    assert measured[2000] > measured[100] and est[2000] > est[100]
    ratio_measured, ratio_est = measured[2000] / measured[100], est[2000] / est[100]
    assert 0.33 < ratio_est / ratio_measured < 3


def test_a_sweep_over_the_budget_trains_fewer_seeds_or_nothing():
    base = Settings(dataset="digits", steps=300)
    big = SweepSpec(params=(("width", (2, 4, 8, 16, 32, 64)), ("depth", (1, 2, 3, 4, 5))), base=base, seeds=5)
    plan = budget.sweep(big.runs(), big.seeds)
    assert plan.grid == () and plan.within
    assert plan.notes[0].startswith("Nothing is trained: 30 configurations × 5 seeds")
    dear = Settings(dataset="digits", width=64, steps=1000)
    spec = SweepSpec(params=(("lr", (0.01, 0.1)),), base=dear, seeds=5)
    plan = budget.sweep(spec.runs(), spec.seeds)
    assert plan.within and 0 < len(plan.grid) < len(spec.runs())
    keep = len(plan.grid) // 2
    assert f"with {keep} seed" in plan.notes[0]
    assert list(plan.grid) == [r for i, r in enumerate(spec.runs()) if i % 5 < keep]
    for preset in PRESETS.values():  # the questions the page opens with train as asked
        plan = budget.sweep(preset.spec.runs(), preset.spec.seeds)
        assert plan.within and not plan.reduced, preset.title


def test_the_covariate_experiment_says_its_first_render_is_long():
    runs = [teach.covariate_settings(True, 1600), teach.covariate_settings(False, 1600)]
    plan = budget.covariate(runs)
    assert plan.runs == tuple(runs)
    assert plan.seconds > budget.REQUEST_SECONDS and "trains this fixed experiment once" in plan.notes[0]


def test_the_why_view_plans_its_fixed_experiments():
    """The Explorer's network fits a request at every noise; the covariate-shift view's says
    its first render is long; the landscape's estimate follows its measured cost."""
    def plan(network: str, noise: float) -> budget.Plan:
        base = why.base_settings(network)
        return budget.why(why.noise_settings(base, noise), [base, base.replace(use_bn=False)],
                          why.PROBES, len(why.STEP_MULTIPLIERS))  # fmt: skip

    for noise in why.NOISE_CHOICES:
        cheap = plan("explorer", noise)
        assert cheap.within and not cheap.reduced and len(cheap.runs) == 3 and len(cheap.grid) == 2
        dear = plan("covariate", noise)
        assert dear.seconds > budget.REQUEST_SECONDS and "trains this fixed experiment once" in dear.notes[0]
    with threadpool_limits(1, user_api="blas"):
        why.landscape([Settings(steps=5)])  # warm up
        measured = {}
        for steps in (100, 1000):
            t = time.process_time()
            why.landscape([why.base_settings("explorer").replace(steps=steps)])
            measured[steps] = time.process_time() - t
    est = {steps: budget.landscape_seconds(why.base_settings("explorer").replace(steps=steps), why.PROBES,
                                           len(why.STEP_MULTIPLIERS)) for steps in measured}  # fmt: skip
    assert est[1000] > est[100] and 0.33 < (est[1000] / est[100]) / (measured[1000] / measured[100]) < 3
    assert 0.2 < est[1000] / measured[1000] < 5  # the same model as every run's


def test_the_noise_views_spread_at_its_worst_stays_within_the_memory_budget():
    """The largest network and the whole training set as the largest m, untrained
    (the memory does not depend on training): its peak of allocated memory."""
    ds = load("digits", 0.0, 0)
    net = nn.init(nn.create((64, *(128,) * 8, 10), "relu", True, 1e-5), np.random.default_rng(0))
    sizes = teach.spread_batch_sizes(len(ds.X_train))
    tracemalloc.start()
    try:
        table = teach.batch_stat_spread(net, ds.X_train, sizes, layer=0, draws=200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(table) == len(sizes)
    assert peak <= budget.MEMORY_BYTES, f"{peak / 2**20:.0f} MB"
    assert peak <= 100 * 2**20  # the work needs far less than the budget


def test_the_noise_views_spread_of_a_deeper_layer_is_batched_too():
    ds = load("digits", 0.0, 0)
    net = nn.init(nn.create((64, *(128,) * 8, 10), "relu", True, 1e-5), np.random.default_rng(0))
    tracemalloc.start()
    try:
        teach.batch_stat_spread(net, ds.X_train, [len(ds.X_train)], layer=3, draws=40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= budget.MEMORY_BYTES, f"{peak / 2**20:.0f} MB"
