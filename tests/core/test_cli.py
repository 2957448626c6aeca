"""``python -m bnviz sweep --out PATH``: an output that cannot be written is refused before
anything trains, with exit status 2 and one line naming the path and the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# 6 batch sizes x 5 seeds x 5,000 steps: tens of seconds of training, which would draw a
# progress bar on stderr ("... model-steps ...") before anything could be written.
BIG_SWEEP = ("sweep", "--param", "batch_size=2,4,8,16,32,64", "--seeds", "5", "--steps", "5000")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnviz", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def refused(p: subprocess.CompletedProcess, *says: str) -> None:
    """Exit status 2, one line of error naming ``says``, and no training (no progress bar)."""
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "model-steps" not in p.stderr and "%" not in p.stderr, "nothing trained"
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m bnviz sweep: error: --out "), p.stderr
    for text in says:
        assert text in lines[0], (text, lines[0])


def test_a_missing_folder_is_refused_before_training(tmp_path):
    out = tmp_path / "nonexistent" / "r.csv"
    p = cli(*BIG_SWEEP, "--out", str(out))
    refused(p, str(out), f"folder {out.parent} does not exist")
    assert not out.parent.exists()


def test_a_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    out = tmp_path / "notes.txt" / "r.csv"
    refused(cli(*BIG_SWEEP, "--out", str(out)), str(out), "is not a folder")


def test_an_output_that_is_a_folder_is_refused(tmp_path):
    out = tmp_path / "r.csv"
    out.mkdir()
    refused(cli(*BIG_SWEEP, "--out", str(out)), str(out), "is a folder")


def test_an_unknown_extension_is_refused(tmp_path):
    out = tmp_path / "r.xlsx"
    refused(cli(*BIG_SWEEP, "--out", str(out)), str(out), ".csv or .parquet")
    assert not out.exists()


def test_a_folder_without_write_permission_is_refused(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    else:  # root writes into any folder of its own; sysfs refuses new files even to root
        folder = Path("/sys")
    try:
        refused(cli(*BIG_SWEEP, "--out", str(folder / "r.csv")), str(folder / "r.csv"), "is not writable")
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o700)


def test_parquet_without_pyarrow_is_refused_up_front(tmp_path):
    # A folder first on the path whose pyarrow cannot be imported, as when it is not installed.
    shadow = tmp_path / "shadow"
    (shadow / "pyarrow").mkdir(parents=True)
    (shadow / "pyarrow" / "__init__.py").write_text('raise ImportError("No module named pyarrow")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "r.parquet"
    refused(cli(*BIG_SWEEP, "--out", str(out), env=env), str(out), "needs pyarrow", "not installed")


def test_a_writable_output_still_gets_written(tmp_path):
    out = tmp_path / "r.csv"
    p = cli("sweep", "--param", "lr=0.1,1", "--steps", "5", "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert len(out.read_text().splitlines()) == 1 + 2


def test_a_sweep_over_the_normalizations_runs_and_a_bad_groups_value_is_named(tmp_path):
    import pandas as pd

    out = tmp_path / "r.csv"
    p = cli("sweep", "--param", "normalization=batch,layer,group,renorm",
            "--param", "bn_position=before,after", "--set", "groups=3", "--set", "bn_noise=0.5",
            "--steps", "5", "--quiet", "--out", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(out)
    assert len(table) == 8 and set(table["normalization"]) == {"batch", "layer", "group", "renorm"}
    assert (table["groups"] == 3).all() and (table["bn_noise"] == 0.5).all()
    p = cli("sweep", "--param", "normalization=group", "--set", "groups=5", "--steps", "5", "--quiet")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "groups: 5 groups do not divide the 12 units per layer" in p.stderr
