/* plexus_map_patch and plexus_array_patch through the C API.
 *
 *   test_patch                      every operator and error case on a fresh shared-memory
 *                                   region (removed at exit)
 *   test_patch <region> api         the same on <region> (created; a redis:// URL runs it
 *                                   remotely), removed at the end
 *   test_patch <region> init        creates <region> with map "m" and array "a"
 *   test_patch <region> inc <n>     n patches {"$inc": {"stats.hits": 1}} of key "cfg"
 *   test_patch <region> push <p> <n>
 *                                   n patches {"$push": {"log.items": "p<p>-<i>"}} of
 *                                   element 0 of "a" (i = 0..n-1)
 *   test_patch <region> verify <incs> <pushers> <n>
 *                                   checks "cfg" holds stats.hits == incs and element 0
 *                                   holds every pushed string exactly once, each
 *                                   pusher's in the order pushed; removes the region
 *
 * After every refused patch the test checks the element is untouched: same value (byte
 * for byte), same version, same tag. */
#include "common.h"

#include <inttypes.h>
#include <stdint.h>

/* Parses JSON into a value the caller frees. */
static plexus_value json(const char *text) {
  plexus_value v = plexus_null();
  MUST(plexus_value_from_json(text, &v));
  return v;
}

/* The value as JSON, in a static buffer. */
static const char *as_json(const plexus_value *v) {
  static char buf[4096];
  if (plexus_value_to_json(v, buf, sizeof buf, NULL) != PLEXUS_OK) snprintf(buf, sizeof buf, "?");
  return buf;
}

/* One element of either kind: key `key` of `m` when key is not NULL, else element `index`
 * of `a`. */
typedef struct {
  plexus_map m;
  plexus_array a;
  const char *key;
  uint64_t index;
} element;

static plexus_status patch(element e, const plexus_value *p, plexus_value *out) {
  return e.key ? plexus_map_patch(e.m, e.key, p, out) : plexus_array_patch(e.a, e.index, p, out);
}

static plexus_value read_el(element e) {
  plexus_value v = plexus_null();
  MUST(e.key ? plexus_map_read(e.m, e.key, &v) : plexus_array_read(e.a, e.index, &v));
  return v;
}

static uint64_t version_of(element e) {
  uint64_t n = 0;
  MUST(e.key ? plexus_map_version(e.m, e.key, &n) : plexus_array_version(e.a, e.index, &n));
  return n;
}

static bool full_of(element e) {
  bool f = false;
  MUST(e.key ? plexus_map_is_full(e.m, e.key, &f) : plexus_array_is_full(e.a, e.index, &f));
  return f;
}

/* The version the first write gives a new key of a new map (an insertion and a write),
 * found by api() before any patch. */
static uint64_t first_write_version;

/* The patch `p` (JSON) gives `want` (JSON); returned and read back alike; version +1 (on
 * an absent key: as the first write of a new key). */
static void ok_patch(element e, const char *p, const char *want, int line) {
  plexus_value pv = json(p), w = json(want), out = plexus_null();
  uint64_t v0 = version_of(e);
  uint64_t v1 = e.key && v0 == 0 ? first_write_version : v0 + 1;
  plexus_status s = patch(e, &pv, &out);
  if (s != PLEXUS_OK) {
    fprintf(stderr, "line %d: %s failed: %s: %s\n", line, p, plexus_status_name(s),
            plexus_last_error());
    failures++;
  } else {
    if (!plexus_value_equal(&out, &w)) {
      fprintf(stderr, "line %d: %s returned %s", line, p, as_json(&out));
      fprintf(stderr, ", expected %s\n", want);
      failures++;
    }
    plexus_value now = read_el(e);
    if (!plexus_value_equal(&now, &w)) {
      fprintf(stderr, "line %d: after %s the element holds %s\n", line, p, as_json(&now));
      failures++;
    }
    plexus_value_free(&now);
    if (version_of(e) != v1) {
      fprintf(stderr, "line %d: %s moved the version from %" PRIu64 " to %" PRIu64 "\n", line,
              p, v0, version_of(e));
      failures++;
    }
  }
  plexus_value_free(&out);
  plexus_value_free(&pv);
  plexus_value_free(&w);
}

