#!/usr/bin/env python3
"""DuckDB reference for `siso-bench cartella` (see docs/benchmarks.md).

Loads DIR/anagrafe.csv into a DuckDB file database with indexes on the codice fiscale and the
family, then, for every code in DIR/lookups.txt, times what a card needs from the anagrafe (the
person by code, the members of the family); then times N single-row inserts of an activity,
each its own durable transaction, one after the other. Prints one JSON object on stdout.
Requires the `duckdb` package (pip install duckdb).
"""
import json
import os
import sys
import time

import duckdb


def pct(xs):
    xs = sorted(xs)
    at = lambda q: xs[int((len(xs) - 1) * q)] if xs else 0.0
    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


def main():
    d, n = sys.argv[1], int(sys.argv[2])
    db = os.path.join(d, "cartella.duckdb")
    for f in (db, db + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    con = duckdb.connect(db)
    t = time.perf_counter()
    con.execute(
        "CREATE TABLE p AS SELECT * FROM read_csv(?, delim = ';', header = true, all_varchar = true)",
        [os.path.join(d, "anagrafe.csv")],
    )
    con.execute("CREATE INDEX p_cf ON p (codice_fiscale)")
    con.execute("CREATE INDEX p_fam ON p (id_famiglia)")
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - t
    codes = [c for c in open(os.path.join(d, "lookups.txt")).read().split("\n") if c]
    lookup = []
    for cf in codes:
        t = time.perf_counter()
        person = con.execute("SELECT * FROM p WHERE codice_fiscale = ?", [cf]).fetchall()
        family = con.execute("SELECT * FROM p WHERE id_famiglia = ?", [person[0][6]]).fetchall()
        lookup.append((time.perf_counter() - t) * 1000)
        assert any(r[0] == cf for r in family)
    con.execute(
        "CREATE TABLE attivita (id BLOB PRIMARY KEY, cf VARCHAR, data DATE, tipo VARCHAR, minuti INTEGER, note VARCHAR)"
    )
    insert = []
    for i in range(n):
        t = time.perf_counter()
        con.execute(
            "INSERT INTO attivita VALUES (?, ?, DATE '2026-12-01', 'colloquio', 30, ?)",
            [os.urandom(16), codes[i % len(codes)], f"Colloquio numero {i}."],
        )
        insert.append((time.perf_counter() - t) * 1000)
    print(
        json.dumps(
            {
                "load_s": load_s,
                "lookup_ms": pct(lookup),
                "insert_ms": pct(insert),
                "inserts_per_s": n / (sum(insert) / 1000),
            }
        )
    )


if __name__ == "__main__":
    main()
