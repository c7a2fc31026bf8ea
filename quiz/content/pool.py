"""Parse a cold library on every core, not one.

Loading many files is CPU-bound Python (Markdown, YAML), so one process keeps one core busy while
the others idle, e.g. at a server start. When there is a lot to parse, this forks helper
processes: they inherit the loaded code and the texts, so only their results travel back
(pickled, a few tens of milliseconds for a thousand files), and this process parses too.

The jobs are cut into small chunks that every process, this one included, takes one at a time
from a shared counter until none is left, so a process that runs slower (a busy core, a fresh
fork's copy-on-write faults) simply takes fewer: all finish within about one chunk of each other.
With fixed halves, this process often waited a quarter of a second or more for its helper.

A helper that cannot start, dies or hangs costs time, never results: every chunk whose results
did not come back is parsed here. Forking is only safe in a process with no other threads (a
lock held by another thread at the fork stays locked forever in the child), so with threads
running (a threaded server reloading changed files) everything is parsed here, as before.
Helpers are reaped before returning.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

R = TypeVar("R")
Job = tuple[str, str, str]

#: Fewer files than this are parsed here: a fork and the results' trip back are not worth it.
MIN_JOBS = 200
#: At most this many helpers, however many cores.
MAX_HELPERS = 3
#: A helper that has sent nothing after this long is given up on and its chunks parsed here.
HELPER_TIMEOUT_SECONDS = 120.0
#: Chunks per process: more balance the finish better, each costs a lock round and a little
#: pickling. 16 per process keeps a chunk of a 1,000-file load near 40 ms.
CHUNKS_PER_PROCESS = 16
#: Taking a chunk holds the shared lock for microseconds; a process that finds it held for this
#: long (a helper killed while holding it) stops taking chunks, and the rest are parsed here.
CLAIM_TIMEOUT_SECONDS = 5.0


def parse_many(jobs: Sequence[Job], parse: Callable[..., R]) -> list[R | None]:
    """``parse(*job)`` for every job, in order; None where it raised (nothing is logged here)."""
    helpers = _helpers(len(jobs))
    if not helpers:
        return _run(jobs, parse)
    try:  # shared memory and a semaphore: a sandbox without /dev/shm has neither
        counter = multiprocessing.get_context("fork").Value("i", 0)
    except OSError:
        return _run(jobs, parse)
    chunks = _chunks(len(jobs), (helpers + 1) * CHUNKS_PER_PROCESS)
    results: list[R | None] = [None] * len(jobs)
    done: set[int] = set()

    def fill(k: int, got: list) -> None:
        for i, result in zip(chunks[k], got):
            results[i] = result
        done.add(k)

    started = []
    try:
        for _ in range(helpers):
            helper = _start(jobs, chunks, counter, parse)
            if helper is not None:
                started.append(helper)
        for k in _claim(counter, len(chunks)):
            fill(k, _run([jobs[i] for i in chunks[k]], parse))
        for _, receive in started:
            for k, got in _receive(receive, chunks).items():
                fill(k, got)
        for k, chunk in enumerate(chunks):  # what a failed helper took, or nobody did
            if k not in done:
                fill(k, _run([jobs[i] for i in chunk], parse))
    finally:
        for process, receive in started:
            receive.close()
            process.join(1)
            if process.is_alive():  # a hung helper
                process.kill()
                process.join()
    return results


def _helpers(count: int) -> int:
    """How many helper processes to fork for ``count`` jobs; 0 when not worth it or not safe."""
    if count < MIN_JOBS or not sys.platform.startswith("linux"):
        return 0
    if threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 0
    return max(0, min(len(os.sched_getaffinity(0)) - 1, MAX_HELPERS))


def _chunks(count: int, pieces: int) -> list[range]:
    """``range(count)`` cut into about ``pieces`` consecutive runs of near-equal length."""
    size = max(1, -(-count // pieces))
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def _claim(counter, count: int) -> Iterator[int]:
    """The next chunk nobody has taken yet, until there is none (or the lock seems lost)."""
    lock = counter.get_lock()
    while True:
        if not lock.acquire(timeout=CLAIM_TIMEOUT_SECONDS):
            return  # the parent parses whatever is left over
        try:
            k = counter.value
            if k >= count:
                return
            counter.value = k + 1
        finally:
            lock.release()
        yield k


def _run(jobs: Sequence[Job], parse: Callable[..., R]) -> list[R | None]:
    results: list[R | None] = []
    for job in jobs:
        try:
            results.append(parse(*job))
        except Exception:  # noqa: BLE001 - the caller re-parses it to log and report it
            results.append(None)
    return results


def _start(jobs: Sequence[Job], chunks: list[range], counter, parse: Callable[..., R]):
    """A forked helper taking chunks from ``counter``, and the end of a pipe its results come
    back on (the jobs are inherited by the fork, not sent)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_helper, args=(send, jobs, chunks, counter, parse), daemon=True)
    try:
        process.start()
    except OSError:
        receive.close()
        return None
    finally:
        send.close()  # the helper has its own copy
    return process, receive


def _helper(send, jobs: Sequence[Job], chunks: list[range], counter, parse: Callable[..., R]) -> None:
    """In the helper: parse chunks until none is left, then send them all back at once (sending
    each as it is done could block on a full pipe while the parent is busy parsing)."""
    try:
        send.send({k: _run([jobs[i] for i in chunks[k]], parse) for k in _claim(counter, len(chunks))})
    finally:
        send.close()


def _receive(receive, chunks: list[range]) -> dict[int, list]:
    """A helper's results by chunk; nothing if it died, hung or sent something else."""
    try:
        if not receive.poll(HELPER_TIMEOUT_SECONDS):
            return {}  # the caller parses its chunks itself and kills the helper
        got = receive.recv()
    except Exception:  # noqa: BLE001 - EOFError when it died; anything else: parse here instead
        return {}
    if not isinstance(got, dict):
        return {}
    return {
        k: results for k, results in got.items()
        if isinstance(k, int) and 0 <= k < len(chunks) and isinstance(results, list) and len(results) == len(chunks[k])
    }
