/* Every plexus_tarray function, used the way the header documents it: every dtype,
 * every status a call can return, bad inputs. Without arguments: on shared memory.
 * `test_tarray URL api`: the same calls on a remote region (zero-copy calls UNSUPPORTED).
 * Worker roles for the multi-process tests in tests/ffi.rs:
 *   test_tarray REGION faa N            N x plexus_tarray_faa(+1) on element 0 of "ctr"
 *   test_tarray REGION hold-write B     begins writing block B of "frames", scribbles,
 *                                       prints "holding" and sleeps (to be killed)
 *   test_tarray REGION hold-read B      begins reading block B, prints, sleeps
 *   test_tarray REGION waiter V         waits on element 1 of "ctr" while it equals V,
 *                                       prints "woke <value>" */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

#define MS 1000000LL

static const size_t SIZES[] = {0, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};

/* Open rules, shape, data pointer and copies, for every dtype. */
static void test_dtypes(plexus_region r, int remote) {
  for (int d = PLEXUS_DTYPE_I8; d <= PLEXUS_DTYPE_F64; d++) {
    char name[32];
    snprintf(name, sizeof name, "dt%d", d);
    plexus_tarray t, t2;
    MUST(plexus_tarray_open(r, name, (plexus_dtype)d, 100, 30, 0, &t));
    /* Same handle through one region handle; length 0 opens; block_len 0 accepts. */
    MUST(plexus_tarray_open(r, name, (plexus_dtype)d, 0, 0, 0, &t2));
    CHECK(t2.id == t.id);
    MUST(plexus_tarray_close(t2));
    EXPECT_MSG(plexus_tarray_open(r, name, (plexus_dtype)d, 101, 30, 0, &t2), PLEXUS_E_INCOMPATIBLE);
    EXPECT_MSG(plexus_tarray_open(r, name, (plexus_dtype)d, 100, 20, 0, &t2), PLEXUS_E_INCOMPATIBLE);
    EXPECT_MSG(plexus_tarray_open(r, name, (plexus_dtype)d, 0, 20, 0, &t2), PLEXUS_E_INCOMPATIBLE);
    plexus_dtype other = d == PLEXUS_DTYPE_F64 ? PLEXUS_DTYPE_I8 : (plexus_dtype)(d + 1);
    EXPECT_MSG(plexus_tarray_open(r, name, other, 0, 0, 0, &t2), PLEXUS_E_INCOMPATIBLE);
    EXPECT_MSG(plexus_tarray_open(r, name, (plexus_dtype)d, 100, 30, PLEXUS_EXCLUSIVE, &t2),
               PLEXUS_E_EXISTS);

    plexus_dtype got = 0;
    uint64_t len = 0, bl = 0, nb = 0;
    MUST(plexus_tarray_shape(t, &got, &len, &bl, &nb));
    CHECK(got == (plexus_dtype)d && len == 100 && bl == 30 && nb == 4);
    MUST(plexus_tarray_shape(t, NULL, NULL, NULL, NULL));

    size_t sz = SIZES[d];
    unsigned char buf[800], back[800];
    memset(back, 0xAA, sizeof back);
    MUST(plexus_tarray_read(t, 0, 100, back));
    for (size_t i = 0; i < 100 * sz; i++) CHECK(back[i] == 0); /* zero-filled */
    for (size_t i = 0; i < 100 * sz; i++) buf[i] = (unsigned char)(i * 7 + d);
    MUST(plexus_tarray_write(t, 0, 100, buf));
    MUST(plexus_tarray_read(t, 10, 5, back));
    CHECK(memcmp(back, buf + 10 * sz, 5 * sz) == 0);
    EXPECT_MSG(plexus_tarray_read(t, 96, 5, back), PLEXUS_E_OUT_OF_RANGE);
    EXPECT_MSG(plexus_tarray_write(t, UINT64_MAX, 2, buf), PLEXUS_E_OUT_OF_RANGE);
    MUST(plexus_tarray_read(t, 100, 0, NULL)); /* an empty range at the end */

    void *p = NULL;
    uint64_t n = 0;
    if (!remote) {
      MUST(plexus_tarray_data(t, &p, &n));
      CHECK(n == 100 && ((uintptr_t)p % 64) == 0);
      CHECK(memcmp(p, buf, 100 * sz) == 0);
      ((unsigned char *)p)[3] = 0x5A; /* writes in place are what readers see */
      MUST(plexus_tarray_read(t, 0, 100, back));
      CHECK(back[3] == 0x5A);
    } else {
      EXPECT_MSG(plexus_tarray_data(t, &p, &n), PLEXUS_E_UNSUPPORTED);
      CHECK(strstr(plexus_last_error(), "plexus_tarray_read") != NULL);
    }

    /* Block copies: the last block is short (10 elements). */
    MUST(plexus_tarray_write_block(t, 3, 0, buf));
    bool full = false;
    MUST(plexus_tarray_is_full(t, 3, &full));
    CHECK(full);
    EXPECT(plexus_tarray_write_block(t, 3, 0, buf), PLEXUS_TIMEOUT); /* FULL: would wait */
    memset(back, 0, sizeof back);
    MUST(plexus_tarray_read_block(t, 3, 0, back));
    CHECK(memcmp(back, buf, 10 * sz) == 0);
    EXPECT(plexus_tarray_read_block(t, 3, 0, back), PLEXUS_TIMEOUT); /* EMPTY now */
    EXPECT(plexus_tarray_read_block(t, 3, 20 * MS, back), PLEXUS_TIMEOUT);
    EXPECT_MSG(plexus_tarray_read_block(t, 4, 0, back), PLEXUS_E_OUT_OF_RANGE);
    MUST(plexus_tarray_close(t));
    EXPECT(plexus_tarray_close(t), PLEXUS_E_BAD_HANDLE);
  }
}

