"""Parse a cold library on every core, not one.

Loading many files is CPU-bound Python (Markdown, YAML), so one process keeps one core busy while
the others idle, e.g. at a server start. When there is a lot to parse, this forks helper
processes: they inherit the loaded code and the texts, so only their results travel back
(pickled, a few tens of milliseconds for a thousand files), and this process parses its own
share meanwhile. A helper that cannot start or dies leaves its share to this process, so the
results never depend on the helpers, only the time does.

Forking is only safe in a process with no other threads (a lock held by another thread at the
fork stays locked forever in the child), so with threads running (a threaded server reloading
changed files) everything is parsed here, as before. Helpers are reaped before returning.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

R = TypeVar("R")
Job = tuple[str, str, str]

#: Fewer files than this are parsed here: a fork and the results' trip back are not worth it.
MIN_JOBS = 200
#: At most this many helpers, however many cores.
MAX_HELPERS = 3
#: A helper that has sent nothing after this long is given up on and its share parsed here.
HELPER_TIMEOUT_SECONDS = 120.0


def parse_many(jobs: Sequence[Job], parse: Callable[..., R]) -> list[R | None]:
    """``parse(*job)`` for every job, in order; None where it raised (nothing is logged here)."""
    helpers = _helpers(len(jobs))
    if not helpers:
        return _run(jobs, parse)
    shares = [list(range(k, len(jobs), helpers + 1)) for k in range(helpers + 1)]
    results: list[R | None] = [None] * len(jobs)
    started = []
    try:
        for share in shares[1:]:
            helper = _start([jobs[i] for i in share], parse)
            if helper is None:
                shares[0].extend(share)
            else:
                started.append((share, helper))
        for i, result in zip(shares[0], _run([jobs[i] for i in shares[0]], parse)):
            results[i] = result
        for share, (process, receive) in started:
            got = _receive(receive, len(share))
            if got is None:
                got = _run([jobs[i] for i in share], parse)
            for i, result in zip(share, got):
                results[i] = result
    finally:
        for _, (process, receive) in started:
            receive.close()
            process.join(1)
            if process.is_alive():  # pragma: no cover - only if a helper hangs
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


def _run(jobs: Sequence[Job], parse: Callable[..., R]) -> list[R | None]:
    results: list[R | None] = []
    for job in jobs:
        try:
            results.append(parse(*job))
        except Exception:  # noqa: BLE001 - the caller re-parses it to log and report it
            results.append(None)
    return results


def _start(jobs: list[Job], parse: Callable[..., R]):
    """A forked helper parsing ``jobs`` and the end of a pipe its results come back on."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_helper, args=(send, jobs, parse), daemon=True)
    try:
        process.start()
    except OSError:
        receive.close()
        return None
    finally:
        send.close()  # the helper has its own copy
    return process, receive


def _helper(send, jobs: list[Job], parse: Callable[..., R]) -> None:
    """In the helper: parse and send the results back."""
    try:
        send.send(_run(jobs, parse))
    finally:
        send.close()


def _receive(receive, count: int) -> list | None:
    """A helper's results, or None if it died, hung or sent something else."""
    try:
        if not receive.poll(HELPER_TIMEOUT_SECONDS):
            return None  # the caller parses this share itself and kills the helper
        got = receive.recv()
    except Exception:  # noqa: BLE001 - EOFError when it died; anything else: parse here instead
        return None
    return got if isinstance(got, list) and len(got) == count else None