/* The patch `p` (JSON) fails with `want`, its message names `names` (the operator and
 * path), and the element is untouched. */
static void bad_patch(element e, const plexus_value *pv, plexus_status want, const char *names,
                      int line) {
  plexus_value before = read_el(e);
  uint64_t v0 = version_of(e);
  bool f0 = full_of(e);
  plexus_value out = plexus_int(7);
  plexus_status s = patch(e, pv, &out);
  if (s != want) {
    fprintf(stderr, "line %d: returned %s, expected %s (%s)\n", line, plexus_status_name(s),
            plexus_status_name(want), plexus_last_error());
    failures++;
  } else if (names && !strstr(plexus_last_error(), names)) {
    fprintf(stderr, "line %d: message '%s' does not name '%s'\n", line, plexus_last_error(),
            names);
    failures++;
  }
  if (out.type != PLEXUS_INT || out.as.i != 7) {
    fprintf(stderr, "line %d: a failed patch wrote *out\n", line);
    failures++;
  }
  plexus_value now = read_el(e);
  if (!plexus_value_equal(&now, &before) || version_of(e) != v0 || full_of(e) != f0) {
    fprintf(stderr, "line %d: a failed patch changed the element (now %s)\n", line,
            as_json(&now));
    failures++;
  }
  plexus_value_free(&now);
  plexus_value_free(&before);
}

static void bad_json(element e, const char *p, plexus_status want, const char *names, int line) {
  plexus_value pv = json(p);
  bad_patch(e, &pv, want, names, line);
  plexus_value_free(&pv);
}

#define OK(e, p, want) ok_patch(e, p, want, __LINE__)
#define BAD(e, p, want, names) bad_json(e, p, want, names, __LINE__)

