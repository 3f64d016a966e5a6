#!/usr/bin/env bash
# scripts/go-toolchain on a machine without a usable Go: it fetches the pinned toolchain from the module proxy
# into the cache, ignores a go on PATH that is too old, and refuses an archive whose checksum is not the pinned one.
source "$(dirname "$0")/../lib/testlib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCRIPT="$ROOT/scripts/go-toolchain"
BASE_PATH=/usr/sbin:/usr/bin:/sbin:/bin  # no /usr/local/go here

# An old go on PATH, as Debian bookworm's golang-go (1.19).
mkdir -p "$TMP/old/bin"
printf '#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.19.8\n' >"$TMP/old/bin/go"
chmod +x "$TMP/old/bin/go"

echo "--- fetched from the Go module proxy when no suitable go is on PATH"
dir=$(PATH="$TMP/old/bin:$BASE_PATH" SWG_CACHE="$TMP/cache" "$SCRIPT" 2>"$TMP/fetch.err")
check "prints the toolchain's bin directory in the cache" test "$dir" = "$TMP/cache/go/go1.26.8/bin"
check "that go runs and is 1.26.8" bash -c "'$dir/go' version | grep -q 'go1.26.8 linux/'"
check "it said what it installed" grep -q "installing Go 1.26.8 from https://" "$TMP/fetch.err"
again=$(PATH="$TMP/old/bin:$BASE_PATH" SWG_CACHE="$TMP/cache" "$SCRIPT" 2>"$TMP/again.err")
check "the second run uses the cache without fetching" bash -c "[ '$again' = '$dir' ] && [ ! -s '$TMP/again.err' ]"
check "a new enough go on PATH is used as it is" \
  bash -c "[ \"\$(PATH='$dir:$BASE_PATH' SWG_CACHE='$TMP/other' '$SCRIPT')\" = '$dir' ] && [ ! -e '$TMP/other/go' ]"

echo "--- an archive that is not the pinned one is refused"
module=v0.0.1-go1.26.8.linux-amd64
mkdir -p "$TMP/proxy/golang.org/toolchain/@v" "$TMP/evil/golang.org/toolchain@$module/bin"
printf '#!/bin/sh\necho pwned\n' >"$TMP/evil/golang.org/toolchain@$module/bin/go"
(cd "$TMP/evil" && python3 -m zipfile -c "$TMP/proxy/golang.org/toolchain/@v/$module.zip" golang.org)
python3 -m http.server --bind 127.0.0.1 --directory "$TMP/proxy" 0 >"$TMP/http.log" 2>&1 &
HTTP_PID=$!
on_exit "kill $HTTP_PID"
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$TMP/http.log" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
rc=0
PATH="$BASE_PATH" SWG_CACHE="$TMP/cache2" GOPROXY="http://127.0.0.1:$port,direct" "$SCRIPT" >/dev/null 2>"$TMP/evil.err" || rc=$?
check "exits non-zero" test "$rc" -ne 0
check "names the checksum it got and the pinned one" grep -q "has SHA-256 [0-9a-f]\{64\}, not the pinned" "$TMP/evil.err"
check "installs nothing" test ! -e "$TMP/cache2/go/go1.26.8"
summary
