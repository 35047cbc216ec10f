"""Small helpers shared by the deploy tests: Prometheus HTTP API, /metrics parsing, polling.

Standard library only, so every script runs with any python3 (the venv adds PyYAML and
kubernetes-validate for the Kubernetes checks).
"""

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request


def http_get(url, timeout=5.0):
    """(status, body text); status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def query(prom, expr, at=None):
    """Instant query; returns the result list (vector or scalar) or raises on a PromQL error."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    status, body = http_get(f"{prom}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=10)
    if status != 200:
        raise RuntimeError(f"query {expr!r}: HTTP {status}: {body[:300]}")
    data = json.loads(body)["data"]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return data["result"]


def by_label(result, label):
    """{label value: float sample value} for a vector result."""
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] from the Prometheus text format."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def poll(what, deadline_s, step_s, check):
    """Calls check() until it returns a truthy value or deadline_s passes; returns the value.

    check() returns (ok, detail); the last detail is in the error when time runs out.
    """
    end = time.monotonic() + deadline_s
    detail = None
    while True:
        ok, detail = check()
        if ok:
            return detail
        if time.monotonic() >= end:
            raise TimeoutError(f"{what}: not within {deadline_s:.0f}s; last: {detail}")
        time.sleep(step_s)
