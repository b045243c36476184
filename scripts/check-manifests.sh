#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml: every built-in kind against the Kubernetes schemas (PyPI
# kubernetes-validate, strict: unknown fields refused), and KEDA's kinds — whose schemas that tool
# does not carry — for what KEDA needs and what ties them to the rest (the Deployment they scale, the
# TriggerAuthentication they name, the secret key). The ScaledObject's query itself is run against a
# migrated database by a test (DeployManifestTests).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh
tool_venv tools
"$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml 2>&1 | grep -v "Couldn't find schema for kind \(ScaledObject\|TriggerAuthentication\) with api version keda.sh" || true
"$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml > /dev/null 2>&1 || { echo "manifests: invalid" >&2; exit 1; }
"$venv/bin/python" - <<'PY'
import glob, sys, yaml
docs = [d for f in sorted(glob.glob("deploy/kubernetes/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
problems = []
for name, so in by_kind.get("ScaledObject", {}).items():
    spec = so.get("spec", {})
    target = spec.get("scaleTargetRef", {}).get("name")
    if target not in by_kind.get("Deployment", {}):
        problems.append(f"ScaledObject {name}: scales {target!r}, which is no Deployment here")
    if not 0 < spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0):
        problems.append(f"ScaledObject {name}: needs 0 < minReplicaCount <= maxReplicaCount")
    for trigger in spec.get("triggers", []) or [None]:
        if not trigger or trigger.get("type") != "postgresql":
            problems.append(f"ScaledObject {name}: a trigger that is not postgresql"); continue
        meta = trigger.get("metadata", {})
        for key in ("query", "targetQueryValue"):
            if not isinstance(meta.get(key), str) or not meta.get(key):
                problems.append(f"ScaledObject {name}: trigger metadata.{key} must be a non-empty string")
        auth = trigger.get("authenticationRef", {}).get("name")
        if auth not in by_kind.get("TriggerAuthentication", {}):
            problems.append(f"ScaledObject {name}: authenticationRef {auth!r} is no TriggerAuthentication here")
for name, ta in by_kind.get("TriggerAuthentication", {}).items():
    refs = ta.get("spec", {}).get("secretTargetRef", [])
    if not refs or any(set(r) != {"parameter", "name", "key"} or r["parameter"] != "connection" for r in refs):
        problems.append(f"TriggerAuthentication {name}: needs secretTargetRef entries of parameter connection, name, key")
for name, dep in by_kind.get("Deployment", {}).items():
    grace = dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    timeout = int(by_kind["ConfigMap"]["stagedoor-settings"]["data"]["SHUTDOWN_TIMEOUT"])
    if grace <= timeout:
        problems.append(f"Deployment {name}: terminationGracePeriodSeconds {grace} is not above SHUTDOWN_TIMEOUT {timeout}")
    probe = dep["spec"]["template"]["spec"]["containers"][0].get("readinessProbe", {}).get("httpGet", {}).get("path")
    if probe != "/readyz":
        problems.append(f"Deployment {name}: readiness is not /readyz")
for p in problems: print("manifests:", p, file=sys.stderr)
print(f"manifests: {len(docs)} resources valid" if not problems else "", end="")
sys.exit(1 if problems else 0)
PY
echo
