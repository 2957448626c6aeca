"""Training in worker processes, and one run cache for every session and every replica on a host.

A Streamlit server runs every session's script in a thread of one process, so training
there uses one core however many the machine has, and a run nobody waits for any more
still trains to its end. :class:`Trainer` moves training out:

- ``submit(settings)`` returns a :class:`Ticket`. The run comes from this process's memory
  (the ``MEMORY_ENTRIES`` runs used last, at most ``MEMORY_BYTES`` of them), else from the
  disk (:class:`DiskCache`: one pickle per run under ``BNVIZ_CACHE_DIR``, shared by the
  replicas on one host), else from the job already training the same settings (one more
  waiter), else from a new job.
- A job trains in a worker process (``ProcessPoolExecutor``, started with ``spawn``,
  ``BNVIZ_WORKERS`` processes, by default one per core), with BLAS on one thread. Each job
  has a slot in shared memory: the step it is at (``Ticket.progress``) and a stop flag.
- ``Ticket.release()``: when the last waiter of an unfinished job lets go, a job not yet
  started is cancelled and a running one is flagged; ``engine.train`` checks the flag before
  every step and stops (``bnviz.engine.Stopped``), so abandoned work ends within one step.
- Every session gets the same Run object: its arrays are made read-only, so no page can
  change another session's run by accident.
- A worker imports NumPy and the core, not pandas (``Run.curves`` is built in the server,
  from the columns the worker recorded): pandas would be most of what a started worker
  holds (tests/core/test_workers.py checks that it stays out).

``BNVIZ_WORKERS=0`` trains in the calling thread (no processes), with the same caches.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import hashlib
import multiprocessing as mp
import os
import pickle
import sys
import tempfile
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.sharedctypes import RawArray
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .settings import Settings
from .train import Run, train

MEMORY_ENTRIES = 32  # runs kept in the server process, at most
# ... holding at most this many bytes in all (``run_bytes``). A default run holds 1.35 MB; the
# widest and deepest the per-run budget allows (width 128 x depth 8) 20 MB, so 32 of those
# would be 640 MB, more than a classroom server's whole 600 MB. 200 MB keeps the 32 runs at
# the defaults and 10 of the largest. (`run_bytes(train(Settings(width=128, depth=8,
# steps=400)))` measures it.)
MEMORY_BYTES = 200_000_000
DISK_BYTES = int(os.environ.get("BNVIZ_CACHE_BYTES", 1_000_000_000))  # the disk cache's limit
SLOTS = 4096  # jobs submitted and not finished at one time, at most
_CORE = Path(__file__).resolve().parent
T = TypeVar("T")


def _code_version() -> str:
    """A hash of the core's source: a changed core never reads runs the old one recorded."""
    h = hashlib.sha256()
    for path in sorted(_CORE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


CODE_VERSION = _code_version()


def key(settings: Settings) -> str:
    """The cache key of a run: its canonical settings and the core's code version."""
    return hashlib.sha256(f"{CODE_VERSION}|{settings.canonical()!r}".encode()).hexdigest()[:32]


def worker_count() -> int:
    """``BNVIZ_WORKERS`` if set (0 = no worker processes), else the cores this process may use."""
    raw = os.environ.get("BNVIZ_WORKERS", "").strip()
    if raw:
        return max(0, int(raw))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_bytes(run: Run) -> int:
    """Memory a cached Run holds: its recorded arrays and its dataset (an unpickled Run has
    a copy of its own)."""
    ds = run.dataset
    arrays = (ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.mean, ds.std)
    return run.nbytes() + sum(a.nbytes for a in arrays)


def freeze(run: Run) -> Run:
    """Make every NumPy array the Run holds read-only (shared by every session)."""

    def walk(obj: Any, depth: int = 0) -> None:
        if depth > 3:
            return
        if isinstance(obj, np.ndarray):
            obj.flags.writeable = False
        elif isinstance(obj, list | tuple):
            for x in obj:
                walk(x, depth + 1)
        elif isinstance(obj, dict):
            for x in obj.values():
                walk(x, depth + 1)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name), depth + 1)

    walk(run)
    return run


# --------------------------------------------------------------------------- the disk cache


