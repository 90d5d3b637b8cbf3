#!/usr/bin/env bash
# The one-command demo: venv, lab with the demo hierarchy, remediate.yml --check --diff, a real run,
# a second run (changed=0), then the report's path. The lab's state stays in lab-state/ to look at.
#
#   bash scripts/demo.sh                      every site over WinRM (the lab's simulated hosts on 127.0.0.1)
#   bash scripts/demo.sh --transport msrpc    every site over SMB/MS-RPC: one Samba smbd per site and the lab's
#                                             DCOM/WMI responder; needs root (port 135 of 127.0.0.x) and Samba,
#                                             which it installs when missing (scripts/os-packages.sh samba)
#   ... --from-hierarchy                      the fleet from the hierarchy: the sms_hierarchy inventory plugin
#                                             reads SMS_Site at the central site 600 (lab/inventory/*.sms_hierarchy.yml)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

transport=winrm
from_hierarchy=0
while (($#)); do
    case "$1" in
        --from-hierarchy) from_hierarchy=1; shift ;;
        --transport) transport="${2:-}"; shift 2 || { echo "demo: --transport needs winrm or msrpc" >&2; exit 2; } ;;
        --transport=*) transport="${1#*=}"; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown argument '$1' (usage: bash scripts/demo.sh [--transport winrm|msrpc] [--from-hierarchy])" >&2; exit 2 ;;
    esac
done
case "$transport" in
    winrm | msrpc) ;;
    *) echo "demo: --transport must be winrm or msrpc, not '$transport'" >&2; exit 2 ;;
esac
if [[ $transport == msrpc && $(id -u) -ne 0 ]]; then
    echo "demo: the msrpc demo must run as root: the lab's WMI responder listens on port 135 (DCOM has no port" >&2
    echo "      option) of one 127.0.0.x address per site, and each site's smbd runs as root. Run: sudo bash $0 --transport msrpc" >&2
    exit 1
fi

bash scripts/setup-venv.sh
source scripts/ansible-env.sh

state="${SMS_LAB_STATE:-$root/lab-state}"
# An extra variable as JSON: `-e key=value` splits at spaces, and a checkout's path may have some.
json_var() { python -c 'import json, sys; print(json.dumps({sys.argv[1]: sys.argv[2]}))' "$1" "$2"; }
scenario="${SMS_LAB_SCENARIO:-$root/lab/scenarios/demo.yml}"
mkdir -p "$root/tests/output"
extra_vars=()
if [[ $transport == msrpc ]]; then
    # the same Debian packages the test command installs (one list: scripts/os-packages.sh)
    bash "$root/scripts/os-packages.sh" samba || { echo "demo: the msrpc demo needs Samba (see above)" >&2; exit 1; }
    # samba_available(): None, or what is missing and how to install it (apt-get install samba ...)
    missing=$(python -c 'from smslab.samba import samba_available; print(samba_available() or "")')
    [[ -z $missing ]] || { echo "demo: $missing" >&2; exit 1; }
    serve=(serve-msrpc) stop=(stop --msrpc --timeout 60) ready=(inventory-msrpc.yml samba.pid)
    lab_log="$root/tests/output/lab-demo-msrpc.log"
    # the lab's inventory plus the demo's host variables (the hotfix method of each site, by its platform)
    inventories=(-i "$state/inventory-msrpc.yml" -i "$root/lab/inventory/demo-msrpc.yml")
    extra_vars=(-e "$(json_var q244405_msrpc_cache_dir "$state/msrpc-cache")")
else
    serve=(serve) stop=(stop) ready=(inventory.yml lab.pid)
    lab_log="$root/tests/output/lab-demo.log"
    inventories=(-i "$state/inventory.yml")
fi

rm -rf "$state"
python -m smslab "${serve[@]}" --scenario "$scenario" --state-dir "$state" >"$lab_log" 2>&1 &
lab_pid=$!
stop_lab() {
    python -m smslab "${stop[@]}" --state-dir "$state" >/dev/null 2>&1 || kill "$lab_pid" 2>/dev/null || true
    wait "$lab_pid" 2>/dev/null || true
}
trap stop_lab EXIT
# Samba needs a few seconds per site to start (smslab.samba's docstring); the WinRM lab well under one.
for _ in $(seq 1 1200); do
    [[ -f "$state/${ready[0]}" && -f "$state/${ready[1]}" ]] && break
    kill -0 "$lab_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -f "$state/${ready[1]}" ]] || { echo "demo: the lab did not start; see $lab_log" >&2; cat "$lab_log" >&2; exit 1; }

if ((from_hierarchy)); then
    # The plugin reads where each lab server answers from the inventory the lab wrote in $SMS_LAB_STATE.
    export SMS_LAB_STATE="$state"
    hierarchy_config="$root/lab/inventory/demo-$transport.sms_hierarchy.yml"
    inventories=(-i "$hierarchy_config")
    [[ $transport == winrm ]] || inventories+=(-i "$root/lab/inventory/demo-msrpc.yml")
    echo
    echo "==== ansible-inventory -i ${hierarchy_config#"$root"/} --graph (the fleet from the central site's SMS_Site) ===="
    ansible-inventory -i "$hierarchy_config" --graph
fi

report_dir=$(json_var q244405_report_dir "$state/reports")
hotfix_files=$(python -c 'import json, sys; print(json.dumps({"q244405_hotfix_files": {
    "i386": sys.argv[1] + "/hotfix/i386/Distmgr.dll", "alpha": sys.argv[1] + "/hotfix/alpha/Distmgr.dll"}}))' "$state")
run() {
    echo
    echo "==== ansible-playbook playbooks/remediate.yml${*:+ $*} (every site over $transport) ===="
    ansible-playbook "${inventories[@]}" playbooks/remediate.yml \
        -e "$report_dir" -e "$hotfix_files" \
        "${extra_vars[@]}" "$@"
}
run --check --diff
run
run
echo
echo "Lab state:   $state/hosts"
latest=$(find "$state/reports" -name 'q244405-run-*.html' | sort | tail -n 1)
echo "Report:      $latest (and .json, .csv, .md beside it)"
if [[ $transport == msrpc ]]; then
    stop_lab
    trap - EXIT
    left=$(pgrep -af -- "--state-dir $state( |\$)|$state/samba/" || true)
    [[ -z $left ]] || { echo "demo: Samba processes of the lab still run:" >&2; echo "$left" >&2; exit 1; }
    echo "Servers:     stopped (no smbd, samba-dcerpcd or WMI responder of $state left)"
fi
