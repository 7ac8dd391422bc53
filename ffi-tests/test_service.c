/* Every plexus_service function, used the way the header documents it, within one
 * process (threads stand in for servers and callers; a second region handle for another
 * process), every status a call can return, and bad inputs. */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define MS 1000000LL

static int is_int(const plexus_value *v, int64_t i) { return v->type == PLEXUS_INT && v->as.i == i; }

static int is_str(const plexus_value *v, const char *s) {
  return v->type == PLEXUS_STRING && v->as.buf.len == strlen(s) &&
         memcmp(v->as.buf.ptr, s, v->as.buf.len) == 0;
}

static uint64_t pending(plexus_service s) {
  uint64_t n = 99;
  MUST(plexus_service_pending(s, &n));
  return n;
}

/* A server thread: answers `count` requests. An int n gets n * 2 + 1; a string gets
 * "echo:" + the string; the int -1 gets an error reply "negative". */
typedef struct {
  plexus_service s;
  int count;
} server_args;

static void *server_main(void *arg) {
  server_args *a = arg;
  for (int i = 0; i < a->count; i++) {
    plexus_request req;
    plexus_value v;
    MUST(plexus_service_next(a->s, &req, &v, 10000 * MS));
    CHECK(req.id != 0);
    if (v.type == PLEXUS_INT && v.as.i == -1) {
      EXPECT(plexus_service_reply_error(a->s, req, "negative"), PLEXUS_OK);
    } else if (v.type == PLEXUS_INT) {
      plexus_value r = plexus_int(v.as.i * 2 + 1);
      EXPECT(plexus_service_reply(a->s, req, &r), PLEXUS_OK);
    } else {
      char buf[512];
      snprintf(buf, sizeof buf, "echo:%.*s", (int)v.as.buf.len, (const char *)v.as.buf.ptr);
      plexus_value r = plexus_string(buf);
      EXPECT(plexus_service_reply(a->s, req, &r), PLEXUS_OK);
      /* A second reply to the same request is refused. */
      EXPECT_MSG(plexus_service_reply(a->s, req, &r), PLEXUS_E_INVALID_ARGUMENT);
    }
    plexus_value_free(&v);
  }
  return NULL;
}

static void test_calls(plexus_region r) {
  plexus_service s;
  MUST(plexus_service_open(r, "calc", 4, 0, &s));
  uint64_t cap = 0;
  MUST(plexus_service_capacity(s, &cap));
  CHECK(cap == 4);
  CHECK(pending(s) == 0);

  pthread_t t;
  server_args a = {s, 4};
  CHECK(pthread_create(&t, NULL, server_main, &a) == 0);

  plexus_value req = plexus_int(20), resp;
  EXPECT(plexus_service_call(s, &req, &resp, 10000 * MS), PLEXUS_OK);
  CHECK(is_int(&resp, 41));

  /* A long string (a heap block each way). */
  char longer[300];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = 0;
  req = plexus_string(longer);
  EXPECT(plexus_service_call(s, &req, &resp, 10000 * MS), PLEXUS_OK);
  CHECK(resp.type == PLEXUS_STRING && resp.as.buf.len == 5 + strlen(longer));
  plexus_value_free(&resp);
  req = plexus_string("hi");
  EXPECT(plexus_service_call(s, &req, &resp, 10000 * MS), PLEXUS_OK);
  CHECK(is_str(&resp, "echo:hi"));
  plexus_value_free(&resp);

  /* An error reply: PLEXUS_E_SERVICE with the handler's message; *response unchanged. */
  req = plexus_int(-1);
  resp = plexus_int(-777);
  EXPECT(plexus_service_call(s, &req, &resp, 10000 * MS), PLEXUS_E_SERVICE);
  CHECK(strcmp(plexus_last_error(), "negative") == 0);
  CHECK(is_int(&resp, -777));
  CHECK(strcmp(plexus_status_name(PLEXUS_E_SERVICE), "PLEXUS_E_SERVICE") == 0);

  CHECK(pthread_join(t, NULL) == 0);
  CHECK(pending(s) == 0);
  MUST(plexus_service_close(s));
  EXPECT(plexus_service_pending(s, &cap), PLEXUS_E_BAD_HANDLE);
}

