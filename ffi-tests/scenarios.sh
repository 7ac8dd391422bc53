#!/bin/sh
# scenarios.sh <scenario> <bindir> [<label>]
#
# The multi-process tests of ffi-tests/, for ctest: the same C/C++ programs and the same
# checks as tests/ffi.rs (which runs them under `cargo test`), driven from POSIX sh.
# <bindir> holds the programs built against one library (shared or static) and
# scenario_helper, which does the Rust side's preparation and checking. <label> (default:
# the name of <bindir>) goes into messages and region names.
#
# Scenarios (tests/ffi.rs test in brackets):
#   handshake    C++ reader starts first, C writer sends 10000 values through write_ef
#                [c_writer_cpp_reader_10000_handshakes]
#   faa          two processes faa 100000 times each: the counter ends at 200000
#                [two_processes_faa_to_exactly_200000]
#   map-processes three processes insert and remove keys of one map from deterministic
#                scripts; the final map equals their replay
#                [three_processes_insert_and_remove_keys_and_the_map_equals_the_replay]
#   open-race    8 processes create one region at the same instant, 3 rounds: one
#                region id, 8 hits, 1 live attachment, no temporary files left
#                [eight_processes_create_one_region_at_the_same_instant]
#   persist      a persistent region survives its writer, every type
#                [persistent_region_survives_its_writer_every_type]
#   damaged      damaged and foreign files are refused and left byte-for-byte untouched
#                [damaged_and_foreign_files_are_refused_and_left_untouched]
#   kill         40 writers killed with SIGKILL mid-write while a watcher validates every
#                value: nobody blocks, nothing is torn, writes work after every kill
#                [writer_killed_mid_write_never_blocks_or_tears_readers]
#   blocked      a reader blocked for 1 s sleeps instead of spinning [blocked_reader_sleeps]
#   rw-killed    a reader killed while holding read_rw does not block writers
#                [reader_killed_holding_read_rw_does_not_block_writers]
#   mutex-killed a mutex holder killed with SIGKILL: the next locker gets
#                PLEXUS_OWNER_DEAD [mutex_holder_killed_gives_owner_dead_to_the_next_locker]
#   semaphore-killed  the holder of a 1-permit semaphore killed with SIGKILL: another
#                process acquires the permit
#                [semaphore_permit_of_a_killed_holder_comes_back_to_another_process]
#   barrier-processes  4 processes meet at a barrier for 1000 rounds; nobody passes a
#                round before all arrived [barrier_of_four_processes_for_1000_rounds]
#   queue-mpmc   4 producer and 4 consumer processes pass 4 x 100000 values through one
#                queue of 64, FIFO and LIFO: each arrives exactly once (FIFO: in order)
#                [four_producers_four_consumers_100000_values_each_exactly_once]
#   queue-producer-kills  producers of self-validating strings SIGKILLed at random, 2 x 40,
#                while 2 consumers pop: no torn value, no wedge, completed pushes arrive
#                exactly once, in-flight ones at most once
#                [producers_killed_at_random_never_wedge_tear_or_duplicate]
#   queue-consumer-kills  consumers SIGKILLed at random, 2 x 40, while a producer pushes:
#                nothing twice or torn, at most one value lost per killed consumer
#                [consumers_killed_at_random_lose_at_most_their_own_value]
#   bus-pubsub   5 publisher processes x 10000 messages, 30 subscriber processes: each
#                receives all 50000, in one order identical across subscribers
#                [five_publishers_thirty_subscribers_one_order]
#   bus-slow     a slow subscriber on a bus of 64 falls behind, sees the gap in the
#                sequence numbers, keeps going and receives the last message
#                [slow_subscriber_sees_a_gap_and_keeps_going]
#   remove-object  a process blocked in a pop of queue "jobs" wakes with PLEXUS_E_REMOVED
#                when another process removes "jobs" and creates it again as an array;
#                the old handle stays removed, opening the name gives the array
#                [removing_a_queue_wakes_a_popper_in_another_process_and_the_name_is_reused]
#
# Every region and file a scenario creates has the shell's pid in its name and is removed
# at exit, pass or fail. Exit status 0 on success, 1 on failure (with a message).
set -eu

scenario=${1:?usage: scenarios.sh <scenario> <bindir>}
bin=${2:?usage: scenarios.sh <scenario> <bindir>}
kind=${3:-$(basename "$bin")}
tag="ffi-$scenario-$kind-$$"
helper="$bin/scenario_helper"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/plexus-$tag.XXXXXX")
regions=""
children=""

