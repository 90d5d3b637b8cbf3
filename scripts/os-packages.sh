#!/usr/bin/env bash
# The Debian packages the tests and the msrpc demo need: ONE list, used by .ci/run, scripts/test.sh and
# scripts/demo.sh --transport msrpc. Installs what is missing (apt-get, as root or through `sudo -n`);
# where it cannot, it prints the exact command that would, and exits 1. Nothing is turned into a skip here.
#
#   bash scripts/os-packages.sh [--check] GROUP...
#     GROUP   tools    git (ansible-test lists files with it), shellcheck (ansible-test's shellcheck sanity
#                      test is skipped silently without it)
#             samba    samba (smbd, samba-dcerpcd), samba-common-bin (net), smbclient (rpcclient): the msrpc
#                      lab's hosts and the independent clients its servers are checked with
#             browser  chromium: the fleet report is rendered in a real headless browser
#             test     tools + samba + browser (what scripts/test.sh needs)
#     --check          only say what is missing (exit 1 if anything is), install nothing
set -euo pipefail

# package: how to tell it is there (a command on PATH, or an absolute path)
declare -A probe=(
    [git]=git
    [shellcheck]=shellcheck
    [samba]=/usr/sbin/smbd
    [samba-common-bin]=net
    [smbclient]=rpcclient
    [chromium]=chromium
)
declare -A group=(
    [tools]="git shellcheck"
    [samba]="samba samba-common-bin smbclient"
    [browser]="chromium"
)
group[test]="${group[tools]} ${group[samba]} ${group[browser]}"

check_only=0
wanted=()
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *)
            [[ -n "${group[$arg]:-}" ]] || { echo "os-packages: unknown group '$arg' (${!group[*]})" >&2; exit 2; }
            read -ra members <<<"${group[$arg]}"
            wanted+=("${members[@]}")
            ;;
    esac
done
((${#wanted[@]})) || { echo "os-packages: name a group: ${!group[*]}" >&2; exit 2; }

present() {
    local what=${probe[$1]}
    if [[ $what == /* ]]; then [[ -x $what ]]; else command -v "$what" >/dev/null 2>&1 || [[ -x /usr/sbin/$what ]]; fi
}

missing=()
for package in "${wanted[@]}"; do
    present "$package" || [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
done
((${#missing[@]})) || exit 0

command_text="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if ((check_only)); then
    echo "os-packages: missing Debian packages: ${missing[*]}; install them with: sudo sh -c '$command_text'" >&2
    exit 1
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "os-packages: missing Debian packages: ${missing[*]}, and this user cannot install them (not root, no" >&2
        echo "             password-less sudo). Run as root:  sudo sh -c '$command_text'" >&2
        exit 1
    fi
fi
echo "os-packages: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } </dev/null; then
    echo "os-packages: apt-get could not install ${missing[*]} (see its output above); the command was:" >&2
    echo "             sudo sh -c '$command_text'" >&2
    exit 1
fi
for package in "${missing[@]}"; do
    present "$package" || { echo "os-packages: $package was installed but ${probe[$package]} is still not found" >&2; exit 1; }
done
