/* init_race <region> <start_unix_ns> <id>: sleeps until the given instant, then opens
 * the map "raced" with its own initial data ({"k0": "p<id>", ..., "k9": "p<id>"}), reads
 * every key and prints "winner p<n>" for the data it found: all ten keys must hold the
 * same opener's value (one set wins, and it is complete). */
#include "common.h"

#include <time.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  long long start = atoll(argv[2]);
  const char *id = argv[3];
  char json[512];
  int at = snprintf(json, sizeof json, "{");
  for (int k = 0; k < 10; k++)
    at += snprintf(json + at, sizeof json - at, "%s\"k%d\": \"p%s\"", k ? ", " : "", k, id);
  snprintf(json + at, sizeof json - at, "}");
  plexus_value initial;
  MUST(plexus_value_from_json(json, &initial));
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  struct timespec now;
  do {
    clock_gettime(CLOCK_REALTIME, &now);
  } while ((long long)now.tv_sec * 1000000000LL + now.tv_nsec < start);
  plexus_map m;
  MUST(plexus_map_open_with(r, "raced", 16, 0, &initial, &m));
  plexus_value_free(&initial);
  char first[64] = "";
  for (int k = 0; k < 10; k++) {
    char key[8];
    snprintf(key, sizeof key, "k%d", k);
    plexus_value v;
    MUST(plexus_map_read(m, key, &v));
    CHECK(v.type == PLEXUS_STRING && v.as.buf.len < sizeof first);
    if (v.type != PLEXUS_STRING || v.as.buf.len >= sizeof first) return finish("init_race");
    char got[64];
    memcpy(got, v.as.buf.ptr, v.as.buf.len);
    got[v.as.buf.len] = 0;
    plexus_value_free(&v);
    if (k == 0) snprintf(first, sizeof first, "%s", got);
    if (strcmp(got, first) != 0) {
      fprintf(stderr, "key %s holds %s, key k0 %s: two initialisations mixed\n", key, got, first);
      failures++;
    }
  }
  uint64_t n = 0;
  MUST(plexus_map_len(m, &n));
  CHECK(n == 10);
  printf("winner %s\n", first);
  MUST(plexus_region_close(r));
  return finish("init_race");
}
