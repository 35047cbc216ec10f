#!/usr/bin/env python3
"""Every alert in ALERTS.yaml has a promtool unit test in TESTS.yaml that expects it to fire,
and no test names an alert that does not exist.   alerts_covered.py ALERTS.yaml TESTS.yaml"""

import sys

import yaml


def main(alerts_path, tests_path):
    with open(alerts_path) as f:
        alerts = [r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
    with open(tests_path) as f:
        tests = yaml.safe_load(f)["tests"]
    firing, named = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            named.add(case["alertname"])
            if case.get("exp_alerts"):
                firing.add(case["alertname"])
    untested = [a for a in alerts if a not in firing]
    unknown = sorted(named - set(alerts))
    if untested or unknown:
        print(f"alerts without a firing test: {untested}; tests of unknown alerts: {unknown}")
        return 1
    print(f"{len(alerts)} alerts, each with a firing unit test: {', '.join(alerts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