class DiskCache:
    """Pickled runs under one folder this user owns, at most ``limit`` bytes (oldest go first).

    Files are written under a temporary name and renamed, so a reader never sees half a run,
    and two replicas writing the same run at once both leave a whole one. A folder owned by
    another user, or open to others, is not used (unpickling what someone else wrote would
    run their code): the cache then keeps nothing.
    """

    def __init__(self, folder: Path | None = None, limit: int = DISK_BYTES) -> None:
        default = Path(tempfile.gettempdir()) / f"bnviz-runs-{os.getuid()}"
        self.folder = Path(folder or os.environ.get("BNVIZ_CACHE_DIR", "") or default)  # a folder given wins
        self.limit = limit
        self.usable = self._prepare()

    def _prepare(self) -> bool:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.folder.stat()
        except OSError:
            return False
        return st.st_uid == os.getuid() and not st.st_mode & 0o022

    def path(self, k: str) -> Path:
        return self.folder / f"{k}.pkl"

    def read(self, k: str) -> bytes | None:
        if not self.usable:
            return None
        try:
            blob = self.path(k).read_bytes()
            os.utime(self.path(k))  # recently used: pruned last
        except OSError:
            return None
        return blob

    def write(self, k: str, blob: bytes) -> None:
        if not self.usable or len(blob) > self.limit:
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, self.path(k))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        self.prune()

    def prune(self) -> None:
        """Delete the least recently used runs until the folder holds at most ``limit`` bytes."""
        try:
            entries = [(st.st_mtime, st.st_size, p) for p in self.folder.glob("*.pkl") for st in [p.stat()]]
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total <= self.limit:
                break
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size


# --------------------------------------------------------------------------- the worker side

_progress: Any = None  # RawArray('d', SLOTS): the step each job is at (set in each worker)
_stop: Any = None  # RawArray('b', SLOTS): 1 = nobody waits for this job any more


def _init_worker(progress: Any, stop: Any) -> None:
    global _progress, _stop
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # one core per worker: the pool is sized to the cores
    keep_freed_memory()
    _progress, _stop = progress, stop


# glibc's malloc thresholds for a worker (mallopt's parameter numbers): arrays up to
# MMAP_THRESHOLD come from the heap, and up to TRIM_THRESHOLD of freed heap stays with the
# process, instead of going back to the system after each pass and coming back as fresh
# pages. A default run's train() then takes 0.65 to 0.8 of its CPU time with glibc's
# defaults, and the recorder's stacked passes (bnviz.train: arrays of 100 kB to a few MB,
# about 20,000 page faults per default run with the defaults, none with these) save about a
# tenth more (`.venv/bin/python bench/retrain.py`: its last section times fresh processes
# with and without this, on a 2-core machine under load 5-6). A worker holds at most
# TRIM_THRESHOLD of freed memory beyond what it uses.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 64 << 20
MMAP_THRESHOLD = 32 << 20  # glibc's largest


def keep_freed_memory() -> bool:
    """Set this process's malloc thresholds (above) where the C library is glibc; True if set."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mmap = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        return bool(mmap and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, macOS): its defaults stay
        return False


def _train_blob(settings: Settings, slot: int) -> bytes:
    """In a worker: train, return the pickled Run (the server stores it on the disk: see
    ``Trainer._done``)."""
    progress, stop = _progress, _stop

    def watch(t: int) -> bool:
        progress[slot] = t - 1
        return bool(stop[slot])

    run = train(settings, watch=watch)
    return pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL)


# --------------------------------------------------------------------------- the server side


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """While worker processes start: a ``__main__`` module without a file.

    A spawned process imports its parent's ``__main__`` first. Streamlit (and its AppTest)
    makes the page script being run ``__main__``, so a worker would run a page, which would
    start workers of its own. Without a file there is nothing for it to import."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Job:
    def __init__(self, k: str, settings: Settings, future: cf.Future, slot: int) -> None:
        self.key, self.settings, self.future, self.slot = k, settings, future, slot
        self.waiters = 0
        self.keep = False  # a prefetch: trains to the end even when nobody waits
        self.run: Run | None = None  # unpickled once, by whoever asks first
        self.lock = threading.Lock()

    def unpickled(self) -> Run:
        """The job's run (its exception if it failed, e.g. ``engine.Stopped``)."""
        with self.lock:
            if self.run is None:
                self.run = freeze(pickle.loads(self.future.result()))
            return self.run