cleanup() {
  for pid in $children; do kill -9 "$pid" 2>/dev/null || true; done # still running
  for r in $regions; do
    rm -f "/dev/shm/plexus.$r"
    # temporary files of an interrupted creation (".plexus.<name>.<suffix>")
    for t in "/dev/shm/.plexus.$r."*; do
      if [ -e "$t" ]; then rm -f "$t"; fi
    done
  done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "scenarios.sh $scenario ($kind): FAILED: $*" >&2
  exit 1
}

# Sets $r to a region name owned by this run (removed at exit).
region() {
  r="$tag-$1"
  regions="$regions $r"
}

# Starts a program in the background; its pid is $child (killed at exit if still running).
spawn() { # <program> <args...>
  "$@" &
  child=$!
  children="$children $child"
}

# Waits for a background program; returns its exit status.
reap() { # <pid>
  status=0
  wait "$1" || status=$?
  children=$(echo " $children " | sed "s/ $1 / /")
  return $status
}

# Kills a background program with SIGKILL and waits for it (quietly: no "Killed").
kill9() { # <pid>
  kill -9 "$1"
  reap "$1" 2>/dev/null || true
}

# Sets $delay to a pseudo-random sleep of 0-19 ms (for the kill scenarios).
random_delay() {
  seed=$(((seed * 1103515245 + 12345) % 2147483648))
  delay="0.0$(printf '%02d' $((seed / 65536 % 20)))"
}

# Sets $order to the order check of queue_worker consume for queue kind $1.
order_of() { # fifo|lifo
  if [ "$1" = fifo ]; then order=fifo; else order=any; fi
}

# Starts a program in the background with its output going to a fifo, and reads its
# first line into $line.
spawn_with_line() { # <fifo> <program> <args...>
  fifo=$1
  shift
  rm -f "$fifo"
  mkfifo "$fifo"
  "$@" >"$fifo" & # (the background job opens the fifo, so the shell does not block)
  child=$!
  children="$children $child"
  line=""
  IFS= read -r line <"$fifo" || true
}

case "$scenario" in
handshake)
  region hs
  # The reader starts first and waits for the region and the array to appear.
  spawn "$bin/handshake_reader" "$r" 10000 >"$scratch/reader.out" 2>"$scratch/reader.err"
  reader=$child
  sleep 0.05
  "$bin/handshake_writer" "$r" 10000 || fail "handshake_writer failed"
  reap "$reader" || { cat "$scratch/reader.err" >&2; fail "handshake_reader failed"; }
  grep -q "handshake_reader: OK 10000" "$scratch/reader.out" ||
    fail "the reader did not report OK 10000: $(cat "$scratch/reader.out")"
  ;;

faa)
  region faa
  "$helper" counter-init "$r"
  spawn "$bin/faa_worker" "$r" 100000 >/dev/null
  w1=$child
  spawn "$bin/faa_worker" "$r" 100000 >/dev/null
  w2=$child
  reap "$w1" || fail "faa_worker 1 failed"
  reap "$w2" || fail "faa_worker 2 failed"
  "$helper" expect-int "$r" counter 0 200000 || fail "increments were lost"
  ;;

map-processes)
  region map
  "$bin/map_worker" "$r" init || fail "map_worker init failed"
  spawn "$bin/map_worker" "$r" run 0 20000 >/dev/null
  w0=$child
  spawn "$bin/map_worker" "$r" run 1 20000 >/dev/null
  w1=$child
  spawn "$bin/map_worker" "$r" run 2 20000 >/dev/null
  w2=$child
  reap "$w0" || fail "map_worker 0 failed"
  reap "$w1" || fail "map_worker 1 failed"
  reap "$w2" || fail "map_worker 2 failed"
  "$bin/map_worker" "$r" verify 3 20000 >/dev/null || fail "the map differs from the replay"
  ;;

open-race)
  for round in 0 1 2; do
    region "race$round"
    start=$(($(date +%s%N) + 300000000)) # 300 ms from now, in Unix nanoseconds
    pids=""
    for p in 1 2 3 4 5 6 7 8; do
      spawn "$bin/open_race" "$r" "$start" >"$scratch/race$round.$p"
      pids="$pids $child"
    done
    for pid in $pids; do reap "$pid" || fail "round $round: an open_race process failed"; done
    ids=$(cat "$scratch/race$round".* | sort -u)
    [ "$(echo "$ids" | wc -l)" -eq 1 ] || fail "round $round: processes saw different regions: $ids"
    "$helper" expect-int "$r" hits 0 8 || fail "round $round: not 8 hits"
    "$helper" expect-attached "$r" 1 || fail "round $round: dead attachments were not cleared"
    for t in "/dev/shm/.plexus.$r."*; do
      if [ -e "$t" ]; then fail "round $round: temporary file left: $t"; fi
    done
  done
  ;;

