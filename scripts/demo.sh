#!/usr/bin/env bash
# The one-command demo: venv, lab with the demo hierarchy, remediate.yml --check --diff, a real run,
# a second run (changed=0), then the report's path. The lab's state stays in lab-state/ to look at.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-venv.sh
source scripts/ansible-env.sh

state="${SMS_LAB_STATE:-$root/lab-state}"
scenario="${SMS_LAB_SCENARIO:-$root/lab/scenarios/demo.yml}"
rm -rf "$state"
python -m smslab serve --scenario "$scenario" --state-dir "$state" >"$root/tests/output/lab-demo.log" 2>&1 &
trap 'python -m smslab stop --state-dir "$state" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do [[ -f "$state/inventory.yml" && -f "$state/lab.pid" ]] && break; sleep 0.1; done
[[ -f "$state/inventory.yml" ]] || { echo "demo: the lab did not start; see tests/output/lab-demo.log" >&2; exit 1; }

run() {
    echo
    echo "==== ansible-playbook playbooks/remediate.yml $* ===="
    ansible-playbook -i "$state/inventory.yml" playbooks/remediate.yml \
        -e "q244405_report_dir=$state/reports" \
        -e "{\"q244405_hotfix_files\": {\"i386\": \"$state/hotfix/i386/Distmgr.dll\", \"alpha\": \"$state/hotfix/alpha/Distmgr.dll\"}}" \
        "$@"
}
run --check --diff
run
run
echo
echo "Lab state:   $state/hosts"
latest=$(find "$state/reports" -name 'q244405-run-*.html' | sort | tail -n 1)
echo "Report:      $latest (and .json, .csv, .md beside it)"