class Ticket:
    """One caller's claim on one run: wait for it, read its progress, let it go."""

    def __init__(self, trainer: Trainer, k: str, settings: Settings, run: Run | None = None,
                 job: _Job | None = None) -> None:
        self._trainer, self.key, self.settings, self._run, self._job = trainer, k, settings, run, job
        self._released = False

    def done(self) -> bool:
        return self._run is not None or self._job is None or self._job.future.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds; True when the run is there (or failed)."""
        if self.done():
            return True
        assert self._job is not None
        cf.wait([self._job.future], timeout)
        return self.done()

    def progress(self) -> float:
        """The fraction of the steps trained (1.0 when done)."""
        if self.done():
            return 1.0
        assert self._job is not None
        return min(1.0, self._trainer.steps_done(self._job.slot) / max(1, self.settings.steps))

    def result(self) -> Run:
        """The run (waits for it); the job's exception if training failed."""
        if self._run is None:
            assert self._job is not None
            self._run = self._trainer.finish(self._job)
        return self._run

    def release(self) -> None:
        """This caller no longer waits: the job stops if nobody else does."""
        if not self._released:
            self._released = True
            if self._job is not None:
                self._trainer.release(self._job)


class Trainer:
    """Runs trained in worker processes, cached in memory and on disk (see the module doc)."""

    def __init__(self, workers: int | None = None, disk: DiskCache | None = None,
                 memory_entries: int = MEMORY_ENTRIES, memory_bytes: int = MEMORY_BYTES) -> None:
        self.workers = worker_count() if workers is None else workers
        self.disk = disk if disk is not None else DiskCache()
        self.memory_entries, self.memory_bytes = memory_entries, memory_bytes
        self._memory: OrderedDict[str, Run] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # run_bytes of each run in _memory
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._progress = RawArray("d", SLOTS)
        self._stop = RawArray("b", SLOTS)
        self._free = list(range(SLOTS - 1, -1, -1))
        self.stats = {"memory": 0, "disk": 0, "joined": 0, "trained": 0, "stopped": 0}

    # the pool, made on first use and again after a worker died
    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                initargs=(self._progress, self._stop),
            )
        return self._pool

    def warm(self) -> None:
        """Start the worker processes now (they import NumPy and the core: about a second)."""
        if self.workers:
            with _plain_main():
                pool = self._executor()
                futures = [pool.submit(int) for _ in range(self.workers)]
            cf.wait(futures)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def steps_done(self, slot: int) -> float:
        return float(self._progress[slot])

    def memory_used(self) -> int:
        """Bytes of the runs kept in memory (``run_bytes``)."""
        return sum(self._sizes.values())

    def _remember(self, k: str, run: Run) -> Run:
        """Keep ``run`` as the most recently used; drop the least recently used runs until at
        most ``memory_entries`` runs of at most ``memory_bytes`` in all are left (a run larger
        than ``memory_bytes`` on its own is not kept)."""
        self._memory[k] = run
        self._memory.move_to_end(k)
        self._sizes[k] = run_bytes(run)
        used = sum(self._sizes.values())
        while self._memory and (len(self._memory) > self.memory_entries or used > self.memory_bytes):
            old, _ = self._memory.popitem(last=False)
            used -= self._sizes.pop(old)
        return run

    def submit(self, settings: Settings) -> Ticket:
        """A ticket for the run of ``settings`` (canonical: see ``Settings.canonical``)."""
        settings = settings.canonical()
        settings.validate()  # a bad request fails here, in the caller, with its own message
        k = key(settings)
        with self._lock:
            if k in self._memory:
                self._memory.move_to_end(k)
                self.stats["memory"] += 1
                return Ticket(self, k, settings, run=self._memory[k])
            job = self._jobs.get(k)
            if job is not None:
                job.waiters += 1
                self.stats["joined"] += 1
                return Ticket(self, k, settings, job=job)
        blob = self.disk.read(k)
        if blob is not None:
            with contextlib.suppress(Exception):  # a damaged file: train anew
                run = freeze(pickle.loads(blob))
                with self._lock:
                    self.stats["disk"] += 1
                    return Ticket(self, k, settings, run=self._remember(k, run))
        if not self.workers:
            run = freeze(train(settings))
            self.disk.write(k, pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL))
            with self._lock:
                self.stats["trained"] += 1
                return Ticket(self, k, settings, run=self._remember(k, run))
        started = None
        with self._lock:
            job = self._jobs.get(k)  # another thread may have started it meanwhile
            if job is None:
                if not self._free:
                    raise RuntimeError("too many runs are training at once; try again in a moment")
                slot = self._free.pop()
                self._progress[slot], self._stop[slot] = 0.0, 0
                with _plain_main():  # submit may start a worker process
                    try:
                        future = self._executor().submit(_train_blob, settings, slot)
                    except cf.process.BrokenProcessPool:  # a worker died: a new pool
                        self._pool = None
                        future = self._executor().submit(_train_blob, settings, slot)
                job = started = _Job(k, settings, future, slot)
                self._jobs[k] = job
                self.stats["trained"] += 1
            job.waiters += 1
            ticket = Ticket(self, k, settings, job=job)
        if started is not None:
            # outside the lock: a future already done runs the callback here, and _done
            # takes the lock
            started.future.add_done_callback(functools.partial(self._when_done, started))
        return ticket

    def _when_done(self, job: _Job, _future: cf.Future) -> None:
        self._done(job)

    def _done(self, job: _Job) -> None:
        """A job ended (trained, failed or cancelled): free its slot, keep its run in memory,
        then on the disk. This runs after the job's waiters have been woken (``Future``
        calls its callbacks last), so the disk's write and prune (tens of ms once the
        cache holds hundreds of runs) are not part of the wait for the run."""
        run = None
        if not job.future.cancelled() and job.future.exception() is None:
            with contextlib.suppress(Exception):
                run = job.unpickled()
        with self._lock:
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]
            if run is not None:
                self._remember(job.key, run)
            self._free.append(job.slot)
        if run is not None:
            self.disk.write(job.key, job.future.result())

    def finish(self, job: _Job) -> Run:
        """The run of a job (waits for it)."""
        return job.unpickled()

    def release(self, job: _Job) -> None:
        with self._lock:
            job.waiters -= 1
            if job.waiters > 0 or job.keep or job.future.done():
                return
            self.stats["stopped"] += 1
            if not job.future.cancel():
                self._stop[job.slot] = 1  # running: engine.train stops before its next step
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]  # a later request for the same settings starts afresh

    def prefetch(self, settings: Iterable[Settings]) -> None:
        """Train these runs in the background (e.g. each page's first view, at start-up) unless
        they are cached: they train to the end even if nobody asks for them meanwhile."""
        for s in settings:
            ticket = self.submit(s)
            if ticket._job is not None:
                ticket._job.keep = True
            ticket.release()

    def call(self, fn: Callable[..., T], *args: Any) -> cf.Future[T]:
        """``fn(*args)`` in a worker process (in this thread when ``workers`` is 0): work other
        than a run, e.g. ``why.landscape``, off the server's interpreter lock, which a second
        of NumPy on small arrays would otherwise hold from every other session. ``fn`` must
        be importable without pandas (see the module doc). Nothing cached, no stop flag: for
        work of a second or two that the caller caches."""
        if not self.workers:
            done: cf.Future[T] = cf.Future()
            try:
                done.set_result(fn(*args))
            except Exception as err:
                done.set_exception(err)
            return done
        with self._lock, _plain_main():
            try:
                return self._executor().submit(fn, *args)
            except cf.process.BrokenProcessPool:  # a worker died: a new pool
                self._pool = None
                return self._executor().submit(fn, *args)

    def runs(self, settings: Iterable[Settings]) -> list[Ticket]:
        """Tickets for several runs at once: they train side by side on the workers."""
        return [self.submit(s) for s in settings]


__all__ = ["CODE_VERSION", "DiskCache", "Ticket", "Trainer", "freeze", "key", "run_bytes", "worker_count"]
