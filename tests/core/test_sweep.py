"""Sweeps: the stacked computation must give what train() gives, model by model."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnviz import Settings, data, nn
from bnviz.sweep import (
    GROUP_FIELDS,
    METRICS,
    MODEL_FIELDS,
    RESULT_COLUMNS,
    SWEEPABLE,
    SweepSpec,
    groups,
    run,
    summarize,
    train_many,
)
from bnviz.train import STATS_COLUMNS, train

ROOT = Path(__file__).resolve().parents[2]
TARGET = 0.9
CURVE_COLUMNS = ["train_acc", "test_acc", *STATS_COLUMNS.values()]


def assert_matches_train(row: pd.Series, s: Settings) -> None:
    """One sweep row against train(s): its last checkpoint, divergence and steps to target."""
    r = train(s)
    last = r.curves.iloc[-1]
    for col in CURVE_COLUMNS:
        assert row[col] == last[col], (col, s)
    np.testing.assert_allclose(row["loss"], last["loss"], rtol=1e-9, err_msg=str(s))
    assert row["gap"] == last["train_acc"] - last["test_acc"]
    assert bool(row["diverged"]) == (r.diverged is not None), s
    assert row["steps_done"] == r.steps_done
    if r.diverged:
        assert row["diverged_at"] == r.steps_done + 1
    else:
        assert pd.isna(row["diverged_at"])
    reached = r.curves["step"][r.curves["test_acc"] >= TARGET]
    expected = int(reached.iloc[0]) if len(reached) else None
    assert (None if pd.isna(row["steps_to_target"]) else int(row["steps_to_target"])) == expected, s


def test_every_setting_is_either_a_group_shape_or_a_per_model_value():
    names = {f.name for f in dataclasses.fields(Settings)}
    assert set(GROUP_FIELDS) | set(MODEL_FIELDS) == names
    assert not set(GROUP_FIELDS) & set(MODEL_FIELDS)
    assert set(SWEEPABLE) <= names - {"seed"}


def test_a_mixed_group_trained_stacked_equals_each_single_run():
    base = Settings(steps=120)
    configs = [
        base,
        base.replace(lr=0.3, eps=1e-3, decay=0.99, gamma_init=0.5, seed=3),
        base.replace(bias_correction=True, decay=0.99, freeze_affine=True, beta_init=0.5, noise=0.4),
        base.replace(eps=0.0, gamma_init=-1.5, decay=0.5, lr=0.01, seed=7),
        base.replace(bias_correction=True, decay=0.999, lr=2.0, noise=0.0),
        base.replace(freeze_affine=True, gamma_init=2.0, beta_init=-1.0, seed=3),
    ]
    assert len(groups(configs)) == 1, "the test is about models sharing one stacked computation"
    table = train_many(configs, target=TARGET)
    assert list(table.columns[: len(dataclasses.fields(Settings))]) == [
        f.name for f in dataclasses.fields(Settings)
    ]
    for s, (_, row) in zip(configs, table.iterrows()):
        assert Settings(**{f.name: row[f.name] for f in dataclasses.fields(Settings)}) == s
        assert_matches_train(row, s)


def test_configurations_that_cannot_share_shapes_are_grouped_and_rows_keep_their_order():
    base = Settings(steps=40)
    configs = [
        base.replace(batch_size=8),
        base.replace(depth=1, lr=0.2),
        base.replace(batch_size=8, seed=4),
        base.replace(use_bn=False, activation="tanh"),
        base.replace(optimizer="adam", lr=0.01, width=5),
        base.replace(dataset="circles", optimizer="sgd", lr=0.5),
        base.replace(depth=1, lr=0.05),
        base.replace(dataset="digits", batch_size=16, steps=25),
    ]
    g = groups(configs)
    assert list(g.values()) == [[0, 2], [1, 6], [3], [4], [5], [7]]
    table = train_many(configs, target=TARGET)
    assert len(table) == len(configs)
    for s, (_, row) in zip(configs, table.iterrows()):
        assert_matches_train(row, s)


def test_a_diverging_model_is_reported_and_does_not_touch_its_neighbours():
    base = Settings(steps=100, use_bn=False, activation="linear", depth=4)
    healthy = [base.replace(lr=0.05), base.replace(lr=0.05, seed=1, noise=0.3)]
    exploding = [base.replace(lr=3.0), base.replace(lr=0.5, seed=1)]
    configs = [healthy[0], exploding[0], healthy[1], exploding[1]]
    table = train_many(configs, target=TARGET)
    assert table["diverged"].tolist() == [False, True, False, True]
    for s, (_, row) in zip(configs, table.iterrows()):
        assert_matches_train(row, s)
    diverged = table[table["diverged"]]
    assert (diverged["steps_done"] < 100).all()
    assert np.isfinite(diverged[["loss", "test_acc", "train_acc"]].to_numpy(float)).all()
    alone = train_many(healthy, target=TARGET)
    pd.testing.assert_frame_equal(table.iloc[[0, 2]].reset_index(drop=True), alone)


def test_bn_models_that_explode_are_caught_too():
    base = Settings(steps=60, activation="linear", depth=4, gamma_init=3.0, optimizer="sgd")
    configs = [base.replace(lr=3.0), base.replace(lr=0.05), base.replace(lr=10.0, seed=1)]
    table = train_many(configs, target=TARGET)
    assert table["diverged"].tolist() == [True, False, True]
    for s, (_, row) in zip(configs, table.iterrows()):
        assert_matches_train(row, s)


def test_stacking_in_small_chunks_gives_the_same_table():
    base = Settings(steps=30)
    configs = [base.replace(lr=lr, seed=seed) for lr in (0.01, 0.1, 1.0) for seed in (0, 1)]
    pd.testing.assert_frame_equal(train_many(configs), train_many(configs, max_stack=4))


def test_running_error_is_measured_against_the_population_statistics_of_train():
    s = Settings(steps=80, decay=0.99, bias_correction=True, eps=1e-3)
    row = train_many([s]).iloc[0]
    r = train(s)
    chosen = r.inference_stats("corrected")
    assert chosen is not None
    mu_err = [np.abs(v[0] - p[0]) / np.sqrt(p[1] + s.eps) for v, p in zip(chosen, r.population)]
    var_err = [np.abs(v[1] - p[1]) / (p[1] + s.eps) for v, p in zip(chosen, r.population)]
    np.testing.assert_allclose(row["running_mu_err"], np.mean(mu_err), rtol=1e-9)
    np.testing.assert_allclose(row["running_var_err"], np.mean(var_err), rtol=1e-9)


def test_training_mode_accuracy_normalizes_each_mini_batch_by_itself():
    s = Settings(steps=50, batch_size=8)
    row = train_many([s]).iloc[0]
    r = train(s)
    ds = data.load(s.dataset, s.noise, s.seed)
    hits = [
        nn.predict(r.net, ds.X_train[i : i + 8], None) == ds.y_train[i : i + 8]
        for i in range(0, len(ds.y_train) - 7, 8)
    ]
    assert row["train_acc_minibatch"] == np.concatenate(hits).mean()
    assert row["mode_gap"] == row["train_acc_minibatch"] - row["train_acc"]


def test_without_bn_there_are_no_statistics_to_be_wrong_about():
    row = train_many([Settings(steps=20, use_bn=False)]).iloc[0]
    assert pd.isna(row["running_mu_err"]) and pd.isna(row["running_var_err"])
    assert row["mode_gap"] == 0


def test_bias_correction_repairs_slow_running_estimates_after_200_steps():
    # on the "decay" preset's network, 2 x 16 ReLU units
    base = Settings(steps=200, decay=0.999, depth=2, width=16, activation="relu")
    table = train_many([base, base.replace(bias_correction=True)])
    assert len(table) == 2
    plain, corrected = table.iloc[0], table.iloc[1]
    assert plain["running_var_err"] > 0.5  # v_200 is only 1 - 0.999^200 ≈ 18 % of the way there
    assert corrected["running_var_err"] < 0.3
    assert corrected["test_acc"] > plain["test_acc"]


def test_progress_counts_model_steps_up_to_the_total():
    calls: list[tuple[int, int]] = []
    configs = [Settings(steps=20), Settings(steps=20, lr=0.1), Settings(steps=10, batch_size=4)]
    train_many(configs, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (50, 50)
    assert all(total == 50 for _, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) > 3


def test_a_spec_is_every_combination_times_every_seed():
    spec = SweepSpec(params=(("batch_size", (8, 32)), ("lr", (0.01, 0.1, 1.0))), seeds=2,
                     base=Settings(seed=5))  # fmt: skip
    assert spec.size() == 12
    runs = spec.runs()
    assert [(s.batch_size, s.lr, s.seed) for s in runs[:4]] == [
        (8, 0.01, 5),
        (8, 0.01, 6),
        (8, 0.1, 5),
        (8, 0.1, 6),
    ]
    assert hash(spec) == hash(SweepSpec(params=spec.params, seeds=2, base=Settings(seed=5)))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"params": (("lr", (0.1, 0.0)),)}, "lr"),
        ({"params": (("batch_size", (8, 5000)),)}, "batch_size"),
        ({"params": (("seed", (1, 2)),)}, "seed"),
        ({"params": (("colour", (1,)),)}, "colour"),
        ({"params": (("lr", ()),)}, "lr"),
        ({"params": (("lr", (0.1,)),), "seeds": 0}, "seeds"),
        ({"params": (("lr", (0.1,)),), "target": 1.5}, "target"),
        ({"params": ()}, "params"),
    ],
)
def test_a_bad_spec_names_what_is_wrong(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        SweepSpec(**kwargs)


def test_run_numbers_configs_and_summarize_gives_mean_and_spread_over_seeds():
    spec = SweepSpec(params=(("lr", (0.02, 0.5)),), seeds=3, base=Settings(steps=30))
    table = run(spec)
    assert table["config"].tolist() == [0, 0, 0, 1, 1, 1]
    assert table["seed"].tolist() == [0, 1, 2] * 2
    assert set(RESULT_COLUMNS) <= set(table.columns)
    summary = summarize(table, spec.names, "test_acc")
    assert summary["lr"].tolist() == [0.02, 0.5]
    for (_, row), (_, part) in zip(summary.iterrows(), table.groupby("config")):
        assert row["mean"] == pytest.approx(part["test_acc"].mean())
        assert row["std"] == pytest.approx(part["test_acc"].std())
        assert (row["min"], row["max"], row["n"], row["seeds"]) == (
            part["test_acc"].min(), part["test_acc"].max(), 3, 3,
        )  # fmt: skip
        assert row["n_diverged"] == 0 and row["config"] == part["config"].iloc[0]


def test_every_metric_is_a_column():
    table = train_many([Settings(steps=5)])
    assert set(METRICS) <= set(table.columns)


# ------------------------------------------------------------------ command line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnviz", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_cli_writes_one_row_per_configuration_and_seed(tmp_path):
    out = tmp_path / "results.csv"
    p = cli(
        *("sweep", "--param", "batch_size=8,32", "--param", "lr=0.01,0.1,1", "--seeds", "2", "--steps", "20"),
        *("--set", "dataset=circles", "--set", "use_bn=off", "--out", str(out)),
    )
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(out)
    assert len(table) == 2 * 3 * 2
    assert {"config", "batch_size", "lr", "seed", "test_acc", "test_acc_population", "gap",
            "steps_to_target", "running_mu_err", "diverged"} <= set(table.columns)  # fmt: skip
    assert table[["batch_size", "lr", "seed"]].drop_duplicates().shape[0] == 12
    assert (table["steps"] == 20).all() and (table["dataset"] == "circles").all()
    assert not table["use_bn"].any()
    assert "%" in p.stderr, "a progress bar on stderr"
    expected = train(Settings(batch_size=32, lr=0.1, seed=1, steps=20, dataset="circles", use_bn=False))
    row = table[(table.batch_size == 32) & (table.lr == 0.1) & (table.seed == 1)].iloc[0]
    assert row["test_acc"] == expected.curves["test_acc"].iloc[-1]


def test_cli_writes_parquet_when_asked(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "results.parquet"
    p = cli("sweep", "--param", "decay=0.5,0.9", "--steps", "10", "--out", str(out))
    assert p.returncode == 0, p.stderr
    table = pd.read_parquet(out)
    assert table["decay"].tolist() == [0.5, 0.9]
    assert table["steps_to_target"].dtype == "Int64"


@pytest.mark.parametrize(
    "args, says",
    [
        (["sweep", "--param", "batch_size=0,8"], "batch_size"),
        (["sweep", "--param", "lr=abc"], "lr"),
        (["sweep", "--param", "colour=1,2"], "colour"),
        (["sweep", "--param", "lr"], "NAME=V1,V2"),
        (["sweep", "--param", "lr=0.1", "--set", "depth=99"], "depth"),
        (["sweep", "--param", "lr=0.1", "--set", "dataset=mnist"], "dataset"),
        (["sweep", "--param", "use_bn=maybe"], "use_bn"),
        (["sweep", "--param", "lr=0.1", "--seeds", "0"], "seeds"),
        (["sweep", "--param", "lr=0.1", "--out", "x.xlsx"], ".xlsx"),
        (["sweep"], "--param"),
        (["train"], "sweep"),
    ],
)
def test_bad_cli_input_gives_a_message_and_no_traceback(args, says):
    p = cli(*args)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert says in p.stderr


def test_the_command_line_the_page_shows_reproduces_the_sweep():
    import shlex

    from bnviz.__main__ import build_spec, parser
    from bnviz.sweep import PRESETS, cli_command

    specs = [p.spec for p in PRESETS.values()]
    specs.append(
        SweepSpec(params=(("eps", (0.0, 1e-5)),), base=Settings(dataset="digits", lr=0.3), target=0.8)
    )
    for spec in specs:
        argv = shlex.split(cli_command(spec))[3:]  # after "python -m bnviz"
        assert build_spec(parser().parse_args(argv)) == spec


def test_cli_presets_run_and_explicit_flags_override_them():
    p = cli("sweep", "--preset", "decay", "--steps", "5", "--seeds", "1", "--quiet")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 + 8 * 2  # header + 8 decays x bias correction off/on
    assert p.stderr == ""


@pytest.mark.parametrize("normalization", ["layer", "group", "renorm"])
def test_a_sweep_of_every_normalization_gives_each_model_what_train_gives(normalization):
    base = Settings(steps=60, normalization=normalization, groups=3)
    configs = [
        base,
        base.replace(lr=0.2, bn_noise=0.5, seed=2),
        base.replace(renorm_r_max=1.5, renorm_d_max=1.0, decay=0.8, bias_correction=True),
    ]
    assert len(groups(configs)) == 1
    table = train_many(configs, target=TARGET)
    for s, (_, row) in zip(configs, table.iterrows()):
        assert_matches_train(row, s)
    if normalization != "renorm":  # no statistics: one accuracy whatever the statistics
        assert (table[list(STATS_COLUMNS.values())].nunique(axis=1) == 1).all()
        assert table["running_mu_err"].isna().all() and (table["mode_gap"] == 0).all()


def test_bn_loses_accuracy_at_tiny_batches_where_layer_and_group_norm_do_not():
    """Wu & He 2018's finding, qualitatively, on the "normalizations" preset's network at
    m = 2 and 16 (bench/small_batch.py prints the whole table)."""
    from bnviz.sweep import PRESETS

    preset = PRESETS["normalizations"].spec
    spec = SweepSpec(
        params=(("batch_size", (2, 16)), ("normalization", ("batch", "layer", "group", "renorm"))),
        base=preset.base,
        seeds=2,
    )
    acc = summarize(run(spec), spec.names, "test_acc").set_index(["normalization", "batch_size"])["mean"]
    drop = {norm: acc[norm, 16] - acc[norm, 2] for norm in ("batch", "layer", "group", "renorm")}
    assert drop["batch"] > 0.25  # BN falls at m = 2 ...
    assert drop["layer"] < 0.15 and drop["group"] < 0.15  # ... LayerNorm and GroupNorm hardly
    assert acc["batch", 2] < acc["renorm", 2] < max(acc["layer", 2], acc["group", 2]) + 0.02
    assert min(acc[norm, 16] for norm in drop) > 0.93  # at m = 16 every one of them works
