/* The C participant of the cross-language demo (./demo.sh runs it beside demo.cpp,
 * demo.py and, when node is installed, demo.js).
 *
 *   demo_c REGION IDS        e.g. demo_c plexus-demo-42 c,cpp,python,node
 *
 * C is the coordinator: it creates the region, the map "demo" (counter = 0, a nested
 * "config" object, control = "run") and last the barrier "meet" for every participant;
 * the others wait for "meet" to exist. Then, like everyone:
 *   1. greets its right neighbour in IDS with write_ef("hello/<id>") and reads its own
 *      greeting with read_fe("hello/c") (a key nobody wrote yet reads as EMPTY: it waits);
 *   2. adds 1 to "counter" 10000 times with faa while the others do the same, and
 *      checks the total after the barrier;
 *   3. (Python changes its copy of "config" and writes it back; C++ and Node print it)
 *   4. writes the stop marker control = "stop" for the C++ background updater and reads
 *      its acknowledgement with read_fe("ack");
 *   5. after the last barrier, once every other process has added 1 to "done", removes
 *      the region.
 * REGION may be a remote region, redis://host:port/NAME (./demo.sh --redis): the same
 * calls then run on a Redis server; a password in it is never printed.
 * Every line starts with "[C]". Exit status 0 on success, 1 on any failure. */
#include <plexus.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECONDS(n) ((int64_t)(n) * 1000 * 1000 * 1000)
#define INCREMENTS 10000
/* Generous limits: over the network (./demo.sh --redis) every call is a round trip to
 * the server, and 4 x 10000 faa on one key take a while. */
