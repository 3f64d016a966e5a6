# Shared helpers for the shell-driven tests. Source it; it defines check/wait_for/summary and a TMP directory
# removed on exit (cleanup hooks run first, in reverse order of registration).
set -uo pipefail

TMP=$(mktemp -d /tmp/swg-test.XXXXXX)
FAILURES=0
CLEANUPS=()

on_exit() { CLEANUPS+=("$1"); }
_run_cleanups() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

pass() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  FAILURES=$((FAILURES + 1))
}

# check "description" command...: passes when the command succeeds. Its output is shown only on failure.
check() {
  local what="$1" out
  shift
  if out=$("$@" 2>&1); then
    pass "$what"
  else
    fail "$what"
    [[ -n "$out" ]] && printf '%s\n' "$out" | tail -n 20 | sed 's/^/     | /'
  fi
  return 0
}

# wait_for SECONDS command...: polls every 0.1 s until the command succeeds; false on timeout.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# http_code URL: prints the HTTP status code (000 when nothing answers).
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1"; }

# no_sanitizer_reports FILE...: no AddressSanitizer, LeakSanitizer or UBSan report in the logs of processes
# that ran in the background (a sanitized worker that aborts is restarted, so only its log tells).
no_sanitizer_reports() {
  ! grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)" "$@" 2>/dev/null
}

summary() {
  if ((FAILURES)); then
    echo "$FAILURES failure(s)"
    exit 1
  fi
  echo "all passed"
  exit 0
}
