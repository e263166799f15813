# bw-alert's outcome, for tests that compare two runs (source it after
# lib.sh; the run's alerts are on bw.alerts.RUN, its state in database DB,
# its HTTP port PORT).
# What a run's alerts come to: per alert id sent, its last state and its
# highest severity; per problem, its state in Redis (episode, id, first and
# last signal, severity, occurrences: nothing counted twice or lost); and
# the alerts active at the end. Not compared: version numbers, the
# intermediate RESOLVED/FIRING pairs and the figures of the last warning
# sent. bw-alert's clock is the latest signal of any problem; read all at
# once (the clean run) it runs ahead of a problem's own signals and
# resolves an episode that its next signal then reopens (same id, next
# version), which read as it arrives it does not. Where episodes split is
# decided by the problems' own time, and that is what is compared here.
alert_outcome() { # run port db: to stdout
    "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.alerts.$1" --timeout.ms 2500 \
        --log.level error | python3 -c '
import json, sys
last, worst = {}, {}
rank = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}
for l in sys.stdin:
    a = json.loads(l)
    i = a["alert_id"]
    if i not in last or a["version"] > last[i]["version"]:
        last[i] = a
    worst[i] = max(worst.get(i, 0), rank[a["severity"]])
for i in sorted(last):
    print("sent", i, last[i]["state"], worst[i])'
    # "type|scope partition;state|id|since|last_seen|window_start|severity|sent
    # severity|occurrences|version|last sent", in memory's hash or, resolved
    # long enough to leave memory, in a key of its own (when does not matter)
    {
        redis-cli -p "$REDIS_PORT" -n "$3" --raw HGETALL 'bw:{alerts}:state' | paste -d' ' - -
        redis-cli -p "$REDIS_PORT" -n "$3" --raw --scan --pattern 'bw:{alerts}:done:*' |
            while IFS= read -r k; do
                printf '%s %s\n' "${k#bw:\{alerts\}:done:}" \
                    "$(redis-cli -p "$REDIS_PORT" -n "$3" --raw HGET "$k" s)"
            done
    } | awk -F'|' '{ sub(/ [0-9]+;/, " ", $2); print "state", $1, $2, $3, $4, $5, $6, $7, $9 }' | sort
    curl -sf "http://127.0.0.1:$2/alerts" | python3 -c '
import json, sys
for a in sorted(json.load(sys.stdin), key=lambda a: a["alert_id"]):
    print("active", a["alert_id"], a["severity"])'
}

# alert_difference RUN_A RUN_B: why two runs' outcomes ($WORK/alerts-RUN)
# differ, for a failure message: how many lines, the first few, and every
# warning each run sent for the first alert id that differs.
alert_difference() {
    local a="$WORK/alerts-$1" b="$WORK/alerts-$2" id run
    # diff exits 1 on a difference: under pipefail a pipeline of it fails
    echo "$(diff "$a" "$b" | grep -c '^[<>]' || true) lines differ:"
    diff "$a" "$b" | head -6 || true
    id=$(diff "$a" "$b" | awk '/^[<>] sent / { print $3; exit }' || true)
    [ -n "$id" ] || return 0
    for run in "$1" "$2"; do
        echo "warnings of $id sent by $run (version state severity):"
        "$BW_BUILD/tools/bw-tail" --brokers "$BROKERS" "bw.alerts.$run" --timeout.ms 2500 \
            --log.level error | python3 -c '
import json, sys
for l in sys.stdin:
    a = json.loads(l)
    if a["alert_id"] == sys.argv[1]:
        print(" ", a["version"], a["state"], a["severity"])' "$id"
    done
}
