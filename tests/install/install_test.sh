#!/usr/bin/env bash
# `cmake --install` puts the two programs, the systemd unit and the D-Bus policy where a bare-metal host wants them,
# and `systemd-analyze verify` accepts the unit as installed (no warning at all).
BUILD="$1"
source "$(dirname "$0")/../lib/testlib.sh"

cmake --install "$BUILD" --prefix "$TMP/usr" >"$TMP/install.log" 2>&1
check "cmake --install succeeds" test $? -eq 0
check "binary installed" test -x "$TMP/usr/bin/semaphore-wireguard"
# What only the Debian package installs (/etc/default, /lib/systemd/system) stays out of `cmake --install`.
check "nothing installed outside the prefix" bash -c "! grep -v '^$TMP/usr/' '$BUILD/install_manifest.txt'"
check "unit installed" test -f "$TMP/usr/lib/systemd/system/semaphore-wireguard.service"
check "D-Bus policy installed" test -f "$TMP/usr/share/dbus-1/system.d/io.uw.SemaphoreWireguard.conf"
check "the unit runs the installed binary" \
  grep -qx "ExecStart=$TMP/usr/bin/semaphore-wireguard -wg-key-path \${STATE_DIRECTORY} -control-socket /run/semaphore-wireguard/control.sock" \
  "$TMP/usr/lib/systemd/system/semaphore-wireguard.service"
check "the installed binary runs" "$TMP/usr/bin/semaphore-wireguard" -version
check "the worker program is installed beside it" test -x "$TMP/usr/bin/semaphore-wireguard-worker"
# mesh runs in the worker program (the supervisor links no libcurl): the installed one finds it.
check "the installed binary runs a command of the worker program (mesh -h)" \
  bash -c "'$TMP/usr/bin/semaphore-wireguard' mesh -h | grep -q '^Usage: semaphore-wireguard mesh'"
check "the D-Bus policy is well-formed XML" python3 -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" \
  "$TMP/usr/share/dbus-1/system.d/io.uw.SemaphoreWireguard.conf"

out=$(systemd-analyze verify "$TMP/usr/lib/systemd/system/semaphore-wireguard.service" 2>&1)
rc=$?
check "systemd-analyze verify accepts the unit" test "$rc" -eq 0
check "... without any warning" test -z "$out"
[[ -n "$out" ]] && echo "$out"
# The check is meaningful: a broken unit is reported.
sed 's/^KillMode=process/KillMode=sometimes/' "$TMP/usr/lib/systemd/system/semaphore-wireguard.service" >"$TMP/broken.service"
check "systemd-analyze notices a broken unit" bash -c "systemd-analyze verify '$TMP/broken.service' 2>&1 | grep -q 'kill mode'"
for key in "Type=notify" "WatchdogSec=30s" "Restart=on-failure" "RestartPreventExitStatus=2 78" \
           "CapabilityBoundingSet=CAP_NET_ADMIN" "StateDirectory=semaphore-wireguard" "NoNewPrivileges=yes"; do
  check "unit has $key" grep -qx "$key" "$TMP/usr/lib/systemd/system/semaphore-wireguard.service"
done
summary