static void every_operator(element e) {
  /* UNDEFINED counts as {}; missing maps are created. */
  OK(e, "{\"$inc\": {\"stats.hits\": 1}}", "{\"stats\": {\"hits\": 1}}");
  OK(e, "{\"$inc\": {\"stats.hits\": 41}}", "{\"stats\": {\"hits\": 42}}");
  OK(e, "{\"$inc\": {\"stats.hits\": 0.5}}", "{\"stats\": {\"hits\": 42.5}}");
  OK(e,
     "{\"$set\": {\"stats.hits\": 6, \"name\": \"door\", "
     "\"items\": [{\"n\": \"a\"}, {\"n\": \"b\"}]}}",
     "{\"stats\": {\"hits\": 6}, \"name\": \"door\", \"items\": [{\"n\": \"a\"}, {\"n\": \"b\"}]}");
  OK(e, "{\"$set\": {\"items.1.n\": \"z\"}}",
     "{\"stats\": {\"hits\": 6}, \"name\": \"door\", \"items\": [{\"n\": \"a\"}, {\"n\": \"z\"}]}");
  OK(e, "{\"$mul\": {\"stats.hits\": 7}, \"$unset\": {\"items\": \"\"}}",
     "{\"stats\": {\"hits\": 42}, \"name\": \"door\"}");
  OK(e, "{\"$min\": {\"stats.lo\": 5}, \"$max\": {\"stats.hi\": 5}}",
     "{\"stats\": {\"hits\": 42, \"lo\": 5, \"hi\": 5}, \"name\": \"door\"}");
  OK(e, "{\"$min\": {\"stats.lo\": 3, \"stats.hi\": 9}, \"$max\": {\"stats.hits\": 1}}",
     "{\"stats\": {\"hits\": 42, \"lo\": 3, \"hi\": 5}, \"name\": \"door\"}");
  OK(e, "{\"$max\": {\"stats.hi\": 9, \"name\": \"window\"}}",
     "{\"stats\": {\"hits\": 42, \"lo\": 3, \"hi\": 9}, \"name\": \"window\"}");
  OK(e, "{\"$unset\": {\"stats\": 1, \"nothing.here\": 1}}", "{\"name\": \"window\"}");
  OK(e, "{\"$push\": {\"tags\": \"a\"}}", "{\"name\": \"window\", \"tags\": [\"a\"]}");
  OK(e, "{\"$push\": {\"tags\": {\"$each\": [\"b\", \"a\"]}}}",
     "{\"name\": \"window\", \"tags\": [\"a\", \"b\", \"a\"]}");
  OK(e, "{\"$addToSet\": {\"tags\": {\"$each\": [\"a\", \"c\"]}}}",
     "{\"name\": \"window\", \"tags\": [\"a\", \"b\", \"a\", \"c\"]}");
  OK(e, "{\"$addToSet\": {\"tags\": \"b\"}}",
     "{\"name\": \"window\", \"tags\": [\"a\", \"b\", \"a\", \"c\"]}");
  OK(e, "{\"$pull\": {\"tags\": \"a\"}}", "{\"name\": \"window\", \"tags\": [\"b\", \"c\"]}");
  OK(e, "{\"$pull\": {\"absent\": 1}, \"$unset\": {\"tags.0\": 1}}",
     "{\"name\": \"window\", \"tags\": [null, \"c\"]}");

  /* The tag is kept, whichever it is. */
  bool f = full_of(e);
  OK(e, "{\"$set\": {\"n\": 1}}", "{\"name\": \"window\", \"tags\": [null, \"c\"], \"n\": 1}");
  CHECK(full_of(e) == f);
  MUST(e.key ? plexus_map_set_tag(e.m, e.key, !f) : plexus_array_set_tag(e.a, e.index, !f));
  OK(e, "{\"$inc\": {\"n\": 1}}", "{\"name\": \"window\", \"tags\": [null, \"c\"], \"n\": 2}");
  CHECK(full_of(e) == !f);
  /* out may be NULL. */
  plexus_value p = json("{\"$inc\": {\"n\": 1}}");
  MUST(patch(e, &p, NULL));
  plexus_value_free(&p);
  OK(e, "{\"$inc\": {\"n\": -3}}", "{\"name\": \"window\", \"tags\": [null, \"c\"], \"n\": 0}");

  /* Every refusal leaves the element untouched. */
  BAD(e, "{\"$inc\": {\"name\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$inc 'name'");
  BAD(e, "{\"$mul\": {\"tags\": 2}}", PLEXUS_E_TYPE_MISMATCH, "$mul 'tags'");
  BAD(e, "{\"$set\": {\"name.first\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$set 'name.first'");
  BAD(e, "{\"$inc\": {\"n.x.y\": 1}}", PLEXUS_E_TYPE_MISMATCH, "'n' is an int");
  BAD(e, "{\"$set\": {\"tags.2\": 1}}", PLEXUS_E_TYPE_MISMATCH, "past the end");
  BAD(e, "{\"$set\": {\"tags.x\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$set 'tags.x'");
  BAD(e, "{\"$push\": {\"name\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$push 'name'");
  BAD(e, "{\"$addToSet\": {\"n\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$addToSet 'n'");
  BAD(e, "{\"$pull\": {\"name\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$pull 'name'");
  BAD(e, "{\"$min\": {\"name\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$min 'name'");
  BAD(e, "{\"$max\": {\"n\": \"z\"}}", PLEXUS_E_TYPE_MISMATCH, "$max 'n'");
  /* ... also when an earlier operator of the same patch succeeded. */
  BAD(e, "{\"$set\": {\"fresh\": 1}, \"$inc\": {\"name\": 1}}", PLEXUS_E_TYPE_MISMATCH, "$inc");
  BAD(e, "{\"$rename\": {\"a\": \"b\"}}", PLEXUS_E_INVALID_ARGUMENT, "$rename");
  BAD(e, "{}", PLEXUS_E_INVALID_ARGUMENT, "no operator");
  BAD(e, "[1, 2]", PLEXUS_E_INVALID_ARGUMENT, "map of operators");
  BAD(e, "{\"$set\": 5}", PLEXUS_E_INVALID_ARGUMENT, "$set");
  BAD(e, "{\"$inc\": {\"n\": \"1\"}}", PLEXUS_E_INVALID_ARGUMENT, "$inc 'n'");
  BAD(e, "{\"$min\": {\"n\": [1]}}", PLEXUS_E_INVALID_ARGUMENT, "$min 'n'");
  BAD(e, "{\"$set\": {\"a..b\": 1}}", PLEXUS_E_INVALID_ARGUMENT, "$set 'a..b'");
  BAD(e, "{\"$set\": {\"tags.$\": 1}}", PLEXUS_E_INVALID_ARGUMENT, "$set 'tags.$'");
  BAD(e, "{\"$set\": {\"n\": 1}, \"$inc\": {\"n\": 1}}", PLEXUS_E_INVALID_ARGUMENT,
      "same field");
  BAD(e, "{\"$set\": {\"stats\": {}}, \"$inc\": {\"stats.hits\": 1}}", PLEXUS_E_INVALID_ARGUMENT,
      "same field");
  BAD(e, "{\"$push\": {\"tags\": {\"$each\": 1}}}", PLEXUS_E_INVALID_ARGUMENT, "$each");
  BAD(e, "{\"$push\": {\"tags\": {\"$each\": [1], \"$slice\": 1}}}", PLEXUS_E_INVALID_ARGUMENT,
      "$slice");
  BAD(e, "{\"$pull\": {\"tags\": {\"$in\": [1]}}}", PLEXUS_E_INVALID_ARGUMENT, "$in");
  /* Integers are exact: a result outside MessagePack's range is refused, not wrapped. */
  OK(e, "{\"$set\": {\"n\": 9223372036854775807}}",
     "{\"name\": \"window\", \"tags\": [null, \"c\"], \"n\": 9223372036854775807}");
  BAD(e, "{\"$mul\": {\"n\": 3}}", PLEXUS_E_INVALID_ARGUMENT, "$mul 'n'");
  plexus_value scalar = plexus_int(1);
  bad_patch(e, &scalar, PLEXUS_E_INVALID_ARGUMENT, "OBJECT", __LINE__);
  bad_patch(e, NULL, PLEXUS_E_INVALID_ARGUMENT, NULL, __LINE__);
}

