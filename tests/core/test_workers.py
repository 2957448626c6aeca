"""The run cache and the worker processes: the same runs as train(), shared, and stopped
when nobody waits for them."""

from __future__ import annotations

import os
import pickle
import platform
import subprocess
import sys

import numpy as np
import pytest

from bnviz import engine, workers
from bnviz.settings import Settings
from bnviz.train import train

SMALL = Settings(steps=30)


def _same_run(a, b) -> None:
    assert a.curves.equals(b.curves)
    np.testing.assert_array_equal(a.loss, b.loss)
    for ra, rb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(ra.hist_counts, rb.hist_counts)


def test_in_process_trainer_caches_in_memory_then_on_disk(tmp_path) -> None:
    t = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path))
    first = t.submit(SMALL).result()
    _same_run(first, train(SMALL))
    assert t.submit(SMALL).result() is first
    assert t.stats["trained"] == 1 and t.stats["memory"] == 1
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    again = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path))  # another replica on the host
    _same_run(again.submit(SMALL).result(), first)
    assert again.stats == {**again.stats, "disk": 1, "trained": 0}


def test_shared_runs_are_read_only(tmp_path) -> None:
    run = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path)).submit(SMALL).result()
    with pytest.raises(ValueError, match="read-only"):
        run.layers[0].batch_mu[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        run.loss[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        run.curve_columns["loss"][0] = 1.0


def test_the_key_follows_canonical_settings() -> None:
    plain = Settings(use_bn=False, steps=20)
    assert workers.key(plain.replace(eps=0.1)) == workers.key(plain)  # ε cannot change a no-BN run
    assert workers.key(Settings(eps=0.1)) != workers.key(Settings())


def test_a_folder_others_can_write_to_is_not_used(tmp_path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    cache = workers.DiskCache(open_dir)
    assert not cache.usable
    cache.write("k", b"x")
    assert cache.read("k") is None and not list(open_dir.iterdir())


def test_the_disk_cache_keeps_at_most_its_limit(tmp_path) -> None:
    cache = workers.DiskCache(tmp_path, limit=2500)
    for i in range(5):
        cache.write(f"k{i}", bytes(1000))
        os.utime(cache.path(f"k{i}"), (i, i))  # k0 oldest
    assert sorted(p.stem for p in tmp_path.glob("*.pkl")) == ["k3", "k4"]


def test_a_damaged_cache_file_is_trained_anew(tmp_path) -> None:
    cache = workers.DiskCache(tmp_path)
    cache.write(workers.key(SMALL), b"not a pickle")
    t = workers.Trainer(workers=0, disk=cache)
    _same_run(t.submit(SMALL).result(), train(SMALL))
    assert t.stats["trained"] == 1
    assert pickle.loads(cache.read(workers.key(SMALL)) or b"") is not None


def test_worker_processes_train_the_same_runs_and_share_one_job(tmp_path) -> None:
    t = workers.Trainer(workers=2, disk=workers.DiskCache(tmp_path))
    try:
        a, b = t.submit(SMALL), t.submit(SMALL)  # the second joins the first's job
        other = t.submit(SMALL.replace(seed=1))
        _same_run(a.result(), train(SMALL))
        assert b.result() is a.result()
        _same_run(other.result(), train(SMALL.replace(seed=1)))
        assert t.stats["trained"] == 2 and t.stats["joined"] == 1
        for tk in (a, b, other):
            tk.release()
        assert t.stats["stopped"] == 0  # finished jobs are not stopped
    finally:
        t.shutdown()


def test_a_worker_process_trains_without_importing_pandas(tmp_path) -> None:
    """pandas is most of a worker's memory: the worker records the curves as NumPy columns."""
    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path))
    try:
        _same_run(t.submit(SMALL).result(), train(SMALL))
        # a builtin, so that asking imports nothing into the worker
        loaded = t._executor().submit(eval, "sorted(m for m in __import__('sys').modules if m.startswith(("
                                            "'pandas', 'bnviz')))").result(timeout=60)
    finally:
        t.shutdown()
    assert "bnviz.train" in loaded and "bnviz.workers" in loaded  # it did import the core
    assert not [m for m in loaded if m.startswith("pandas")], loaded


def test_a_landscape_is_computed_in_a_worker_as_in_the_server_and_brings_no_pandas(tmp_path) -> None:
    """Trainer.call: the "Why does BN help?" view's landscapes leave the server's thread."""
    from bnviz import why

    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path))
    try:
        (away,) = t.call(why.landscape, [SMALL], 3).result(timeout=120)
        loaded = t._executor().submit(eval, "sorted(m for m in __import__('sys').modules if m.startswith(("
                                            "'pandas', 'bnviz')))").result(timeout=60)
    finally:
        t.shutdown()
    (here,) = why.landscape([SMALL], 3)
    for field in ("steps", "eta", "loss", "grad_norm", "probe_loss", "grad_change"):
        np.testing.assert_array_equal(getattr(away, field), getattr(here, field), err_msg=field)
    assert "bnviz.why" in loaded
    assert not [m for m in loaded if m.startswith("pandas")], loaded


