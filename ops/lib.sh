# shellcheck shell=bash
# ops/lib.sh - what the set-up scripts share: put a file only when it changes, install a unit.
# Sourced, not run.

# put FILE [MODE]: stdin to FILE when the content differs; 0 if it changed, 1 if not
put() {
    local new
    new=$(cat)
    if [ -f "$1" ] && [ "$(cat "$1")" = "$new" ]; then return 1; fi
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$new" >"$1.tmp"
    [ -z "${2:-}" ] || chmod "$2" "$1.tmp"
    mv "$1.tmp" "$1"
}
# unit NAME CHANGED: installs ops/units/NAME (or takes it as installed), enables it, and starts
# it (restarts it when CHANGED is 1 or the unit changed). Without a running systemd it says so.
unit() {
    local here changed=$2
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [ -f "$here/units/$1" ]; then
        put "/etc/systemd/system/$1" <"$here/units/$1" && changed=1
    fi
    if [ ! -d /run/systemd/system ]; then
        echo "$(basename "$0"): systemd is not running: $1 is installed, not started" >&2
        return 0
    fi
    systemctl daemon-reload
    systemctl enable "$1"
    if [ "$changed" = 1 ]; then systemctl restart "$1"; else systemctl start "$1"; fi
}
need_root() { [ "$(id -u)" = 0 ] || { echo "$(basename "$0"): run as root" >&2; exit 1; }; }
