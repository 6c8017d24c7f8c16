#!/usr/bin/env python3
"""Independent check of the hub's disclosure audit (hub/tests/sdc.rs).

Reads the JSON of `Table::to_json` (cells with value, count flag and suppression; constraints
with total, parts and relation), builds the attacker's linear program over *every* suppressed
cell at once (no decomposition into components, unlike the hub) and solves, with SciPy's
`linprog` (HiGHS), the minimum and maximum of each suppressed cell. Prints one JSON object:
{"<cell>": [min, max]} with max null when unbounded.
"""
import json
import sys

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

doc = json.load(open(sys.argv[1]))
cells = doc["cells"]
hidden = [i for i, c in enumerate(cells) if c["suppressed"]]
var = {c: j for j, c in enumerate(hidden)}
n = len(hidden)

eq_rows, eq_rhs, ub_rows, ub_rhs = [], [], [], []


def row(total, parts):
    """total - sum(parts) as {var: coefficient} and the published cells' constant."""
    coef, const = {}, 0.0
    for cell, sign in [(total, 1.0)] + [(p, -1.0) for p in parts]:
        if cell in var:
            coef[var[cell]] = coef.get(var[cell], 0.0) + sign
        else:
            const += sign * cells[cell]["value"]
    return coef, const


for con in doc["constraints"]:
    total, parts = con["total"], con["parts"]
    coef, const = row(total, parts)
    if con["relation"] == "sum":
        if coef:
            eq_rows.append(coef)
            eq_rhs.append(-const)
    else:
        # total <= sum(parts)
        if coef:
            ub_rows.append(coef)
            ub_rhs.append(-const)
        # total >= each part  <=>  -(total - part) <= 0
        for p in parts:
            c2, k2 = row(total, [p])
            if c2:
                ub_rows.append({j: -v for j, v in c2.items()})
                ub_rhs.append(k2)


def matrix(rows):
    if not rows:
        return None
    m = lil_matrix((len(rows), n))
    for i, r in enumerate(rows):
        for j, v in r.items():
            m[i, j] = v
    return m.tocsr()


A_eq, A_ub = matrix(eq_rows), matrix(ub_rows)
b_eq = np.array(eq_rhs) if eq_rows else None
b_ub = np.array(ub_rhs) if ub_rows else None
# The attacker's bounds: a suppressed count is at least 1, an amount at least 0.
bounds = [
    (min(1, cells[c]["value"]) if cells[c]["count"] else 0, None) for c in hidden
]

out = {}
for c in hidden:
    j = var[c]
    ext = []
    for sense in (1.0, -1.0):
        obj = np.zeros(n)
        obj[j] = sense
        r = linprog(obj, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds,
                    method="highs")
        if r.status == 3:
            ext.append(None)
        elif r.status == 0:
            ext.append(sense * r.fun)
        else:
            sys.exit(f"cell {c}: linprog status {r.status}: {r.message}")
    out[str(c)] = ext
print(json.dumps(out))
