#!/usr/bin/env bash
# CI: plexus as a C/C++ dependency, through CMake and pkg-config (.ci/run calls this after
# the README's test command). Every build lives in target/cmake-checks/ (or
# $PLEXUS_CMAKE_CHECKS_DIR), which is recreated each time. cargo builds the library in
# $PLEXUS_CMAKE_CHECKS_CARGO_DIR (default: a directory inside that build, so the
# checks start from nothing); .ci/run points it at the repository's target/, whose
# release and debug builds the README's commands have just made, so CI does not build
# the same library three more times.
#
#   1. the top-level build (cargo release profile) with -DPLEXUS_BUILD_TESTS=ON:
#      ffi-tests, examples, header hygiene under ctest
#   2. cmake --install into a prefix inside that build directory; the installed files,
#      the plexus tool among them; a plain top-level build (no options) has no tests and
#      installs the tool from a prebuilt directory too
#   3. a consumer project with find_package(plexus 0.2 CONFIG REQUIRED): shared, static
#      and C++ targets built and run; an incompatible version request is refused
#   4. pkg-config: plexus.pc (shared, and --static for a fully static program) and
#      plexus-static.pc, with the compiler alone
#   5. a consumer project with add_subdirectory(): as a Debug build (cargo dev profile,
#      built inside the consumer's build tree), then with PLEXUS_PREBUILT_LIB_DIR
#   6. the ffi-tests and examples again, built with AddressSanitizer + UBSan
#      (PLEXUS_SANITIZE) over the RelWithDebInfo library (cargo profiling profile): any
#      report, leaks included, fails
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)

if ! command -v cmake >/dev/null || ! command -v pkg-config >/dev/null; then
  echo "== installing cmake and pkg-config"
  apt-get update -qq && apt-get install -y -qq cmake pkg-config >/dev/null
fi
cmake --version | head -n 1

work=${PLEXUS_CMAKE_CHECKS_DIR:-$root/target/cmake-checks}
rm -rf "$work"
mkdir -p "$work"
build=$work/build
cargo_dir=${PLEXUS_CMAKE_CHECKS_CARGO_DIR:-$build/cargo}
prefix=$build/install

step() { echo; echo "== $* ($(($(date +%s) - started)) s)"; }
run_ctest() { # <build dir> [ctest args]
  local dir=$1
  shift
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@")
}
needs_libplexus() { # <program>: does it load libplexus.so?
  LC_ALL=C readelf -d "$1" | grep 'NEEDED.*\[libplexus\.so\]' >/dev/null
}
check_linkage() { # <dir with app_c, app_c_static, app_cpp, app_cpp_static>
  needs_libplexus "$1/app_c" || { echo "$1/app_c does not load libplexus.so" >&2; exit 1; }
  needs_libplexus "$1/app_cpp" || { echo "$1/app_cpp does not load libplexus.so" >&2; exit 1; }
  if needs_libplexus "$1/app_c_static" || needs_libplexus "$1/app_cpp_static"; then
    echo "$1: a static build loads libplexus.so" >&2
    exit 1
  fi
}

step "1. top-level build: cargo (release), ffi-tests, examples; ctest"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPLEXUS_BUILD_TESTS=ON \
  -DPLEXUS_CARGO_TARGET_DIR="$cargo_dir"
cmake --build "$build" -j "$jobs"
run_ctest "$build"
# A second build has nothing to do: cargo leaves the libraries alone, nothing relinks.
before=$(stat -c %Y "$build/ffi-tests/shared/test_c_api")
cmake --build "$build" -j "$jobs" >/dev/null
[ "$(stat -c %Y "$build/ffi-tests/shared/test_c_api")" = "$before" ] ||
  { echo "a second build relinked the test programs" >&2; exit 1; }

