/* scenario_helper <command> <args...>: the checking half of the multi-process scenarios
 * that ffi-tests/scenarios.sh runs under ctest. It does what tests/ffi.rs does in Rust
 * around the same C programs: prepares regions, damages files, validates values and
 * region statistics. Every command exits 0 when its checks pass, 1 with a message on
 * stderr when one fails, 2 on bad usage.
 *
 *   counter-init <region>                       1 MiB region, array "counter" = [INT 0]
 *   expect-int <region> <array> <index> <n>     element <index> is INT <n>
 *   expect-attached <region> <n>                <n> live attachments (this one included)
 *   damage <case> <good-file> <out-file>        writes a damaged copy (cases as in ffi.rs)
 *   kill-setup <region>                         32 MiB region, array "big" (1 element)
 *   kill-watch <region> <stop-file>             read_ff + validate big[0] until <stop-file>
 *                                               exists; fails on a 5 s block or a torn value
 *   kill-after <region>                         after a writer was killed: read_ff returns
 *                                               a whole value within 2.5 s; writes work
 *   rw-setup <region>                           1 MiB region, array "rw" = [INT 7, FULL]
 *   rw-held <region>                            while a read_rw holder lives: read_fe times
 *                                               out, read_ff gives INT 7
 *   rw-released <region>                        after it died: read_fe gives INT 7 (3 s)
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#define MS 1000000LL

static plexus_region open_existing(const char *name) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static plexus_region create(const char *name, uint64_t size) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = size;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A whole value written by big_writer: "<len>:<seq>:" then filler 'a' + seq % 26 up to
 * exactly <len> bytes. Returns NULL if whole, else what is wrong. */
static const char *check_whole(const plexus_value *v, char *why, size_t cap) {
  if (v->type != PLEXUS_STRING) {
    snprintf(why, cap, "not a string (type %d)", (int)v->type);
    return why;
  }
  const char *s = v->as.buf.ptr;
  size_t n = v->as.buf.len;
  char head[64];
  size_t h = n < sizeof head - 1 ? n : sizeof head - 1;
  memcpy(head, s, h);
  head[h] = 0;
  unsigned long long len, seq;
  int used = 0;
  if (sscanf(head, "%llu:%llu:%n", &len, &seq, &used) != 2 || used == 0) {
    snprintf(why, cap, "bad header \"%.20s\"", head);
    return why;
  }
  if (len != n) {
    snprintf(why, cap, "torn: header says %llu bytes, value has %zu", len, n);
    return why;
  }
  char want = (char)('a' + seq % 26);
  for (size_t i = (size_t)used; i < n; i++) {
    if (s[i] != want) {
      snprintf(why, cap, "torn: filler of seq %llu has a foreign byte at %zu", seq, i - (size_t)used);
      return why;
    }
  }
  return NULL;
}

