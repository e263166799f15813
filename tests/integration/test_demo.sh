#!/usr/bin/env bash
# README's first command, as a user runs it: scripts/demo.sh must bring the
# pipeline up, raise the injected delay spike as an alert, and stop
# everything it started.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)

timeout 240 "$root/scripts/demo.sh" >"$WORK/demo.out" 2>"$WORK/demo.err" ||
    fail "demo exit status $?: $(tail -5 "$WORK/demo.err")"
grep -q 'CARRIER_DELAY_SPIKE .*carrier=DHL lane=CN->DE' "$WORK/demo.out" ||
    fail "no delay-spike alert for DHL CN->DE: $(cat "$WORK/demo.out")"
if grep -q 'carrier=UPS' "$WORK/demo.out"; then
    fail "the calm lane raised an alert: $(grep UPS "$WORK/demo.out")"
fi
grep -q 'alert(s) active at the end' "$WORK/demo.out" || fail "no summary: $(tail -3 "$WORK/demo.out")"
sleep 1
if pgrep -f "bw_demo\." >/dev/null; then
    fail "processes left behind: $(pgrep -fa bw_demo.)"
fi
echo "PASS test_demo"