/* An element that holds something else than an OBJECT is refused. */
static void not_an_object(element e) {
  plexus_value s = plexus_string("text");
  MUST(e.key ? plexus_map_write(e.m, e.key, &s) : plexus_array_write(e.a, e.index, &s));
  BAD(e, "{\"$set\": {\"a\": 1}}", PLEXUS_E_TYPE_MISMATCH, "string");
}

static plexus_region open_region(const char *name, plexus_open_mode mode) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 4 << 20;
  o.mode = mode;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static int api(const char *name) {
  plexus_region r = open_region(name, PLEXUS_CREATE);
  plexus_map m;
  MUST(plexus_map_open(r, "m", 8, 0, &m));
  plexus_array a;
  MUST(plexus_array_open(r, "a", 4, 0, &a));
  plexus_map probe;
  MUST(plexus_map_open(r, "probe", 1, 0, &probe));
  plexus_value one = plexus_int(1);
  MUST(plexus_map_write(probe, "k", &one));
  MUST(plexus_map_version(probe, "k", &first_write_version));
  element by_key = {m, a, "cfg", 0}, by_index = {m, a, NULL, 2};
  every_operator(by_key);
  every_operator(by_index);
  element other_key = {m, a, "text", 0}, other_index = {m, a, NULL, 3};
  not_an_object(other_key);
  not_an_object(other_index);

  /* A map key: a patch inserts it; a bad document inserts nothing; a full map refuses. */
  uint64_t len = 0;
  MUST(plexus_map_len(m, &len));
  plexus_value bad = json("{\"$bad\": {}}");
  EXPECT(plexus_map_patch(m, "new", &bad, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value_free(&bad);
  uint64_t len2 = 0;
  MUST(plexus_map_len(m, &len2));
  CHECK(len2 == len);
  plexus_value p = json("{\"$set\": {\"k\": 1}}"), out = plexus_null();
  uint64_t ver = 99;
  MUST(plexus_map_version(m, "new", &ver));
  CHECK(ver == 0);
  MUST(plexus_map_patch(m, "new", &p, &out));
  MUST(plexus_map_version(m, "new", &ver));
  CHECK(ver == first_write_version);
  CHECK(strcmp(as_json(&out), "{\"k\":1}") == 0);
  plexus_value_free(&out);
  bool full = true;
  MUST(plexus_map_is_full(m, "new", &full));
  CHECK(!full);
  plexus_map tiny;
  MUST(plexus_map_open(r, "tiny", 1, 0, &tiny));
  MUST(plexus_map_patch(tiny, "one", &p, NULL));
  EXPECT(plexus_map_patch(tiny, "two", &p, NULL), PLEXUS_E_NO_SPACE);
  /* Bad handles and arguments. */
  EXPECT(plexus_array_patch(a, 4, &p, NULL), PLEXUS_E_OUT_OF_RANGE);
  EXPECT(plexus_map_patch(m, NULL, &p, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value_free(&p);

  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_patch");
}

int main(int argc, char **argv) {
  if (argc == 1) {
    char name[64];
    unique_name(name, sizeof name, "cpatch");
    return api(name);
  }
  if (argc < 3) return 2;
  const char *name = argv[1], *role = argv[2];
  if (!strcmp(role, "api")) return api(name);
  if (!strcmp(role, "init")) {
    plexus_region r = open_region(name, PLEXUS_CREATE);
    plexus_map m;
    MUST(plexus_map_open(r, "m", 8, 0, &m));
    plexus_array a;
    MUST(plexus_array_open(r, "a", 1, 0, &a));
    MUST(plexus_region_close(r));
    return finish("test_patch init");
  }
  plexus_region r = open_region(name, PLEXUS_OPEN);
  plexus_map m;
  MUST(plexus_map_open(r, "m", 0, 0, &m));
  plexus_array a;
  MUST(plexus_array_open(r, "a", 0, 0, &a));
  if (!strcmp(role, "inc") && argc == 4) {
    long n = atol(argv[3]);
    plexus_value p = json("{\"$inc\": {\"stats.hits\": 1}}");
    for (long i = 0; i < n; i++) MUST(plexus_map_patch(m, "cfg", &p, NULL));
    plexus_value_free(&p);
  } else if (!strcmp(role, "push") && argc == 5) {
    int who = atoi(argv[3]);
    long n = atol(argv[4]);
    char text[128];
    for (long i = 0; i < n; i++) {
      snprintf(text, sizeof text, "{\"$push\": {\"log.items\": \"p%d-%ld\"}}", who, i);
      plexus_value p = json(text);
      MUST(plexus_array_patch(a, 0, &p, NULL));
      plexus_value_free(&p);
    }
  } else if (!strcmp(role, "verify") && argc == 6) {
    long incs = atol(argv[3]), n = atol(argv[5]);
    int pushers = atoi(argv[4]);
    /* $inc by 0 returns the document with the count (and moves the version: harmless). */
    plexus_value zero = json("{\"$inc\": {\"stats.hits\": 0}}"), doc = plexus_null();
    MUST(plexus_map_patch(m, "cfg", &zero, &doc));
    char want[64];
    snprintf(want, sizeof want, "{\"stats\":{\"hits\":%ld}}", incs);
    if (strcmp(as_json(&doc), want) != 0) {
      fprintf(stderr, "cfg holds %s, expected %s\n", as_json(&doc), want);
      failures++;
    }
    plexus_value_free(&zero);
    plexus_value_free(&doc);
    /* Every pushed string once, each pusher's in the order pushed. */
    plexus_value items = read_el((element){m, a, NULL, 0});
    size_t need = 0;
    plexus_value_to_json(&items, NULL, 0, &need);
    char *text = malloc(need);
    MUST(plexus_value_to_json(&items, text, need, NULL));
    plexus_value_free(&items);
    long *next = calloc((size_t)pushers, sizeof *next);
    long total = 0;
    for (const char *at = strstr(text, "\"p"); at; at = strstr(at + 1, "\"p")) {
      int who = -1;
      long i = -1;
      if (sscanf(at, "\"p%d-%ld\"", &who, &i) != 2 || who < 0 || who >= pushers ||
          i != next[who]) {
        fprintf(stderr, "element 0: item %.20s out of place (after %ld items)\n", at, total);
        failures++;
        break;
      }
      next[who]++;
      total++;
    }
    for (int p = 0; p < pushers; p++) {
      if (next[p] != n) {
        fprintf(stderr, "pusher %d: %ld of %ld items found\n", p, next[p], n);
        failures++;
      }
    }
    free(next);
    free(text);
    printf("test_patch verify: %ld items\n", total);
    MUST(plexus_region_close(r));
    MUST(plexus_region_remove(name));
    return finish("test_patch verify");
  } else {
    return 2;
  }
  MUST(plexus_region_close(r));
  printf("test_patch %s: OK\n", role);
  return 0;
}
