"""Backing up a live SQLite database (docs/deploy.md, "Backups").

SQLite's online backup API copies a consistent snapshot page by page while the servers go on
writing: never copy the file itself (a copy taken mid-write, or without its -wal file, can be
torn or miss the last commits). The copy is written under a temporary name in the target's
folder, made readable by its owner only, checked with ``PRAGMA integrity_check`` and only then
moved into place, so a half-made backup never carries the backup's name. PostgreSQL is backed up
with pg_dump.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path


class BackupError(RuntimeError):
    pass


def sqlite_backup(source: Path, target: Path, *, pages_per_step: int = 1024) -> int:
    """Copy the SQLite database ``source`` to ``target`` (which must not exist); its size in
    bytes. Each step copies ``pages_per_step`` pages under a brief read lock, so writers keep
    going between steps (a write meanwhile makes SQLite restart the copy)."""
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    if target.exists():
        raise BackupError(f"{target} is there already: choose a new name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"there is no folder {target.parent}")
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".partial")  # 0600
    os.close(fd)
    try:
        src = sqlite3.connect(source, timeout=10)  # only read; waits out a writer's commit
        try:
            dst = sqlite3.connect(temp)
            try:
                src.backup(dst, pages=pages_per_step)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
                problems = dst.execute("PRAGMA integrity_check").fetchall()
            finally:
                dst.close()
        finally:
            src.close()
        if problems != [("ok",)]:
            raise BackupError(f"the copy failed SQLite's integrity check: {problems[:3]}")
        with open(temp, "rb") as fh:
            os.fsync(fh.fileno())
        os.link(temp, target)  # fails, rather than overwrite, if someone made it meanwhile
    except FileExistsError as exc:
        raise BackupError(f"{target} appeared while the backup ran: nothing was overwritten") from exc
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy {source}: {exc}") from exc
    finally:
        os.unlink(temp)
    return target.stat().st_size