/* No server: TIMEOUT, and the request is withdrawn. A full service: TIMEOUT too. */
static void test_timeouts(plexus_region r) {
  plexus_service s;
  MUST(plexus_service_open(r, "nobody", 1, 0, &s));
  plexus_value req = plexus_int(1), resp = plexus_int(-777);
  EXPECT(plexus_service_call(s, &req, &resp, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_service_call(s, &req, &resp, 20 * MS), PLEXUS_TIMEOUT);
  CHECK(is_int(&resp, -777));
  CHECK(pending(s) == 0);
  plexus_request id;
  plexus_value got;
  EXPECT(plexus_service_next(s, &id, &got, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_service_next(s, &id, &got, 20 * MS), PLEXUS_TIMEOUT);
  MUST(plexus_service_close(s));
}

/* A caller that gave up: the server's late reply succeeds and is discarded; the next
 * call gets its own reply, never the stale one. Replying twice, to a bad id, or to a
 * request another server took: INVALID_ARGUMENT. */
typedef struct {
  plexus_service s;
  int64_t value;
  int64_t timeout_ns;
  plexus_status status;
  plexus_value resp;
} caller_args;

static void *caller_main(void *arg) {
  caller_args *c = arg;
  plexus_value req = plexus_int(c->value);
  c->resp = plexus_int(-777);
  c->status = plexus_service_call(c->s, &req, &c->resp, c->timeout_ns);
  return NULL;
}

static void test_late_reply_and_bad_replies(const char *name, plexus_region r) {
  plexus_service s;
  MUST(plexus_service_open(r, "late", 2, 0, &s));
  pthread_t t;
  caller_args c = {s, 5, 50 * MS, (plexus_status)-1, {0}};
  CHECK(pthread_create(&t, NULL, caller_main, &c) == 0);
  plexus_request old;
  plexus_value got;
  MUST(plexus_service_next(s, &old, &got, 10000 * MS));
  CHECK(is_int(&got, 5));
  CHECK(pthread_join(t, NULL) == 0); /* it times out: nobody replied */
  EXPECT(c.status, PLEXUS_TIMEOUT);
  CHECK(is_int(&c.resp, -777));
  CHECK(pending(s) == 1); /* taken, abandoned, waiting for the server's reply */
  plexus_value late = plexus_int(555);
  EXPECT(plexus_service_reply(s, old, &late), PLEXUS_OK); /* discarded */
  CHECK(pending(s) == 0);
  EXPECT_MSG(plexus_service_reply(s, old, &late), PLEXUS_E_INVALID_ARGUMENT);

  /* The next call, in the reused slot, gets its own reply. */
  c = (caller_args){s, 6, 10000 * MS, (plexus_status)-1, {0}};
  CHECK(pthread_create(&t, NULL, caller_main, &c) == 0);
  plexus_request now;
  MUST(plexus_service_next(s, &now, &got, 10000 * MS));
  CHECK(is_int(&got, 6));
  CHECK(now.id != old.id);
  EXPECT_MSG(plexus_service_reply(s, old, &late), PLEXUS_E_INVALID_ARGUMENT); /* stale id */
  /* Another region handle (as another process would) cannot answer it. */
  plexus_region r2;
  MUST(plexus_region_open(name, NULL, &r2));
  plexus_service s2;
  MUST(plexus_service_open(r2, "late", 0, 0, &s2));
  EXPECT_MSG(plexus_service_reply(s2, now, &late), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_reply_error(s2, now, "no"), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value answer = plexus_int(66);
  EXPECT(plexus_service_reply(s, now, &answer), PLEXUS_OK);
  CHECK(pthread_join(t, NULL) == 0);
  EXPECT(c.status, PLEXUS_OK);
  CHECK(is_int(&c.resp, 66));
  EXPECT_MSG(plexus_service_reply(s, now, &answer), PLEXUS_E_INVALID_ARGUMENT);

  /* Ids that name no request. */
  plexus_request bad = {0};
  EXPECT_MSG(plexus_service_reply(s, bad, &answer), PLEXUS_E_INVALID_ARGUMENT);
  bad.id = 99;
  EXPECT_MSG(plexus_service_reply_error(s, bad, "x"), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_region_close(r2));
  MUST(plexus_service_close(s));
}

/* plexus_service_call_cancellable: a reply comes as with plexus_service_call; a cancel
 * word set by another thread withdraws the request (PLEXUS_TIMEOUT, nothing pending,
 * nothing sent again); NULL is a plain call; a misaligned word is refused. */
typedef struct {
  plexus_service s;
  _Atomic uint32_t cancel;
  plexus_status status;
} cancel_args;

static void *cancellable_caller(void *arg) {
  cancel_args *c = arg;
  plexus_value req = plexus_int(5), resp = plexus_int(-777);
  c->status = plexus_service_call_cancellable(c->s, &req, &resp, PLEXUS_FOREVER,
                                              (const uint32_t *)&c->cancel);
  CHECK(c->status != PLEXUS_OK || is_int(&resp, 11));
  return NULL;
}

static void test_cancellable(plexus_region r) {
  plexus_service s;
  MUST(plexus_service_open(r, "cancellable", 2, 0, &s));
  pthread_t t, server;
  /* Cancelled while pending: withdrawn. */
  cancel_args c = {s, 0, -1};
  CHECK(pthread_create(&t, NULL, cancellable_caller, &c) == 0);
  while (pending(s) == 0) usleep(1000);
  atomic_store(&c.cancel, 1);
  CHECK(pthread_join(t, NULL) == 0);
  EXPECT(c.status, PLEXUS_TIMEOUT);
  CHECK(pending(s) == 0);
  plexus_request id;
  plexus_value got;
  EXPECT(plexus_service_next(s, &id, &got, 0), PLEXUS_TIMEOUT); /* not sent again */
  /* Cancelled while a server holds it: withdrawn; the late reply is discarded. */
  c.cancel = 0;
  c.status = -1;
  CHECK(pthread_create(&t, NULL, cancellable_caller, &c) == 0);
  MUST(plexus_service_next(s, &id, &got, 10000 * MS));
  CHECK(is_int(&got, 5));
  atomic_store(&c.cancel, 1);
  CHECK(pthread_join(t, NULL) == 0);
  EXPECT(c.status, PLEXUS_TIMEOUT);
  plexus_value late = plexus_int(0);
  EXPECT(plexus_service_reply(s, id, &late), PLEXUS_OK);
  CHECK(pending(s) == 0);
  /* Not cancelled: the reply. */
  c.cancel = 0;
  c.status = -1;
  server_args a = {s, 1};
  CHECK(pthread_create(&server, NULL, server_main, &a) == 0);
  CHECK(pthread_create(&t, NULL, cancellable_caller, &c) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(pthread_join(server, NULL) == 0);
  EXPECT(c.status, PLEXUS_OK);
  /* NULL: a plain call (here: no server, a timeout). */
  plexus_value req = plexus_int(1), resp;
  EXPECT(plexus_service_call_cancellable(s, &req, &resp, 20 * MS, NULL), PLEXUS_TIMEOUT);
  uint32_t words[2] = {0, 0};
  EXPECT_MSG(plexus_service_call_cancellable(s, &req, &resp, 20 * MS,
                                             (const uint32_t *)((char *)words + 1)),
             PLEXUS_E_INVALID_ARGUMENT);
  CHECK(pending(s) == 0);
  MUST(plexus_service_close(s));
}

static void test_open_rules(plexus_region r) {
  plexus_service s, again, other;
  EXPECT_MSG(plexus_service_open(r, "rules", 0, 0, &s), PLEXUS_E_NOT_FOUND);
  MUST(plexus_service_open(r, "rules", 3, 0, &s));
  MUST(plexus_service_open(r, "rules", 0, 0, &again));
  CHECK(again.id == s.id);
  EXPECT_MSG(plexus_service_open(r, "rules", 5, 0, &other), PLEXUS_E_INCOMPATIBLE);
  EXPECT_MSG(plexus_service_open(r, "rules", 3, PLEXUS_EXCLUSIVE, &other), PLEXUS_E_EXISTS);
  EXPECT_MSG(plexus_service_open(r, "rules", 3, 0x100, &other), PLEXUS_E_INVALID_ARGUMENT);
  plexus_queue q;
  MUST(plexus_queue_open(r, "a-queue", 2, 0, &q));
  EXPECT_MSG(plexus_service_open(r, "a-queue", 2, 0, &other), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_queue_open(r, "rules", 3, 0, &q), PLEXUS_E_TYPE_MISMATCH);
  MUST(plexus_service_close(again));
  MUST(plexus_service_close(s));

  /* Removed under an open handle: REMOVED. */
  MUST(plexus_service_open(r, "gone", 2, 0, &s));
  MUST(plexus_region_remove_object(r, "gone"));
  plexus_value req = plexus_int(1), resp;
  EXPECT_MSG(plexus_service_call(s, &req, &resp, 0), PLEXUS_E_REMOVED);
  MUST(plexus_service_close(s));
}

static void test_bad_inputs(plexus_region r) {
  plexus_service s;
  EXPECT_MSG(plexus_service_open(r, NULL, 2, 0, &s), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_open(r, "x", 2, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_open(r, "", 2, 0, &s), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_service_open(r, "inputs", 2, 0, &s));
  plexus_value v = plexus_int(1), out;
  plexus_request id = {1};
  EXPECT_MSG(plexus_service_call(s, NULL, &out, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_call(s, &v, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_call(s, &v, &out, -5), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_next(s, NULL, &out, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_next(s, &id, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_reply(s, id, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_reply_error(s, id, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_capacity(s, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_service_pending(s, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_service never = {0};
  EXPECT_MSG(plexus_service_call(never, &v, &out, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_service_close(never), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_service_close(s));
  EXPECT_MSG(plexus_service_close(s), PLEXUS_E_BAD_HANDLE);
}

int main(void) {
  alarm(120); /* a wake-up that never comes fails the test instead of hanging it */
  char name[64];
  unique_name(name, sizeof name, "cservice");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 8 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_region_info before;
  MUST(plexus_region_get_info(r, &before));

  test_calls(r);
  test_timeouts(r);
  test_late_reply_and_bad_replies(name, r);
  test_cancellable(r);
  test_open_rules(r);
  test_bad_inputs(r);

  /* Every request's heap blocks came back. */
  plexus_region_info after;
  MUST(plexus_region_get_info(r, &after));
  CHECK(after.heap_used - before.heap_used < 64 * 1024);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_service");
}
