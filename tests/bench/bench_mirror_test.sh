#!/usr/bin/env bash
# scripts/bench --agents, small (4 agents, 200 remote nodes, short phases): direct and mirror mode run to the end
# side by side, every figure is there and sane, and the --json line holds them. Speed is not asserted here
# (scripts/bench --agents 50 --nodes 1000 measures it); what must hold whatever the speed is asserted: the watch
# counts, that the mirror writes nothing for status-only updates, that no restarted agent asks c2 anything in
# mirror mode, and that the failover removes no peer.
source "$(dirname "$0")/../lib/testlib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
A=4
SWG_BENCH_LAB_ID=bmt SWG_BENCH_NET=192.168.123 "$ROOT/scripts/bench" --agents $A --nodes 200 --remote-agents 1 \
  --status-updates 40 --endpoint-changes 10 --json >"$TMP/out" 2>"$TMP/err"
rc=$?
check "scripts/bench --agents exits 0" test "$rc" -eq 0
tail -1 "$TMP/out" >"$TMP/json"
check "the table and a JSON line" bash -c "grep -Eq '^  figure +\\| direct +\\| mirror +\\| ratio +\\| goal \\(mirror\\) +\\| met\\?$' '$TMP/out' && jq -e . '$TMP/json' >/dev/null"
check "every goal has a row with its verdict" \
  bash -c "[[ \$(grep -cE '\\| (yes|NO)\$' '$TMP/out') -ge 8 ]] && grep -q '^goals met: [0-9]* of [0-9]*' '$TMP/out'"
j() { jq -e "$1" "$TMP/json" >/dev/null; }
check "direct: one Node watch of c2 per agent" j ".direct.watches == $A"
check "mirror: one Node watch of c2 (the active mirror's)" j '.mirror.watches == 1'
check "40 status-only updates sent in each phase" j '.direct.status_sent == 40 and .mirror.status_sent == 40'
check "direct: c2 sent them to every agent" j ".direct.status_c2_events >= 30 * $A and .direct.status_c2_bytes > 1000 * .direct.status_c2_events"
check "mirror: c2 sent them once, c1 sent nothing and the mirror wrote nothing" \
  j '.mirror.status_c2_events <= 40 and .mirror.status_c2_events >= 30 and .mirror.status_c1_bytes == 0 and .mirror.status_writes == 0'
# Direct agents watch the Nodes' metadata only (about 2 KB an event here); the mirror's records are smaller still.
check "each agent was sent each peer change: a Node's metadata (direct), a small record (mirror)" \
  j '.direct.change_bytes_per_event > 1000 and .mirror.change_bytes_per_event > 100 and .mirror.change_bytes_per_event < .direct.change_bytes_per_event'
check "10 endpoint changes timed on $A agents in each phase" \
  j "(.direct.ep_n == 10 * $A) and (.mirror.ep_n == 10 * $A) and .direct.ep_p50 > 0 and .mirror.ep_p99 >= .mirror.ep_p50"
check "start to all peers timed in both modes" j '.direct.start1_ms > 0 and .mirror.start1_ms > 0 and .mirror.restart_max >= .mirror.restart_p50'
check "the restart at once: direct asks c2, mirror asks c1 only" \
  j ".direct.restart_c2_requests >= $A and .mirror.restart_c2_requests == 0 and .mirror.restart_c1_requests >= $A"
check "failover: the standby took over, no peer removed" \
  j '.mirror.failover_ms > 0 and .mirror.failover_lease_ms <= .mirror.failover_ms and .mirror.failover_removed == 0 and .mirror.failover_agents_short == 0'
check "the mirror's first sync wrote a record per remote node" j '.mirror.records == 201 and .mirror.first_sync_ms > 0'
check "the mirror's and the agents' memory" j '.mirror.rss_worker_kib > 0 and .direct.worker_rss_kib > 0 and .mirror.worker_rss_kib > 0'
check "no peer removed in either phase" j '.direct.removed == 0 and .mirror.removed == 0'
check "its lab is gone" bash -c "! ip netns list | grep -q '^swg-bmt-'"
[[ $rc -eq 0 ]] || tail -20 "$TMP/err"
summary
