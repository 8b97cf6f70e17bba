#!/bin/sh
# silvereye: one executable file. The program (a PyInstaller tree: Python,
# silvereye and its libraries) is appended to this script as a tar.gz; the
# first run unpacks it into a cache, later runs start it from there at once.
# Needs only sh, tail, tar and gzip. SILVEREYE_RUNTIME_DIR moves the cache.
set -eu
id=@ID@
offset=@OFFSET@
case $0 in
    /*) self=$0 ;;
    *) self=$(pwd)/$0 ;;
esac
if [ -n "${SILVEREYE_RUNTIME_DIR:-}" ]; then
    base=$SILVEREYE_RUNTIME_DIR
elif [ "$(id -u)" = 0 ]; then
    base=/var/cache/silvereye/runtime
else
    base=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/silvereye/runtime
fi
dir=$base/$id
if [ ! -f "$dir/.complete" ]; then
    mkdir -p "$base" || { echo "error: cannot create $base to unpack silvereye; set SILVEREYE_RUNTIME_DIR to a writable directory" >&2; exit 1; }
    for tool in tail tar gzip; do
        command -v "$tool" >/dev/null 2>&1 || { echo "error: silvereye needs '$tool' to unpack itself; install it (dnf install $tool / apt-get install $tool)" >&2; exit 1; }
    done
    tmp=$(mktemp -d "$base/.unpack-XXXXXX")
    if ! tail -c +"$offset" "$self" | tar -xzf - -C "$tmp"; then
        rm -rf "$tmp"
        echo "error: cannot unpack silvereye into $base (disk full, or a damaged file?)" >&2
        exit 1
    fi
    touch "$tmp/.complete"
    # Another first run may have won the race: then its copy is used and ours goes.
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
fi
SILVEREYE_BINARY=$self
export SILVEREYE_BINARY
exec "$dir/silvereye/silvereye" "$@"
