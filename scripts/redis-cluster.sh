#!/usr/bin/env bash
# A 3-master Redis Cluster on loopback, and C/C++ programs sharing one plexus region
# through a node that does NOT own the region's hash slot: the library follows MOVED to
# the owner, and every key of the region lands in that one slot (one hash tag per region).
#
#   scripts/redis-cluster.sh          start the cluster, run the check, stop the cluster
#   scripts/redis-cluster.sh --keep   leave the cluster running afterwards and print how
#                                     to reach and stop it (to try the CLI or a binding)
#
# The check: a C writer and a C++ reader hand 2,000 values over (write_ef/read_fe), two
# faa_worker processes add 1,000 each to one element, remote_counter reads 2,000 and
# removes the region; meanwhile the nodes that do not own the slot hold no key.
#
# cargo test runs the same check without this script (tests/remote.rs,
# a_region_on_a_three_master_cluster_follows_moved: it forms the cluster itself with
# CLUSTER ADDSLOTSRANGE / MEET and takes a few seconds), so CI does not run this script.
# It is for trying a cluster by hand, with `redis-cli --cluster create` as an operator
# would, or another redis-server/valkey-server build (REDIS_SERVER=..., REDIS_CLI=...).
#
# Needs redis-server and redis-cli (Debian: redis-server, which pulls in redis-tools),
# cc, c++, cargo and python3 (to pick free ports). Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
case "${1:-}" in
  --keep) keep=1 ;;
  "") ;;
  *) echo "usage: scripts/redis-cluster.sh [--keep]" >&2; exit 2 ;;
esac
server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}
for tool in "$server" "$cli" cc c++ cargo python3; do
  command -v "$tool" >/dev/null || { echo "redis-cluster.sh: $tool is needed" >&2; exit 2; }
done

echo "== building libplexus (cargo build) and the test programs"
cargo build --quiet
lib=$PWD/target/debug
work=$(mktemp -d "${TMPDIR:-/tmp}/plexus-cluster.XXXXXX")
pids=()
cleanup() {
  if [ "$keep" = 0 ]; then
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
  fi
}
trap cleanup EXIT

cflags=(-Wall -Wextra -Werror -O1 -Iinclude -Iffi-tests -L"$lib" -Wl,-rpath,"$lib")
for p in handshake_writer faa_worker remote_counter; do
  cc -std=c11 -D_GNU_SOURCE "${cflags[@]}" "ffi-tests/$p.c" -lplexus -o "$work/$p"
done
c++ -std=c++17 "${cflags[@]}" ffi-tests/handshake_reader.cpp -lplexus -o "$work/handshake_reader"

# Six free ports: three for clients, three for the cluster bus (--cluster-port: the
# default, port + 10000, may be taken or beyond 65535).
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

echo "== starting 3 masters on 127.0.0.1:${ports[0]}, ${ports[1]}, ${ports[2]}"
for i in 0 1 2; do
  mkdir -p "$work/node$i"
  "$server" --port "${ports[$i]}" --bind 127.0.0.1 --dir "$work/node$i" --save "" \
    --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-port "${ports[$((i + 3))]}" --cluster-node-timeout 5000 \
    >"$work/node$i/log" 2>&1 &
  pids+=($!)
  disown $! # no "Killed" job report when the cleanup kills it
done
for i in 0 1 2; do
  for _ in $(seq 100); do
    [ "$("$cli" -p "${ports[$i]}" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
done

echo "== redis-cli --cluster create (no replicas)"
"$cli" --cluster create "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
  --cluster-replicas 0 --cluster-yes >"$work/create.log" 2>&1 || {
  cat "$work/create.log" >&2
  exit 1
}
for i in 0 1 2; do
  for try in $(seq 300); do
    info=$("$cli" -p "${ports[$i]}" cluster info)
    if grep -q cluster_state:ok <<<"$info" && grep -q cluster_known_nodes:3 <<<"$info"; then
      break
    fi
    [ "$try" = 300 ] && { echo "redis-cluster.sh: the cluster did not form" >&2; exit 1; }
    sleep 0.1
  done
done

# The node owning the region's slot answers a plain GET of one of its keys; the others
# answer MOVED.
name="cluster-check-$$"
owner=
for i in 0 1 2; do
  if ! "$cli" -p "${ports[$i]}" get "px:{$name}:meta" 2>&1 | grep -q MOVED; then owner=$i; fi
done
[ -n "$owner" ] || { echo "redis-cluster.sh: no node owns the region's slot" >&2; exit 1; }
other=$(((owner + 1) % 3))
slot=$("$cli" -p "${ports[0]}" cluster keyslot "px:{$name}:meta")
url="redis://127.0.0.1:${ports[$other]}/$name"
echo "== region $url: slot $slot, owned by node $owner (port ${ports[$owner]}), URL names node $other"

echo "== 2,000 handshakes (C writer, C++ reader)"
"$work/handshake_reader" "$url" 2000 &
reader=$!
"$work/handshake_writer" "$url" 2000
wait "$reader"

echo "== 2 processes x 1,000 faa"
"$work/faa_worker" "$url" 1000 &
w1=$!
"$work/faa_worker" "$url" 1000 &
w2=$!
wait "$w1"
wait "$w2"

for i in 0 1 2; do
  keys=$("$cli" -p "${ports[$i]}" dbsize)
  if [ "$i" = "$owner" ]; then
    [ "$keys" -gt 0 ] || { echo "redis-cluster.sh: the owner holds no key" >&2; exit 1; }
  else
    [ "$keys" = 0 ] || { echo "redis-cluster.sh: node $i holds $keys keys outside its slots" >&2; exit 1; }
  fi
done
echo "== keys: all $("$cli" -p "${ports[$owner]}" cluster countkeysinslot "$slot") in slot $slot on node $owner"

"$work/remote_counter" "$url" 2000

if [ "$keep" = 1 ]; then
  echo "== the cluster keeps running: redis://127.0.0.1:${ports[0]}/NAME (or ${ports[1]}, ${ports[2]});"
  echo "   stop it with: kill ${pids[*]}; rm -rf $work"
fi
echo "redis-cluster.sh: OK"
