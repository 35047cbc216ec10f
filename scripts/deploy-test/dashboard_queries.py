#!/usr/bin/env python3
"""Runs every PromQL query of a Grafana dashboard against a live Prometheus.

  dashboard_queries.py PROMETHEUS_URL DASHBOARD.json [RATE_INTERVAL]

Grafana variables are replaced as "All" would: $cluster and $group by `.*`, $topk by 10,
$__rate_interval by RATE_INTERVAL (default 20s: four scrapes of the test's 2s interval).
Template variable queries `label_values(selector, label)` run as `group by (label) (selector)`.

Every query must return at least one series, unless it uses a metric listed in
EXPECTED_EMPTY (with the reason); such a query that does return data is reported so the
list can shrink. Queries are retried until all have data or the deadline passes, because
some series appear only after the fleet has run a while (e.g. staleness markers).
"""

import json
import re
import sys

from promapi import poll, query

# metric -> why a query on it returns nothing against the test fleet
EXPECTED_EMPTY = {
    # A status other than OK needs a whole status window (10 min by default) of history; the
    # short test fleet sees only OK (0), so the panels that select non-OK statuses are empty.
    "kafka_consumer_group_status": "group status: non-OK statuses need a full status window",
    # Emitted only while a group consumes faster than its topic grows; no group of the
    # simulator scenario ever catches up (the simulator has no such behaviour).
    "kafka_consumer_group_catch_up_eta_seconds": "catch-up ETA: no group of the test scenario catches up",
    # The probe produces and consumes records; the deploy fleet's simulators serve no Produce,
    # so its clusters configure no probe (tests/probe_fleet.rs checks the series on tansu).
    "kafka_probe_": "end-to-end probe: the test fleet configures none",
}

VARS = {"cluster": ".*", "group": ".*", "topk": "10"}
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def substitute(expr, rate_interval):
    expr = expr.replace("$__rate_interval", rate_interval).replace("${__rate_interval}", rate_interval)
    for name, value in VARS.items():
        expr = expr.replace("${" + name + "}", value)
        expr = re.sub(r"\$" + name + r"\b", value, expr)
    if "$" in expr.replace("$1", ""):
        raise ValueError(f"unreplaced variable in {expr}")
    return expr


def queries(dash, rate_interval):
    """[(where, promql)] for every panel target and template variable query."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f'panel "{p["title"]}" {t["refId"]}', substitute(t["expr"], rate_interval)))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = LABEL_VALUES.match(q.strip())
        if not m:
            raise ValueError(f"variable {v['name']}: unsupported query {q}")
        out.append((f'variable ${v["name"]}', f"group by ({m.group(2)}) ({substitute(m.group(1), rate_interval)})"))
    return out


def check_layout(dash):
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate panel ids")
    for p in dash["panels"]:
        if p["type"] != "row" and not p.get("targets"):
            raise ValueError(f'panel "{p["title"]}" has no query')


def main(prom, path, rate_interval="20s"):
    with open(path) as f:
        dash = json.load(f)
    check_layout(dash)
    qs = queries(dash, rate_interval)
    expected_empty = {w: next(m for m in EXPECTED_EMPTY if m in q) for w, q in qs if any(m in q for m in EXPECTED_EMPTY)}
    results = {}

    def check():
        errors = []
        for where, q in qs:
            if results.get(where):
                continue
            try:
                results[where] = len(query(prom, q))
            except RuntimeError as e:
                errors.append(f"{where}: {e}")
        empty = [w for w, _ in qs if not results.get(w) and w not in expected_empty]
        return not errors and not empty, {"errors": errors, "empty": empty}

    try:
        poll("every dashboard query returns data", 60, 2, check)
    except TimeoutError as e:
        print(f"FAIL: {e}")
        return 1
    for where, q in qs:
        n = results.get(where, 0)
        if where in expected_empty:
            metric = expected_empty[where]
            state = f"now returns {n} series: drop {metric} from EXPECTED_EMPTY" if n else "empty as expected"
            print(f"  {where}: {state} ({EXPECTED_EMPTY[metric]})")
    with_data = sum(1 for w, _ in qs if results.get(w))
    print(f"{with_data} of {len(qs)} dashboard queries return data; "
          f"{len(expected_empty)} expected empty: {', '.join(sorted(set(expected_empty.values())))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