#define WAIT SECONDS(60)
#define BARRIER_WAIT SECONDS(120)

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("[C]      ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

static void die(const char *what, plexus_status s) {
  fprintf(stderr, "[C]      %s failed: %s: %s\n", what, plexus_status_name(s), plexus_last_error());
  exit(1);
}
#define TRY(call)                        \
  do {                                   \
    plexus_status s_ = (call);           \
    if (s_ != PLEXUS_OK) die(#call, s_); \
  } while (0)

/* `name` as it may be printed: a remote name's password replaced by "***". */
static const char *shown(const char *name) {
  static char buf[512];
  const char *scheme = strstr(name, "://");
  if (!scheme) return name;
  const char *host = scheme + 3;
  const char *end = strchr(host, '/');
  if (!end) end = host + strlen(host);
  const char *at = NULL; /* the last '@' of the authority */
  for (const char *p = host; p < end; p++)
    if (*p == '@') at = p;
  if (!at) return name;
  const char *colon = memchr(host, ':', (size_t)(at - host));
  snprintf(buf, sizeof buf, "%.*s%.*s%s%s", (int)(host - name), name, colon ? (int)(colon - host) : 0,
           host, colon ? ":***" : "***", at);
  return buf;
}

static plexus_barrier meet;
static int round_no;
static uint32_t parties;

/* Waits at the barrier; whoever arrives last in a round says so. */
static void barrier(void) {
  bool last = false;
  round_no++;
  TRY(plexus_barrier_wait_last(meet, BARRIER_WAIT, &last));
  if (last) say("barrier 'meet' round %d: all %u processes arrived (C was last)", round_no, parties);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: demo_c REGION IDS (e.g. demo_c plexus-demo c,cpp,python)\n");
    return 2;
  }
  /* the participants, in ring order */
  char *ids[8];
  uint32_t me = 0;
  char *list = strdup(argv[2]);
  for (char *t = strtok(list, ","); t && parties < 8; t = strtok(NULL, ",")) {
    if (strcmp(t, "c") == 0) me = parties;
    ids[parties++] = t;
  }
  const char *right = ids[(me + 1) % parties];

  plexus_region_options opts = PLEXUS_REGION_OPTIONS_INIT;
  opts.mode = PLEXUS_CREATE;
  opts.size = 8u << 20;
  plexus_region region;
  TRY(plexus_region_open(argv[1], &opts, &region));
  plexus_map m;
  TRY(plexus_map_open(region, "demo", 64, 0, &m));
  plexus_value v = plexus_int(0);
  TRY(plexus_map_write_xf(m, "counter", &v));
  TRY(plexus_value_from_json("{\"app\":\"plexus demo\",\"limits\":{\"queue\":64,\"timeout_ms\":500},"
                             "\"created_by\":\"C\"}",
                             &v));
  TRY(plexus_map_write_xf(m, "config", &v));
  plexus_value_free(&v);
  v = plexus_string("run");
  TRY(plexus_map_write_xf(m, "control", &v));
  TRY(plexus_barrier_open(region, "meet", parties, &meet)); /* the others wait for this name */
  if (strstr(argv[1], "://"))
    say("created remote region '%s' on its Redis server, map 'demo' and barrier 'meet' for %u processes",
        shown(argv[1]), parties);
  else
    say("created region '%s' (8 MiB, /dev/shm/plexus.%s), map 'demo' and barrier 'meet' for %u processes",
        argv[1], argv[1], parties);

  /* 1. greetings around the ring */
  char key[64], text[128];
  snprintf(key, sizeof key, "hello/%s", right);
  snprintf(text, sizeof text, "hello from C (pid %d)", (int)getpid());
  v = plexus_string(text);
  TRY(plexus_map_write_ef(m, key, &v, WAIT));
  say("write_ef %s <- \"%s\"", key, text);
  plexus_value got;
  TRY(plexus_map_read_fe(m, "hello/c", &got, WAIT));
  say("read_fe hello/c -> \"%.*s\"", (int)got.as.buf.len, (const char *)got.as.buf.ptr);
  plexus_value_free(&got);
  barrier();

  /* 2. one shared counter, incremented by everyone at once */
  plexus_value one = plexus_int(1);
  for (int i = 0; i < INCREMENTS; i++) TRY(plexus_map_faa(m, "counter", &one, NULL));
  barrier();
  TRY(plexus_map_read(m, "counter", &got));
  int64_t want = (int64_t)parties * INCREMENTS;
  if (got.type != PLEXUS_INT || got.as.i != want) {
    fprintf(stderr, "[C]      counter is %lld, expected %lld\n", (long long)got.as.i, (long long)want);
    return 1;
  }
  say("counter = %lld = %u processes x %d faa: correct", (long long)got.as.i, parties, INCREMENTS);
  barrier();

  /* 3. Python edits the nested config object now; C++ and Node print it after round 5 */
  barrier();
  barrier();

  /* 4. stop the C++ background updater */
  TRY(plexus_map_read(m, "ticks", &got));
  say("the C++ updater has ticked %lld times so far; writing the stop marker control = \"stop\"",
      (long long)(got.type == PLEXUS_INT ? got.as.i : 0));
  v = plexus_string("stop");
  TRY(plexus_map_write(m, "control", &v));
  TRY(plexus_map_read_fe(m, "ack", &got, WAIT));
  say("read_fe ack -> \"%.*s\"", (int)got.as.buf.len, (const char *)got.as.buf.ptr);
  plexus_value_free(&got);
  barrier();

  /* 5. once everyone is past the last barrier (each adds 1 to "done"), the region can go:
   * a remote region is gone for everyone at once, so wait for the others first */
  uint64_t seen = 0;
  for (;;) {
    TRY(plexus_map_version(m, "done", &seen)); /* first: a change after it ends the wait */
    TRY(plexus_map_read(m, "done", &got));
    int64_t done = got.type == PLEXUS_INT ? got.as.i : 0;
    plexus_value_free(&got);
    if (done >= (int64_t)parties - 1) break;
    TRY(plexus_map_wait_change(m, "done", &seen, WAIT));
  }
  TRY(plexus_barrier_close(meet));
  TRY(plexus_map_close(m));
  TRY(plexus_region_close(region));
  TRY(plexus_region_remove(argv[1]));
  say("removed region '%s'; done", shown(argv[1]));
  free(list);
  return 0;
}
