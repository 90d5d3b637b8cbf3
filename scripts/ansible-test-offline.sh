#!/usr/bin/env bash
# Run `ansible-test sanity` on a machine that reaches only the package registries.
#
#   bash scripts/ansible-test-offline.sh [extra ansible-test sanity args...]
#   bash scripts/ansible-test-offline.sh --bootstrap-only   # only write the get_pip stand-in
#   bash scripts/ansible-test-offline.sh --test pylint --test pep8 <file>...
#                                     # seconds, not minutes: only those files (before committing them);
#                                     # its pylint forbids `_` as a name: `for _attempt in ...`, `value, _unused = ...`
#
# ansible-test bootstraps pip into each sanity venv with a get-pip script that it downloads from
# a host that is not reachable here, unless ~/.ansible/test/cache/get_pip_<X_Y>.py already exists.
# This writes a stand-in there for every pip version the installed ansible-test asks for: it puts
# the interpreter's bundled pip wheel (ensurepip/_bundled/pip-*.whl) on sys.path and runs
# `pip install <args>` minus --no-setuptools/--no-wheel (which pip's CLI does not know); the
# packages themselves then come from PyPI as usual. See shared notes offline-tooling.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
py="$venv/bin/python"

if [[ ! -x "$py" ]]; then
    echo "ansible-test-offline: $py not found; run scripts/setup-venv.sh first" >&2
    exit 1
fi

write_bootstrap() {
    local at_dir versions cache version target tmp
    at_dir=$("$py" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))') || {
        echo "ansible-test-offline: ansible_test is not importable from $py (is ansible-core installed?)" >&2
        return 1
    }
    # ansible-test names its pip version(s) in get_venv_packages(): pip='25.2' (default) and
    # possibly per-Python overrides ('pip': '...' or pip='...').
    versions=$(grep -hoE "pip['\"]?[[:space:]]*[=:][[:space:]]*['\"][0-9]+(\.[0-9]+)+['\"]" \
        "$at_dir/_internal/python_requirements.py" | grep -oE '[0-9]+(\.[0-9]+)+' | sort -u)
    if [[ -z "$versions" ]]; then
        echo "ansible-test-offline: could not find the pip version in $at_dir/_internal/python_requirements.py" >&2
        echo "  (ansible-test changed how it pins pip; update scripts/ansible-test-offline.sh)" >&2
        return 1
    fi
    cache="$HOME/.ansible/test/cache"
    mkdir -p "$cache"
    tmp=$(mktemp)
    cat >"$tmp" <<'PY'
"""Offline stand-in for ansible-test's get-pip bootstrap script.

Written by scripts/ansible-test-offline.sh (sms.remediation). ansible-test runs this as __main__
with pip's install arguments in sys.argv, e.g. `--disable-pip-version-check pip==25.2
--no-setuptools --no-wheel`. It runs pip from the interpreter's bundled wheel instead of the
downloaded get-pip.py; the requested packages come from the configured package index.
"""
import glob
import os
import sys


def _bundled_pip_wheels():
    dirs = []
    try:
        import ensurepip
        dirs.append(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))
    except ImportError:
        pass
    dirs.append('/usr/share/python-wheels')  # Debian keeps the wheels here
    for directory in dirs:
        wheels = sorted(glob.glob(os.path.join(directory, 'pip-*.whl')))
        if wheels:
            return wheels
    return []


def _main():
    wheels = _bundled_pip_wheels()
    if wheels:
        sys.path.insert(0, wheels[-1])
    try:
        from pip._internal.cli.main import main as pip_main
    except ImportError as ex:
        sys.stderr.write('get_pip stand-in: no bundled pip wheel (ensurepip) and no pip: %s\n' % ex)
        return 1
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    return pip_main(['install'] + args)


if __name__ == '__main__':
    sys.exit(_main())
PY
    for version in $versions; do
        target="$cache/get_pip_${version//./_}.py"
        if ! cmp -s "$tmp" "$target"; then
            cp "$tmp" "$target"
            echo "ansible-test-offline: wrote pip $version bootstrap stand-in: $target"
        fi
    done
    rm -f "$tmp"
}

if [[ "${1:-}" == "--bootstrap-only" ]]; then
    write_bootstrap
    exit 0
fi

write_bootstrap

collection=$(bash "$root/scripts/collection-root.sh")
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Tests skipped because they cannot run on these machines (everything else runs):
skips=(
    # pslint runs PSScriptAnalyzer under PowerShell (pwsh). pwsh is in neither Debian's archive
    # nor PyPI/npm, and its own download host is unreachable. tools/check_powershell.py (the
    # tree-sitter-powershell parse/lint check run by scripts/test.sh) covers our .ps1/.psm1.
    --skip-test pslint
)

if ! command -v shellcheck >/dev/null 2>&1; then
    echo "ansible-test-offline: NOTE: shellcheck is not installed, so ansible-test will skip the" \
        "shellcheck test (apt-get install shellcheck; .ci/run installs it)" >&2
fi

cd "$collection"
export ANSIBLE_TEST_CONTENT_ROOT="$collection"
export PATH="$venv/bin:$PATH"
echo "ansible-test-offline: ansible-test sanity --local --python $pyver in $collection"
exec "$venv/bin/ansible-test" sanity --local --python "$pyver" --color no "${skips[@]}" "$@"
