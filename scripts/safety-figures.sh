#!/usr/bin/env bash
# The safety figures of issue 6: runs the property tests with SMS_PROPERTY_EXAMPLES generated sites
# (default 10000), the bad-input catalogue and the hotfix fault matrix, and (issue 18) the msrpc cuts over
# real Samba with the lab's nt4 profile and the msrpc hotfix's ways out, then prints one line per figure.
# Usage: bash scripts/safety-figures.sh   (from anywhere; needs .venv, see scripts/setup-venv.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/ansible-env.sh
source scripts/ansible-env.sh
FIGURES="$(mktemp)"
LOG="$(mktemp)"
trap 'rm -f "$FIGURES" "$LOG"' EXIT
export SMS_SAFETY_FIGURES="$FIGURES"
export SMS_PROPERTY_EXAMPLES="${SMS_PROPERTY_EXAMPLES:-10000}"
start=$(date +%s)
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/unit/plugins/module_utils/test_safety_properties.py \
    tests/unit/plugins/plugin_utils/_transport/msrpc/test_msrpc_package_properties.py \
    tests/unit/test_bad_input_catalogue.py \
    tests/integration/test_hotfix_fault_matrix.py \
    tests/unit/plugins/plugin_utils/_transport/msrpc/test_msrpc_hotfix_exceptions.py \
    tests/integration/test_msrpc_manifest_cuts_smb1.py \
    "tests/integration/test_msrpc_transport.py::test_a_run_cut_between_steps_is_recovered_by_the_next_run" \
    >"$LOG" 2>&1 || status=$?
tail -n 3 "$LOG"
end=$(date +%s)
.venv/bin/python - "$FIGURES" "$status" "$((end - start))" <<'PY'
import json
import sys

figures = {}
cut_count = 0
with open(sys.argv[1], encoding="utf-8") as handle:
    for line in handle:
        entry = json.loads(line)
        figures[entry["figure"]] = entry
        cut_count += entry["count"] if entry["figure"] == "msrpc_hotfix_cuts" else 0
status, seconds = int(sys.argv[2]), int(sys.argv[3])
props = figures.get("property_sites", {})
print(f"cases generated (sites): {props.get('count', 0)} "
      f"({props.get('files', 0)} files classified, {props.get('plans', 0)} plans checked, "
      f"{props.get('removed', 0)} removals checked)")
msrpc = figures.get("msrpc_package_worlds", {})
print(f"msrpc package actions (worlds): {msrpc.get('count', 0)} ({msrpc.get('files', 0)} files, "
      f"{msrpc.get('requests', 0)} requests, {msrpc.get('moved', 0)} moved, {msrpc.get('refused', 0)} refused)")
print(f"bad inputs tried: {figures.get('bad_inputs', {}).get('count', 0)}")
print(f"faults injected: {figures.get('faults', {}).get('count', 0)}")
print(f"files lost: {figures.get('faults', {}).get('files_lost', 'not measured')}")
# msrpc (issue 18): which host profile each figure ran on (smslab.profiles; None: an in-memory host, no SMB)
manifest = figures.get("msrpc_manifest_cuts", {})
print(f"msrpc quarantine manifest, a cut before each change (Samba, profile {manifest.get('profile')}): "
      f"{manifest.get('count', 0)} cuts, {manifest.get('quarantined', 0)} files quarantined, "
      f"{manifest.get('entries_lost', 'not measured')} entries lost")
print(f"msrpc hotfix, a cut after each step incl. the backup (Samba, profile "
      f"{figures.get('msrpc_hotfix_cuts', {}).get('profile')}): {cut_count} cuts recovered, "
      f"{'0 backups lost' if cut_count else 'not measured'}")
exits = figures.get("msrpc_hotfix_exceptions", {})
print(f"msrpc hotfix, an exception after each step (in-memory host, no SMB): {exits.get('count', 0)} ways out, "
      f"{exits.get('services_left_stopped', 'not measured')} with services left stopped")
print(f"tests: {'all passed' if status == 0 else f'FAILED (pytest exit {status})'} in {seconds} s")
PY
exit "$status"
