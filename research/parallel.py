"""Both cores of one machine for a sweep: numba threads for the fused kernel, a pool of processes for the
vectorbt batches.

Threads suit the fused kernel (it releases the GIL and shares the moving-average rows for free); vectorbt's
`Portfolio.from_signals` holds the GIL around a lot of Python, so its batches go to processes. Worker
processes are spawned, never forked: a fork of a process whose numba threads are running is unsafe, and a
spawned worker imports only what its tasks need. Results come back in task order whatever order the workers
finish in, so a parallel run merges into exactly the table of a serial one.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["available_cores", "main_hidden", "numba_threads", "ordered_map", "resolve_workers"]

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """`None` means every available core; anything else must be a positive count."""
    if workers is None:
        return available_cores()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return workers


@contextmanager
def numba_threads(workers: int) -> Iterator[int]:
    """Run numba's parallel kernels on `workers` threads (at most numba's pool size) inside the block, and
    give the previous count back after it. Yields the count in force. Chunk size 1 lets a dynamic threading
    layer (TBB) hand iterations out one at a time; numba's OpenMP layer (the one installed here) still gives
    each thread an equal share up front, so a kernel that must not wait for a thread that gets less CPU on a
    shared machine hands out its own work (the fused screen's threads claim chunks of combinations)."""
    import numba

    previous = numba.get_num_threads()
    count = max(1, min(workers, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(count)
    try:
        with numba.parallel_chunksize(1):
            yield count
    finally:
        numba.set_num_threads(previous)


def ordered_map(fn: Callable[[T], R], tasks: Sequence[T], workers: int, initializer: Callable[..., None] | None = None,
                initargs: Iterable[Any] = ()) -> Iterator[R]:
    """`fn` over `tasks` on up to `workers` spawned processes, yielding results in task order. `initializer`
    runs once in each worker with `initargs`: the place to send what every task shares (bars, costs) once
    per worker instead of once per task. `fn` and `initializer` must be module-level functions of an
    importable module (not of the script being run: workers do not import it, see `main_hidden`)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), mp_context=context,
                             initializer=initializer, initargs=tuple(initargs)) as pool:
        with main_hidden():  # every worker starts during these submits (spawn starts one per submit, up to max)
            futures = [pool.submit(fn, task) for task in tasks]
        for future in futures:
            yield future.result()


@contextmanager
def main_hidden() -> Iterator[None]:
    """Start workers without re-running the user's script in them. A spawned worker imports the parent's
    `__main__` from its file or module name; a script that calls a sweep without an
    `if __name__ == "__main__":` guard would sweep again in every worker, which multiprocessing refuses
    while the parent's pool waits forever. Our task functions live in `research`, so the workers need
    nothing from `__main__`: hide where it came from while they start (a pool's, or a local Dask
    cluster's, whose nannies spawn their workers the same way)."""
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    for name in saved:
        setattr(main, name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)
