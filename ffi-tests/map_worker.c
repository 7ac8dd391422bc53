/* map_worker: several processes insert and remove keys of one map from deterministic
 * scripts; the final map must equal a replay of the scripts.
 *
 *   map_worker <region> init                    4 MiB region, map "m" of capacity 128
 *   map_worker <region> run <p> <ops>           runs script <p> (its keys are "p<p>-...")
 *   map_worker <region> verify <nprocs> <ops>   replays scripts 0..nprocs-1 in memory and
 *                                               checks every key, value, tag and len
 *
 * Script <p>, step i: a pseudo-random key among 40 of process <p> (every fifth one longer
 * than 100 bytes) and one of write_xf(i), write_xe(i), faa(1), remove. Keys are disjoint
 * between processes, so the outcome does not depend on how the processes interleave. */
#include "common.h"

#include <stdint.h>

#define KEYS 40
#define CAPACITY 128

typedef struct {
  int present;
  int64_t value;
  int full;
} model_entry;

static uint64_t next(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

static void key_name(char *buf, size_t cap, int p, unsigned k) {
  if (k % 5 == 0)
    snprintf(buf, cap, "p%d-key-%u-%0100u", p, k, k);
  else
    snprintf(buf, cap, "p%d-key-%u", p, k);
}

/* Runs (m valid) or replays (model non-NULL) script p. */
static void script(plexus_map m, model_entry *model, int p, long ops) {
  uint64_t x = (uint64_t)p + 1;
  char key[160];
  for (long i = 0; i < ops; i++) {
    uint64_t r = next(&x);
    unsigned k = (unsigned)(r % KEYS);
    unsigned op = (unsigned)((r >> 8) % 4);
    key_name(key, sizeof key, p, k);
    plexus_value v = plexus_int(i);
    plexus_value one = plexus_int(1);
    if (model == NULL) {
      switch (op) {
      case 0: MUST(plexus_map_write_xf(m, key, &v)); break;
      case 1: MUST(plexus_map_write_xe(m, key, &v)); break;
      case 2: MUST(plexus_map_faa(m, key, &one, NULL)); break;
      default: {
        plexus_status s = plexus_map_remove(m, key);
        if (s != PLEXUS_OK && s != PLEXUS_E_NOT_FOUND) MUST(s);
      }
      }
      continue;
    }
    model_entry *e = &model[k];
    switch (op) {
    case 0: *e = (model_entry){1, i, 1}; break;
    case 1: *e = (model_entry){1, i, 0}; break;
    case 2:
      if (e->present) e->value += 1;
      else *e = (model_entry){1, 1, 0};
      break;
    default: e->present = 0;
    }
  }
}

static plexus_region open_existing(const char *name) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (strcmp(argv[2], "init") == 0) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_CREATE;
    o.size = 4 << 20;
    plexus_region r;
    MUST(plexus_region_open(argv[1], &o, &r));
    plexus_map m;
    MUST(plexus_map_open(r, "m", CAPACITY, 0, &m));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (argc != 5) return 2;
  plexus_region r = open_existing(argv[1]);
  plexus_map m;
  MUST(plexus_map_open(r, "m", CAPACITY, 0, &m));
  long ops = atol(argv[4]);
  if (strcmp(argv[2], "run") == 0) {
    script(m, NULL, atoi(argv[3]), ops);
    MUST(plexus_region_close(r));
    printf("map_worker: OK %ld\n", ops);
    return 0;
  }
  if (strcmp(argv[2], "verify") != 0) return 2;
  int nprocs = atoi(argv[3]);
  uint64_t expected_len = 0;
  char key[160];
  for (int p = 0; p < nprocs; p++) {
    model_entry model[KEYS] = {{0, 0, 0}};
    script(m, model, p, ops);
    for (unsigned k = 0; k < KEYS; k++) {
      key_name(key, sizeof key, p, k);
      plexus_value v;
      bool full = false;
      MUST(plexus_map_read(m, key, &v));
      MUST(plexus_map_is_full(m, key, &full));
      if (model[k].present) {
        expected_len++;
        if (v.type != PLEXUS_INT || v.as.i != model[k].value || full != (model[k].full != 0)) {
          fprintf(stderr, "%s: expected %lld (%s), found type %u value %lld (%s)\n", key,
                  (long long)model[k].value, model[k].full ? "FULL" : "EMPTY", v.type,
                  v.type == PLEXUS_INT ? (long long)v.as.i : 0LL, full ? "FULL" : "EMPTY");
          failures++;
        }
      } else if (v.type != PLEXUS_UNDEFINED || full) {
        fprintf(stderr, "%s: expected absent, found type %u\n", key, v.type);
        failures++;
      }
      plexus_value_free(&v);
    }
  }
  uint64_t len = 0, listed = 0, cursor = 0;
  MUST(plexus_map_len(m, &len));
  CHECK(len == expected_len);
  plexus_value k;
  while (plexus_map_next_key(m, &cursor, &k) == PLEXUS_OK) {
    listed++;
    plexus_value_free(&k);
  }
  CHECK(listed == expected_len);
  MUST(plexus_region_close(r));
  if (failures) {
    fprintf(stderr, "map_worker verify: %d failure(s)\n", failures);
    return 1;
  }
  printf("map_worker: OK %llu keys\n", (unsigned long long)len);
  return 0;
}
