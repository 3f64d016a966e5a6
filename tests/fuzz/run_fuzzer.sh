#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEED_DIR SECONDS: fuzz from the seeds (left untouched) for a bounded time; any crash,
# leak or timeout fails the test and leaves the reproducer in the scratch directory that is printed.
set -euo pipefail
fuzzer="$1" seeds="$2" seconds="$3"
work=$(mktemp -d "/tmp/swg-fuzz-$(basename "$fuzzer").XXXXXX")
mkdir -p "$work/corpus"
if "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
     -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1; then
  tail -n 12 "$work/log"
  rm -rf "$work"
else
  tail -n 60 "$work/log"
  echo "fuzzer failed; artifacts in $work"
  exit 1
fi
