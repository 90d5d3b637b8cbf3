#!/usr/bin/env bash
# THE test command of sms.remediation:   bash scripts/test.sh
#
# Stages, in order, stopping at the first failure:
#   1. setup-venv        scripts/setup-venv.sh (creates/refreshes .venv, ansible-test bootstrap)
#   2. check-powershell  python tools/check_powershell.py (tree-sitter PowerShell checks)
#   3. pytest            python -m pytest tests -q -p no:cacheprovider [-m "not slow"]
#                        (slow tests run only with SMS_SLOW=1; "no tests collected" is a failure)
#   4. ansible-lint      scripts/lint.sh (production profile, offline)
#   5. sanity            scripts/ansible-test-offline.sh (ansible-test sanity --local)
# Prints a header per stage and a closing summary with each stage's result and duration.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv="$root/.venv"
py="$venv/bin/python"

stages=(setup-venv check-powershell pytest ansible-lint sanity)
declare -A result=() took=()
for s in "${stages[@]}"; do result[$s]="not-run"; took[$s]=""; done
pytest_counts=""
started=$(date +%s)

header() {
    printf '\n==================== [%s] %s ====================\n' "$1" "$2"
}

summary() {
    local line="" s
    for s in "${stages[@]}"; do
        line+="${line:+ | }$s: ${result[$s]}${took[$s]:+ (${took[$s]}s)}"
        if [[ "$s" == pytest && -n "$pytest_counts" ]]; then
            line+=" [$pytest_counts]"
        fi
    done
    printf '\n==================== summary ====================\n'
    printf 'test.sh: %s\n' "$line"
    printf 'test.sh: total %ss, %s\n' "$(($(date +%s) - started))" "$1"
}

fail() {  # fail STAGE MESSAGE
    result[$1]="FAILED"
    echo "test.sh: stage '$1' failed: $2" >&2
    summary "FAILED at $1"
    exit 1
}

# run STAGE CMD... : run one stage, time it, stop everything when it fails.
run() {
    local stage=$1 t0 rc
    shift
    t0=$(date +%s)
    if "$@"; then rc=0; else rc=$?; fi
    took[$stage]=$(($(date +%s) - t0))
    if ((rc != 0)); then
        fail "$stage" "exit code $rc from: $*"
    fi
    result[$stage]="ok"
}

# --- 1. venv -----------------------------------------------------------------------------------
header 1/5 "setup-venv: scripts/setup-venv.sh"
run setup-venv bash "$root/scripts/setup-venv.sh"
export PATH="$venv/bin:$PATH"

# --- 2. PowerShell checks ----------------------------------------------------------------------
header 2/5 "check-powershell: python tools/check_powershell.py"
if [[ -f "$root/tools/check_powershell.py" ]]; then
    run check-powershell "$py" "$root/tools/check_powershell.py"
else
    echo "check-powershell: skipped: not present (tools/check_powershell.py does not exist yet)"
    result[check-powershell]="skipped (not present)"
fi

# --- 3. pytest ---------------------------------------------------------------------------------
pytest_args=(tests -q -p no:cacheprovider)
if [[ "${SMS_SLOW:-0}" != "1" ]]; then
    pytest_args+=(-m "not slow")
fi
header 3/5 "pytest: python -m pytest ${pytest_args[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
set +e
"$py" -m pytest "${pytest_args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
took[pytest]=$(($(date +%s) - t0))
pytest_counts=$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error|errors|skipped|deselected)|no tests ran' "$log" | tail -n1 | sed -E 's/^=+ *//; s/ *=+$//' || true)
case $rc in
    0) result[pytest]="ok" ;;
    5) fail pytest "pytest collected no tests (exit 5) under tests/ (with ${pytest_args[*]}); a test run that runs nothing is not a pass" ;;
    *) fail pytest "pytest exit code $rc" ;;
esac

# --- 4. ansible-lint ---------------------------------------------------------------------------
header 4/5 "ansible-lint: scripts/lint.sh"
run ansible-lint bash "$root/scripts/lint.sh"

# --- 5. ansible-test sanity --------------------------------------------------------------------
header 5/5 "sanity: scripts/ansible-test-offline.sh"
run sanity bash "$root/scripts/ansible-test-offline.sh"

summary "all stages passed"
