#!/usr/bin/env bash
# Builds the Java binding (and, with --tests, its tests) with plain javac into
# target/java/ of the plexus checkout: classes/ and plexus.jar (the binding),
# test-classes/ (the tests). Needs a JDK (11+; Debian: openjdk-17-jdk-headless) and
# JNA and Jackson core (Debian: libjna-java libjackson2-core-java). JARs are found in
# /usr/share/java, or where PLEXUS_JNA_JAR / PLEXUS_JACKSON_JAR say. Prints the class
# path to run with on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${PLEXUS_JAVA_OUT:-${CARGO_TARGET_DIR:-$root/target}/java}"
jna="${PLEXUS_JNA_JAR:-/usr/share/java/jna.jar}"
jackson="${PLEXUS_JACKSON_JAR:-/usr/share/java/jackson-core.jar}"
for jar in "$jna" "$jackson"; do
  if [ ! -f "$jar" ]; then
    echo "build.sh: $jar not found (apt-get install libjna-java libjackson2-core-java, or set PLEXUS_JNA_JAR / PLEXUS_JACKSON_JAR)" >&2
    exit 3
  fi
done
cp="$jna:$jackson"
rm -rf "$out/classes" "$out/test-classes"
mkdir -p "$out/classes"
javac -Xlint:all -Werror --release 17 -encoding UTF-8 -cp "$cp" -d "$out/classes" \
  $(find "$here/src/main/java" -name '*.java' | sort)
jar --create --file "$out/plexus.jar" -C "$out/classes" .
cp="$out/plexus.jar:$cp"
if [ "${1:-}" = "--tests" ]; then
  mkdir -p "$out/test-classes"
  javac -Xlint:all -Werror --release 17 -encoding UTF-8 -cp "$cp" -d "$out/test-classes" \
    $(find "$here/src/test/java" -name '*.java' | sort)
  cp="$out/test-classes:$cp"
fi
echo "$cp"
