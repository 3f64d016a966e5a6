# The prelude of the lab tests (simulated nodes in network namespaces, real apiservers):
#   source "$(dirname "$0")/../lib/lab_test.sh" "$@"
# sets BIN (the binary under test, $1) and ROOT, sources testlib.sh and scripts/lab-lib.sh with the lab running
# BIN, and stops unless run as root. The test registers `on_exit lab_cleanup` once it may have made something.
BIN="$1"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
LAB_BIN="$BIN"
source "$ROOT/scripts/lab-lib.sh"
[[ $(id -u) == 0 ]] || { echo "FAIL this test needs root (network, mount and PID namespaces)"; exit 1; }
