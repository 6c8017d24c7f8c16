#!/usr/bin/env python3
"""DuckDB reference for `siso-bench overlap` (see docs/benchmarks.md).

Loads DIR/rows.csv (hex fingerprint, member, household; one row per person fingerprint) into a
DuckDB file database, self-joins it across members, applies DIR/resubmit.csv (the changed
households of member 0: delete their rows, insert the new ones) and joins again. Prints one JSON
object on stdout. Requires the `duckdb` package (pip install duckdb).
"""
import json
import os
import resource
import sys
import time

import duckdb

JOIN = """
SELECT count(*) FROM (
    SELECT DISTINCT a.member, a.household, b.member, b.household
    FROM r a JOIN r b ON a.fp = b.fp AND a.member < b.member
)
"""

COLUMNS = "{'fp': 'VARCHAR', 'member': 'INTEGER', 'household': 'BIGINT'}"


def main():
    d = sys.argv[1]
    db = os.path.join(d, "duck.db")
    for f in (db, db + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    con = duckdb.connect(db)
    rows_csv = os.path.join(d, "rows.csv")
    resub_csv = os.path.join(d, "resubmit.csv")

    t = time.perf_counter()
    con.execute(
        f"CREATE TABLE r AS SELECT unhex(fp) AS fp, member, household "
        f"FROM read_csv('{rows_csv}', header = true, columns = {COLUMNS})"
    )
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - t
    rows = con.execute("SELECT count(*) FROM r").fetchone()[0]

    t = time.perf_counter()
    overlaps = con.execute(JOIN).fetchone()[0]
    join_s = time.perf_counter() - t

    t = time.perf_counter()
    con.execute(
        f"CREATE TEMP TABLE s AS SELECT unhex(fp) AS fp, member, household "
        f"FROM read_csv('{resub_csv}', header = true, columns = {COLUMNS})"
    )
    con.execute(
        "DELETE FROM r WHERE member = 0 AND household IN (SELECT DISTINCT household FROM s)"
    )
    con.execute("INSERT INTO r SELECT fp, member, household FROM s")
    con.execute("CHECKPOINT")
    update_s = time.perf_counter() - t

    t = time.perf_counter()
    overlaps_after = con.execute(JOIN).fetchone()[0]
    rejoin_s = time.perf_counter() - t
    con.close()

    print(
        json.dumps(
            {
                "version": duckdb.__version__,
                "rows": rows,
                "load_s": load_s,
                "join_s": join_s,
                "overlaps": overlaps,
                "update_s": update_s,
                "rejoin_s": rejoin_s,
                "overlaps_after": overlaps_after,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
