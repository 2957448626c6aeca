"""Command line: ``python -m bnviz sweep --param batch_size=2,4,8 --param lr=0.01,0.1 --seeds 3 --out r.csv``.

Sweeps too big for a page, or for a notebook: one row per configuration and seed
(every setting, then every metric of :mod:`bnviz.sweep`) as CSV, or Parquet when
the output ends in ``.parquet`` and pyarrow is installed. Without ``--out`` the CSV
goes to standard output. A progress bar goes to standard error. Bad input gives a
one-line message naming the setting and exit status 2, never a traceback; ``--out`` is
checked before anything trains (its folder, its extension, pyarrow for Parquet).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import fmt
from .settings import OFF_WORDS, ON_WORDS, Settings
from .sweep import PRESETS, SWEEPABLE, SweepSpec, run

FIELDS = tuple(f.name for f in dataclasses.fields(Settings))


class UsageError(Exception):
    """Something the user typed; shown as a one-line message."""


def parse_value(name: str, text: str) -> Any:
    """One value of Settings field ``name`` from text, by the field's kind (limits are checked later)."""
    if name not in FIELDS:
        raise UsageError(f"{name}: no such setting; settings are {', '.join(FIELDS)}")
    spec = Settings.spec(name)
    t = text.strip()
    if spec.kind == "bool":
        if t.lower() in ON_WORDS:
            return True
        if t.lower() in OFF_WORDS:
            return False
        raise UsageError(f"{name}: {text!r} is not on/off (use on, off, true, false, 1 or 0)")
    if spec.kind == "choice":
        if t not in spec.choices:
            raise UsageError(f"{name}: {text!r} is not one of {', '.join(spec.choices)}")
        return t
    try:
        number = fmt.parse_number(text)
    except fmt.NumberError as err:
        raise UsageError(f"{name}: {err}") from None
    if spec.kind == "int":
        if number != int(number):
            raise UsageError(f"{name}: {text!r} is not a whole number")
        return int(number)
    return number


def split_assignment(option: str, text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise UsageError(f"{option} {text!r}: write it as NAME=V1,V2,..." if option == "--param"
                         else f"{option} {text!r}: write it as KEY=VALUE")  # fmt: skip
    return name.strip(), values


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """The sweep the arguments describe: a preset (if any), then --param, --set, --steps, --seeds."""
    preset = PRESETS[args.preset].spec if args.preset else None
    fixed: dict[str, Any] = {}
    for item in args.set:
        name, text = split_assignment("--set", item)
        fixed[name] = parse_value(name, text)
    if args.steps is not None:
        fixed["steps"] = args.steps
    params = []
    for item in args.param:
        name, text = split_assignment("--param", item)
        if name in FIELDS and name not in SWEEPABLE:
            raise UsageError(f"{name}: a sweep cannot vary it; vary one of {', '.join(SWEEPABLE)}"
                             + (" (use --seeds for seeds)" if name == "seed" else ""))  # fmt: skip
        values = tuple(parse_value(name, v) for v in text.split(",") if v.strip())
        params.append((name, values))
    if not params and preset is None:
        raise UsageError("--param: name at least one setting to sweep, e.g. --param lr=0.01,0.1,1")
    seeds = args.seeds if args.seeds is not None else preset.seeds if preset else 1
    try:
        base = (preset.base if preset else Settings()).replace(**fixed)
        return SweepSpec(
            params=tuple(params) if params else preset.params,  # type: ignore[union-attr]
            base=base,
            seeds=seeds,
            target=args.target,
        )
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None


def check_out(out: str) -> None:
    """Raise UsageError unless ``out`` can be written: checked before the sweep trains.

    ``-`` is standard output. Otherwise the name ends in .csv or .parquet (parquet needs
    pyarrow), its folder exists and takes a new file (tried with a temporary file, which
    catches read-only disks and permissions alike), and ``out`` is not a folder.
    """
    if out == "-":
        return
    suffix = Path(out).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--out {out}: write to a .csv or .parquet file (or leave --out out for stdout)")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(
                f"--out {out}: writing .parquet needs pyarrow, which is not installed; "
                "install it (pip install pyarrow) or write .csv"
            ) from None
    path = Path(out)
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"--out {out}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is not a folder")
    if path.is_dir():
        raise UsageError(f"--out {out}: is a folder; name a file in it, e.g. {path / ('results' + suffix)}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UsageError(f"--out {out}: folder {folder} is not writable ({e.strerror or e})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"--out {out}: the file exists and is not writable")


class Bar:
    """A one-line progress bar on a stream: ``[#####-----]  50%  1,000/2,000 model-steps  3 s``."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width, self.start, self.last = stream, width, time.monotonic(), -1

    def __call__(self, done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct == self.last:
            return
        self.last = pct
        full = self.width * done // max(total, 1)
        bar = "#" * full + "-" * (self.width - full)
        elapsed = fmt.number(round(time.monotonic() - self.start))
        self.stream.write(f"\r[{bar}] {pct:3d}%  {done:,}/{total:,} model-steps  {elapsed} s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bnviz", description="bnviz from the command line.")
    sub = p.add_subparsers(dest="command", metavar="sweep", required=True)
    s = sub.add_parser(
        "sweep",
        help="train every combination of settings (vectorized) and write one row per config and seed",
        description="Train every combination of the --param values, each with --seeds seeds, "
        "and write one row per configuration and seed: all settings, then the final metrics.",
        epilog="example: python -m bnviz sweep --param batch_size=2,4,8,16,64 --param lr=0.01,0.1,1 "
        "--seeds 3 --out results.csv",
    )
    s.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help=f"a setting to sweep and its values (repeatable); one of: {', '.join(SWEEPABLE)}",
    )
    s.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="start from a built-in sweep: " + "; ".join(f"{k}: {p.question}" for k, p in PRESETS.items()),
    )
    s.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds per configuration (default 1, or the preset's)",
    )
    s.add_argument("--steps", type=int, default=None, metavar="N", help="training steps (default 500)")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a fixed setting for every run (repeatable), e.g. --set dataset=digits",
    )
    s.add_argument(
        "--target",
        type=float,
        default=0.9,
        metavar="ACC",
        help="test accuracy that steps_to_target waits for (default 0.9)",
    )
    s.add_argument(
        "--out",
        default="-",
        metavar="PATH",
        help="output file, .csv or .parquet (default: CSV on standard output)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)  # exits with status 2 and a usage message on its own errors
    out = args.out
    parquet = out != "-" and Path(out).suffix.lower() == ".parquet"
    try:
        check_out(out)  # before training: a sweep may take minutes
        spec = build_spec(args)
    except UsageError as e:
        print(f"python -m bnviz sweep: error: {e}", file=sys.stderr)
        return 2
    progress = None if args.quiet else Bar(sys.stderr)
    try:
        table = run(spec, progress=progress)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    try:
        if out == "-":
            table.to_csv(sys.stdout, index=False)
        elif parquet:
            table.to_parquet(out, index=False, engine="pyarrow")
        else:
            table.to_csv(out, index=False)
    except OSError as e:  # checked before training; a disk can still fill up
        print(f"python -m bnviz sweep: error: --out {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    if out != "-":
        diverged = int(table["diverged"].sum())
        print(f"wrote {len(table)} rows ({spec.size() // spec.seeds} configurations x {spec.seeds} seeds, "
              f"{diverged} diverged) to {out}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
