"""The ceiling the evidence chain's serialized append puts on PostgreSQL writes.

    .venv/bin/python bench/chain_ceiling.py                          # 4 writers, 5 s, 3 rounds
    .venv/bin/python bench/chain_ceiling.py --writers 8 --seconds 10 --rounds 5

Plain psycopg on a scratch database (`bench_chain`, or BENCH_PG_DB + "_chain"; dropped and
re-created), no app: each of N processes writes transactions back to back, each one a row
standing for the answer plus, except in `none`, one hash-linked record appended the way
quiz/evidence.py does it at commit. Variants, alternated in each round:

- `none`: the answer's row alone, no chain: what the server commits when nothing serializes
  the commits (PostgreSQL flushes concurrent commits' WAL together);
- `split`: the chain's advisory lock, then the head, then the record, then COMMIT, each its
  own round trip (quiz/evidence.py before 2026-12-06);
- `joined`: the lock and the head in one round trip (quiz/evidence.py since 2026-12-06);
- `async-flush`: `joined`, committed with synchronous_commit off, then a small synchronous
  commit on a second connection that flushes the WAL past it before the writer goes on. Not
  what the app does: it measures the design proposed in bench/README.md ("The chain's lock on
  PostgreSQL"), where the chain's lock no longer spans the commit's WAL flush.

Prints appends (transactions) per second per variant and round, then checks the chain: every
record's seq follows the last and its prev_hash is the last one's hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time

import psycopg

ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = os.environ.get("BENCH_PG_DB", "bench") + "_chain"
URL = ADMIN.rsplit("/", 1)[0] + "/" + DB
LOCK = 0x52_6F_75_6E  # quiz/evidence.py's _PG_APPEND_LOCK
GENESIS = "0" * 64
VARIANTS = ("none", "split", "joined", "async-flush")


def setup() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(URL, autocommit=True) as c:
        c.execute("CREATE TABLE ev (seq int PRIMARY KEY, prev_hash text NOT NULL, hash text NOT NULL, details text)")
        c.execute("CREATE TABLE ans (id serial PRIMARY KEY, who int, v text)")


def writer(variant: str, seconds: float, out) -> None:
    c = psycopg.connect(URL)
    flusher = psycopg.connect(URL, autocommit=True)
    details = "x" * 300
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        c.execute("INSERT INTO ans (who, v) VALUES (%s, %s)", (os.getpid(), details))  # the answer
        if variant == "none":
            c.commit()
            n += 1
            continue
        if variant == "split":
            c.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            row = c.execute("SELECT seq, hash FROM ev ORDER BY seq DESC LIMIT 1").fetchone()
        else:
            cur = c.cursor()
            cur.execute(f"SELECT pg_advisory_xact_lock({LOCK}); SELECT seq, hash FROM ev ORDER BY seq DESC LIMIT 1")
            cur.nextset()
            row = cur.fetchone()
        seq, prev = row if row else (0, GENESIS)
        digest = hashlib.sha256(
            json.dumps({"seq": seq + 1, "prev_hash": prev, "details": details}).encode()
        ).hexdigest()
        if variant == "async-flush":
            c.execute("SET LOCAL synchronous_commit = off")
        c.execute("INSERT INTO ev VALUES (%s, %s, %s, %s)", (seq + 1, prev, digest, details))
        c.commit()
        if variant == "async-flush":
            # A transaction that writes WAL and commits synchronously flushes the WAL up to its
            # commit record, and so past the one above (group commit applies).
            flusher.execute("SELECT pg_logical_emit_message(true, 'rounds-flush', '')")
        n += 1
    out.put(n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, default=4, help="processes writing at once (default 4: gunicorn's workers)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    setup()
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for rnd in range(args.rounds):
        for variant in variants:
            out: mp.Queue = mp.Queue()
            procs = [mp.Process(target=writer, args=(variant, args.seconds, out)) for _ in range(args.writers)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            rate = sum(out.get() for _ in procs) / args.seconds
            rates[variant].append(rate)
            print(f"round {rnd + 1}: {variant:12s} {rate:7.0f} transactions/s", flush=True)
    print("median:", "; ".join(f"{v} {sorted(r)[len(r) // 2]:.0f}/s" for v, r in rates.items()))
    with psycopg.connect(URL) as c:
        rows = c.execute("SELECT seq, prev_hash, hash FROM ev ORDER BY seq").fetchall()
    linked = all(r[0] == i + 1 for i, r in enumerate(rows)) and all(
        rows[i][1] == (rows[i - 1][2] if i else GENESIS) for i in range(len(rows))
    )
    print(f"chain: {len(rows)} records, " + ("every one linked to the one before" if linked else "BROKEN"))
    return 0 if linked else 1


if __name__ == "__main__":
    sys.exit(main())
