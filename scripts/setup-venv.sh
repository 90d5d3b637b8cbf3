#!/usr/bin/env bash
# Create or refresh the project venv (<repo>/.venv) from requirements.txt.
#
# (Re)creates .venv when it is missing, its python does not run, or it is older than 3.12
# (the interpreter comes from scripts/find-python.sh; set SMS_PYTHON to choose one).
# Installs requirements.txt when it changed since the last successful install (its sha256 is kept
# in .venv/.requirements.sha256). Quiet and quick when nothing changed.
# Also writes the offline get_pip stand-in that ansible-test needs (scripts/ansible-test-offline.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
req="$root/requirements.txt"
stamp="$venv/.requirements.sha256"

if [[ ! -f "$req" ]]; then
    echo "setup-venv: $req is missing" >&2
    exit 1
fi

venv_ok() {
    [[ -x "$venv/bin/python" ]] &&
        "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}

if ! venv_ok; then
    base_python=$(bash "$root/scripts/find-python.sh")
    if [[ -e "$venv" ]]; then
        echo "setup-venv: $venv is broken or older than Python 3.12; recreating it with $base_python"
        rm -rf -- "$venv"
    else
        echo "setup-venv: creating $venv with $base_python"
    fi
    "$base_python" -m venv "$venv" || {
        echo "setup-venv: '$base_python -m venv $venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi

want=$(sha256sum "$req" | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [[ "$want" != "$have" ]]; then
    echo "setup-venv: installing requirements.txt into $venv (this takes a few minutes on a new venv)"
    rm -f -- "$stamp"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    if ! "$venv/bin/python" -m pip install -q -r "$req"; then
        echo "setup-venv: pip install -r requirements.txt failed (see pip's output above)" >&2
        exit 1
    fi
    printf '%s\n' "$want" >"$stamp"
    echo "setup-venv: done ($("$venv/bin/python" -V 2>&1), requirements sha256 ${want:0:12})"
fi

bash "$root/scripts/ansible-test-offline.sh" --bootstrap-only
