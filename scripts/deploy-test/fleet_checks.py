#!/usr/bin/env python3
"""Assertions on the container fleet of scripts/test-deploy.sh.

  fleet_checks.py ready    NODE_URL...                 every node answers /livez, /readyz, /healthz 200
  fleet_checks.py lag      PROM                        exact lag of scenario.yaml in Prometheus
  fleet_checks.py owners   NODE_URL... > owners.json   who emits which group (each exactly once)
  fleet_checks.py handover PROM OWNERS.json VICTIM STOP_TIME SURVIVOR_URL...
  fleet_checks.py rules    PROM                        every alert rule evaluates without error
  fleet_checks.py alert    PROM ALERTNAME              the alert is pending or firing

Every wait polls with a deadline; exit 1 with the reason on failure.
"""

import json
import sys
import time

from promapi import by_label, http_get, parse_metrics, poll, query

CLUSTER = "sim"
LAG_GROUPS = {f"lag-{k:02d}": k for k in range(1, 25)}  # lags_by k on 4 idle partitions
ORDERS_PARTITIONS = 4
SUM = "kafka_consumer_group_sum_lag_in_offsets"


def ready(urls):
    def check():
        bad = {}
        for u in urls:
            for path in ("/livez", "/readyz", "/healthz"):
                status, body = http_get(u + path)
                if status != 200:
                    bad[u + path] = f"{status} {body.strip()[:200]}"
        return not bad, bad

    poll("every node ready and healthy", 60, 0.5, check)
    print(f"ready: {len(urls)} nodes answer /livez, /readyz and /healthz with 200")


def lag(prom):
    sel = f'clustername="{CLUSTER}"'

    def check():
        problems = []
        sums = by_label(query(prom, f'{SUM}{{{sel}, group=~"lag-.*"}}'), "group")
        maxes = by_label(query(prom, f'kafka_consumer_group_max_lag_in_offsets{{{sel}, group=~"lag-.*"}}'), "group")
        for g, k in LAG_GROUPS.items():
            if sums.get(g) != ORDERS_PARTITIONS * k:
                problems.append(f"sum {g}={sums.get(g)} want {ORDERS_PARTITIONS * k}")
            if maxes.get(g) != k:
                problems.append(f"max {g}={maxes.get(g)} want {k}")
        parts = query(prom, f'kafka_consumer_group_lag_in_offsets{{{sel}, group="lag-07", topic="orders"}}')
        got = sorted((r["metric"]["partition"], float(r["value"][1])) for r in parts)
        want = [(str(p), 7.0) for p in range(ORDERS_PARTITIONS)]
        if got != want:
            problems.append(f"lag-07 partitions {got} want {want}")
        # partial: never committed partition 1; lags by 3 on the other three
        without = by_label(query(prom, f'kafka_consumer_group_partitions_without_commit{{{sel}}}'), "group")
        if without.get("partial") != 1:
            problems.append(f"partitions_without_commit partial={without.get('partial')} want 1")
        partial = by_label(query(prom, f'{SUM}{{{sel}, group="partial"}}'), "group").get("partial")
        if partial != 9:
            problems.append(f"sum partial={partial} want 9")
        lost = query(prom, f'kafka_consumer_group_lag_beyond_retention{{{sel}, group="lost"}}')
        if sorted(r["metric"]["partition"] for r in lost) != ["0", "1"]:
            problems.append(f"lag_beyond_retention lost: {[r['metric'] for r in lost]}")
        checked = by_label(query(prom, f'kafka_total_groups_checked{{{sel}}}'), "clustername")
        if checked.get(CLUSTER) not in (29.0, 30.0):
            problems.append(f"kafka_total_groups_checked={checked.get(CLUSTER)} want 30 (29 after `deleted`)")
        return not problems, problems

    poll("exact lag in Prometheus", 90, 1, check)
    print(f"lag: {len(LAG_GROUPS)} groups with exact sum/max/partition lag in Prometheus, "
          "partitions_without_commit, lag_beyond_retention and groups_checked as expected")


