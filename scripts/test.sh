#!/usr/bin/env bash
# THE test command of sms.remediation:   bash scripts/test.sh [--without-samba]
#
#   --without-samba   (or SMS_WITHOUT_SAMBA=1) leave out the tests that run Samba hosts (the msrpc path):
#                     Samba is then neither required nor installed, those tests are skipped with that reason,
#                     and the closing summary counts them. Without it, a missing Samba is installed (or the run
#                     stops with the command that installs it): the msrpc tests never become skips by themselves.
#
# Stages, in order, stopping at the first failure:
#   0. os-packages       scripts/os-packages.sh: the Debian packages (the same list .ci/run uses), installed
#                        when missing; if that cannot be done, stops with the apt-get command that would
#   1. setup-venv        scripts/setup-venv.sh (creates/refreshes .venv, ansible-test bootstrap)
#   2. check-powershell  python tools/check_powershell.py (tree-sitter PowerShell checks)
#   3. pytest            python -m pytest tests -q -rs -p no:cacheprovider [-m "not slow"]
#                        (slow tests run only with SMS_SLOW=1; "no tests collected" is a failure);
#                        the summary lists every skip reason with its count
#   4. ansible-lint      scripts/lint.sh (production profile, offline)
#   5. sanity            scripts/ansible-test-offline.sh (ansible-test sanity --local)
# Prints a header per stage and a closing summary with each stage's result and duration.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv="$root/.venv"
py="$venv/bin/python"

for arg in "$@"; do
    case "$arg" in
        --without-samba) export SMS_WITHOUT_SAMBA=1 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown argument '$arg' (usage: bash scripts/test.sh [--without-samba])" >&2; exit 2 ;;
    esac
done
without_samba=0
[[ "${SMS_WITHOUT_SAMBA:-0}" == 1 ]] && without_samba=1

stages=(os-packages setup-venv check-powershell pytest ansible-lint sanity)
declare -A result=() took=()
for s in "${stages[@]}"; do result[$s]="not-run"; took[$s]=""; done
pytest_counts=""
skip_reasons=""
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
    if [[ -n "$skip_reasons" ]]; then
        printf 'test.sh: skipped tests by reason (what was not exercised):\n%s\n' "$skip_reasons"
        local needs_root
        needs_root=$(awk '$2 == "needs" && $3 == "root:" {n += $1} END {print n + 0}' <<<"$skip_reasons")
        if ((needs_root)); then
            printf 'test.sh: %s tests need root and were not run (run as root to exercise them)\n' "$needs_root"
        fi
    fi
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

# --- 0. Debian packages -------------------------------------------------------------------------
groups=(tools browser)
((without_samba)) || groups+=(samba)
header 0/5 "os-packages: scripts/os-packages.sh ${groups[*]}"
run os-packages bash "$root/scripts/os-packages.sh" "${groups[@]}"
if ((without_samba)); then
    echo "test.sh: --without-samba: the tests that run Samba hosts (the msrpc path) are left out; the summary counts them"
fi
if [[ $(id -u) != 0 ]]; then
    echo "test.sh: not root: these test files need root and will be skipped with a 'needs root' reason (smbd of the"
    echo "         Samba lab runs as root; the WMI responder listens on port 135); the summary counts them:"
    grep -rlE 'require_samba|require_root|samba_site\(|samba_lab|needs root' "$root/tests" --include='test_*.py' |
        sed "s|^$root/|           |" | sort
fi

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
pytest_args=(tests -q -rs -p no:cacheprovider)
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
# "SKIPPED [3] tests/x.py:12: reason" lines of -rs, summed by reason
skip_reasons=$(sed -nE 's/^SKIPPED \[([0-9]+)\] [^ ]+:[0-9]+: (.*)$/\1\t\2/p' "$log" |
    awk -F'\t' '{n[$2] += $1} END {for (r in n) printf "%6d  %s\n", n[r], r}' | sort -rn || true)
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
