/* Every plexus_map function, used the way the header documents it, and bad inputs. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

static int is_string(const plexus_value *v, const char *s) {
  return v->type == PLEXUS_STRING && v->as.buf.len == strlen(s) &&
         memcmp(v->as.buf.ptr, s, v->as.buf.len) == 0;
}

static plexus_map shared_map;

/* Closes shared_map from another thread than the one that uses (and caches) it. */
static void *closer(void *arg) {
  (void)arg;
  MUST(plexus_map_close(shared_map));
  return NULL;
}

/* Writes "late" (FULL) after a pause, while the main thread waits on the absent key. */
static void *late_writer(void *arg) {
  (void)arg;
  usleep(50 * 1000);
  plexus_value v = plexus_int(42);
  MUST(plexus_map_write_xf(shared_map, "late", &v));
  return NULL;
}

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "cmap");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 4 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));

  plexus_map m;
  MUST(plexus_map_open(r, "m", 4, 0, &m));
  uint64_t n = 99;
  MUST(plexus_map_capacity(m, &n));
  CHECK(n == 4);
  MUST(plexus_map_len(m, &n));
  CHECK(n == 0);

  /* Absent keys: EMPTY holding UNDEFINED, version 0; waiting reads time out. */
  plexus_value out = plexus_null();
  MUST(plexus_map_read(m, "x", &out));
  CHECK(out.type == PLEXUS_UNDEFINED);
  bool full = true;
  MUST(plexus_map_is_full(m, "x", &full));
  CHECK(!full);
  uint64_t ver = 7;
  MUST(plexus_map_version(m, "x", &ver));
  CHECK(ver == 0);
  EXPECT(plexus_map_read_fe(m, "x", &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_map_read_ff(m, "x", &out, 1000000), PLEXUS_TIMEOUT);
  EXPECT(plexus_map_read_rw(m, "x", &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_map_wait_change(m, "x", &ver, 0), PLEXUS_TIMEOUT);
  EXPECT_MSG(plexus_map_remove(m, "x"), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_map_release_rw(m, "x"), PLEXUS_E_INVALID_ARGUMENT);

  /* Writes insert. */
  plexus_value s = plexus_string("a string longer than eight bytes");
  MUST(plexus_map_write(m, "a", &s));
  MUST(plexus_map_is_full(m, "a", &full));
  CHECK(!full);
  MUST(plexus_map_read(m, "a", &out));
  CHECK(is_string(&out, "a string longer than eight bytes"));
  plexus_value_free(&out);
  EXPECT(plexus_map_wait_change(m, "x", &ver, 0), PLEXUS_TIMEOUT); /* writes to "a" are not "x" */
  plexus_value one = plexus_int(1);
  MUST(plexus_map_write_ef(m, "a", &one, 0));
  EXPECT(plexus_map_write_ef(m, "a", &one, 0), PLEXUS_TIMEOUT);
  MUST(plexus_map_read_ff(m, "a", &out, 0));
  CHECK(out.type == PLEXUS_INT && out.as.i == 1);
  MUST(plexus_map_read_fe(m, "a", &out, PLEXUS_FOREVER));
  CHECK(out.type == PLEXUS_INT && out.as.i == 1);
  MUST(plexus_map_is_full(m, "a", &full));
  CHECK(!full);
  MUST(plexus_map_write_xf(m, "b", &s));
  MUST(plexus_map_is_full(m, "b", &full));
  CHECK(full);
  MUST(plexus_map_write_xe(m, "b", &one));
  MUST(plexus_map_is_full(m, "b", &full));
  CHECK(!full);
  MUST(plexus_map_set_tag(m, "c", true));
  MUST(plexus_map_read_rw(m, "c", &out, 0));
  CHECK(out.type == PLEXUS_UNDEFINED);
  MUST(plexus_map_release_rw(m, "c"));
  plexus_value old = plexus_null();
  MUST(plexus_map_faa(m, "d", &one, &old));
  CHECK(old.type == PLEXUS_UNDEFINED);
  MUST(plexus_map_faa(m, "d", &one, NULL));
  plexus_value two = plexus_int(2), ten = plexus_int(10);
  MUST(plexus_map_cas(m, "d", &two, &ten, &old));
  CHECK(old.type == PLEXUS_INT && old.as.i == 2);
  MUST(plexus_map_exchange(m, "d", &one, &old));
  CHECK(old.type == PLEXUS_INT && old.as.i == 10);
  MUST(plexus_map_len(m, &n));
  CHECK(n == 4);

  /* Full map: NO_SPACE for a new key, room again after a removal. */
  EXPECT_MSG(plexus_map_write(m, "e", &one), PLEXUS_E_NO_SPACE);
  MUST(plexus_map_version(m, "d", &ver));
  CHECK(ver > 0);
  uint64_t seen = ver;
  MUST(plexus_map_remove(m, "d"));
  MUST(plexus_map_wait_change(m, "d", &seen, 0));
  CHECK(seen == 0);
  MUST(plexus_map_write(m, "e", &one));
  MUST(plexus_map_len(m, &n));
  CHECK(n == 4);

  /* Iteration: every key once, then NOT_FOUND. */
  uint64_t cursor = 0;
  int count = 0, mask = 0;
  plexus_value key;
  while (plexus_map_next_key(m, &cursor, &key) == PLEXUS_OK) {
    count++;
    if (is_string(&key, "a")) mask |= 1;
    if (is_string(&key, "b")) mask |= 2;
    if (is_string(&key, "c")) mask |= 4;
    if (is_string(&key, "e")) mask |= 8;
    plexus_value_free(&key);
  }
  CHECK(count == 4 && mask == 15);
  EXPECT(plexus_map_next_key(m, &cursor, &key), PLEXUS_E_NOT_FOUND);

  /* A read_fe on a key nobody wrote blocks until another thread writes it. */
  shared_map = m;
  MUST(plexus_map_remove(m, "e"));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, late_writer, NULL) == 0);
  MUST(plexus_map_read_fe(m, "late", &out, 10LL * 1000 * 1000 * 1000));
  CHECK(out.type == PLEXUS_INT && out.as.i == 42);
  pthread_join(t, NULL);

  /* Long keys: up to PLEXUS_MAP_MAX_KEY_LEN bytes. */
  MUST(plexus_map_remove(m, "late"));
  char *longkey = malloc(PLEXUS_MAP_MAX_KEY_LEN + 2);
  memset(longkey, 'k', PLEXUS_MAP_MAX_KEY_LEN + 1);
  longkey[PLEXUS_MAP_MAX_KEY_LEN + 1] = 0;
  EXPECT_MSG(plexus_map_write(m, longkey, &one), PLEXUS_E_INVALID_ARGUMENT);
  longkey[PLEXUS_MAP_MAX_KEY_LEN] = 0;
  MUST(plexus_map_write(m, longkey, &two));
  MUST(plexus_map_read(m, longkey, &out));
  CHECK(out.type == PLEXUS_INT && out.as.i == 2);
  MUST(plexus_map_remove(m, longkey));
  free(longkey);

  /* Bad inputs. */
  EXPECT_MSG(plexus_map_read(m, NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_write(m, NULL, &one), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_remove(m, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_write(m, "\xff\xfe", &one), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_read(m, "\xc3", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_read(m, "a", NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_write(m, "a", NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_len(m, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_next_key(m, NULL, &key), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_wait_change(m, "a", NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_read_fe(m, "a", &out, -5), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_open(r, "bad", 4, 0x80, &(plexus_map){0}), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_len((plexus_map){0}, &n), PLEXUS_E_BAD_HANDLE);

  /* Kind and shape: an array is not a map and a map handle is not an array handle. */
  plexus_array a;
  MUST(plexus_array_open(r, "arr", 2, 0, &a));
  EXPECT_MSG(plexus_map_open(r, "arr", 2, 0, &(plexus_map){0}), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_array_open(r, "m", 4, 0, &(plexus_array){0}), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_map_open(r, "m", 5, 0, &(plexus_map){0}), PLEXUS_E_INCOMPATIBLE);
  EXPECT_MSG(plexus_map_open(r, "m", 4, PLEXUS_EXCLUSIVE, &(plexus_map){0}), PLEXUS_E_EXISTS);
  EXPECT_MSG(plexus_map_open(r, "nope", 0, 0, &(plexus_map){0}), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_map_read((plexus_map){a.id}, "a", &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_read((plexus_array){m.id}, 0, &out), PLEXUS_E_BAD_HANDLE);

  /* The per-thread handle cache: more objects in use than it has entries, in turn, each
   * answers for itself; a map closed by another thread is refused here although this
   * thread had it cached; other handles keep working. */
  plexus_map ms[6];
  for (int i = 0; i < 6; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "c%d", i);
    MUST(plexus_map_open(r, nm, 2, 0, &ms[i]));
  }
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 6; i++) {
      plexus_value w = plexus_int(round * 10 + i);
      MUST(plexus_map_write_xf(ms[i], "k", &w));
      MUST(plexus_array_write(a, 0, &w));
      MUST(plexus_map_read_ff(ms[i], "k", &out, 0));
      CHECK(out.type == PLEXUS_INT && out.as.i == round * 10 + i);
      if (i > 0) {
        MUST(plexus_map_read(ms[i - 1], "k", &out));
        CHECK(out.type == PLEXUS_INT && out.as.i == round * 10 + i - 1);
      }
    }
  shared_map = ms[3];
  MUST(plexus_map_len(ms[3], &n)); /* cached by this thread */
  CHECK(pthread_create(&t, NULL, closer, NULL) == 0);
  pthread_join(t, NULL);
  EXPECT_MSG(plexus_map_len(ms[3], &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_map_read(ms[3], "k", &out), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_map_read(ms[4], "k", &out));
  CHECK(out.type == PLEXUS_INT && out.as.i == 24);

  /* Closing a second handle on the region (whose map this thread has cached) detaches it
   * at once. */
  plexus_region r2;
  MUST(plexus_region_open(name, NULL, &r2));
  plexus_map m_r2;
  MUST(plexus_map_open(r2, "m", 0, 0, &m_r2));
  MUST(plexus_map_read(m_r2, "a", &out)); /* the thread now caches m_r2 */
  plexus_value_free(&out);
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  CHECK(info.attached_processes == 2);
  MUST(plexus_region_close(r2));
  MUST(plexus_region_get_info(r, &info));
  CHECK(info.attached_processes == 1);

  /* PLEXUS_FULL: inserted keys start FULL. */
  plexus_map f;
  MUST(plexus_map_open(r, "f", 2, PLEXUS_FULL, &f));
  MUST(plexus_map_faa(f, "k", &one, NULL));
  MUST(plexus_map_is_full(f, "k", &full));
  CHECK(full);

  /* Same handle for a second open; closes undo opens. */
  plexus_map m2;
  MUST(plexus_map_open(r, "m", 0, 0, &m2));
  CHECK(m2.id == m.id);
  MUST(plexus_map_close(m2));
  MUST(plexus_map_len(m, &n));
  MUST(plexus_map_close(m));
  EXPECT(plexus_map_close(m), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_region_close(r));
  EXPECT(plexus_map_len(f, &n), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_region_remove(name));
  return finish("test_map");
}