/* begin/end on shared memory, and a writer thread handing blocks to this thread. */
typedef struct {
  plexus_tarray t;
  int rounds;
} ring_args;

static void *ring_writer(void *arg) {
  ring_args *a = arg;
  for (int i = 0; i < a->rounds; i++) {
    double *p = NULL;
    MUST(plexus_tarray_begin_write(a->t, (uint64_t)(i % 4), 10000 * MS, (void **)&p));
    for (int k = 0; k < 16; k++) p[k] = i * 1000.0 + k;
    MUST(plexus_tarray_end_write(a->t, (uint64_t)(i % 4)));
  }
  return NULL;
}

static void test_blocks_shm(plexus_region r) {
  plexus_tarray t;
  MUST(plexus_tarray_open(r, "ring", PLEXUS_DTYPE_F64, 64, 16, 0, &t));
  void *w = NULL;
  const void *rd = NULL;
  EXPECT(plexus_tarray_begin_read(t, 0, 0, &rd), PLEXUS_TIMEOUT);
  MUST(plexus_tarray_begin_write(t, 0, 0, &w));
  void *base = NULL;
  uint64_t n = 0;
  MUST(plexus_tarray_data(t, &base, &n));
  CHECK(w == base);
  EXPECT_MSG(plexus_tarray_begin_write(t, 0, 0, &w), PLEXUS_E_INVALID_ARGUMENT); /* mine */
  EXPECT_MSG(plexus_tarray_end_read(t, 0), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_tarray_end_write(t, 0));
  EXPECT_MSG(plexus_tarray_end_write(t, 0), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_tarray_begin_read(t, 0, 0, &rd));
  CHECK(rd == base);
  MUST(plexus_tarray_end_read(t, 0));
  MUST(plexus_tarray_begin_write(t, 1, 0, &w));
  CHECK((char *)w == (char *)base + 16 * 8);
  MUST(plexus_tarray_end_write(t, 1));
  MUST(plexus_tarray_begin_read(t, 1, 0, &rd));
  MUST(plexus_tarray_end_read(t, 1));
  EXPECT_MSG(plexus_tarray_begin_write(t, 4, 0, &w), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_tarray_end_write(t, 9), PLEXUS_E_OUT_OF_RANGE);

  /* A thread hands 400 blocks through the ring of 4; every element checked. */
  ring_args a = {t, 400};
  pthread_t th;
  pthread_create(&th, NULL, ring_writer, &a);
  for (int i = 0; i < a.rounds; i++) {
    const double *p = NULL;
    MUST(plexus_tarray_begin_read(t, (uint64_t)(i % 4), 10000 * MS, (const void **)&p));
    for (int k = 0; k < 16; k++) CHECK(p[k] == i * 1000.0 + k);
    MUST(plexus_tarray_end_read(t, (uint64_t)(i % 4)));
  }
  pthread_join(th, NULL);

  /* PLEXUS_FULL: blocks start FULL. */
  plexus_tarray f;
  MUST(plexus_tarray_open(r, "startfull", PLEXUS_DTYPE_U8, 10, 5, PLEXUS_FULL, &f));
  bool full = false;
  MUST(plexus_tarray_is_full(f, 1, &full));
  CHECK(full);
  MUST(plexus_tarray_begin_read(f, 1, 0, &rd));
  MUST(plexus_tarray_end_read(f, 1));
  MUST(plexus_tarray_close(f));
  MUST(plexus_tarray_close(t));
}

