"""Capacity curve: learners at work (1-3 s think time) against p95 latency, on one server.

    .venv/bin/python bench/capacity.py --db sqlite
    .venv/bin/python bench/capacity.py --db postgresql --levels 100,300,500,700 --duration 60

One gunicorn server as `make run` serves it (4 gthread workers, --preload) on a fresh database
with the test content. For each level N (the learners, in the order given), N new learners
sign in and take modules end to end as in bench/load.py's journey phase (locust's ``Learner``:
start, lesson Next, one answer per decision, Continue, the acknowledgement, the certificate;
half answer with htmx, half with plain forms), with 1-3 s of think time between clicks. The
sign-in storm (Argon2id, about 0.1 s of CPU each) is left out: every learner signs in and
opens its module, then all start working (each after a random part of one think time) and
latencies are those of the requests started in the next ``--duration`` seconds. Each level has
accounts of its own, so none continues another's attempts.

Prints, per level: requests per second, errors, answer-submit p50 / p95 / p99, p95 of every
request, the server's, locust's and other processes' CPU (cores), and then the target: at
least ``--target-learners`` (500) learners with answer submit p95 under ``--target-ms`` (100
ms). Exits 1 if missed. Locust runs on the same machine and takes CPU from the server (printed).
PostgreSQL: the database `bench` (or BENCH_PG_DB) is dropped and re-created, never `test`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PASSWORD,
    add_quiet_wait,
    app_env,
    content_facts,
    create_learners,
    flask_cli,
    fmt_ms,
    fresh_database,
    machine_line,
    percentile,
    rmtree_quiet,
    say,
    start_gunicorn,
    table,
)
from load import ramp_end, resolve_content, run_locust, step_rows  # noqa: E402


def level(server, env: dict, work: Path, args, base_cfg: dict, n: int, roles) -> dict:
    learners = create_learners(env, n, roles, f"cap{n}")
    say(
        f"{args.db}: {n} learners, think {args.think[0]:g}-{args.think[1]:g} s, {args.duration} s once all have "
        "signed in ..."
    )
    # Every learner signs in and opens its module, then all start working together (each after
    # a random part of one think time) for --duration seconds: the sign-in storm is left out.
    res = run_locust(
        "Learner",
        server.url,
        {
            **base_cfg,
            "phase": "journey",
            "think": list(args.think),
            "learners": [x.__dict__ for x in learners],
            "answer_mix": "mixed",
        },
        work,
        f"{args.db}-cap{n}",
        users=n,
        duration=args.duration,
        spawn_rate=args.spawn_rate,
        server_pids=server.pids(),
        measured=True,
        quiet_wait=args.quiet_wait,
        ready_allowance=max(240, int(n / args.spawn_rate) + n),  # up to a second a sign-in on a busy machine
    )
    t0, t1 = res.get("t_measure_start"), res.get("t_measure_end")
    signed_in = sum(1 for name, _ms, ok, _s in res["requests"] if name == "sign-in" and ok)
    if not t0 or not t1:
        say(f"  not every learner got ready within the run ({signed_in} of {n} signed in): no figures")
        t0, t1 = ramp_end(res) or res["t_start"], res["t_stopping"] or time.time()
    _rows, stats = step_rows(res, t0, t1)
    after = [r for r in res["requests"] if t0 <= (r[3] or 0) <= t1]
    all_ms = [ms for _n, ms, _ok, _s in after]
    wall = max(res["wall"], 1)
    answers = stats.get("answer submit (all)", {})
    return {
        "learners": n,
        "signed_in": signed_in,
        "settled_s": t1 - t0,
        "per_s": stats["total"]["per_s"],
        "errors": stats["total"]["fails"],
        "answers": answers.get("count", 0),
        "answers_per_s": answers.get("per_s", 0.0),
        "answer_p50": answers.get("p50"),
        "answer_p95": answers.get("p95"),
        "answer_p99": answers.get("p99"),
        "all_p95": percentile(all_ms, 95) if all_ms else None,
        # The server's CPU in the measured window; the others' over the whole run (ramp included).
        "server_cores": (res.get("cpu_window") or res["cpu_server"]) / ((t1 - t0) if res.get("cpu_window") else wall),
        "machine_cores": (res.get("busy_window") or 0) / max(t1 - t0, 1e-9),
        "locust_cores": res["cpu_locust"] / wall,
        "postgres_cores": res.get("cpu_postgres", 0) / wall,
        "other_cores": res.get("cpu_other", 0) / wall,
        "stolen_cores": res.get("cpu_stolen", 0) / wall,
        "other_top": res.get("other_top", []),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--levels", default="100,300,500,700", help="learners per level, comma-separated")
    ap.add_argument("--duration", type=int, default=60, help="seconds measured per level, after the sign-in ramp")
    ap.add_argument(
        "--think",
        type=lambda t: tuple(float(x) for x in (t.split("-") + [t])[:2]),
        default=(1.0, 3.0),
        help="think time between clicks, seconds (default 1-3)",
    )
    ap.add_argument("--spawn-rate", type=float, default=10.0, help="learners started per second")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--content", default="test", help="test (default), real, or a path")
    ap.add_argument("--target-learners", type=int, default=500)
    ap.add_argument("--target-ms", type=float, default=100.0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    add_quiet_wait(ap, 120, "each level")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    content_dir = resolve_content(args.content)
    say(f"machine: {machine_line()}")
    say(
        f"content: {content_dir}; gunicorn: {args.workers} workers x {args.threads} threads (gthread); "
        f"{os.cpu_count()} cores; levels {levels}"
    )
    work = Path(tempfile.mkdtemp(prefix=f"rounds-bench-capacity-{args.db}-"))
    url = fresh_database(args.db, work)
    env = app_env(url, content_dir, work / "instance")
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "content", "load")
    key, roles, _loop_roles, module = content_facts(content_dir)
    base_cfg = {"password": PASSWORD, "answer_key": key, "module": module, "seed": 1, "loop_cap": 20, "p_best": 0.85}
    server = start_gunicorn(
        "app:app",
        env,
        work,
        workers=args.workers,
        threads=args.threads,
        label=f"app-{args.db}",
        ready_path="/auth/login",
    )
    results = []
    try:
        for n in levels:
            results.append(level(server, env, work, args, base_cfg, n, roles))
    finally:
        server.stop()
    errors_in_log = server.errors()

    say(f"\n################ capacity, {args.db} ################")
    rows = [
        [
            r["learners"],
            f"{r['signed_in']}",
            f"{r['settled_s']:.0f}",
            f"{r['per_s']:.1f}",
            r["errors"],
            f"{r['answers_per_s']:.1f}",
            fmt_ms(r["answer_p50"]),
            fmt_ms(r["answer_p95"]),
            fmt_ms(r["answer_p99"]),
            fmt_ms(r["all_p95"]),
            f"{r['server_cores']:.2f}",
            f"{r['machine_cores']:.2f}",
            f"{r['locust_cores']:.2f}",
            f"{r['postgres_cores']:.2f}" if args.db == "postgresql" else "-",
            f"{r['other_cores']:.2f}",
        ]
        for r in results
    ]
    say(
        table(
            [
                "learners",
                "signed in",
                "measured s",
                "req/s",
                "errors",
                "answers/s",
                "answer p50",
                "answer p95",
                "answer p99",
                "all p95",
                "server cores",
                "machine",
                "locust*",
                "PostgreSQL*",
                "other*",
            ],
            rows,
        )
    )
    say("server and machine: cores busy in the measured window; * cores over the whole run, sign-in ramp included")
    for r in results:
        if r["other_cores"] > 0.3:
            say(
                f"WARNING: at {r['learners']} learners other processes used {r['other_cores']:.2f} cores: skewed; busiest: "
                + "; ".join(f"{label} {c:.2f}" for label, c in r["other_top"])
            )
    if errors_in_log:
        say("errors in the app's log: " + "; ".join(f"{n} x {line}" for line, n in errors_in_log.items()))
    under = [
        r["learners"]
        for r in results
        if r["answer_p95"] is not None
        and r["answer_p95"] < args.target_ms
        and r["errors"] == 0
        and r["signed_in"] == r["learners"]
    ]
    best = max(under, default=0)
    ok = best >= args.target_learners
    say(
        f"\ntarget: at least {args.target_learners} learners with answer submit p95 < {args.target_ms:g} ms "
        f"(after the sign-in ramp, no errors): the most measured under it {best}: {'PASS' if ok else 'MISS'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "db": args.db, "results": results}, indent=2))
    if not args.keep:
        rmtree_quiet(work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
