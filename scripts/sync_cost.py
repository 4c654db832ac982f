# Cost per commit of SQLite WAL with synchronous=NORMAL vs FULL (BENCHMARKS.md).
# usage: python3 scripts/sync_cost.py DIR N   (2*N commits per run, DIR on the disk to measure)
import sqlite3, time, os, sys, uuid
d = sys.argv[1]; n = int(sys.argv[2])
for mode in ["NORMAL", "FULL", "NORMAL", "FULL"]:
    p = os.path.join(d, f"t-{mode}-{uuid.uuid4().hex}.db")
    c = sqlite3.connect(p, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL"); c.execute(f"PRAGMA synchronous={mode}")
    c.execute("CREATE TABLE journal (id TEXT PRIMARY KEY, env TEXT, status TEXT, detail TEXT)")
    t = time.perf_counter()
    for i in range(n):
        c.execute("BEGIN IMMEDIATE"); c.execute("INSERT INTO journal VALUES (?,?,?,?)", (str(i), "dev", "pending", "{}")); c.execute("COMMIT")
        c.execute("BEGIN IMMEDIATE"); c.execute("UPDATE journal SET status='done' WHERE id=?", (str(i),)); c.execute("COMMIT")
    el = time.perf_counter() - t
    print(f"{mode:6} {2*n} commits: {el*1000:.0f} ms total, {el*1e6/(2*n):.0f} us/commit")
    c.close()
    for s in ["", "-wal", "-shm"]:
        try: os.remove(p + s)
        except FileNotFoundError: pass
