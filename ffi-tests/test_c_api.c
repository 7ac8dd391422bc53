/* Every C function, used the way the header documents it. */
#include "common.h"

#include <math.h>
#include <sys/wait.h>
#include <stdint.h>

static int is_string(const plexus_value *v, const char *s) {
  return v->type == PLEXUS_STRING && v->as.buf.len == strlen(s) &&
         memcmp(v->as.buf.ptr, s, v->as.buf.len) == 0 && ((const char *)v->as.buf.ptr)[v->as.buf.len] == 0;
}

int main(void) {
  CHECK(plexus_version() == (PLEXUS_VERSION_MAJOR << 16 | PLEXUS_VERSION_MINOR << 8 | PLEXUS_VERSION_PATCH));
  CHECK(plexus_recovered_locks() == 0); /* nobody died holding a lock of ours */
  char name[64];
  unique_name(name, sizeof name, "capi");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 2 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  EXPECT(plexus_region_open(name, &o, &(plexus_region){0}), PLEXUS_E_EXISTS);

  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  CHECK(info.size == 2 << 20);
  CHECK(info.format_version == PLEXUS_FORMAT_VERSION);
  CHECK(info.object_count == 0);
  CHECK(info.attached_processes == 1);
  CHECK(info.heap_free + info.heap_used == info.heap_size);

  EXPECT(plexus_region_wait_object(r, "cells", 0), PLEXUS_TIMEOUT);
  plexus_array a;
  MUST(plexus_array_open(r, "cells", 8, 0, &a));
  MUST(plexus_region_wait_object(r, "cells", PLEXUS_FOREVER));
  uint64_t len = 0;
  MUST(plexus_array_len(a, &len));
  CHECK(len == 8);

  /* Every type through write/read. */
  const unsigned char blob[] = {0, 1, 2, 3, 250, 251, 252, 253, 254, 255};
  plexus_value obj;
  MUST(plexus_value_from_json("{\"name\":\"plexus\",\"list\":[1,2.5,null,true]}", &obj));
  CHECK(obj.type == PLEXUS_OBJECT && obj.owner != NULL);
  plexus_value vals[] = {plexus_undefined(),  plexus_null(),          plexus_bool(true),
                         plexus_int(INT64_MIN), plexus_float(-0.25),  plexus_string("short"),
                         plexus_string("a string longer than eight bytes"),
                         plexus_string_n("nul\0inside", 10), plexus_bytes(blob, sizeof blob), obj};
  for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
    plexus_value out;
    MUST(plexus_array_write(a, 0, &vals[k]));
    MUST(plexus_array_read(a, 0, &out));
    if (!plexus_value_equal(&out, &vals[k])) {
      fprintf(stderr, "value %zu did not round-trip (type %d)\n", k, (int)out.type);
      failures++;
    }
    plexus_value_free(&out);
  }
  char json[256];
  size_t needed;
  MUST(plexus_value_to_json(&obj, json, sizeof json, &needed));
  CHECK(strcmp(json, "{\"list\":[1,2.5,null,true],\"name\":\"plexus\"}") == 0 ||
        strcmp(json, "{\"name\":\"plexus\",\"list\":[1,2.5,null,true]}") == 0);
  CHECK(needed == strlen(json) + 1);
  plexus_value_free(&obj);
  plexus_value f = plexus_float(NAN);
  MUST(plexus_value_to_json(&f, json, sizeof json, NULL));
  CHECK(strcmp(json, "null") == 0);
  plexus_value parsed;
  MUST(plexus_value_from_json("9007199254740993", &parsed));
  CHECK(parsed.type == PLEXUS_INT && parsed.as.i == 9007199254740993LL);
  MUST(plexus_value_from_json("\"text\"", &parsed));
  CHECK(is_string(&parsed, "text"));
  plexus_value_free(&parsed);

  /* Full/empty semantics. */
  plexus_value out, one = plexus_int(1), two = plexus_int(2);
  bool full = true;
  MUST(plexus_array_is_full(a, 1, &full));
  CHECK(!full);
  EXPECT(plexus_array_read_fe(a, 1, &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_array_read_ff(a, 1, &out, 1000000), PLEXUS_TIMEOUT);
  MUST(plexus_array_write_ef(a, 1, &one, 0));
  EXPECT(plexus_array_write_ef(a, 1, &two, 1000000), PLEXUS_TIMEOUT);
  MUST(plexus_array_read_ff(a, 1, &out, 0));
  CHECK(out.type == PLEXUS_INT && out.as.i == 1);
  MUST(plexus_array_read_fe(a, 1, &out, PLEXUS_FOREVER));
  CHECK(out.type == PLEXUS_INT && out.as.i == 1);
  MUST(plexus_array_is_full(a, 1, &full));
  CHECK(!full);
  MUST(plexus_array_write_xf(a, 1, &two));
  MUST(plexus_array_write_xf(a, 1, &two)); /* no wait even though FULL */
  MUST(plexus_array_write_xe(a, 1, &one));
  MUST(plexus_array_is_full(a, 1, &full));
  CHECK(!full);
  MUST(plexus_array_set_tag(a, 1, true));
  MUST(plexus_array_read_ff(a, 1, &out, 0));
  CHECK(out.as.i == 1);

  /* read_rw blocks tag changes until released. */
  MUST(plexus_array_read_rw(a, 1, &out, 0));
  MUST(plexus_array_read_rw(a, 1, &out, 0));
  EXPECT(plexus_array_read_fe(a, 1, &out, 2000000), PLEXUS_TIMEOUT);
  MUST(plexus_array_read_ff(a, 1, &out, 0));
  MUST(plexus_array_release_rw(a, 1));
  EXPECT(plexus_array_read_fe(a, 1, &out, 0), PLEXUS_TIMEOUT);
  MUST(plexus_array_release_rw(a, 1));
  EXPECT(plexus_array_release_rw(a, 1), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_array_read_fe(a, 1, &out, 0));

  /* faa / cas / exchange */
  plexus_value old;
  MUST(plexus_array_faa(a, 2, &one, &old));
  CHECK(old.type == PLEXUS_UNDEFINED);
  MUST(plexus_array_faa(a, 2, &two, NULL));
  MUST(plexus_array_read(a, 2, &out));
  CHECK(out.type == PLEXUS_INT && out.as.i == 3);
  plexus_value stop = plexus_string("stop");
  MUST(plexus_array_write(a, 3, &stop));
  MUST(plexus_array_faa(a, 3, &one, &old));
  CHECK(is_string(&old, "stop"));
  plexus_value_free(&old);
  MUST(plexus_array_read(a, 3, &out));
  CHECK(is_string(&out, "stop1"));
  plexus_value_free(&out);
  plexus_value three = plexus_int(3), ten = plexus_int(10);
  MUST(plexus_array_cas(a, 2, &two, &ten, &old)); /* fails: value is 3 */
  CHECK(!plexus_value_equal(&old, &two));
  MUST(plexus_array_cas(a, 2, &three, &ten, &old)); /* succeeds */
  CHECK(plexus_value_equal(&old, &three));
  MUST(plexus_array_exchange(a, 6, &stop, NULL)); /* old may be NULL */
  MUST(plexus_array_cas(a, 6, &stop, &one, NULL));
  MUST(plexus_array_read(a, 6, &out));
  CHECK(out.type == PLEXUS_INT && out.as.i == 1);
  MUST(plexus_array_exchange(a, 2, &stop, &old));
  CHECK(old.type == PLEXUS_INT && old.as.i == 10);
  MUST(plexus_array_read(a, 2, &out));
  CHECK(is_string(&out, "stop"));
  plexus_value_free(&out);

  /* Versions */
  uint64_t v0, v1;
  MUST(plexus_array_version(a, 4, &v0));
  v1 = v0;
  EXPECT(plexus_array_wait_change(a, 4, &v1, 0), PLEXUS_TIMEOUT);
  CHECK(v1 == v0);
  MUST(plexus_array_write(a, 4, &one));
  MUST(plexus_array_wait_change(a, 4, &v1, PLEXUS_FOREVER));
  CHECK(v1 != v0);
  MUST(plexus_array_read(a, 4, &out)); /* reads do not change the version */
  uint64_t v2;
  MUST(plexus_array_version(a, 4, &v2));
  CHECK(v2 == v1);

  /* FULL flag, same handle on reopen, close and reopen. */
  plexus_array b, b2;
  MUST(plexus_array_open(r, "born-full", 3, PLEXUS_FULL, &b));
  MUST(plexus_array_is_full(b, 2, &full));
  CHECK(full);
  MUST(plexus_array_open(r, "born-full", 0, 0, &b2));
  CHECK(b.id == b2.id);
  MUST(plexus_array_close(b)); /* undoes the second open: still usable */
  MUST(plexus_array_is_full(b, 2, &full));
  MUST(plexus_array_close(b)); /* undoes the first: closed */
  EXPECT(plexus_array_close(b), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_array_is_full(b, 2, &full), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_array_open(r, "born-full", 3, 0, &b2));
  CHECK(b2.id != b.id);
  MUST(plexus_region_get_info(r, &info));
  CHECK(info.object_count == 2);

  MUST(plexus_region_flush(r));
  /* fork(): the child cannot use the parent's handles, but can open the region itself. */
  pid_t pid = fork();
  if (pid == 0) {
    plexus_value cv = plexus_int(99), cout;
    if (plexus_array_write(a, 5, &cv) != PLEXUS_E_BAD_HANDLE) _exit(3);
    plexus_region cr;
    plexus_region_options co = PLEXUS_REGION_OPTIONS_INIT;
    co.mode = PLEXUS_OPEN;
    plexus_array ca;
    if (plexus_region_open(name, &co, &cr) || plexus_array_open(cr, "cells", 0, 0, &ca) ||
        plexus_array_write(ca, 5, &cv) || plexus_array_read(ca, 5, &cout) || cout.as.i != 99)
      _exit(4);
    plexus_region_close(cr);
    _exit(0);
  }
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  MUST(plexus_array_read(a, 5, &out));
  CHECK(out.type == PLEXUS_INT && out.as.i == 99);
  /* A second handle in the same process is a second attachment to the same region. */
  plexus_region r2;
  plexus_region_options o2 = PLEXUS_REGION_OPTIONS_INIT;
  o2.mode = PLEXUS_OPEN;
  MUST(plexus_region_open(name, &o2, &r2));
  plexus_region_info info2;
  MUST(plexus_region_get_info(r2, &info2));
  CHECK(info2.region_id == info.region_id);
  CHECK(info2.attached_processes == 2);
  plexus_array a2;
  MUST(plexus_array_open(r2, "cells", 0, 0, &a2));
  MUST(plexus_array_read(a2, 5, &out)); /* the thread now caches a2 */
  MUST(plexus_region_close(r2));
  MUST(plexus_region_get_info(r, &info)); /* closing r2 detached it at once */
  CHECK(info.attached_processes == 1);
  /* Listing: every object once, with its kind and shape; then found = false. */
  {
    plexus_queue lq;
    plexus_mutex lm;
    MUST(plexus_queue_open(r, "list-stack", 5, PLEXUS_LIFO, &lq));
    MUST(plexus_mutex_open(r, "list-mutex", &lm));
    uint64_t cursor = 0;
    plexus_object_info oi;
    bool found = false;
    int seen_cells = 0, seen_stack = 0, seen_mutex = 0, total = 0;
    for (;;) {
      MUST(plexus_region_next_object(r, &cursor, &oi, &found));
      if (!found) break;
      total++;
      if (strcmp(oi.name, "cells") == 0) seen_cells += strcmp(oi.kind, "array") == 0 && oi.shape == 8;
      if (strcmp(oi.name, "list-stack") == 0) seen_stack += strcmp(oi.kind, "stack") == 0 && oi.shape == 5;
      if (strcmp(oi.name, "list-mutex") == 0) seen_mutex += strcmp(oi.kind, "mutex") == 0;
    }
    CHECK(seen_cells == 1 && seen_stack == 1 && seen_mutex == 1);
    plexus_region_info li;
    MUST(plexus_region_get_info(r, &li));
    CHECK(total == (int)li.object_count);
    MUST(plexus_region_next_object(r, &cursor, &oi, &found)); /* at the end it stays there */
    CHECK(!found);
    EXPECT_MSG(plexus_region_next_object(r, NULL, &oi, &found), PLEXUS_E_INVALID_ARGUMENT);
    MUST(plexus_queue_close(lq));
    MUST(plexus_mutex_close(lm));
  }

  /* Removed under open handles: every call says PLEXUS_E_REMOVED; a RECREATE of the
   * name does the same to the handles of the region it replaces. */
  MUST(plexus_region_remove(name));
  EXPECT(plexus_array_read(a, 0, &out), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_write(a, 0, &vals[2]), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_read_fe(a, 0, &out, PLEXUS_FOREVER), PLEXUS_E_REMOVED);
  EXPECT(plexus_region_get_info(r, &info), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_open(r, "more", 1, 0, &a2), PLEXUS_E_REMOVED);
  CHECK(strcmp(plexus_status_name(PLEXUS_E_REMOVED), "PLEXUS_E_REMOVED") == 0);
  MUST(plexus_region_close(r));
  EXPECT(plexus_region_remove(name), PLEXUS_E_NOT_FOUND);
  o2.wait_ns = 20 * 1000 * 1000;
  EXPECT(plexus_region_open(name, &o2, &r2), PLEXUS_E_NOT_FOUND);

  o.mode = PLEXUS_CREATE;
  MUST(plexus_region_open(name, &o, &r));
  MUST(plexus_array_open(r, "cells", 2, 0, &a));
  plexus_region fresh;
  o.mode = PLEXUS_RECREATE;
  MUST(plexus_region_open(name, &o, &fresh));
  EXPECT(plexus_array_read(a, 0, &out), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_open(fresh, "cells", 0, 0, &a2), PLEXUS_E_NOT_FOUND);
  MUST(plexus_region_close(r));
  MUST(plexus_region_close(fresh));
  MUST(plexus_region_remove(name));
  return finish("test_c_api");
}