persist)
  "$bin/persist" write "$scratch/data.plexus" || fail "persist write failed"
  "$bin/persist" read "$scratch/data.plexus" || fail "persist read failed"
  ;;

damaged)
  good="$scratch/good.plexus"
  "$bin/persist" write "$good" >/dev/null || fail "persist write failed"
  for case in corrupted-header other-version other-byte-order truncated tiny empty foreign \
    zeroed-header; do
    case $case in
    other-version | other-byte-order) expected="PLEXUS_E_INCOMPATIBLE" ;;
    zeroed-header) expected="PLEXUS_E_CORRUPT PLEXUS_E_INCOMPATIBLE" ;;
    *) expected="PLEXUS_E_CORRUPT" ;;
    esac
    f="$scratch/$case.plexus"
    "$helper" damage "$case" "$good" "$f" || fail "$case: could not write the damaged file"
    before=$(cksum <"$f")
    "$bin/try_open" "$f" >"$scratch/out" || fail "$case: try_open failed"
    open_status=$(sed -n 1p "$scratch/out")
    message=$(sed -n 2p "$scratch/out")
    create_status=$(sed -n 3p "$scratch/out")
    case " $expected " in *" $open_status "*) ;; *) fail "$case: PLEXUS_OPEN gave $open_status" ;; esac
    case " $expected " in *" $create_status "*) ;; *) fail "$case: PLEXUS_OPEN_OR_CREATE gave $create_status" ;; esac
    [ -n "$message" ] || fail "$case: no message"
    [ "$(cksum <"$f")" = "$before" ] || fail "$case: the file was modified"
  done
  # The good file still opens.
  "$bin/try_open" "$good" >"$scratch/out"
  [ "$(sed -n 1p "$scratch/out")" = "PLEXUS_OK" ] || fail "the good file does not open: $(cat "$scratch/out")"
  ;;

kill)
  region kill
  "$helper" kill-setup "$r"
  # A concurrent watcher validates every value it sees while writers live and die.
  "$helper" kill-watch "$r" "$scratch/stop" >"$scratch/watch.out" &
  watcher=$!
  children="$children $watcher"
  recovered=0
  seed=$$
  kill=0
  while [ $kill -lt 40 ]; do
    spawn_with_line "$scratch/fifo" "$bin/big_writer" "$r"
    [ "$line" = "ready" ] || fail "writer $kill did not start"
    seed=$(((seed * 1103515245 + 12345) % 2147483648))
    sleep "0.$(printf '%03d' $((seed / 65536 % 30)))" # 0-29 ms
    kill9 "$child"
    "$helper" kill-after "$r" >"$scratch/after.out" || fail "after kill $kill"
    recovered=$((recovered + $(sed -n 's/^recovered //p' "$scratch/after.out")))
    kill=$((kill + 1))
  done
  touch "$scratch/stop"
  reap "$watcher" || fail "the watcher failed: $(cat "$scratch/watch.out")"
  recovered=$((recovered + $(sed -n 's/^recovered //p' "$scratch/watch.out")))
  # Some kills landed while a writer held a lock, and the lock was taken over.
  echo "locks recovered from killed writers: $recovered"
  [ "$recovered" -gt 0 ] || fail "no kill landed inside a lock: the scenario did not test recovery"
  # Dead writers' process-table entries are cleared.
  "$helper" expect-attached "$r" 1 || fail "dead writers' attachments were not cleared"
  ;;

blocked)
  region blocked
  "$bin/blocked_cpu" "$r" || fail "blocked_cpu failed"
  ;;

rw-killed)
  region rw
  "$helper" rw-setup "$r"
  spawn_with_line "$scratch/fifo" "$bin/rw_holder" "$r"
  [ "$line" = "held" ] || fail "rw_holder did not take its read_rw lock"
  "$helper" rw-held "$r" || fail "writers were not held off while the reader lived"
  kill9 "$child"
  "$helper" rw-released "$r" || fail "the dead reader's hold was not dropped"
  ;;

