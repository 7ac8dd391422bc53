#!/bin/sh
# check.sh <install-prefix> <out-dir>: builds tests/cmake/common/app.c and app.cpp with
# the compiler and pkg-config alone, against a plexus installed in <install-prefix>
# (cmake --install), and runs them (CI: .ci/cmake-checks.sh):
#   plexus.pc                     -> linked against libplexus.so
#   plexus-static.pc              -> libplexus.a linked into an ordinary program
#   plexus.pc --static + -static  -> a fully static program
# Checks that the first needs libplexus.so and the others do not. Exit 0 when all pass.
set -eu
prefix=$(cd "${1:?usage: check.sh <install-prefix> <out-dir>}" && pwd)
out=${2:?usage: check.sh <install-prefix> <out-dir>}
here=$(cd "$(dirname "$0")" && pwd)
common="$here/../common"
CC=${CC:-cc}
CXX=${CXX:-c++}
mkdir -p "$out"

pcdir=$(dirname "$(find "$prefix" -name plexus.pc -path '*/pkgconfig/*' | head -n 1)")
[ -f "$pcdir/plexus.pc" ] || { echo "check.sh: no plexus.pc under $prefix" >&2; exit 1; }
PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH

echo "pkg-config --modversion plexus: $(pkg-config --modversion plexus)"
echo "pkg-config --cflags --libs plexus: $(pkg-config --cflags --libs plexus)"
echo "pkg-config --static --libs plexus: $(pkg-config --static --libs plexus)"
echo "pkg-config --libs plexus-static: $(pkg-config --libs plexus-static)"
pkg-config --atleast-version=0.1 plexus

libdir=$(pkg-config --variable=libdir plexus)
needs_libplexus() { # <program>: does it load libplexus.so?
  LC_ALL=C readelf -d "$1" | grep 'NEEDED.*\[libplexus\.so\]' >/dev/null
}
set -x
# Shared: the library is found at run time through the rpath given here.
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$CC" -std=c11 -Wall -Wextra -Werror "$common/app.c" -o "$out/app_c" \
  $(pkg-config --cflags --libs plexus) -Wl,-rpath,"$libdir"
# shellcheck disable=SC2046
"$CXX" -std=c++17 -Wall -Wextra -Werror "$common/app.cpp" -o "$out/app_cpp" \
  $(pkg-config --cflags --libs plexus) -Wl,-rpath,"$libdir"
# libplexus.a in an ordinary program.
# shellcheck disable=SC2046
"$CC" -std=c11 -Wall -Wextra -Werror "$common/app.c" -o "$out/app_c_static" \
  $(pkg-config --cflags --libs plexus-static)
# shellcheck disable=SC2046
"$CXX" -std=c++17 -Wall -Wextra -Werror "$common/app.cpp" -o "$out/app_cpp_static" \
  $(pkg-config --cflags --libs plexus-static)
# A fully static program (glibc warns that getaddrinfo/getpwuid_r, which Rust's standard
# library contains but plexus never calls, would need glibc's shared libraries).
# shellcheck disable=SC2046
if ! "$CC" -std=c11 -Wall -Wextra -Werror -static "$common/app.c" -o "$out/app_c_fully_static" \
  $(pkg-config --static --cflags --libs plexus) 2>"$out/static-link.log"; then
  cat "$out/static-link.log" >&2
  exit 1
fi
set +x

needs_libplexus "$out/app_c" || { echo "app_c does not load libplexus.so" >&2; exit 1; }
needs_libplexus "$out/app_cpp" || { echo "app_cpp does not load libplexus.so" >&2; exit 1; }
for p in app_c_static app_cpp_static app_c_fully_static; do
  if needs_libplexus "$out/$p"; then echo "$p loads libplexus.so" >&2; exit 1; fi
done
if LC_ALL=C readelf -d "$out/app_c_fully_static" | grep NEEDED >/dev/null; then
  echo "app_c_fully_static is not fully static" >&2
  exit 1
fi
for p in app_c app_cpp app_c_static app_cpp_static app_c_fully_static; do
  "$out/$p" "pkgconfig-$p-$$"
done
echo "check.sh: pkg-config builds OK"
