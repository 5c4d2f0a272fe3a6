# SPDX-License-Identifier: MIT
# Shared environment for localsock's scripts: a private Wine prefix, quiet Wine.
: "${LOCALSOCK_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export WINEPREFIX="${LOCALSOCK_WINEPREFIX:-$LOCALSOCK_ROOT/.cache/wineprefix}"
export WINEDEBUG=-all
export WINEARCH=win64
export PATH="/usr/lib/wine:$PATH"
# cross/localsock-zig (zig for the macOS cross files) by name.
export PATH="$LOCALSOCK_ROOT/cross:$PATH"
