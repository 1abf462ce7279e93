#!/usr/bin/env python3
"""Why import message ids lead with the event time: SQLite appends to a unique index whose keys
arrive in order, but rewrites most of its pages in every transaction when they arrive at random.

Usage: python3 scripts/sqlite_message_id_order.py random|ordered N
Inserts N event-like rows in 10,000-row transactions (WAL, synchronous=FULL) into a table with
the log's unique (workspace_id, message_id) index, with ids `rees46:<hash>` (random) or
`rees46:<time>:<hash>` (ordered), and prints the elapsed time. Standard library only; the
database goes to /tmp/sqexp/.
"""
import sqlite3, os, sys, time, random, hashlib
mode = sys.argv[1]; n = int(sys.argv[2]); batch = 10000
os.makedirs("/tmp/sqexp", exist_ok=True)
path = f"/tmp/sqexp/{mode}.db"
for suf in ["", "-wal", "-shm"]:
    try: os.remove(path+suf)
    except FileNotFoundError: pass
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("""CREATE TABLE events (seq INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, message_id TEXT NOT NULL,
 kind TEXT, name TEXT, user_id TEXT, timestamp INTEGER, properties TEXT)""")
db.execute("CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id)")
props = '{"product_id":"1004856","category":"electronics.smartphone","category_id":"2053013555631882655","brand":"samsung","price":130.76}'
t0 = time.time(); ts = 1570000000000
for b in range(n // batch):
    rows = []
    for i in range(batch):
        k = b*batch+i
        h = hashlib.blake2b(str(k).encode(), digest_size=16).hexdigest()
        mid = f"rees46:{h}" if mode == "random" else f"rees46:{ts + k*10:013d}:{h}"
        rows.append((1, mid, "track", "Product Viewed", str(k % 200000), ts + k*10, props))
    db.execute("BEGIN")
    db.executemany("INSERT INTO events (workspace_id, message_id, kind, name, user_id, timestamp, properties) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)
    db.execute("COMMIT")
    if b % 50 == 0: print(mode, b*batch, round(time.time()-t0, 1), flush=True)
print(mode, "total", n, round(time.time()-t0, 1), "s")
