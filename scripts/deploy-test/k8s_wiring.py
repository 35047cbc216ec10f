#!/usr/bin/env python3
"""Wiring checks on one rendered overlay (kubectl kustomize output).

  k8s_wiring.py --lagring BIN --overlay DIR RENDERED.yaml

- the StatefulSet sets POD_NAME from metadata.name and the config's node.id is ${POD_NAME};
- every ${VAR} of the config is set by the container's env (or has a default);
- every credential key of the config (password, bearer_token, key_password) is a ${VAR} whose
  env var comes from a secretKeyRef, and every referenced Secret key exists: in a Secret of
  the overlay, else in the overlay's secret.example.yaml (Secrets kept out of git);
- the ConfigMap with the config is mounted where the container's --config points;
- terminationGracePeriodSeconds > node.shutdown_timeout > node.interval;
- readiness probe /readyz, liveness probe /livez, on the port of http.listen;
- non-root (uid 65532 like the image), read-only root filesystem, no privilege escalation,
  resources set; the headless Service and the PodDisruptionBudget select the pods;
- a PodMonitor, if any, scrapes the named port and keeps only lagring_* metrics;
- the config passes `lagring validate` with dummy values for its variables.
"""

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile

import yaml

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
SECRET_KEYS = {"password", "bearer_token", "key_password"}
DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def seconds(text):
    m = DURATION.match(str(text))
    if not m:
        raise ValueError(f"unsupported duration {text!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def secret_values(node, path=""):
    """(key path, value) of every credential-like key in the config."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else k
            if k in SECRET_KEYS and isinstance(v, str):
                yield p, v
            yield from secret_values(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from secret_values(v, f"{path}[{i}]")


def check(objs, overlay, lagring):
    errors = []
    kinds = {}
    for o in objs:
        kinds.setdefault(o["kind"], []).append(o)
    sts = kinds["StatefulSet"][0]
    pod = sts["spec"]["template"]
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}

    # config file: ConfigMap mounted at the directory of --config
    args = c.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else "/etc/lagring/lagring.yaml"
    mount = next((m for m in c.get("volumeMounts", []) if config_path.startswith(m["mountPath"] + "/")), None)
    if not mount:
        return [f"no volume mounted at the directory of {config_path}"]
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    cm_name = vol.get("configMap", {}).get("name")
    cm = next((o for o in kinds.get("ConfigMap", []) if o["metadata"]["name"] == cm_name), None)
    key = os.path.basename(config_path)
    if not cm or key not in cm.get("data", {}):
        return [f"ConfigMap {cm_name} with key {key} not rendered"]
    text = cm["data"][key]
    config = yaml.safe_load(text)
    used = {m.group(1): m.group(2) for line in text.splitlines()
            if not line.lstrip().startswith("#") for m in VAR.finditer(line)}

    # node id from the pod name
    pod_name = env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if pod_name != "metadata.name":
        errors.append("env POD_NAME is not set from fieldRef metadata.name")
    if config.get("node", {}).get("id") != "${POD_NAME}":
        errors.append(f"node.id is {config.get('node', {}).get('id')!r}, want ${{POD_NAME}}")

    # every variable provided
    for var, default in used.items():
        if var not in env and default is None:
            errors.append(f"config uses ${{{var}}} but the container sets no env {var}")

    # credentials only through Secret-backed variables, whose keys exist
    secrets = {o["metadata"]["name"]: set(o.get("data", {})) | set(o.get("stringData", {}))
               for o in kinds.get("Secret", [])}
    example = os.path.join(overlay, "secret.example.yaml")
    if os.path.exists(example):
        with open(example) as f:
            for o in yaml.safe_load_all(f):
                secrets.setdefault(o["metadata"]["name"], set()).update(o.get("stringData", {}), o.get("data", {}))
    for path, value in secret_values(config):
        m = VAR.fullmatch(value.strip())
        if not m:
            errors.append(f"{path} is a literal in the ConfigMap; use a ${{VAR}} from the Secret")
            continue
        ref = env.get(m.group(1), {}).get("valueFrom", {}).get("secretKeyRef")
        if not ref:
            errors.append(f"{path} uses ${{{m.group(1)}}} which is not from a secretKeyRef")
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] not in secrets.get(ref["name"], set()):
            errors.append(f"env {e['name']}: Secret {ref['name']} has no key {ref['key']} "
                          f"(rendered Secrets or {example})")
    for o in kinds.get("Secret", []):
        for k, v in o.get("data", {}).items():
            if base64.b64decode(v).decode(errors="replace") in text:
                errors.append(f"the config contains the value of Secret {o['metadata']['name']} key {k}")

    # shutdown
    node = config.get("node", {})
    shutdown = seconds(node.get("shutdown_timeout", "60s"))
    interval = seconds(node.get("interval", "30s"))
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    if not grace > shutdown:
        errors.append(f"terminationGracePeriodSeconds {grace} <= node.shutdown_timeout {shutdown}s")
    # The hand-over on SIGTERM emits one last slot first: it needs more than an interval.
    if not shutdown > interval:
        errors.append(f"node.shutdown_timeout {shutdown}s <= node.interval {interval}s: no time to hand groups over")

    # probes on the http port
    listen_port = int(str(config.get("http", {}).get("listen", "0.0.0.0:9100")).rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        get = c.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or port != listen_port:
            errors.append(f"{probe} is {get}, want {path} on port {listen_port}")

    # security and resources
    psc, csc = pod["spec"].get("securityContext", {}), c.get("securityContext", {})
    if not psc.get("runAsNonRoot") or psc.get("runAsUser") != 65532:
        errors.append("pod securityContext must set runAsNonRoot and runAsUser 65532 (the image's user)")
    if not csc.get("readOnlyRootFilesystem") or csc.get("allowPrivilegeEscalation") is not False:
        errors.append("container securityContext must set readOnlyRootFilesystem and allowPrivilegeEscalation false")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []):
        errors.append("container must drop ALL capabilities")
    res = c.get("resources", {})
    if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
        errors.append("memory request and limit must be set")

    # selectors
    labels = pod["metadata"]["labels"]

    def selects(sel):
        return bool(sel) and all(labels.get(k) == v for k, v in sel.items())

    svc = next((o for o in kinds.get("Service", []) if o["metadata"]["name"] == sts["spec"]["serviceName"]), None)
    if not svc or svc["spec"].get("clusterIP") != "None" or not selects(svc["spec"].get("selector")):
        errors.append(f"headless Service {sts['spec']['serviceName']} missing or not selecting the pods")
    pdb = kinds.get("PodDisruptionBudget", [])
    if not pdb or not selects(pdb[0]["spec"]["selector"]["matchLabels"]):
        errors.append("PodDisruptionBudget missing or not selecting the pods")
    for pm in kinds.get("PodMonitor", []):
        eps = pm["spec"]["podMetricsEndpoints"]
        if not selects(pm["spec"]["selector"]["matchLabels"]) or any(e["port"] not in ports for e in eps):
            errors.append("PodMonitor does not select the pods or names an unknown port")
        keep = [r for e in eps for r in e.get("metricRelabelings", []) if r.get("action") == "keep"]
        if not any(r.get("regex") == "lagring_.*" for r in keep):
            errors.append("PodMonitor must keep only lagring_* (lag series arrive by remote write)")

    # lagring validate with dummy values
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        dummy = {v: "lagring-0" if v == "POD_NAME" else "dummy" for v in used}
        r = subprocess.run([lagring, "validate", "--config", f.name], capture_output=True, text=True,
                           env={"PATH": os.environ.get("PATH", ""), **dummy})
        if r.returncode != 0:
            errors.append(f"lagring validate failed: {r.stderr.strip()}")
        else:
            print(f"  lagring validate: {r.stdout.strip()}")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lagring", required=True)
    ap.add_argument("--overlay", required=True)
    ap.add_argument("rendered")
    a = ap.parse_args()
    with open(a.rendered) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    errors = check(objs, a.overlay, a.lagring)
    if errors:
        for e in errors:
            print(f"{a.overlay}: {e}")
        return 1
    print(f"{a.overlay}: wiring ok (node id from pod name, secrets via env, probes, grace period, "
          f"security context, selectors{', PodMonitor' if any(o['kind'] == 'PodMonitor' for o in objs) else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
