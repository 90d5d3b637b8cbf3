#!/usr/bin/env bash
# Make the collection visible at .../ansible_collections/sms/remediation and print that path.
#
# ansible-test and ansible's collection loader need the collection to sit at
# <root>/ansible_collections/<namespace>/<name>. This makes
#   tests/output/.collection_root/ansible_collections/sms/remediation
# a relative symlink to the repository root (so edits are seen at once, nothing is copied).
#
# ansible-test finds its content root with os.getcwd(), which resolves symlinks, so a caller
# must also export ANSIBLE_TEST_CONTENT_ROOT=<printed path> (scripts/ansible-test-offline.sh
# does). ansible-test then lists files with `git ls-files` through the symlink (the repository's
# .git is reached through it), so tracked and untracked-but-not-ignored files are seen.
# The path is dot-prefixed and under the git-ignored tests/output, so pytest, git and
# ansible-lint do not walk into the loop it makes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base="$root/tests/output/.collection_root/ansible_collections/sms"
link="$base/remediation"

if [[ ! -f "$root/galaxy.yml" ]]; then
    echo "collection-root: $root/galaxy.yml is missing; is this the sms.remediation repository?" >&2
    exit 1
fi

mkdir -p "$base"
# A real directory here would be left over from some other layout: replace it.
if [[ -e "$link" && ! -L "$link" ]]; then
    rm -rf -- "$link"
fi
# sms -> ansible_collections -> .collection_root -> output -> tests -> repository root
ln -sfn ../../../../.. "$link"

if [[ ! -f "$link/galaxy.yml" ]]; then
    echo "collection-root: symlink $link does not lead to the repository root ($root)" >&2
    exit 1
fi

printf '%s\n' "$link"
