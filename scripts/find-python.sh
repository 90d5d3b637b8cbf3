#!/usr/bin/env bash
# Print the path of the first Python >= 3.12 found on this machine.
#
# Order: $SMS_PYTHON (if set, it must work and be >= 3.12), then python3.14 python3.13
# python3.12 python3 on PATH, then pyenv versions (highest first), then /usr/local/bin and
# /usr/bin. Every candidate is actually run, because pyenv shims exist on PATH even when the
# version they point at is not selected (and then they fail).
set -euo pipefail

looked=()

# ok PATH -> prints the resolved interpreter path and returns 0 if PATH runs and is >= 3.12.
ok() {
    local candidate=$1 out
    looked+=("$candidate")
    out=$("$candidate" -c 'import sys; print(sys.version_info >= (3, 12)); print(sys.executable)' 2>/dev/null) || return 1
    [[ "$(sed -n 1p <<<"$out")" == "True" ]] || return 1
    local exe
    exe=$(sed -n 2p <<<"$out")
    # A shim reports the real interpreter as sys.executable; prefer that stable path.
    if [[ -n "$exe" && -x "$exe" ]]; then
        printf '%s\n' "$exe"
    else
        printf '%s\n' "$candidate"
    fi
}

if [[ -n "${SMS_PYTHON:-}" ]]; then
    if ok "$SMS_PYTHON"; then
        exit 0
    fi
    echo "find-python: SMS_PYTHON='$SMS_PYTHON' does not run or is older than 3.12" >&2
    exit 1
fi

for name in python3.14 python3.13 python3.12 python3; do
    if path=$(command -v "$name" 2>/dev/null); then
        ok "$path" && exit 0
    fi
done

# pyenv: highest version first. Works whether or not the pyenv command is on PATH.
pyenv_root=""
if command -v pyenv >/dev/null 2>&1; then
    pyenv_root=$(pyenv root 2>/dev/null || true)
fi
if [[ -z "$pyenv_root" ]]; then
    pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
fi
if [[ -d "$pyenv_root/versions" ]]; then
    while IFS= read -r candidate; do
        [[ -n "$candidate" ]] || continue
        ok "$candidate" && exit 0
    done < <(
        shopt -s nullglob
        for p in "$pyenv_root"/versions/*/bin/python3.1[2-9]*; do
            # keep only plain interpreters (python3.12, python3.13t), not python3.12-config
            [[ "$(basename "$p")" =~ ^python3\.1[2-9][0-9]*t?$ ]] && printf '%s\n' "$p"
        done | sort -V -r
    )
fi

for dir in /usr/local/bin /usr/bin; do
    for name in python3.14 python3.13 python3.12; do
        [[ -x "$dir/$name" ]] || continue
        ok "$dir/$name" && exit 0
    done
done

{
    if ((${#looked[@]})); then
        printf 'no Python >= 3.12 found (looked at: %s); install python3.12 or set SMS_PYTHON\n' "${looked[*]}"
    else
        printf 'no Python >= 3.12 found (looked at: PATH, pyenv, /usr/local/bin, /usr/bin: no candidates); install python3.12 or set SMS_PYTHON\n'
    fi
} >&2
exit 1