static void test_blocks_remote(plexus_region r) {
  plexus_tarray t;
  MUST(plexus_tarray_open(r, "ring", PLEXUS_DTYPE_F64, 64, 16, 0, &t));
  void *w = NULL;
  const void *rd = NULL;
  EXPECT_MSG(plexus_tarray_begin_write(t, 0, 0, &w), PLEXUS_E_UNSUPPORTED);
  CHECK(strstr(plexus_last_error(), "write_block") != NULL);
  EXPECT_MSG(plexus_tarray_begin_read(t, 0, 0, &rd), PLEXUS_E_UNSUPPORTED);
  EXPECT_MSG(plexus_tarray_end_write(t, 0), PLEXUS_E_UNSUPPORTED);
  EXPECT_MSG(plexus_tarray_end_read(t, 0), PLEXUS_E_UNSUPPORTED);
  MUST(plexus_tarray_close(t));
}

/* Element atomics: every integer dtype, range rules, TYPE_MISMATCH for the others. */
static void test_atomics(plexus_region r) {
  const plexus_dtype ints[] = {PLEXUS_DTYPE_I32, PLEXUS_DTYPE_U32, PLEXUS_DTYPE_I64,
                               PLEXUS_DTYPE_U64};
  for (int k = 0; k < 4; k++) {
    char name[32];
    snprintf(name, sizeof name, "at%d", (int)ints[k]);
    plexus_tarray t;
    MUST(plexus_tarray_open(r, name, ints[k], 8, 0, 0, &t));
    int64_t v = 99, old = 99;
    MUST(plexus_tarray_load(t, 0, &v));
    CHECK(v == 0);
    MUST(plexus_tarray_store(t, 0, 41));
    MUST(plexus_tarray_faa(t, 0, 1, &old));
    CHECK(old == 41);
    MUST(plexus_tarray_load(t, 0, &v));
    CHECK(v == 42);
    MUST(plexus_tarray_faa(t, 0, -43, NULL)); /* wraps for unsigned */
    MUST(plexus_tarray_load(t, 0, &v));
    if (ints[k] == PLEXUS_DTYPE_U32) CHECK(v == 4294967295LL);
    else CHECK(v == -1); /* I32, I64; U64: the bit pattern of 2^64 - 1 */
    MUST(plexus_tarray_store(t, 1, 5));
    MUST(plexus_tarray_cas(t, 1, 4, 7, &old));
    CHECK(old == 5);
    MUST(plexus_tarray_cas(t, 1, 5, 7, &old));
    CHECK(old == 5);
    MUST(plexus_tarray_load(t, 1, &v));
    CHECK(v == 7);
    MUST(plexus_tarray_cas(t, 1, 7, 8, NULL));
    if (ints[k] == PLEXUS_DTYPE_I32 || ints[k] == PLEXUS_DTYPE_U32) {
      EXPECT_MSG(plexus_tarray_store(t, 1, 1LL << 40), PLEXUS_E_INVALID_ARGUMENT);
      EXPECT_MSG(plexus_tarray_cas(t, 1, 8, 1LL << 40, NULL), PLEXUS_E_INVALID_ARGUMENT);
      MUST(plexus_tarray_load(t, 1, &v));
      CHECK(v == 8); /* nothing stored */
    }
    if (ints[k] == PLEXUS_DTYPE_U32) EXPECT_MSG(plexus_tarray_store(t, 1, -1), PLEXUS_E_INVALID_ARGUMENT);
    /* wait: returns at once when different; times out when equal. */
    MUST(plexus_tarray_wait(t, 1, 3, PLEXUS_FOREVER));
    EXPECT(plexus_tarray_wait(t, 1, 8, 0), PLEXUS_TIMEOUT);
    EXPECT(plexus_tarray_wait(t, 1, 8, 20 * MS), PLEXUS_TIMEOUT);
    uint32_t woken = 99;
    MUST(plexus_tarray_notify(t, 1, PLEXUS_NOTIFY_ALL, &woken));
    CHECK(woken == 0);
    MUST(plexus_tarray_notify(t, 1, 1, NULL));
    EXPECT_MSG(plexus_tarray_load(t, 8, &v), PLEXUS_E_OUT_OF_RANGE);
    EXPECT_MSG(plexus_tarray_faa(t, 8, 1, NULL), PLEXUS_E_OUT_OF_RANGE);
    EXPECT_MSG(plexus_tarray_wait(t, 8, 0, 0), PLEXUS_E_OUT_OF_RANGE);
    EXPECT_MSG(plexus_tarray_notify(t, 8, 1, NULL), PLEXUS_E_OUT_OF_RANGE);
    EXPECT_MSG(plexus_tarray_load(t, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
    MUST(plexus_tarray_close(t));
  }
  const plexus_dtype others[] = {PLEXUS_DTYPE_I8, PLEXUS_DTYPE_U8, PLEXUS_DTYPE_I16,
                                 PLEXUS_DTYPE_U16, PLEXUS_DTYPE_F32, PLEXUS_DTYPE_F64};
  for (int k = 0; k < 6; k++) {
    char name[32];
    snprintf(name, sizeof name, "na%d", (int)others[k]);
    plexus_tarray t;
    MUST(plexus_tarray_open(r, name, others[k], 4, 0, 0, &t));
    int64_t v;
    EXPECT_MSG(plexus_tarray_load(t, 0, &v), PLEXUS_E_TYPE_MISMATCH);
    EXPECT_MSG(plexus_tarray_store(t, 0, 1), PLEXUS_E_TYPE_MISMATCH);
    EXPECT_MSG(plexus_tarray_faa(t, 0, 1, NULL), PLEXUS_E_TYPE_MISMATCH);
    EXPECT_MSG(plexus_tarray_cas(t, 0, 0, 1, NULL), PLEXUS_E_TYPE_MISMATCH);
    EXPECT_MSG(plexus_tarray_wait(t, 0, 0, 0), PLEXUS_E_TYPE_MISMATCH);
    EXPECT_MSG(plexus_tarray_notify(t, 0, 1, NULL), PLEXUS_E_TYPE_MISMATCH);
    MUST(plexus_tarray_close(t));
  }
}

/* A thread sleeps in plexus_tarray_wait until this one stores and notifies. */
typedef struct {
  plexus_tarray t;
  plexus_status st;
} waiter_args;

static void *waiter_main(void *arg) {
  waiter_args *a = arg;
  a->st = plexus_tarray_wait(a->t, 0, 0, 10000 * MS);
  return NULL;
}

static void test_wait_notify(plexus_region r) {
  plexus_tarray t;
  MUST(plexus_tarray_open(r, "flag", PLEXUS_DTYPE_I32, 1, 0, 0, &t));
  waiter_args a = {t, PLEXUS_E_INTERNAL};
  pthread_t th;
  pthread_create(&th, NULL, waiter_main, &a);
  /* Notify until the sleeper was woken by one (it may not sleep yet at first). */
  uint32_t woken = 0;
  for (int i = 0; i < 2000 && woken == 0; i++) {
    if (i == 0) MUST(plexus_tarray_store(t, 0, 1));
    MUST(plexus_tarray_notify(t, 0, 1, &woken));
    if (woken == 0) usleep(5000);
  }
  pthread_join(th, NULL);
  CHECK(a.st == PLEXUS_OK);
  MUST(plexus_tarray_close(t));
}

static void test_bad_inputs(plexus_region r) {
  plexus_tarray t, bad = {0};
  EXPECT_MSG(plexus_tarray_open(r, "x", (plexus_dtype)0, 4, 0, 0, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "x", (plexus_dtype)11, 4, 0, 0, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "x", PLEXUS_DTYPE_U8, 4, 5, 0, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "x", PLEXUS_DTYPE_U8, 4, 0, 64, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, NULL, PLEXUS_DTYPE_U8, 4, 0, 0, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "x", PLEXUS_DTYPE_U8, 4, 0, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "", PLEXUS_DTYPE_U8, 4, 0, 0, &t), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_open(r, "absent", PLEXUS_DTYPE_U8, 0, 0, 0, &t), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_tarray_open(r, "huge", PLEXUS_DTYPE_F64, 1ULL << 40, 0, 0, &t), PLEXUS_E_NO_SPACE);
  plexus_array arr;
  MUST(plexus_array_open(r, "an-array", 2, 0, &arr));
  EXPECT_MSG(plexus_tarray_open(r, "an-array", PLEXUS_DTYPE_U8, 4, 0, 0, &t), PLEXUS_E_TYPE_MISMATCH);
  MUST(plexus_array_close(arr));
  EXPECT(plexus_tarray_close(bad), PLEXUS_E_BAD_HANDLE);
  int64_t v;
  EXPECT(plexus_tarray_load(bad, 0, &v), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_tarray_read(bad, 0, 0, NULL), PLEXUS_E_BAD_HANDLE);
  /* A region handle is not a typed array handle. */
  plexus_tarray wrong = {r.id};
  EXPECT(plexus_tarray_store(wrong, 0, 1), PLEXUS_E_BAD_HANDLE);

  MUST(plexus_tarray_open(r, "bad", PLEXUS_DTYPE_U16, 8, 4, 0, &t));
  EXPECT_MSG(plexus_tarray_read(t, 0, 2, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_write(t, 0, 2, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_read_block(t, 0, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_write_block(t, 0, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  unsigned char b[16] = {0};
  EXPECT_MSG(plexus_tarray_write_block(t, 0, -5, b), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_is_full(t, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_data(t, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_begin_write(t, 0, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_tarray_begin_read(t, 0, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  /* Removed under an open handle. */
  MUST(plexus_region_remove_object(r, "bad"));
  EXPECT_MSG(plexus_tarray_read(t, 0, 1, b), PLEXUS_E_REMOVED);
  MUST(plexus_tarray_close(t));
}

static int worker(const char *name, const char *role, const char *arg) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_tarray t;
  if (!strcmp(role, "faa")) {
    MUST(plexus_tarray_open(r, "ctr", PLEXUS_DTYPE_I64, 0, 0, 0, &t));
    long n = atol(arg);
    for (long i = 0; i < n; i++) MUST(plexus_tarray_faa(t, 0, 1, NULL));
    printf("done\n");
  } else if (!strcmp(role, "waiter")) {
    MUST(plexus_tarray_open(r, "ctr", PLEXUS_DTYPE_I64, 0, 0, 0, &t));
    printf("waiting\n");
    fflush(stdout);
    MUST(plexus_tarray_wait(t, 1, atol(arg), 60000 * MS));
    int64_t v = 0;
    MUST(plexus_tarray_load(t, 1, &v));
    printf("woke %lld\n", (long long)v);
  } else if (!strcmp(role, "hold-write") || !strcmp(role, "hold-read")) {
    MUST(plexus_tarray_open(r, "frames", PLEXUS_DTYPE_U32, 0, 0, 0, &t));
    uint64_t block = (uint64_t)atol(arg), bl = 0;
    MUST(plexus_tarray_shape(t, NULL, NULL, &bl, NULL));
    if (role[5] == 'w') {
      uint32_t *p = NULL;
      MUST(plexus_tarray_begin_write(t, block, 60000 * MS, (void **)&p));
      for (uint64_t i = 0; i < bl / 2; i++) p[i] = 0xDEADu; /* a torn frame */
    } else {
      const void *p = NULL;
      MUST(plexus_tarray_begin_read(t, block, 60000 * MS, &p));
    }
    printf("holding\n");
    fflush(stdout);
    for (;;) pause();
  } else {
    return 2;
  }
  fflush(stdout);
  MUST(plexus_region_close(r));
  return 0;
}

int main(int argc, char **argv) {
  alarm(120); /* a wake-up that never comes fails the test instead of hanging it */
  if (argc == 4) return worker(argv[1], argv[2], argv[3]);
  char name[120];
  int remote = argc == 3 && !strcmp(argv[2], "api");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 8 << 20;
  o.mode = PLEXUS_CREATE;
  if (remote) {
    if (strlen(argv[1]) > 90) return 2;
    snprintf(name, sizeof name, "%.90s-%ld", argv[1], (long)getpid());
    snprintf(created_region, sizeof created_region, "%s", name);
    atexit(remove_created_region);
  } else if (argc == 1) {
    unique_name(name, sizeof name, "ctarray");
  } else {
    return 2;
  }
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_region_info before;
  MUST(plexus_region_get_info(r, &before));

  test_dtypes(r, remote);
  if (remote) test_blocks_remote(r);
  else test_blocks_shm(r);
  test_atomics(r);
  test_wait_notify(r);
  test_bad_inputs(r);

  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish(remote ? "test_tarray (remote)" : "test_tarray");
}
