#!/usr/bin/env bash
# Regenerates the tables in README.md from the code's own tables (config
# keys, metrics), between <!-- BEGIN name --> and <!-- END name --> markers.
# --check fails if README.md is not up to date, so docs cannot drift.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BW_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/tools/bw-replay" --print-config-table >"$tmp/keys-bw-replay"
"$build/tools/bw-tail" --print-config-table >"$tmp/keys-bw-tail"
"$build/tools/bw-devkafka" --print-config-table >"$tmp/keys-bw-devkafka"
"$build/tools/bw-replay" --print-metrics-table >"$tmp/metrics-common"
"$build/stages/classify/bw-classify" --print-config-table >"$tmp/keys-bw-classify"
"$build/stages/classify/bw-classify" --print-metrics-table >"$tmp/metrics-bw-classify"
"$build/stages/logistics/bw-logistics" --print-config-table >"$tmp/keys-bw-logistics"
"$build/stages/correlate/bw-correlate" --print-config-table >"$tmp/keys-bw-correlate"
"$build/stages/alert/bw-alert" --print-config-table >"$tmp/keys-bw-alert"

python3 - "$tmp" README.md "${1:-}" <<'PY'
import os, re, sys
tmp, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path, encoding="utf-8").read()
new = text
for name in sorted(os.listdir(tmp)):
    body = open(os.path.join(tmp, name), encoding="utf-8").read()
    pat = re.compile(r"(<!-- BEGIN %s -->\n).*?(<!-- END %s -->)" % (name, name), re.S)
    if not pat.search(new):
        sys.exit("README.md has no markers for %s" % name)
    new = pat.sub(lambda m: m.group(1) + body + m.group(2), new)
if mode == "--check":
    if new != text:
        sys.exit("README.md tables are out of date: run scripts/gen-docs.sh")
    print("docs: README tables match the code")
else:
    open(path, "w", encoding="utf-8").write(new)
PY
