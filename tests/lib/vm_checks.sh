# Check helpers for scripts that run inside the VM (POSIX sh; the VM has busybox). Copy it into the VM's
# /extra and source it. chk prints "vm ok"/"vm FAIL" lines and counts failures in $fails.
fails=0
chk() {
  d="$1"
  shift
  if "$@" >/dev/null 2>&1; then echo "vm ok   $d"; else echo "vm FAIL $d"; fails=$((fails + 1)); fi
}
# waitfor SECONDS command...: polls every second until the command succeeds; false on timeout.
waitfor() {
  n=$1
  shift
  i=0
  while [ "$i" -lt "$n" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
    i=$((i + 1))
  done
  return 1
}