def node_groups(url):
    status, body = http_get(url + "/metrics")
    if status != 200:
        return None, {}
    groups, selfm = set(), {}
    for name, labels, value in parse_metrics(body):
        if name == SUM:
            groups.add(labels["group"])
        elif name in ("lagring_ring_nodes", "lagring_owned_groups"):
            selfm[name] = selfm.get(name, 0) + value
    return groups, selfm


def owners(urls):
    def check():
        seen = {u: node_groups(u) for u in urls}
        if any(g is None for g, _ in seen.values()):
            return False, "a node did not answer /metrics"
        count = {}
        for g, _ in seen.values():
            for grp in g:
                count[grp] = count.get(grp, 0) + 1
        dup = sorted(g for g, c in count.items() if c > 1)
        missing = sorted(set(LAG_GROUPS) - set(count))
        rings = sorted(m.get("lagring_ring_nodes") for _, m in seen.values())
        ok = not dup and not missing and rings == [len(urls)] * len(urls)
        return ok, {"dup": dup, "missing": missing, "rings": rings,
                    "owners": {u: sorted(g) for u, (g, _) in seen.items()}}

    detail = poll("each group emitted by exactly one node", 60, 1, check)
    json.dump(detail["owners"], sys.stdout, indent=1)
    sizes = ", ".join(f"{len(g)}" for g in detail["owners"].values())
    print(f"owners: every group on exactly one node ({sizes}); ring {len(urls)} on every node", file=sys.stderr)


def handover(prom, owners_file, victim, stop_time, survivors):
    with open(owners_file) as f:
        taken = set(json.load(f)[victim])
    if not taken:
        raise SystemExit(f"handover: {victim} owned no group; nothing to test")
    started = time.monotonic()

    def on_survivors():
        union, rings = set(), []
        for u in survivors:
            g, m = node_groups(u)
            union |= g or set()
            rings.append(m.get("lagring_ring_nodes"))
        missing = sorted(taken - union)
        return not missing and rings == [len(survivors)] * len(survivors), {"missing": missing, "rings": rings}

    poll("survivors emit the stopped node's groups", 60, 0.5, on_survivors)
    took = time.monotonic() - started
    regex = "|".join(sorted(taken))

    def in_prometheus():
        res = query(prom, f'timestamp({SUM}{{clustername="{CLUSTER}", group=~"{regex}"}})')
        fresh = {r["metric"]["group"] for r in res if float(r["value"][1]) > stop_time}
        vals = by_label(query(prom, f'{SUM}{{clustername="{CLUSTER}", group=~"{regex}"}}'), "group")
        wrong = {g: vals.get(g) for g in taken if g in LAG_GROUPS and vals.get(g) != ORDERS_PARTITIONS * LAG_GROUPS[g]}
        stale = sorted(taken - fresh)
        return not stale and not wrong, {"not yet after stop": stale, "wrong": wrong}

    poll("the stopped node's groups reach Prometheus from the survivors", 60, 1, in_prometheus)
    print(f"handover: {len(taken)} groups of {victim} emitted by the survivors {took:.1f}s after "
          f"`docker stop` returned, with samples newer than the stop in Prometheus and exact values")


def rules(prom):
    def check():
        status, body = http_get(f"{prom}/api/v1/rules")
        if status != 200:
            return False, body[:200]
        rs = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rs if r.get("health") != "ok"]
        return bool(rs) and not bad, bad or "no rules loaded"

    poll("every alert rule evaluates without error on live data", 30, 1, check)
    print("rules: every alert rule of deploy/prometheus/alerts.yaml evaluates with health ok on live data")


def alert(prom, name):
    def check():
        status, body = http_get(f"{prom}/api/v1/alerts")
        if status != 200:
            return False, body[:200]
        states = [a["state"] for a in json.loads(body)["data"]["alerts"] if a["labels"].get("alertname") == name]
        return bool(states), states

    states = poll(f"alert {name} pending or firing", 60, 1, check)
    print(f"alert: {name} is {states[0]} on the live fleet")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "ready":
        ready(args)
    elif cmd == "lag":
        lag(args[0])
    elif cmd == "owners":
        owners(args)
    elif cmd == "handover":
        handover(args[0], args[1], args[2], float(args[3]), args[4:])
    elif cmd == "rules":
        rules(args[0])
    elif cmd == "alert":
        alert(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (TimeoutError, RuntimeError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
