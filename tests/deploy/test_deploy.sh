#!/usr/bin/env bash
# What can be checked of deploy/ without a container engine or a cluster:
#   - Prometheus: `promtool check rules` and `promtool check config`;
#   - the compose file: `docker-compose config` (Debian's docker-compose);
#   - every Kubernetes manifest parses, names its kind and name, and each
#     Deployment runs a stage this build has, with probes on /healthz and
#     /readyz; kustomization.yaml lists files that exist;
#   - the Grafana dashboard parses, and every bw_* metric it or the rules
#     query is exported by some stage: seen on a live stage's /metrics
#     (the pipeline run by scripts/demo.sh, scraped at its end) or declared
#     in the common table (families that appear only once something fails,
#     such as dead letters); `promtool check metrics` on each live /metrics.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/tests/integration/lib.sh"
deploy="$root/deploy"

promtool check rules "$deploy/prometheus/rules.yml" >"$WORK/rules.out" 2>&1 ||
    fail "promtool check rules: $(cat "$WORK/rules.out")"
sed "s|/etc/prometheus/rules.yml|$deploy/prometheus/rules.yml|" "$deploy/prometheus/prometheus.yml" \
    >"$WORK/prometheus.yml"
promtool check config "$WORK/prometheus.yml" >"$WORK/config.out" 2>&1 ||
    fail "promtool check config: $(cat "$WORK/config.out")"
docker-compose -f "$deploy/compose/docker-compose.yml" config -q 2>"$WORK/compose.err" ||
    fail "docker-compose config: $(cat "$WORK/compose.err")"

python3 - "$deploy/k8s" "$BW_BUILD" <<'PY' || fail "kubernetes manifests"
import glob, os, sys, yaml
k8s, build = sys.argv[1], sys.argv[2]
kinds = {}
for path in sorted(glob.glob(k8s + "/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        assert doc.get("apiVersion") and doc.get("kind"), "%s: a document without apiVersion/kind" % path
        if doc["kind"] == "Kustomization":
            for r in doc["resources"]:
                assert os.path.exists(os.path.join(k8s, r)), "kustomization lists a missing %s" % r
            continue
        name = doc["metadata"]["name"]
        kinds.setdefault(doc["kind"], []).append(name)
        if doc["kind"] == "Deployment":
            c = doc["spec"]["template"]["spec"]["containers"][0]
            stage = c["args"][0]
            assert os.path.exists("%s/stages/%s/%s" % (build, stage[3:], stage)), "%s runs %s, not built" % (name, stage)
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert c["resources"]["requests"], name
for kind in ("Deployment", "PodDisruptionBudget", "ScaledObject"):
    assert sorted(kinds.get(kind, [])) == ["bw-alert", "bw-classify", "bw-correlate", "bw-logistics"], (kind, kinds)
print("k8s:", ", ".join("%d %s" % (len(v), k) for k, v in sorted(kinds.items())))
PY

# The pipeline, its metrics scraped live at the end.
mkdir -p "$WORK/demo"
BW_DEMO_KEEP="$WORK/demo" timeout 240 "$root/scripts/demo.sh" >"$WORK/demo.out" 2>"$WORK/demo.err" ||
    fail "demo: $(tail -5 "$WORK/demo.err")"
for stage in classify logistics correlate alert; do
    [ -s "$WORK/demo/$stage.metrics" ] || fail "no /metrics of bw-$stage"
    promtool check metrics <"$WORK/demo/$stage.metrics" >"$WORK/check-$stage.out" 2>&1 ||
        fail "promtool check metrics bw-$stage: $(cat "$WORK/check-$stage.out")"
done
"$BW_BUILD/tools/bw-replay" --print-metrics-table >"$WORK/declared.md"
python3 - "$deploy" "$WORK" <<'PY' || fail "dashboard or rules query a metric no stage exports"
import glob, json, re, sys
deploy, work = sys.argv[1], sys.argv[2]
exported = set()
for path in glob.glob(work + "/demo/*.metrics"):
    exported |= set(re.findall(r"^# TYPE (\w+)", open(path).read(), re.M))
exported |= set(re.findall(r"^\| `(bw_\w+)`", open(work + "/declared.md").read(), re.M))
dash = json.load(open(deploy + "/grafana/bellwether.json"))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
exprs.append(open(deploy + "/prometheus/rules.yml").read())
wanted = set()
for e in exprs:
    wanted |= {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bbw_\w+", e)}
missing = sorted(wanted - exported)
assert not missing, missing
print("dashboard: %d panels, %d metrics queried, all exported" % (len(dash["panels"]), len(wanted)))
PY
echo "PASS test_deploy"
