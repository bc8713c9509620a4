#!/usr/bin/env bash
# install_example.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS] — what an integrator
# does: `cmake --install` into a fresh prefix, build examples/mini_terminal.c
# against the installed library through pkg-config (shared, then static),
# and run both on real codes made by the installed `offpay`. Checks the
# SONAME, that only offpay_* symbols are exported, and that an accepted code
# is refused when scanned again.
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
extra=${3:-}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/offpay-prefix.XXXXXX")
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name offpay.pc -path '*pkgconfig*')")/..
libdir=$(realpath "$libdir")

set -- "$prefix/bin/offpay"
source "$src/tests/e2e/lib.sh"
trap 'rm -rf "$work" "$prefix"' EXIT

# What was installed.
for f in "$prefix/bin/offpay" "$libdir/liboffpay.a" "$libdir/liboffpay.so" \
         "$prefix/include/offpay/offpay.h" "$prefix/include/offpay/terminal.h"; do
  if [ -e "$f" ]; then ok "installed ${f#"$prefix"/}"; else fail "missing $f"; fi
done
soname=$(objdump -p "$libdir/liboffpay.so" | awk '/SONAME/ {print $2}')
# 0.x: the minor version too (a minor release may change structures)
if [[ "$soname" =~ ^liboffpay\.so\.(0\.[0-9]+|[1-9][0-9]*)$ ]]; then ok "SONAME $soname"; else fail "SONAME '$soname'"; fi
internal=$(nm -D --defined-only "$libdir/liboffpay.so" | awk '{print $3}' | grep -vc '^offpay_[a-z]' || true)
if [ "$internal" -eq 0 ]; then ok "exports offpay_* only"; else fail "$internal non-API symbols exported"; fi

export PKG_CONFIG_PATH="$libdir/pkgconfig"
expect 0 "^[0-9]+\.[0-9]+\.[0-9]+" -- pkg-config --modversion offpay
# shellcheck disable=SC2046,SC2086
cc -Wall -Wextra -Werror $extra "$src/examples/mini_terminal.c" \
   $(pkg-config --cflags --libs offpay) -o mini_shared
# Static: the same pkg-config line with --static, naming the archive.
# shellcheck disable=SC2046,SC2086
cc -Wall -Wextra -Werror $extra "$src/examples/mini_terminal.c" \
   $(pkg-config --cflags --libs --static offpay | sed 's/-loffpay\b/-l:liboffpay.a/') \
   -o mini_static
deps_shared=$(ldd mini_shared); deps_static=$(ldd mini_static)
if grep -q "liboffpay.so" <<<"$deps_shared"; then ok "example links the shared library"; else fail "example not linked to liboffpay.so"; fi
if grep -q "liboffpay.so" <<<"$deps_static"; then fail "static example uses liboffpay.so"; else ok "example links the static library"; fi

setup_world 100.00
export LD_LIBRARY_PATH="$libdir"
W=(--wallet w --passphrase-file wp)
# scan EXAMPLE FILE AMOUNT: the example reads the code in FILE as a
# keyboard-wedge scanner types it.
scan() { "$1" shop "$3" < "$2"; }
for ex in ./mini_shared ./mini_static; do
  code=$("$OFFPAY" wallet pay "${W[@]}" --currency EUR --amount 10.00 2>/dev/null)
  printf '%s\r\n' "$code" > code
  printf '%s\n' "${code%?}" > cut     # the last character lost in transit
  expect 0 "ACCEPTED: payment #[0-9]+, 7.50 EUR" -- scan "$ex" code 7.50
  expect 1 "REFUSED: .*EREPLAY" -- scan "$ex" code 7.50
  expect 1 "REFUSED: .*(ECODE_SIG|EBASE45|ETRUNCATED)" -- scan "$ex" cut 1.00
  expect 2 "usage" -- "$ex"
done
# The installed tool sees what the example journalled.
expect 0 "7.50" -- "$OFFPAY" terminal journal --terminal shop
finish