mutex-killed)
  region mutex
  "$bin/lock_worker" create "$r"
  spawn_with_line "$scratch/fifo" "$bin/lock_worker" mutex-hold "$r"
  [ "$line" = "locked" ] || fail "lock_worker did not lock the mutex"
  kill9 "$child"
  "$bin/lock_worker" mutex-after-kill "$r" >/dev/null || fail "the next locker did not get PLEXUS_OWNER_DEAD"
  ;;

semaphore-killed)
  region sem
  "$bin/lock_worker" create "$r"
  spawn_with_line "$scratch/fifo" "$bin/lock_worker" sem-hold "$r"
  [ "$line" = "held" ] || fail "lock_worker did not take the permit"
  "$bin/lock_worker" sem-busy "$r" || fail "a second process took a permit while the holder lived"
  kill9 "$child"
  "$bin/lock_worker" sem-acquire "$r" >/dev/null || fail "the killed holder's permit did not come back"
  ;;

barrier-processes)
  region barrier
  "$bin/lock_worker" create "$r"
  pids=""
  for i in 0 1 2 3; do
    spawn "$bin/lock_worker" barrier "$r" $i 4 1000 >/dev/null
    pids="$pids $child"
  done
  for pid in $pids; do reap "$pid" || fail "a barrier party failed"; done
  ;;

bus-pubsub)
  region bus
  "$bin/bus_worker" "$r" init 65536 || fail "bus_worker init failed"
  subs=""
  for i in $(seq 30); do
    spawn "$bin/bus_worker" "$r" subscribe 50000 10000 >"$scratch/sub.$i"
    subs="$subs $child"
  done
  pubs=""
  for p in 0 1 2 3 4; do
    spawn "$bin/bus_worker" "$r" publish $p 10000
    pubs="$pubs $child"
  done
  for pid in $pubs; do reap "$pid" || fail "a publisher failed"; done
  for pid in $subs; do reap "$pid" || fail "a subscriber failed"; done
  [ "$(cat "$scratch"/sub.* | sort -u | wc -l)" -eq 1 ] || fail "subscribers disagree: $(cat "$scratch"/sub.* | sort | uniq -c)"
  read -r count first last _hash gaps <"$scratch/sub.1"
  [ "$count $first $last $gaps" = "50000 1 50000 0" ] || fail "subscriber got $count messages, $first..$last, $gaps gaps"
  ;;

bus-slow)
  region slow
  "$bin/bus_worker" "$r" init 64 || fail "bus_worker init failed"
  spawn "$bin/bus_worker" "$r" slow 200 >"$scratch/slow"
  slow=$child
  tries=0
  until grep -q subscribed "$scratch/slow" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 1000 ] || fail "the slow subscriber did not subscribe"
    sleep 0.01
  done
  "$bin/bus_worker" "$r" publish 0 20000 || fail "the publisher failed"
  "$bin/bus_worker" "$r" close || fail "close failed"
  reap "$slow" || fail "the slow subscriber failed"
  read -r count first last _hash gaps <<EOF
$(tail -n 1 "$scratch/slow")
EOF
  [ "$last" -eq 20000 ] || fail "the slow subscriber's last message was $last, not 20000"
  [ "$gaps" -gt 0 ] || fail "the slow subscriber saw no gap"
  [ "$count" -lt 20000 ] || fail "the slow subscriber received all $count messages"
  ;;

remove-object)
  region rmobj
  # (Its output goes to a file, not a fifo: it prints again after the line waited for.)
  spawn "$bin/remove_object_worker" popper "$r" >"$scratch/popper"
  popper=$child
  tries=0
  until grep -q waiting "$scratch/popper" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 1000 ] || fail "remove_object_worker popper did not start"
    sleep 0.01
  done
  sleep 0.1 # let it block in its pop (had it not yet, the pop finds the queue removed)
  "$bin/remove_object_worker" remover "$r" || fail "remove_object_worker remover failed"
  reap "$popper" || fail "remove_object_worker popper failed"
  ;;

