/* Every bad input of the C boundary gets its status and a message, never a crash, and
 * never changes data that was already stored. */
#include "common.h"

#include <stdint.h>

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "badin");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  o.mode = PLEXUS_RECREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "a", 4, 0, &a));
  plexus_value keep = plexus_string("the stored value, long enough for the heap");
  MUST(plexus_array_write_xf(a, 0, &keep));
  plexus_value out = plexus_undefined();
  plexus_value v = plexus_int(1);

  /* NULL pointers */
  EXPECT_MSG(plexus_region_open(NULL, NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open(name, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove(NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_get_info(r, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_wait_object(r, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, NULL, 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "a", 4, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_read(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_write(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_read_fe(a, 0, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_write_ef(a, 1, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_faa(a, 0, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_cas(a, 0, NULL, &v, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_cas(a, 0, &v, NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_exchange(a, 0, NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_is_full(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_version(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_wait_change(a, 0, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_len(a, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json(NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("1", NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_to_json(NULL, NULL, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value_free(NULL); /* a no-op */
  CHECK(!plexus_value_equal(NULL, &v));

  /* Bad names and options */
  EXPECT_MSG(plexus_region_open("", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("bad name with spaces", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open(".hidden", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("/tmp/", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("\xff\xfe", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  plexus_region_options bad = o;
  bad.struct_size = 4;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.mode = (plexus_open_mode)77;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.size = 1000; /* too small */
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.permissions = 0100000;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.mode = PLEXUS_OPEN;
  bad.wait_ns = -5;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "", 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "\xc3\x28", 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "flags", 4, 0x80, &a), PLEXUS_E_INVALID_ARGUMENT);
  char longname[200];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  EXPECT_MSG(plexus_array_open(r, longname, 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove("no-such-region-for-plexus-tests"), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_array_read_fe(a, 1, &out, -7), PLEXUS_E_INVALID_ARGUMENT);

  /* Out of range */
  EXPECT_MSG(plexus_array_read(a, 4, &out), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_write(a, UINT64_MAX, &v), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_read_fe(a, 99, &out, 0), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_set_tag(a, 4, true), PLEXUS_E_OUT_OF_RANGE);

  /* Invalid values: bad UTF-8, unknown type tags, NULL buffers, bad MessagePack */
  plexus_value badstr = plexus_string("\xc3\x28 invalid");
  EXPECT_MSG(plexus_array_write(a, 0, &badstr), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullstr = plexus_string(NULL);
  EXPECT_MSG(plexus_array_write(a, 0, &nullstr), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullbytes = plexus_bytes(NULL, 10);
  EXPECT_MSG(plexus_array_write(a, 0, &nullbytes), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value empty_ok = plexus_bytes(NULL, 0);
  EXPECT(plexus_array_write(a, 3, &empty_ok), PLEXUS_OK);
  plexus_value badtype = plexus_int(5);
  badtype.type = (plexus_type)42;
  EXPECT_MSG(plexus_array_write(a, 0, &badtype), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_faa(a, 0, &badtype, NULL), PLEXUS_E_INVALID_ARGUMENT);
  const unsigned char badpack[] = {0x92, 0x01}; /* array of 2 with one element */
  plexus_value badobj = plexus_object_msgpack(badpack, sizeof badpack);
  EXPECT_MSG(plexus_array_write(a, 0, &badobj), PLEXUS_E_INVALID_ARGUMENT);
  const unsigned char reserved[] = {0xc1};
  plexus_value badobj2 = plexus_object_msgpack(reserved, 1);
  EXPECT_MSG(plexus_array_write_xf(a, 0, &badobj2), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value obj = plexus_object_msgpack(badpack, 1); /* fixarray 0x92 cut: invalid */
  EXPECT_MSG(plexus_array_exchange(a, 0, &obj, &out), PLEXUS_E_INVALID_ARGUMENT);

  /* Bad JSON */
  EXPECT_MSG(plexus_value_from_json("{\"a\":", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("[1,2]]", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("\xff", &out), PLEXUS_E_INVALID_ARGUMENT);
  char small[4];
  size_t needed = 0;
  plexus_value s = plexus_string("longer than four");
  EXPECT_MSG(plexus_value_to_json(&s, small, sizeof small, &needed), PLEXUS_E_BUFFER_TOO_SMALL);
  CHECK(needed == strlen("\"longer than four\"") + 1);
  EXPECT_MSG(plexus_value_to_json(&s, NULL, 0, &needed), PLEXUS_E_BUFFER_TOO_SMALL);
  EXPECT_MSG(plexus_value_to_json(&s, NULL, 100, &needed), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_to_json(&badtype, small, sizeof small, NULL), PLEXUS_E_INVALID_ARGUMENT);

  /* Type errors leave the value alone */
  plexus_value bytes = plexus_bytes("ab", 2);
  EXPECT_MSG(plexus_array_faa(a, 0, &bytes, NULL), PLEXUS_E_TYPE_MISMATCH);

  /* Wrong-kind, zero, forged, stale handles and double close */
  plexus_region zero_r = {0};
  plexus_array zero_a = {0};
  EXPECT_MSG(plexus_array_read(zero_a, 0, &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_region_flush(zero_r), PLEXUS_E_BAD_HANDLE);
  plexus_array forged = {0xdeadbeef12345678ull};
  EXPECT_MSG(plexus_array_write(forged, 0, &v), PLEXUS_E_BAD_HANDLE);
  plexus_array forged2 = {a.id + (1ull << 32)}; /* right slot, wrong generation */
  EXPECT_MSG(plexus_array_read(forged2, 0, &out), PLEXUS_E_BAD_HANDLE);
  plexus_array as_array = {r.id}; /* a region handle used as an array */
  EXPECT_MSG(plexus_array_read(as_array, 0, &out), PLEXUS_E_BAD_HANDLE);
  plexus_region as_region = {a.id};
  EXPECT_MSG(plexus_region_flush(as_region), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_open(as_region, "x", 1, 0, &a), PLEXUS_E_BAD_HANDLE);

  /* Objects of another kind / shape */
  EXPECT_MSG(plexus_array_open(r, "a", 5, 0, &a), PLEXUS_E_INCOMPATIBLE);
  EXPECT_MSG(plexus_array_open(r, "a", 4, PLEXUS_EXCLUSIVE, &a), PLEXUS_E_EXISTS);
  EXPECT_MSG(plexus_array_open(r, "missing", 0, 0, &a), PLEXUS_E_NOT_FOUND);

  /* The stored value survived every failed call. */
  MUST(plexus_array_read(a, 0, &out));
  CHECK(plexus_value_equal(&out, &keep));
  plexus_value_free(&out);
  plexus_value_free(&out); /* twice is fine */
  CHECK(out.type == PLEXUS_UNDEFINED && out.owner == NULL);

  CHECK(strcmp(plexus_status_name(PLEXUS_E_CORRUPT), "PLEXUS_E_CORRUPT") == 0);
  CHECK(strcmp(plexus_status_name((plexus_status)12345), "PLEXUS_UNKNOWN_STATUS") == 0);

  /* Closing: object handles die with their region; double close is an error. */
  plexus_array a_again;
  MUST(plexus_array_open(r, "a", 0, 0, &a_again));
  CHECK(a_again.id == a.id);
  MUST(plexus_region_close(r));
  EXPECT_MSG(plexus_region_close(r), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_read(a, 0, &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_close(a), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_region_get_info(r, &(plexus_region_info){0}), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_region_remove(name));
  return finish("test_bad_inputs");
}
