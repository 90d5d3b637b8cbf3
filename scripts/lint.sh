#!/usr/bin/env bash
# Run ansible-lint (production profile, offline) over the collection.
#
#   bash scripts/lint.sh [extra ansible-lint args...]
#
# sms.remediation resolves through tests/output/.collection_root (scripts/collection-root.sh) and
# ansible.windows / community.* through the `ansible` bundle installed in .venv, so nothing is
# fetched from Galaxy (also `offline: true` in .ansible-lint and ANSIBLE_LINT_NODEPS=1).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
py="$venv/bin/python"

if [[ ! -x "$venv/bin/ansible-lint" ]]; then
    echo "lint: $venv/bin/ansible-lint not found; run scripts/setup-venv.sh first" >&2
    exit 1
fi

bundle=$("$py" -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))') || {
    echo "lint: the ansible bundle (ansible_collections) is not importable from $py; is 'ansible' in requirements.txt installed?" >&2
    exit 1
}
if [[ ! -d "$bundle/ansible_collections/ansible/windows" ]]; then
    echo "lint: ansible.windows not found under $bundle/ansible_collections" >&2
    exit 1
fi

collection=$(bash "$root/scripts/collection-root.sh")
collections_root=${collection%/ansible_collections/sms/remediation}

export ANSIBLE_COLLECTIONS_PATH="$collections_root:$bundle"
export ANSIBLE_LINT_NODEPS=1
export PATH="$venv/bin:$PATH"
cd "$root"
echo "lint: ansible-lint --profile production (ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH)"
color=()
if [[ ! -t 1 || -n "${NO_COLOR:-}" ]]; then
    color=(--nocolor)  # plain text in CI logs and files
fi
exec "$venv/bin/ansible-lint" --profile production --offline "${color[@]}" "$@"
