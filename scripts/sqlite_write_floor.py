#!/usr/bin/env python3
"""What SQLite alone needs to write an import's rows: the floor under `embudo import`.

Copies the events, profiles, identity links and transitions of a database that `embudo
import` produced into a fresh file with the same tables and indexes, in as many transactions
as the import commits (one per 25,000 events, each with its share of new profiles), WAL and
`synchronous = FULL` as embudo opens it, the same 64 MiB page cache. No parsing, no profile
processing, no binding: only SQLite's inserts, its WAL and its checkpoints.

    python3 scripts/sqlite_write_floor.py /tmp/full/embudo.db /tmp/floor.db
    # then: /usr/bin/time sqlite3 /tmp/floor.db < /tmp/floor.db.sql

Needs the sqlite3 command-line shell.
"""

import math
import os
import sqlite3
import subprocess
import sys

TABLES = ["events", "profiles", "identities", "transitions"]
BATCH_EVENTS = 25_000


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(target + suffix):
            os.remove(target + suffix)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    schema = [
        row[0]
        for row in src.execute(
            "SELECT sql FROM sqlite_schema WHERE tbl_name IN (?, ?, ?, ?) AND sql IS NOT NULL "
            "ORDER BY type DESC",
            TABLES,
        )
    ]
    events = src.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    profiles = src.execute("SELECT MAX(id) FROM profiles").fetchone()[0]
    src.close()

    subprocess.run(["sqlite3", target, "PRAGMA journal_mode=WAL;"], check=True, capture_output=True)
    subprocess.run(["sqlite3", target], input=";\n".join(schema) + ";\n", text=True, check=True)

    batches = math.ceil(events / BATCH_EVENTS)
    per_batch = math.ceil(profiles / batches) + 1
    lines = [
        "PRAGMA cache_size=-65536;",
        "PRAGMA synchronous=FULL;",
        f"ATTACH '{source}' AS s;",
    ]
    for i in range(batches):
        e0, e1 = i * BATCH_EVENTS, (i + 1) * BATCH_EVENTS
        p0, p1 = i * per_batch, (i + 1) * per_batch
        lines.append(
            "BEGIN; "
            f"INSERT INTO events SELECT * FROM s.events WHERE seq > {e0} AND seq <= {e1}; "
            f"INSERT INTO profiles SELECT * FROM s.profiles WHERE id > {p0} AND id <= {p1}; "
            f"INSERT INTO identities SELECT * FROM s.identities "
            f"WHERE profile_id > {p0} AND profile_id <= {p1}; "
            f"INSERT INTO transitions SELECT * FROM s.transitions "
            f"WHERE profile_id > {p0} AND profile_id <= {p1}; "
            "COMMIT;"
        )
    with open(target + ".sql", "w") as out:
        out.write("\n".join(lines) + "\n")
    print(f"{batches} transactions; run: /usr/bin/time sqlite3 {target} < {target}.sql")


if __name__ == "__main__":
    main()
