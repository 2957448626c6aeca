"""What a retrain costs in the core: ``train()`` of a base revision and of the working tree, side by side.

    .venv/bin/python bench/retrain.py                 # HEAD against the working tree
    .venv/bin/python bench/retrain.py --base REV      # any revision (``git archive REV``)
    .venv/bin/python bench/retrain.py --rounds 9 --settings depth=2 activation=relu

Both copies of ``bnviz`` are imported into this one process (the base from a ``git archive``
of ``--base`` in a temporary folder) and timed alternately, one call of each per round,
with BLAS on one thread as in a worker process (``bnviz.workers``): a busy machine slows
both alike, and the ratio compares the same moments. Prints the median and best of each
and the ratio work/base, for:

- ``train()`` on the settings (the defaults unless ``--settings``): what a worker computes;
- the pickle round trip of its Run (``pickle.dumps`` in the worker, ``pickle.loads`` in
  the server) and the pickle's size;

then, for the working tree only, where ``train()`` spends its time: the engine alone (no
recording), and inside the recorder the population pass, the histogram summaries,
``engine.evaluate``, the decision boundaries and the rest, as milliseconds per ``train()``
(each timed through a wrapper: a few percent of overhead); and one run through a worker
process of ``bnviz.workers.Trainer`` (training, pickling, the pipe, unpickling), empty
run cache. ``--malloc default`` leaves glibc's malloc at its defaults (a worker process
sets it: ``bnviz.workers.keep_freed_memory``), so that run against the default one shows
what the setting gives; ``--processes N`` compares the two settings directly, in fresh
processes of both copies (the default settings). Say the load average (``uptime``) with every figure: the CPU
times are the steadier figures on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

try:  # one BLAS thread, as in a worker process
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass

Modules = dict[str, ModuleType]


def _ours(name: str) -> bool:
    return name == "bnviz" or name.startswith("bnviz.")


def load_copy(root: Path) -> Modules:
    """Import ``bnviz`` (its train, engine, workers and settings) from ``root``; leave
    ``sys.modules`` as it was and return that copy's modules."""
    saved = {k: v for k, v in sys.modules.items() if _ours(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        for name in ("bnviz.settings", "bnviz.engine", "bnviz.train", "bnviz.workers"):
            importlib.import_module(name)
        mods = {k: v for k, v in sys.modules.items() if _ours(k)}
        where = Path(mods["bnviz"].__file__ or "").resolve().parent.parent
        assert where == root.resolve(), f"bnviz imported from {where}, not {root}"
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
    return mods


@contextlib.contextmanager
def active(mods: Modules) -> Iterator[None]:
    """``mods`` as ``bnviz`` in ``sys.modules`` (pickle finds a Run's classes by module name)."""
    saved = {k: v for k, v in sys.modules.items() if _ours(k)}
    for k in saved:
        del sys.modules[k]
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k in mods:
            sys.modules.pop(k, None)
        sys.modules.update(saved)


def archive(rev: str, into: Path) -> Path:
    """``git archive rev bnviz`` unpacked under ``into``; returns the folder holding ``bnviz``."""
    blob = subprocess.run(["git", "archive", "--format=tar", rev, "bnviz"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def settings_of(mods: Modules, pairs: list[str]) -> Any:
    """The copy's ``Settings`` with ``name=value`` changes (parsed by the copy's own URL form)."""
    Settings = mods["bnviz.settings"].Settings
    if not pairs:
        return Settings()
    settings, notices = Settings.from_query(dict(p.split("=", 1) for p in pairs))
    if notices:
        raise SystemExit("; ".join(notices))
    return settings


Times = dict[str, list[tuple[float, float]]]  # per contender: (wall, CPU) seconds of each call


def alternate(contenders: dict[str, Callable[[], Any]], rounds: int) -> Times:
    """Wall and CPU seconds (this process) of each call of each contender, one call of
    each per round, after one warm-up call each."""
    for f in contenders.values():
        f()
    times: Times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, f in contenders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            f()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def show(title: str, times: Times) -> None:
    """Medians (and the best) in ms; on a busy machine the CPU time is the steadier figure."""
    print(title)
    med = {name: [statistics.median(t[i] for t in ts) for i in (0, 1)] for name, ts in times.items()}
    for name, ts in times.items():
        best = min(t[0] for t in ts)
        print(f"  {name:<10} wall median {med[name][0] * 1e3:7.1f} ms (best {best * 1e3:7.1f})"
              f"   CPU median {med[name][1] * 1e3:7.1f} ms")
    if {"base", "work"} <= times.keys():
        print(f"  ratio work/base: wall {med['work'][0] / med['base'][0]:.2f}, "
              f"CPU {med['work'][1] / med['base'][1]:.2f} (medians)")


def side_by_side(base: Modules, work: Modules, pairs: list[str], rounds: int) -> None:
    copies = {"base": base, "work": work}
    settings = {name: settings_of(m, pairs) for name, m in copies.items()}

    def trainer(name: str) -> Callable[[], Any]:
        train = copies[name]["bnviz.train"].train
        return lambda: train(settings[name])

    times = alternate({n: trainer(n) for n in copies}, rounds)
    show(f"train() of {settings['work']!r}, {rounds} rounds:", times)
    for name in copies:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        trainer(name)()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        print(f"  {name}: {faults} page faults per train()")
    blobs: dict[str, bytes] = {}
    for name, mods in copies.items():
        with active(mods):
            blobs[name] = pickle.dumps(trainer(name)(), protocol=pickle.HIGHEST_PROTOCOL)

    def round_trip(name: str) -> Callable[[], None]:
        with active(copies[name]):
            run = pickle.loads(blobs[name])

        def f() -> None:
            with active(copies[name]):
                pickle.loads(pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL))

        return f

    show("pickle.dumps + pickle.loads of the Run:", alternate({n: round_trip(n) for n in copies}, rounds * 5))
    print("  pickle size: " + ", ".join(f"{n} {len(b) / 1e6:.2f} MB" for n, b in blobs.items()))


def breakdown(work: Modules, pairs: list[str], rounds: int) -> None:
    """Milliseconds per train() of the engine alone and of each part of the recorder."""
    engine, train_mod = work["bnviz.engine"], work["bnviz.train"]
    s = settings_of(work, pairs)
    alone = alternate({"engine": lambda: engine.train(engine.Stack.create([s]), engine.Recorder()),
                       "train": lambda: train_mod.train(s)}, rounds)
    spent: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> Callable[[], None]:
        f = getattr(owner, name)

        def g(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - t

        setattr(owner, name, g)
        return lambda: setattr(owner, name, f)

    recorder = train_mod._RunRecorder
    undo = [timed(recorder, "on_checkpoint", "on_checkpoint"), timed(recorder, "on_step", "on_step"),
            timed(recorder, "run", "run()"), timed(engine, "population", "population"),
            timed(train_mod, "_summaries", "summaries"), timed(engine, "evaluate", "evaluate"),
            *([timed(recorder, "_boundaries", "boundaries")] if hasattr(recorder, "_boundaries") else [])]
    try:
        for _ in range(rounds):
            train_mod.train(s)
    finally:
        for u in reversed(undo):
            u()
    ms = {k: v / rounds * 1e3 for k, v in spent.items()}
    print(f"Where train() spends its time (working tree, {rounds} runs, CPU ms per train()):")
    show("  train() and the engine alone (no recording):", alone)
    parts = [("population pass", "population"), ("histogram summaries", "summaries"),
             ("engine.evaluate", "evaluate"), ("decision boundaries", "boundaries")]
    rest = ms["on_checkpoint"] + ms["run()"] - sum(ms.get(key, 0.0) for _, key in parts)
    for label, v in [("on_step", ms["on_step"]), ("on_checkpoint + run()", ms["on_checkpoint"] + ms["run()"]),
                     *[(f"  {label}", ms.get(key, 0.0)) for label, key in parts], ("  rest", rest)]:
        print(f"  {label:<28} {v:7.1f}")


def worker_round_trip(work: Modules, pairs: list[str], rounds: int) -> None:
    """A run through one worker process: submit to result, against train() in this process."""
    workers = work["bnviz.workers"]
    s = settings_of(work, pairs)
    with tempfile.TemporaryDirectory(prefix="bnviz-retrain-") as folder, active(work):
        times: Times = {"worker": [], "in-process": []}
        trainer = workers.Trainer(workers=1, disk=workers.DiskCache(Path(folder)), memory_entries=0)
        trainer.warm()
        try:
            for i in range(rounds + 1):
                one = s.replace(seed=1000 + i)  # never cached
                for name in ("worker", "in-process"):
                    wall, cpu = time.perf_counter(), time.process_time()
                    if name == "worker":
                        trainer.submit(one).result()
                    else:
                        work["bnviz.train"].train(one)
                    if i:  # the first round warms up
                        times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        finally:
            trainer.shutdown()
    show("One run through a worker process (submit -> Run here; CPU: this process's share) against "
         "train() in this process:", times)


# One process's train() of the copy at argv[1], argv[3] times after one warm-up call, with
# malloc as in a worker process (argv[2] == "worker") or glibc's defaults: its median CPU ms.
CHILD = """
import ctypes, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from threadpoolctl import threadpool_limits
threadpool_limits(1)
import bnviz
from bnviz.settings import Settings
from bnviz.train import train
assert bnviz.__file__.startswith(sys.argv[1]), bnviz.__file__
if sys.argv[2] == "worker":  # bnviz.workers.keep_freed_memory, which a base copy may not have
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(-3, 32 << 20) and libc.mallopt(-1, 64 << 20)
train(Settings())
times = []
for _ in range(int(sys.argv[3])):
    t = time.process_time()
    train(Settings())
    times.append(time.process_time() - t)
print(statistics.median(times) * 1e3)
"""


def malloc_processes(base_root: Path, rounds: int) -> None:
    """train() of the default settings in fresh processes: base and work, each with glibc's
    malloc defaults and as a worker sets it; the four alternate, ``rounds`` times."""
    cases = [(name, root, mode) for name, root in (("base", base_root), ("work", ROOT))
             for mode in ("default", "worker")]
    ms: dict[tuple[str, str], list[float]] = {(n, m): [] for n, _, m in cases}
    for _ in range(rounds):
        for name, root, mode in cases:
            out = subprocess.run([sys.executable, "-c", CHILD, str(root), mode, "3"], check=True,
                                 capture_output=True, text=True).stdout
            ms[name, mode].append(float(out.split()[-1]))
    print(f"train() in fresh processes (CPU ms, medians of {rounds} processes of 3 runs each):")
    ref = statistics.median(ms["base", "default"])
    for (name, mode), v in ms.items():
        print(f"  {name:<5} malloc {mode:<8} {statistics.median(v):7.1f}   /base with glibc's defaults "
              f"{statistics.median(v) / ref:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="the revision to compare with (git archive)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--settings", nargs="*", default=[], metavar="NAME=VALUE",
                    help="changes to the default settings, in the URL's form (e.g. lr=0.1)")
    ap.add_argument("--malloc", choices=("worker", "default"), default="worker",
                    help="worker: this process sets glibc's malloc as a worker process does "
                         "(bnviz.workers.keep_freed_memory); default: glibc's defaults")
    ap.add_argument("--processes", type=int, default=3, metavar="N",
                    help="then N rounds of train() in fresh processes, malloc default and as in a worker "
                         "(0: none)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    with tempfile.TemporaryDirectory(prefix="bnviz-base-") as tmp:
        base = load_copy(archive(args.base, Path(tmp)))
        work = load_copy(ROOT)
        if args.malloc == "worker":
            tune = getattr(work["bnviz.workers"], "keep_freed_memory", None)
            done = tune is not None and tune()
            print("malloc as in a worker process:", "set" if done else "not settable here")
        else:
            print("malloc: glibc's defaults")
        side_by_side(base, work, args.settings, args.rounds)
        breakdown(work, args.settings, args.rounds)
        worker_round_trip(work, args.settings, max(3, args.rounds // 2))
        if args.processes:
            malloc_processes(Path(tmp), args.processes)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")


if __name__ == "__main__":
    main()