def test_a_call_without_workers_runs_in_the_caller_and_keeps_its_error() -> None:
    t = workers.Trainer(workers=0)
    assert t.call(divmod, 7, 2).result() == (3, 1)
    with pytest.raises(ZeroDivisionError):
        t.call(divmod, 1, 0).result()


def test_the_memory_cache_keeps_at_most_its_bytes_least_recently_used_first(tmp_path) -> None:
    runs = {seed: SMALL.replace(seed=seed) for seed in range(4)}
    size = workers.run_bytes(train(runs[0]))
    t = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path), memory_bytes=int(2.5 * size))
    assert t.memory_entries > 3  # the bytes, not the count, bound it here
    for seed in (0, 1):
        t.submit(runs[seed]).result()
    assert t.memory_used() == 2 * size
    assert t.submit(runs[0]).done() and t.stats["memory"] == 1  # 0 is now the most recently used
    t.submit(runs[2]).result()  # three do not fit: 1, the least recently used, goes
    assert t.memory_used() == 2 * size <= t.memory_bytes
    t.submit(runs[0])
    t.submit(runs[2])
    assert t.stats["memory"] == 3 and t.stats["disk"] == 0
    t.submit(runs[1])  # from the disk, and 0 goes
    assert t.stats == {**t.stats, "memory": 3, "disk": 1, "trained": 3}
    t.submit(runs[0])
    assert t.stats["disk"] == 2
    big = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path), memory_bytes=size - 1)
    big.submit(runs[3]).result()  # larger than the whole cache: not kept
    assert big.memory_used() == 0
    big.submit(runs[3])
    assert big.stats["memory"] == 0 and big.stats["disk"] == 1


def test_a_run_nobody_waits_for_stops_training(tmp_path) -> None:
    long = Settings(dataset="digits", width=64, depth=2, steps=5000, batch_size=64)
    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path))
    try:
        t.warm()
        ticket = t.submit(long)
        while ticket.progress() == 0.0:  # wait until it is training (not merely queued)
            ticket.wait(0.05)
        job = ticket._job
        assert job is not None
        ticket.release()
        with pytest.raises(engine.Stopped):
            job.future.result(timeout=120)
        assert t.stats["stopped"] == 1
        assert not list(tmp_path.glob("*.pkl"))  # nothing half-trained is cached
        # the same settings asked for again start a new job, which trains to the end
        again = t.submit(long.replace(steps=40))
        _same_run(again.result(), train(long.replace(steps=40)))
    finally:
        t.shutdown()


def test_a_prefetched_run_trains_to_the_end_with_nobody_waiting(tmp_path) -> None:
    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path))
    try:
        t.prefetch([SMALL])
        ticket = t.submit(SMALL)  # a visitor arrives, then leaves before it is done
        job = ticket._job
        ticket.release()
        if job is not None:
            job.future.result(timeout=120)  # not stopped: it finishes
        assert t.stats["stopped"] == 0
        again = t.submit(SMALL)
        assert again.done()
        _same_run(again.result(), train(SMALL))
    finally:
        t.shutdown()


def test_workers_do_not_run_the_page_that_started_them(tmp_path, monkeypatch) -> None:
    """Streamlit makes the running page script ``__main__``; a spawned worker must not import it."""
    import sys
    import types

    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('a worker imported the page script')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path / "cache"))
    try:
        _same_run(t.submit(SMALL).result(), train(SMALL))
    finally:
        t.shutdown()


WORKER_FAULTS = """
import resource, sys
from multiprocessing.sharedctypes import RawArray
from bnviz import workers
from bnviz.settings import Settings
from bnviz.train import train
if sys.argv[1] == "worker":
    workers._init_worker(RawArray("d", 1), RawArray("b", 1))  # what each worker process runs first
train(Settings(steps=100))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
train(Settings(steps=100))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc's thresholds are glibc's")
def test_a_worker_trains_in_memory_it_keeps_rather_than_in_fresh_pages() -> None:
    def faults(mode: str) -> int:
        """Page faults of a process's second run (the first makes the heap it reuses)."""
        out = subprocess.run([sys.executable, "-c", WORKER_FAULTS, mode], check=True, capture_output=True,
                             text=True)
        return int(out.stdout.split()[-1])

    default, worker = faults("default"), faults("worker")
    assert worker < 200 and worker < default / 10, (default, worker)  # about 20,000 and 20


def test_a_run_trained_in_a_worker_reaches_the_disk_for_other_replicas(tmp_path) -> None:
    import time

    t = workers.Trainer(workers=1, disk=workers.DiskCache(tmp_path))
    try:
        first = t.submit(SMALL).result()
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*.pkl")) and time.monotonic() < deadline:
            time.sleep(0.02)  # the server writes it once the waiters have the run
    finally:
        t.shutdown()
    assert [p.name for p in tmp_path.glob("*.pkl")] == [f"{workers.key(SMALL)}.pkl"]
    replica = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path))
    _same_run(replica.submit(SMALL).result(), first)
    assert replica.stats["disk"] == 1 and replica.stats["trained"] == 0
