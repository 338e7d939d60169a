# Helpers for the CLI tests: run qat, expect a failure with a message, count results.
set -u
QAT=${QAT_BIN:?QAT_BIN must point to the qat binary}
# The thread count of every run (make test-matrix runs the suite at 1 and 2).
THREADS=${OMP_NUM_THREADS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect_error "description" "message substring" qat-args...
expect_error() {
    local what=$1 msg=$2
    shift 2
    local out rc
    out=$("$QAT" "$@" 2>&1 >/dev/null) && rc=0 || rc=$?
    local lines
    lines=$(printf '%s\n' "$out" | grep -c 'qat: error:')
    if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -qF -- "$msg"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what: exit $rc, stderr: $out (wanted one error line containing: $msg)" >&2
    fi
}

check() { # check "description" command...
    local what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