step "2. cmake --install to $prefix"
cmake --install "$build" --prefix "$prefix"
for f in include/plexus.h include/plexus.hpp lib/libplexus.so lib/libplexus.a \
  lib/cmake/plexus/plexusConfig.cmake lib/cmake/plexus/plexusConfigVersion.cmake \
  lib/pkgconfig/plexus.pc lib/pkgconfig/plexus-static.pc bin/plexus; do
  [ -f "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
LC_ALL=C readelf -d "$prefix/lib/libplexus.so" | grep 'SONAME.*\[libplexus\.so\]' >/dev/null
check_installed_cli() { # <prefix>: bin/plexus runs and is this version
  local want got
  want=$(sed -n 's/^version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
  got=$("$1/bin/plexus" --version) || { echo "$1/bin/plexus --version failed" >&2; exit 1; }
  [ "$got" = "plexus $want" ] ||
    { echo "$1/bin/plexus --version printed '$got', not 'plexus $want'" >&2; exit 1; }
  got=$("$1/bin/plexus" --help) || { echo "$1/bin/plexus --help failed" >&2; exit 1; }
  grep '^Usage: plexus' <<<"$got" >/dev/null ||
    { echo "$1/bin/plexus --help printed no usage" >&2; exit 1; }
  echo "$1/bin/plexus runs: plexus $want"
}
check_installed_cli "$prefix"
# Release builds carry no debug info.
if LC_ALL=C readelf -S "$prefix/lib/libplexus.so" "$prefix/bin/plexus" | grep '\.debug_' >/dev/null; then
  echo "the installed libplexus.so or plexus has debug info (Cargo.toml [profile.release])" >&2
  exit 1
fi
# A plain top-level build builds no tests or examples; with a prebuilt library directory
# (no cargo run) it installs the tool from that directory.
cmake -S . -B "$work/plain" -DPLEXUS_PREBUILT_LIB_DIR="$cargo_dir/release"
[ ! -e "$work/plain/ffi-tests" ] && [ ! -e "$work/plain/examples-c" ] ||
  { echo "a plain top-level build configured the tests or examples" >&2; exit 1; }
cmake --build "$work/plain" -j "$jobs"
[ "$(cd "$work/plain" && ctest -N | grep -c 'Test *#')" = 0 ] ||
  { echo "a plain top-level build registered tests" >&2; exit 1; }
cmake --install "$work/plain" --prefix "$work/plain/install"
check_installed_cli "$work/plain/install"

step "3. find_package(plexus 0.2 CONFIG REQUIRED) consumer"
cmake -S tests/cmake/find_package -B "$work/find_package" -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/find_package" -j "$jobs"
run_ctest "$work/find_package"
check_linkage "$work/find_package"
if cmake -S tests/cmake/find_package -B "$work/find_package_v1" -DCMAKE_PREFIX_PATH="$prefix" \
  -DPLEXUS_WANTED_VERSION=1.0 >"$work/find_package_v1.log" 2>&1; then
  echo "find_package(plexus 1.0) accepted plexus $(grep -o 'Found plexus [0-9.]*' "$work/find_package_v1.log")" >&2
  exit 1
fi
grep -q 'with requested version "1.0"' "$work/find_package_v1.log"
echo "find_package(plexus 1.0) is refused, as it should be"

step "4. pkg-config consumers"
tests/cmake/pkgconfig/check.sh "$prefix" "$work/pkgconfig"

step "5. add_subdirectory() consumer: Debug (cargo dev profile), then a prebuilt library"
cmake -S tests/cmake/subdirectory -B "$work/subdirectory" -DCMAKE_BUILD_TYPE=Debug \
  -DPLEXUS_CARGO_TARGET_DIR="$cargo_dir"
cmake --build "$work/subdirectory" -j "$jobs"
run_ctest "$work/subdirectory"
check_linkage "$work/subdirectory"
# Debug links cargo's debug build; plexus's own tests are not registered in a consumer.
LC_ALL=C readelf -d "$work/subdirectory/app_c" | grep "RUNPATH.*$cargo_dir/debug" >/dev/null
[ "$(cd "$work/subdirectory" && ctest -N | grep -c 'Test *#')" = 4 ]
cmake -S tests/cmake/subdirectory -B "$work/subdirectory_prebuilt" \
  -DPLEXUS_PREBUILT_LIB_DIR="$cargo_dir/release"
cmake --build "$work/subdirectory_prebuilt" -j "$jobs"
run_ctest "$work/subdirectory_prebuilt"
check_linkage "$work/subdirectory_prebuilt"
[ ! -e "$work/subdirectory_prebuilt/plexus/cargo" ] ||
  { echo "cargo ran although PLEXUS_PREBUILT_LIB_DIR was given" >&2; exit 1; }

step "6. ffi-tests and examples under AddressSanitizer + UBSan (leaks included)"
# RelWithDebInfo builds cargo's profiling profile (release code with debug info, so
# sanitizer reports show source lines inside the library) in the target dir of step 1.
cmake -S . -B "$work/sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXUS_BUILD_TESTS=ON \
  -DPLEXUS_SANITIZE=ON -DPLEXUS_CARGO_TARGET_DIR="$cargo_dir"
cmake --build "$work/sanitize" -j "$jobs"
LC_ALL=C readelf -S "$cargo_dir/profiling/libplexus.so" | grep '\.debug_info' >/dev/null ||
  { echo "the RelWithDebInfo (profiling) libplexus.so has no debug info" >&2; exit 1; }
run_ctest "$work/sanitize" --label-exclude hygiene

echo; echo "== CMake checks passed in $(($(date +%s) - started)) s"
