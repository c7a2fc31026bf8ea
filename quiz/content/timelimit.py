"""Reading a file someone hands us (the Try page's), in a process of its own, stopped at a time
limit.

``bounds.py`` refuses the Markdown known to take the renderer too long before it is rendered.
This is the second line, for whatever slow input nobody has found yet: the file is parsed
(front matter, Markdown, a scenario's paths and scores) in a child process, and the child is
killed if it has not answered within the limit. The web worker only waits on a pipe, so it is
never held longer than the limit, whatever the text does to the parser.

Children come from a fork server (``multiprocessing``'s "forkserver"): a clean process started
once, on first use, with the parser imported and warmed (``forkserver_warm.py``), which forks one child per file. Forking
the web worker itself is not safe (its other threads' locks would be copied held), and starting
a fresh interpreter ("spawn") costs hundreds of milliseconds a file. Measured overhead on a
2-core VM: bench/README.md "Bounded work".
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection

from .model import ContentError

_started = threading.Lock()
_context = None


def _fork_server():  # noqa: ANN202 - a multiprocessing context
    global _context
    with _started:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            # The parser, warmed by one parse: each child's first parse would take ~60 ms.
            context.set_forkserver_preload(["quiz.content.forkserver_warm"])
            _context = context
        return _context


def timed_out(seconds: float) -> str:
    return (
        f"reading this file took longer than {seconds:g} seconds, so it was stopped: look for very long "
        "runs of the same mark (backticks, brackets, `<`) or very long paragraphs, and split them"
    )


CRASHED = "this file could not be read: the process reading it stopped without an answer"


def _child(conn: Connection, kind: str, path: str, text: str) -> None:
    from .library import _parse_safely

    try:
        conn.send(_parse_safely(kind, path, text))
    finally:
        conn.close()


def parse_within(kind: str, path: str, text: str, seconds: float):  # noqa: ANN201 - (content or None, errors)
    """``kind`` parsed from ``text`` as ``library`` would parse it, in a child process given at
    most ``seconds``: (content or None, errors). Past the limit the child is killed and the file
    gets one error saying so."""
    context = _fork_server()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, kind, path, text), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(seconds):
            return None, [ContentError(path, 0, timed_out(seconds))]
        try:
            return receive.recv()
        except EOFError:
            return None, [ContentError(path, 0, CRASHED)]
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        child.close()
        receive.close()
