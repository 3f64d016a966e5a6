#!/usr/bin/env bash
# scripts/bench as the README gives it, small (200 nodes, short phases): it runs to the end, its figures are
# sane, and its --json line holds every figure. Speed itself is not asserted here (scripts/bench measures it).
source "$(dirname "$0")/../lib/testlib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
"$ROOT/scripts/bench" --nodes 200 --churn-seconds 3 --idle-seconds 3 --json >"$TMP/out" 2>"$TMP/err"
rc=$?
check "scripts/bench exits 0" test "$rc" -eq 0
tail -1 "$TMP/out" >"$TMP/json"
check "the report and a JSON line" bash -c "grep -q 'start to all peers on the device' '$TMP/out' && jq -e . '$TMP/json' >/dev/null"
j() { jq -e "$1" "$TMP/json" >/dev/null; }
check "the floor was measured (LIST and setconf)" j '.list_ms > 0 and .setconf_ms > 0 and .floor_ms == .list_ms + .setconf_ms'
check "the project synced and its ratio is computed" j '.sync_ms > 0 and .sync_ratio > 0'
check "60 status-only updates were sent and received" j '.bytes_per_event > 1000'
check "20 endpoint changes were timed" j '.endpoint_ms.p50 > 0 and .endpoint_ms.max >= .endpoint_ms.p90'
check "and the PATCH's own answer time, their floor" j '.patch_answered_ms.p50 > 0 and .patch_answered_ms.p90 >= .patch_answered_ms.p50'
check "and 20 changes back to back" j '.back_to_back_ms.p50 > 0 and .back_to_back_ms.max >= .back_to_back_ms.p90'
check "memory of every process" j '.rss_kib.supervisor > 0 and (.rss_kib.workers | length) == 1 and (.rss_kib.wireguard_go | length) == 1'
check "idle CPU of each process, in ms" j '.idle_ms.supervisor >= 0 and (.idle_ms.workers | length) == 1'
check "the anonymous part of each RSS" \
  j '.anon_kib.supervisor > 0 and .anon_kib.supervisor < .rss_kib.supervisor and (.anon_kib.workers | length) == 1'
check "200 peers on the device" grep -q '(200 peers)' "$TMP/out"
check "its lab is gone" bash -c "! ip netns list | grep -q '^swg-bn-'"
[[ $rc -eq 0 ]] || tail -20 "$TMP/err"
summary