queue-mpmc)
  for qkind in fifo lifo; do
    region "mpmc-$qkind"
    order_of "$qkind"
    "$bin/queue_worker" "$r" init 64 $qkind || fail "$qkind: queue_worker init failed"
    consumers=""
    for c in 0 1 2 3; do
      spawn "$bin/queue_worker" "$r" consume "$scratch/$qkind.c$c" $order >/dev/null
      consumers="$consumers $child"
    done
    producers=""
    for p in 0 1 2 3; do
      spawn "$bin/queue_worker" "$r" produce $p 100000 int >/dev/null
      producers="$producers $child"
    done
    for pid in $producers; do reap "$pid" || fail "$qkind: a producer failed"; done
    "$bin/queue_worker" "$r" close || fail "$qkind: close failed"
    for pid in $consumers; do reap "$pid" || fail "$qkind: a consumer failed"; done
    "$bin/queue_worker" "$r" verify all 4 100000 "$scratch/$qkind".c? ||
      fail "$qkind: values were lost, duplicated or invented"
  done
  ;;

queue-producer-kills)
  seed=$$
  for qkind in fifo lifo; do
    region "pkill-$qkind"
    order_of "$qkind"
    "$bin/queue_worker" "$r" init 8 $qkind || fail "$qkind: queue_worker init failed"
    spawn "$bin/queue_worker" "$r" consume "$scratch/$qkind.c0" $order >/dev/null
    c0=$child
    spawn "$bin/queue_worker" "$r" consume "$scratch/$qkind.c1" $order >/dev/null
    c1=$child
    id=0
    while [ $id -lt 80 ]; do # 40 rounds of two producers, each killed at a random moment
      spawn_with_line "$scratch/fifo0" "$bin/queue_worker" "$r" produce $id 0 string
      [ "$line" = "ready" ] || fail "$qkind: producer $id did not start"
      p0=$child
      spawn_with_line "$scratch/fifo1" "$bin/queue_worker" "$r" produce $((id + 1)) 0 string
      [ "$line" = "ready" ] || fail "$qkind: producer $((id + 1)) did not start"
      p1=$child
      random_delay
      sleep "$delay"
      kill9 "$p0"
      random_delay
      sleep "$delay"
      kill9 "$p1"
      id=$((id + 2))
    done
    # A last producer, stopped by close, shows that pushes still work.
    spawn "$bin/queue_worker" "$r" produce $id 0 string >/dev/null
    last=$child
    sleep 0.05
    "$bin/queue_worker" "$r" close || fail "$qkind: close failed"
    reap "$last" || fail "$qkind: the last producer failed"
    reap "$c0" || fail "$qkind: consumer 0 failed"
    reap "$c1" || fail "$qkind: consumer 1 failed"
    "$bin/queue_worker" "$r" verify producer-kills $((id + 1)) "$scratch/$qkind.c0" "$scratch/$qkind.c1" ||
      fail "$qkind: a completed push was lost or a value duplicated or invented"
  done
  ;;

queue-consumer-kills)
  seed=$$
  for qkind in fifo lifo; do
    region "ckill-$qkind"
    order_of "$qkind"
    "$bin/queue_worker" "$r" init 8 $qkind || fail "$qkind: queue_worker init failed"
    spawn "$bin/queue_worker" "$r" produce 0 0 string >/dev/null
    producer=$child
    files=""
    round=0
    while [ $round -lt 40 ]; do # 40 rounds of two consumers, each killed at a random moment
      for lane in 0 1; do
        f="$scratch/$qkind.killed$round.$lane"
        files="$files $f"
        spawn_with_line "$scratch/fifo$lane" "$bin/queue_worker" "$r" consume "$f" $order
        [ "$line" = "ready" ] || fail "$qkind: consumer $round.$lane did not start"
        eval "lane$lane=\$child"
      done
      random_delay
      sleep "$delay"
      kill9 "$lane0"
      random_delay
      sleep "$delay"
      kill9 "$lane1"
      round=$((round + 1))
    done
    # A last consumer drains the queue after close.
    f="$scratch/$qkind.last"
    files="$files $f"
    spawn "$bin/queue_worker" "$r" consume "$f" $order >/dev/null
    last=$child
    sleep 0.05
    "$bin/queue_worker" "$r" close || fail "$qkind: close failed"
    reap "$producer" || fail "$qkind: the producer failed"
    reap "$last" || fail "$qkind: the last consumer failed"
    # shellcheck disable=SC2086 # $files is a list of paths without spaces
    "$bin/queue_worker" "$r" verify consumer-kills 80 $files ||
      fail "$qkind: values were duplicated or invented, or more lost than consumers killed"
  done
  ;;

*)
  echo "scenarios.sh: unknown scenario '$scenario'" >&2
  exit 2
  ;;
esac
echo "scenarios.sh $scenario ($kind): OK"
