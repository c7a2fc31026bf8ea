"""How long gunicorn takes to start serving a big content library, and the memory it takes.

    .venv/bin/python bench/boot.py                          # 1,000 modules, 4 workers
    .venv/bin/python bench/boot.py --modules 2000 --runs 3

Every worker needs the parsed library. Served the way `make run` and the operations guide
serve Rounds (``--preload``), the app and its library are built once in gunicorn's master and
the workers are forked from it; without it, each worker builds its own while it boots, all at
once on the same cores, each keeping its own copy. This starts gunicorn both ways on N
generated modules with their scenarios (bench/content_scale.py's generator) and prints, per
run: seconds from starting gunicorn to the first page served, seconds until every worker has
finished starting (its CPU time stops growing), the CPU the master and the workers used
meanwhile (not counting the helper processes a content load forks: bench/HISTORY.md, "Content
scale"), and memory: PSS of the master and workers together (shared pages counted once, split
between the processes sharing them) and each worker's RSS. SQLite, in a temp dir; nothing here
runs under `make test`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BIN,
    LOOPBACK,
    ROOT,
    add_quiet_wait,
    app_env,
    flask_cli,
    free_port,
    fresh_database,
    machine_line,
    rmtree_quiet,
    say,
    table,
    wait_for_quiet,
)
from content_scale import add_generator_options, generate  # noqa: E402

MiB = 2**20


def _cpu(proc) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _pss(proc) -> int:
    try:
        return proc.memory_full_info().pss
    except Exception:  # noqa: BLE001 - gone, or PSS not readable here
        return 0


def boot_once(env: dict, workers: int, preload: bool, log: Path) -> dict:
    """Start gunicorn, time it until every worker is up and idle, measure memory, stop it."""
    import psutil

    port = free_port()
    cmd = [
        str(BIN / "gunicorn"),
        *(["--preload"] if preload else []),
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "1",
        "--bind",
        f"{LOOPBACK}:{port}",
        "--log-level",
        "warning",
        "app:app",
    ]
    started = time.monotonic()
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited while starting; see {log}")
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/auth/login", timeout=120) as response:
                    response.read()
                first_page = time.monotonic() - started
                break
            except OSError:
                time.sleep(0.05)
        master = psutil.Process(proc.pid)
        while True:  # every worker forked, and none of them still working
            before = {c.pid: _cpu(c) for c in master.children()}
            time.sleep(0.5)
            after = {c.pid: _cpu(c) for c in master.children()}
            if (
                len(after) == workers
                and before.keys() == after.keys()
                and all(after[pid] - before[pid] < 0.02 for pid in after)
            ):
                break
        all_up = time.monotonic() - started - 0.5
        children = master.children()
        return {
            "first_page": first_page,
            "all_up": all_up,
            "master_cpu": _cpu(master),
            "worker_cpu": sum(_cpu(c) for c in children),
            "pss": (_pss(master) + sum(_pss(c) for c in children)) / MiB,
            "worker_rss": [c.memory_info().rss / MiB for c in children],
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_generator_options(ap)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3, help="starts of each kind, alternating")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (content, database, gunicorn log)")
    add_quiet_wait(ap, 120, "each start")
    args = ap.parse_args(argv)

    say(f"machine: {machine_line()}")
    work = Path(tempfile.mkdtemp(prefix="rounds-boot-"))
    try:
        content = work / "content"
        generate(content, args.modules, args.seed)
        env = app_env(fresh_database("sqlite", work), content, work / "instance")
        flask_cli(env, "db", "upgrade")  # also makes the instance folder and its secret key
        say(
            f"{args.modules} generated modules with their scenarios; gunicorn {args.workers} workers x 1 thread (gthread)"
        )
        results: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(args.runs):
            for preload in (True, False):
                if args.quiet_wait:
                    wait_for_quiet(args.quiet_wait)
                results[preload].append(boot_once(env, args.workers, preload, work / "gunicorn.log"))
        rows = []
        for preload in (True, False):
            runs = results[preload]
            med = lambda key, runs=runs: statistics.median(r[key] for r in runs)  # noqa: E731
            rss = statistics.median(statistics.mean(r["worker_rss"]) for r in runs)
            rows.append(
                [
                    "--preload" if preload else "no --preload",
                    f"{med('first_page'):.1f}",
                    f"{med('all_up'):.1f}",
                    f"{med('master_cpu'):.1f}",
                    f"{med('worker_cpu'):.1f}",
                    f"{med('pss'):.0f}",
                    f"{rss:.0f}",
                ]
            )
        say(
            table(
                [
                    "serving",
                    "first page (s)",
                    "all workers up (s)",
                    "master's CPU (s)",
                    "workers' CPU (s)",
                    "PSS, all (MiB)",
                    "RSS per worker (MiB)",
                ],
                rows,
            )
        )
        say(f"medians of {args.runs} starts each; first page and all workers up are seconds from starting gunicorn")
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            rmtree_quiet(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
