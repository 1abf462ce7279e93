#!/usr/bin/env python3
"""The least any import of the whole REES46 file must write: one message id per event.

`embudo import` de-duplicates every event by its message id (a re-run stores nothing twice),
so whatever else a storage format leaves out, each of the 2,787,840 events needs a row with its
id and an entry in a unique index. This script times SQLite doing only that, with the import's
settings (WAL, `synchronous = FULL`, a 64 MiB cache, one transaction per 25,000 events), with
ids of the import's form (`rees46:<13-digit time>:<32 hex digits>`, in time order) made by
SQLite itself, so that nothing else is read or parsed. Three runs, each in a fresh file:

- `generate`: the ids made and measured, nothing written (what the other two include);
- `rows`: the ids written as rows, no index;
- `rows+unique`: the rows and the unique index, as the import keeps them.

Subtracting `generate` gives SQLite's own share. Compare with the import in the same minutes:
this machine's speed changes from session to session.

    python3 scripts/sqlite_id_floor.py [--events 2787840] [--dir /tmp]

Needs the sqlite3 command-line shell.
"""

import argparse
import os
import resource
import subprocess
import time

BATCH_EVENTS = 25_000
ID = "printf('rees46:%013d:', 1569888000000 + n * 900) || lower(hex(randomblob(16)))"
SETTINGS = ["PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", "PRAGMA cache_size=-65536;"]


def batches(events: int, statement: str) -> list[str]:
    lines = []
    for start in range(0, events, BATCH_EVENTS):
        lo, hi = start + 1, min(start + BATCH_EVENTS, events)
        rows = f"WITH RECURSIVE s(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM s WHERE n < {hi})"
        lines.append(statement.format(rows=rows))
    return lines


def run(name: str, path: str, sql: list[str]) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        ["sqlite3", path], input="\n".join(sql) + "\n", text=True, check=True, capture_output=True
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    print(f"{name:12} {wall:6.2f} s wall, {user:6.2f} s user, {system:5.2f} s system")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_787_840)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    path = os.path.join(args.dir, "embudo_id_floor.db")
    table = "CREATE TABLE events (seq INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, message_id TEXT NOT NULL);"
    index = "CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);"
    insert = "BEGIN; {rows} INSERT INTO events SELECT n, 1, " + ID + " FROM s; COMMIT;"
    generate = "{rows} SELECT sum(length(" + ID + ")) FROM s;"
    run("generate", path, SETTINGS + batches(args.events, generate))
    run("rows", path, SETTINGS + [table] + batches(args.events, insert))
    run("rows+unique", path, SETTINGS + [table, index] + batches(args.events, insert))


if __name__ == "__main__":
    main()
