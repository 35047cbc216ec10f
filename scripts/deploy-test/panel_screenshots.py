#!/usr/bin/env python3
"""PNGs of dashboard panels, drawn by Prometheus' own graph page in headless Chromium
(Grafana is not installable here). Needs Debian `chromium` and a Prometheus fed by a fleet,
e.g. `KEEP=1 scripts/test-deploy.sh fleet`.

  panel_screenshots.py PROMETHEUS_URL DASHBOARD.json OUTDIR RANGE "panel title"...

Each panel's queries become graphs g0, g1, ... of one /graph page; the file is
OUTDIR/<panel-title-slug>.png.
"""

import json
import re
import subprocess
import sys
import urllib.parse

from dashboard_queries import substitute

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
            "--hide-scrollbars", "--virtual-time-budget=8000"]


def main(prom, dash_path, outdir, rng, *titles):
    with open(dash_path) as f:
        panels = {p["title"]: p for p in json.load(f)["panels"]}
    for title in titles:
        targets = panels[title]["targets"]
        params = {}
        for i, t in enumerate(targets):
            params[f"g{i}.expr"] = substitute(t["expr"], "1m")
            params[f"g{i}.tab"] = "0"
            params[f"g{i}.range_input"] = rng
        url = f"{prom}/graph?{urllib.parse.urlencode(params)}"
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        out = f"{outdir}/{slug}.png"
        height = 150 + 640 * len(targets)
        subprocess.run(CHROMIUM + [f"--window-size=1400,{height}", f"--screenshot={out}", url],
                       check=True, capture_output=True, timeout=60)
        print(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
