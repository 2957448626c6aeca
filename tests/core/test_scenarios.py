"""The one-click scenarios: valid permalinks, and each shows what its sentence promises."""

from __future__ import annotations

import dataclasses
import math
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from bnviz import Settings, budget
from bnviz.explorer import unit_numbers
from bnviz.scenarios import SCENARIOS, Scenario, compare
from bnviz.settings import MAX_COST
from bnviz.train import Run, train

BY_NAME = {s.name: s for s in SCENARIOS}
FIELDS = {f.name for f in dataclasses.fields(Settings)}


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    return {}


def run_of(runs: dict[str, Run], name: str) -> Run:
    if name not in runs:
        runs[name] = train(BY_NAME[name].settings())
    return runs[name]


def test_the_scenarios_promised_by_the_issue_are_all_there():
    assert list(BY_NAME) == [
        "Deep sigmoid net", "Batch of 2", "Batch of 1", "ε too large", "Decay too slow",
        "Decay too slow, bias-corrected", "γ, β frozen",
    ]
    assert all(s.look.endswith(".") and len(s.look) < 240 for s in SCENARIOS), "one sentence each"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_link_parses_as_the_app_reads_it_to_valid_settings_within_the_budget(scenario: Scenario):
    url = urlsplit(scenario.href)
    assert url.path == "./" and not url.netloc, "relative to the app: works under a base path too"
    # the app: Settings.from_query(st.query_params.to_dict()), the last value of each key
    params = dict(parse_qsl(url.query, keep_blank_values=True, strict_parsing=True))
    assert set(params) <= FIELDS, "only the URL keys the app reads"
    settings, notices = Settings.from_query(params)
    assert notices == [], "every value taken as written"
    assert settings == scenario.settings() == Settings(**dataclasses.asdict(settings))
    assert settings.cost() <= MAX_COST
    assert budget.run_problem(settings) is None, "the app trains it as linked, not reduced"
    assert settings != Settings(), "a scenario changes something"
    for key, text in params.items():  # each value in the link is the one in effect
        assert Settings.from_query({key: text})[0].to_query()[key] == settings.to_query()[key]


def test_a_link_the_app_would_not_take_as_is_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        Scenario("bad", "batch_size=100000", "Too large.").settings()


def test_deep_sigmoid_bn_ends_far_ahead_and_no_bn_stays_near_chance():
    c = compare(BY_NAME["Deep sigmoid net"].settings(), seeds=range(1))
    assert c.gain >= 0.02
    assert c.final_plain[0] <= 0.6 and c.plain[0].max() <= 0.65, "near chance for all the steps"
    assert c.final_bn[0] >= 0.9


def test_batch_of_2_normalizes_to_nearly_plus_minus_one_and_its_statistics_are_noisier(runs):
    two, default = run_of(runs, "Batch of 2"), train(Settings())
    eps = two.settings.eps
    for rec, ref in zip(two.layers, default.layers):
        z_norm = np.sqrt(rec.batch_var / (rec.batch_var + eps))  # |z_norm| of both examples
        assert np.median(z_norm) > 0.99
        noise = np.std(rec.batch_mu - rec.running_mu)  # how far μ_B jumps around its average
        assert noise > 2 * np.std(ref.batch_mu - ref.running_mu)


def test_batch_of_1_has_z_norm_0_everywhere_and_learns_nothing(runs):
    run = run_of(runs, "Batch of 1")
    assert run.settings.batch_size == 1
    for rec in run.layers:
        assert np.all(rec.batch_var == 0), "σ²_B = 0, and z − μ_B = 0: z_norm = 0"
        assert np.all(rec.gamma == 1.0), "γ's gradient is Σ dz̃·z_norm = 0: it never moves"
    assert run.loss[-100:].mean() > math.log(2) - 0.05


def test_eps_too_large_narrows_z_norm_below_sd_1(runs):
    run, default = run_of(runs, "ε too large"), train(Settings())
    assert run.settings.eps == 1.0
    k = len(run.ckpt_steps) - 1
    for layer in range(run.settings.depth):
        assert unit_numbers(run, layer, -1, k).sd_norm < 0.8
        assert unit_numbers(default, layer, -1, k).sd_norm > 0.99


@pytest.mark.parametrize("name", ["Decay too slow", "Decay too slow, bias-corrected"])
def test_a_slow_decay_leaves_the_raw_estimates_far_and_bias_correction_brings_them_near(runs, name):
    run = run_of(runs, name)
    assert run.settings.decay == 0.999
    for layer, rec in enumerate(run.layers):
        corrected_mu, corrected_var = run.corrected(layer)
        pop_mu, pop_var = rec.pop_mu[-1].astype(np.float64), rec.pop_var[-1].astype(np.float64)
        raw = np.median(rec.running_var[-1] / pop_var)
        cor = np.median(corrected_var[-1] / pop_var)
        assert raw < 0.5, "the raw running σ² ends far below the population's"
        assert 0.65 < cor < 1.35 and abs(math.log(cor)) < abs(math.log(raw)) / 2
        sd = np.sqrt(pop_var)
        raw_mu = np.median(np.abs(rec.running_mu[-1] - pop_mu) / sd)
        cor_mu = np.median(np.abs(corrected_mu[-1] - pop_mu) / sd)
        assert cor_mu <= max(raw_mu / 2, 0.05), "the corrected μ is nearer (layer 1's μ is 0 in both)"
    end = run.curves.iloc[-1]
    assert end["test_acc_running"] <= end["test_acc_population"] - 0.05, "raw estimates: accuracy lags"
    # the accuracy the page reports uses the statistics the switch chooses
    chosen = "test_acc_corrected" if run.settings.bias_correction else "test_acc_running"
    assert end["test_acc"] == end[chosen]


def test_frozen_gamma_beta_stretch_z_norm_3_times_and_centre_z_tilde_on_minus_3(runs):
    run = run_of(runs, "γ, β frozen")
    for layer, rec in enumerate(run.layers):
        assert np.all(rec.gamma == 3.0) and np.all(rec.beta == -3.0)
        for k in (0, len(run.ckpt_steps) // 2, len(run.ckpt_steps) - 1):
            n = unit_numbers(run, layer, 0, k)
            assert n.implied_mean == -3.0
            assert n.implied_sd == pytest.approx(3 * n.sd_norm)
