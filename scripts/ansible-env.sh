# shellcheck shell=bash
# Source me: the environment every ansible-playbook run of this repository uses (demo, tests, benchmarks).
# The collection is found through tests/output/.collection_root; ansible.windows comes from the venv's
# `ansible` bundle (site-packages is scanned for collections by default).
_sms_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$_sms_root/scripts/collection-root.sh" >/dev/null
export ANSIBLE_COLLECTIONS_PATH="$_sms_root/tests/output/.collection_root"
export ANSIBLE_HOST_KEY_CHECKING=False
export ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export ANSIBLE_LOCALHOST_WARNING=False
export ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export PYTHONPATH="$_sms_root/lab${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$_sms_root/.venv/bin:$PATH"
unset _sms_root
