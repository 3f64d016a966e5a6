#!/bin/sh
# Inside the VM (see scripts/bench-kernel): start the daemon with the kernel backend, wait for the first full
# sync, print "bench ..." lines with the figures.
start=$(date +%s)
semaphore-wireguard -node-name n1 -clusters-config /extra/config.json -wg-key-path /tmp/keys -wg-backend kernel \
  -listen-address 127.0.0.1:7773 -control-socket /tmp/ctl.sock -log-format text >/tmp/daemon.log 2>&1 &
sup=$!
i=0
until wget -q -O /dev/null http://127.0.0.1:7773/readyz; do
  i=$((i + 1))
  [ "$i" -lt 1100 ] || { echo "bench not in sync within 1100 s"; tail -n 20 /tmp/daemon.log; exit 1; }
  sleep 1
done
echo "bench start to first full sync         $(($(date +%s) - start)) s"
echo "bench peers on the kernel device       $(wg show wireguard.c2 peers | wc -l)"
worker=$(semaphore-wireguard status -json -control-socket /tmp/ctl.sock | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1)
sleep 15  # settle: the first stats refresh and the metrics snapshot are part of the steady state
echo "bench memory (RSS): supervisor         $(awk '/^VmRSS/ {print $2}' /proc/$sup/status) KiB"
echo "bench               worker             $(awk '/^VmRSS/ {print $2}' /proc/$worker/status) KiB"
kill -TERM "$sup"
exit 0
