#!/usr/bin/env bash
# The container image, as a user gets it: scripts/build-image writes an OCI archive; a real containerd imports it
# under the name Kubernetes asks for; containers of it run the entrypoint (same version and revision as this
# build tree's binary), find every library the binary needs, have wg, wireguard-go and CA certificates; the
# labels are set and the image is small.
#
#   image_test.sh BIN PROJECT_VERSION
BIN="$1"
VERSION="$2"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
# Issue 9: "about 110 MB or less" on a real bookworm-slim. bookworm-slim is 77 MB; the runtime libraries,
# wireguard-go and wireguard-tools add about 20 MB. A build toolchain, docs or an apt cache left in a layer would
# each add 50 MB or more.
LIMIT_MB=110
# The project's home (the Debian package's Homepage), the Dockerfile's default for the source label.
SOURCE=https://github.com/utilitywarehouse/semaphore-wireguard

# Built (or found up to date) the way a user builds it; into this test's own directory.
if ! "$ROOT/scripts/build-image" --out "$TMP/image.oci.tar" >"$TMP/build.out" 2>"$TMP/build.err"; then
  tail -n 40 "$TMP/build.err"
  fail "scripts/build-image"
  summary
fi
IMAGE=$(sed -n 's/^IMAGE=//p' "$TMP/build.out")
ARCHIVE=$(sed -n 's/^IMAGE_ARCHIVE=//p' "$TMP/build.out")
IMAGE_REVISION=$(sed -n 's/^IMAGE_REVISION=//p' "$TMP/build.out")
check "scripts/build-image names the image semaphore-wireguard:$VERSION" \
  test "$IMAGE" = "docker.io/library/semaphore-wireguard:$VERSION"
check "the archive exists" test -s "$ARCHIVE"

# The image's config, read from the archive as a runtime reads it: index -> manifest -> config.
mkdir -p "$TMP/oci" && tar -C "$TMP/oci" -xf "$ARCHIVE"
blob() { echo "$TMP/oci/blobs/${1/://}"; }
manifest=$(blob "$(jq -r '.manifests[0].digest' "$TMP/oci/index.json")")
config=$(blob "$(jq -r '.config.digest' "$manifest")")
mapfile -t ENTRYPOINT < <(jq -r '.config.Entrypoint[]?' "$config")
check "the image has an entrypoint" test "${#ENTRYPOINT[@]}" -gt 0
label() { jq -r --arg k "org.opencontainers.image.$1" '.config.Labels[$k] // ""' "$config"; }
bin_version=$("$BIN" -version)
revision=$(sed -n 's/.*(revision \(.*\))$/\1/p' <<<"$bin_version")
check "the build tree's binary prints a revision ($bin_version)" test -n "$revision"
check "label version is $VERSION (got '$(label version)')" test "$(label version)" = "$VERSION"
check "label revision is $IMAGE_REVISION (got '$(label revision)')" test "$(label revision)" = "$IMAGE_REVISION"
check "label source is $SOURCE (got '$(label source)')" test "$(label source)" = "$SOURCE"
check "label title" test "$(label title)" = "semaphore-wireguard"
check "label description" test -n "$(label description)"

# Size as `buildah images`/`docker images` report it: the layers uncompressed.
size=0
for layer in $(jq -r '.layers[].digest' "$manifest"); do
  size=$((size + $(zcat -f "$(blob "$layer")" | wc -c)))
done
size_mb=$((size / 1000000))
echo "     figure: image size $size_mb MB uncompressed, $(($(stat -c %s "$ARCHIVE") / 1000000)) MB archive"
check "the image is at most $LIMIT_MB MB ($size_mb MB)" test "$size_mb" -le "$LIMIT_MB"

# A throwaway containerd with its own root, state and socket under $TMP; no CRI plugin (nothing else here).
SOCK="$TMP/containerd.sock"
cat >"$TMP/containerd.toml" <<EOF
version = 2
root = "$TMP/containerd/root"
state = "$TMP/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
EOF
stop_containerd() {
  [[ -n "${CTD_PID:-}" ]] && kill "$CTD_PID" && wait "$CTD_PID"
  # Shims outlive containerd: ours are the ones started for this socket.
  local p
  for p in /proc/[0-9]*; do
    grep -qaF -- "$SOCK" "$p/cmdline" 2>/dev/null && kill -9 "${p#/proc/}"
  done
  findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | xargs -r -n1 umount -l
}
on_exit stop_containerd
containerd --config "$TMP/containerd.toml" >"$TMP/containerd.log" 2>&1 &
CTD_PID=$!
CTR=(ctr -a "$SOCK" -n k8s.io)
if ! wait_for 60 "${CTR[@]}" version; then
  tail -n 20 "$TMP/containerd.log"
  fail "containerd starts"
  summary
fi

check "ctr -n k8s.io images import accepts the archive" "${CTR[@]}" images import "$ARCHIVE"
"${CTR[@]}" images ls -q >"$TMP/images.txt" 2>&1
check "containerd names it $IMAGE" grep -qx "$IMAGE" "$TMP/images.txt"

# run NAME ARG...: a container of the image (its own network namespace with only loopback, no cgroup of its own)
# running ARG...; prints what it prints.
n=0
run() {
  n=$((n + 1))
  timeout 60 "${CTR[@]}" run --rm --cgroup "" --runc-root "$TMP/runc" "$IMAGE" \
    "swg-image-test-$$-$n" "$@"
}
image_version=$(run "${ENTRYPOINT[@]}" -version 2>&1)
echo "image: $image_version"
check "the entrypoint runs and prints version $VERSION and the revision it was built from ($IMAGE_REVISION)" \
  test "$image_version" = "semaphore-wireguard $VERSION (revision $IMAGE_REVISION)"
# The build tree and the image must come from the same source. A tree built before a later commit cannot be
# compared with the image: that is a failure that says so (rebuild the tree), never a skip or a pass.
commit_of() { local r="${1%-dirty}"; echo "${r##*-g}"; }
if [[ "$revision" == "$IMAGE_REVISION" ]]; then
  check "the image prints what the build tree's binary prints ($bin_version)" test "$image_version" = "$bin_version"
elif git -C "$ROOT" merge-base --is-ancestor "$(commit_of "$revision")" HEAD 2>/dev/null; then
  fail "the build tree is out of date: built at $revision, the source is at $IMAGE_REVISION now; rebuild it" \
    "(cmake --build) and run this test again"
else
  fail "the build tree's revision $revision is neither the source's ($IMAGE_REVISION) nor an earlier commit"
fi
run ldd "${ENTRYPOINT[0]}" >"$TMP/ldd.txt" 2>&1
check "every library the binary needs is in the image" \
  bash -c "grep -q libc.so '$TMP/ldd.txt' && ! grep -E 'not found|not a dynamic' '$TMP/ldd.txt'"
check "wg runs in the image" run wg --version
check "wireguard-go runs in the image" run wireguard-go --version
check "CA certificates are installed" run test -s /etc/ssl/certs/ca-certificates.crt
check "no docs, man pages or translations (a slim base keeps them out; copyright files stay)" \
  run sh -c '! find /usr/share/doc /usr/share/man /usr/share/locale /usr/share/info -type f ! -name copyright | grep -q .'
check "no apt lists or downloaded packages are left in the image" \
  run sh -c '! ls /var/lib/apt/lists/*_Packages* /var/cache/apt/archives/*.deb 2>/dev/null | grep -q .'
summary