/* Prints "scenario_helper: <message>" on stderr and returns 1. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "scenario_helper: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

static int expect_int(const char *region, const char *array, uint64_t index, int64_t want) {
  plexus_region r = open_existing(region);
  plexus_array a;
  MUST(plexus_array_open(r, array, 0, 0, &a));
  plexus_value v;
  MUST(plexus_array_read(a, index, &v));
  int ok = v.type == PLEXUS_INT && v.as.i == want;
  if (!ok) {
    char json[128] = "";
    plexus_value_to_json(&v, json, sizeof json, NULL);
    fprintf(stderr, "scenario_helper: %s[%" PRIu64 "] is %s (type %d), expected INT %" PRId64 "\n",
            array, index, json, (int)v.type, want);
  }
  plexus_value_free(&v);
  MUST(plexus_region_close(r));
  return ok ? 0 : 1;
}

static int expect_attached(const char *region, uint32_t want) {
  plexus_region r = open_existing(region);
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  MUST(plexus_region_close(r));
  if (info.attached_processes != want) {
    return fail("%u live attachments, expected %u", info.attached_processes, want);
  }
  return 0;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0;
  unsigned char *buf = malloc(cap);
  for (;;) {
    if (n == cap) buf = realloc(buf, cap *= 2);
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* The damaged files of tests/ffi.rs (damaged_and_foreign_files_are_refused_...). */
static int damage(const char *kind, const char *good, const char *out) {
  size_t n;
  unsigned char *b = read_file(good, &n);
  if (!b) return fail("cannot read %s: %s", good, strerror(errno));
  if (n < 8192) return fail("%s is too small for the damage cases", good);
  const char *foreign = "#!/bin/sh\necho this is not a plexus region\n";
  if (strcmp(kind, "corrupted-header") == 0) {
    b[40] ^= 0x5a; /* inside the checksummed fixed header (region id) */
  } else if (strcmp(kind, "other-version") == 0) {
    b[8] = 99; /* format version */
  } else if (strcmp(kind, "other-byte-order") == 0) {
    unsigned char t; /* byte-order mark of a machine of the other byte order */
    t = b[12], b[12] = b[15], b[15] = t;
    t = b[13], b[13] = b[14], b[14] = t;
  } else if (strcmp(kind, "truncated") == 0) {
    n /= 2;
  } else if (strcmp(kind, "tiny") == 0) {
    n = 10;
  } else if (strcmp(kind, "empty") == 0) {
    n = 0;
  } else if (strcmp(kind, "foreign") == 0) {
    n = 1 << 20;
    b = realloc(b, n);
    memset(b, 'x', n);
    memcpy(b, foreign, strlen(foreign));
  } else if (strcmp(kind, "zeroed-header") == 0) {
    memset(b, 0, 4096);
  } else {
    return fail("unknown damage case %s", kind);
  }
  FILE *f = fopen(out, "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) return fail("cannot write %s: %s", out, strerror(errno));
  free(b);
  return 0;
}

static int kill_watch(const char *region, const char *stop_file) {
  plexus_region r = open_existing(region);
  plexus_array a;
  MUST(plexus_array_open(r, "big", 0, 0, &a));
  long reads = 0;
  char why[160];
  while (access(stop_file, F_OK) != 0) {
    plexus_value v;
    plexus_status s = plexus_array_read_ff(a, 0, &v, 5000 * MS);
    if (s == PLEXUS_TIMEOUT) return fail("read_ff blocked 5 s: a dead writer wedged the element");
    if (s != PLEXUS_OK) return fail("read_ff failed: %s: %s", plexus_status_name(s), plexus_last_error());
    if (check_whole(&v, why, sizeof why)) return fail("watcher: %s", why);
    plexus_value_free(&v);
    reads++;
  }
  MUST(plexus_region_close(r));
  if (reads == 0) return fail("the watcher read nothing");
  printf("kill-watch: %ld whole values read\n", reads);
  printf("recovered %llu\n", (unsigned long long)plexus_recovered_locks());
  return 0;
}

static int kill_after(const char *region) {
  plexus_region r = open_existing(region);
  plexus_array a;
  MUST(plexus_array_open(r, "big", 0, 0, &a));
  plexus_value v;
  double t0 = now_seconds();
  plexus_status s = plexus_array_read_ff(a, 0, &v, 2000 * MS);
  double took = now_seconds() - t0;
  char why[160];
  if (s != PLEXUS_OK) return fail("read_ff after the kill: %s: %s", plexus_status_name(s), plexus_last_error());
  if (took > 2.5) return fail("read_ff after the kill took %.3f s", took);
  if (check_whole(&v, why, sizeof why)) return fail("after the kill: %s", why);
  plexus_value_free(&v);
  /* Writes work again too. */
  plexus_value w1 = plexus_string("5:0:a"), w2 = plexus_string("12:1:bbbbbbb");
  MUST(plexus_array_write(a, 0, &w1));
  MUST(plexus_array_write(a, 0, &w2));
  MUST(plexus_region_close(r));
  printf("recovered %llu\n", (unsigned long long)plexus_recovered_locks());
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "counter-init") == 0 && argc == 3) {
    plexus_region r = create(argv[2], 1 << 20);
    plexus_array a;
    MUST(plexus_array_open(r, "counter", 1, 0, &a));
    plexus_value zero = plexus_int(0);
    MUST(plexus_array_write(a, 0, &zero));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (strcmp(cmd, "expect-int") == 0 && argc == 6)
    return expect_int(argv[2], argv[3], strtoull(argv[4], NULL, 10), strtoll(argv[5], NULL, 10));
  if (strcmp(cmd, "expect-attached") == 0 && argc == 4)
    return expect_attached(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
  if (strcmp(cmd, "damage") == 0 && argc == 5) return damage(argv[2], argv[3], argv[4]);
  if (strcmp(cmd, "kill-setup") == 0 && argc == 3) {
    plexus_region r = create(argv[2], 32 << 20);
    plexus_array a;
    MUST(plexus_array_open(r, "big", 1, 0, &a));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (strcmp(cmd, "kill-watch") == 0 && argc == 4) return kill_watch(argv[2], argv[3]);
  if (strcmp(cmd, "kill-after") == 0 && argc == 3) return kill_after(argv[2]);
  if (strcmp(cmd, "rw-setup") == 0 && argc == 3) {
    plexus_region r = create(argv[2], 1 << 20);
    plexus_array a;
    MUST(plexus_array_open(r, "rw", 1, 0, &a));
    plexus_value seven = plexus_int(7);
    MUST(plexus_array_write_xf(a, 0, &seven));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (strcmp(cmd, "rw-held") == 0 && argc == 3) {
    plexus_region r = open_existing(argv[2]);
    plexus_array a;
    MUST(plexus_array_open(r, "rw", 0, 0, &a));
    plexus_value v;
    /* While the holder lives, tag-changing calls wait. */
    EXPECT(plexus_array_read_fe(a, 0, &v, 50 * MS), PLEXUS_TIMEOUT);
    MUST(plexus_array_read_ff(a, 0, &v, 0));
    CHECK(v.type == PLEXUS_INT && v.as.i == 7);
    MUST(plexus_region_close(r));
    return failures ? 1 : 0;
  }
  if (strcmp(cmd, "rw-released") == 0 && argc == 3) {
    plexus_region r = open_existing(argv[2]);
    plexus_array a;
    MUST(plexus_array_open(r, "rw", 0, 0, &a));
    plexus_value v;
    /* Once the holder is dead, its hold is dropped and the consumer proceeds. */
    MUST(plexus_array_read_fe(a, 0, &v, 3000 * MS));
    CHECK(v.type == PLEXUS_INT && v.as.i == 7);
    MUST(plexus_region_close(r));
    return failures ? 1 : 0;
  }
  fprintf(stderr, "usage: scenario_helper <command> <args...> (see the top of scenario_helper.c)\n");
  return 2;
}
