/* Tests of named events on a bus from C: plexus_bus_emit, plexus_bus_subscribe_topic,
 * plexus_sub_next_event (topic buffers, BUFFER_TOO_SMALL keeping the message), one order
 * for topic and plain messages, a blocked filtered subscriber woken by its topic only,
 * shutdown, and bad topics. With an argument (a region name, e.g. a redis:// URL) it
 * runs on that region instead of a new shared-memory one. */
#include <pthread.h>

#include "common.h"

static plexus_bus shared_bus;

typedef struct {
  plexus_status first, second;
  char topic[PLEXUS_MAX_TOPIC_LEN + 1];
  int64_t value;
  uint64_t seq;
} waited;

static void *wait_for_wake(void *arg) {
  waited *w = arg;
  plexus_sub s;
  plexus_value v;
  size_t len = 0;
  if (plexus_bus_subscribe_topic(shared_bus, PLEXUS_FROM_NOW, "wake.", &s) != PLEXUS_OK) {
    w->first = PLEXUS_E_INTERNAL;
    return NULL;
  }
  printf("waiting\n");
  fflush(stdout);
  w->first = plexus_sub_next_event(s, w->topic, sizeof w->topic, &len, &v, &w->seq,
                                   10 * 1000000000LL);
  if (w->first == PLEXUS_OK) {
    w->value = v.as.i;
    plexus_value_free(&v);
  }
  /* Shutdown comes next: CLOSED. */
  w->second = plexus_sub_next_event(s, w->topic, sizeof w->topic, &len, &v, NULL,
                                    PLEXUS_FOREVER);
  plexus_sub_close(s);
  return NULL;
}

int main(int argc, char **argv) {
  char name[128];
  if (argc > 1) {
    if (take_region_name(argv[1], name, sizeof name)) return 2;
  } else {
    unique_name(name, sizeof name, "test-events");
  }
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_RECREATE;
  o.size = 16 << 20;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_bus b;
  MUST(plexus_bus_open(r, "ev", 16, 0, &b));

  /* Topic and plain messages share one order. */
  plexus_sub all, jobs, done;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, &all));
  MUST(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, "job.", &jobs));
  MUST(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, "job.done", &done));
  uint64_t seq = 0;
  plexus_value v;
  MUST(plexus_bus_emit(b, "job.start", &(plexus_value){PLEXUS_INT, {.i = 1}, NULL}, &seq));
  CHECK(seq == 1);
  plexus_value two = plexus_int(2);
  MUST(plexus_bus_publish(b, &two, &seq));
  CHECK(seq == 2);
  plexus_value text = plexus_string("the job is done");
  MUST(plexus_bus_emit(b, "job.done", &text, &seq));
  CHECK(seq == 3);
  plexus_value four = plexus_int(4);
  MUST(plexus_bus_emit(b, "user.login", &four, NULL));
  plexus_value five = plexus_int(5);
  MUST(plexus_bus_emit(b, "", &five, &seq)); /* the empty topic: a plain publish */
  CHECK(seq == 5);

  char topic[PLEXUS_MAX_TOPIC_LEN + 1];
  size_t len = 99;
  const char *all_topics[] = {"job.start", "", "job.done", "user.login", ""};
  for (uint64_t i = 1; i <= 5; i++) {
    MUST(plexus_sub_next_event(all, topic, sizeof topic, &len, &v, &seq, 0));
    CHECK(seq == i);
    CHECK(strcmp(topic, all_topics[i - 1]) == 0);
    CHECK(len == strlen(all_topics[i - 1]));
    plexus_value_free(&v);
  }
  EXPECT(plexus_sub_next_event(all, topic, sizeof topic, &len, &v, &seq, 0), PLEXUS_TIMEOUT);

  /* A filtered subscription: only its messages, with the gaps in seq. */
  MUST(plexus_sub_next_event(jobs, topic, sizeof topic, &len, &v, &seq, 0));
  CHECK(seq == 1 && strcmp(topic, "job.start") == 0 && v.type == PLEXUS_INT && v.as.i == 1);
  /* Too small a buffer: BUFFER_TOO_SMALL with the length; the message is kept. */
  char tiny[4] = "xyz";
  len = 0;
  EXPECT_MSG(plexus_sub_next_event(jobs, tiny, sizeof tiny, &len, &v, &seq, 0),
             PLEXUS_E_BUFFER_TOO_SMALL);
  CHECK(len == 8 && strcmp(tiny, "xyz") == 0 && seq == 1);
  len = 0;
  EXPECT(plexus_sub_next_event(jobs, NULL, 0, &len, &v, &seq, 0), PLEXUS_E_BUFFER_TOO_SMALL);
  CHECK(len == 8);
  char exact[9];
  MUST(plexus_sub_next_event(jobs, exact, sizeof exact, &len, &v, &seq, 0));
  CHECK(seq == 3 && strcmp(exact, "job.done") == 0 && v.type == PLEXUS_STRING);
  CHECK(v.as.buf.len == 15 && memcmp(v.as.buf.ptr, "the job is done", 15) == 0);
  plexus_value_free(&v);
  EXPECT(plexus_sub_next_event(jobs, topic, sizeof topic, &len, &v, &seq, 0), PLEXUS_TIMEOUT);
  /* plexus_sub_next hands out a message kept after BUFFER_TOO_SMALL too. */
  EXPECT(plexus_sub_next_event(done, tiny, sizeof tiny, &len, &v, &seq, 0),
         PLEXUS_E_BUFFER_TOO_SMALL);
  MUST(plexus_sub_next(done, &v, &seq, 0));
  CHECK(seq == 3 && v.type == PLEXUS_STRING);
  plexus_value_free(&v);
  EXPECT(plexus_sub_next(done, &v, &seq, 0), PLEXUS_TIMEOUT);

  /* The longest topic. */
  char longest[PLEXUS_MAX_TOPIC_LEN + 2];
  memset(longest, 'j', PLEXUS_MAX_TOPIC_LEN);
  longest[PLEXUS_MAX_TOPIC_LEN] = '\0';
  MUST(plexus_bus_emit(b, longest, &two, &seq));
  MUST(plexus_sub_next_event(all, topic, sizeof topic, &len, &v, &seq, 0));
  CHECK(len == PLEXUS_MAX_TOPIC_LEN && strcmp(topic, longest) == 0);

  /* Bad topics and prefixes: INVALID_ARGUMENT with a message, nothing published. */
  uint64_t before = 0, after = 0;
  MUST(plexus_bus_next_seq(b, &before));
  longest[PLEXUS_MAX_TOPIC_LEN] = 'j';
  longest[PLEXUS_MAX_TOPIC_LEN + 1] = '\0';
  EXPECT_MSG(plexus_bus_emit(b, longest, &two, NULL), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(strstr(plexus_last_error(), "longer than") != NULL);
  EXPECT_MSG(plexus_bus_emit(b, "bad\xff", &two, NULL), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(strstr(plexus_last_error(), "UTF-8") != NULL);
  EXPECT_MSG(plexus_bus_emit(b, NULL, &two, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_emit(b, "t", NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_sub bad;
  EXPECT_MSG(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, NULL, &bad),
             PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, longest, &bad),
             PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, "\xc3", &bad),
             PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe_topic(b, 9, "a", &bad), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe_topic(b, PLEXUS_FROM_NOW, "a", NULL),
             PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_sub_next_event(all, NULL, 5, &len, &v, &seq, 0),
             PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_sub_next_event(all, topic, sizeof topic, &len, NULL, &seq, 0),
             PLEXUS_E_INVALID_ARGUMENT);
  plexus_sub none = {0};
  EXPECT_MSG(plexus_sub_next_event(none, topic, sizeof topic, &len, &v, &seq, 0),
             PLEXUS_E_BAD_HANDLE);
  plexus_bus no_bus = {0};
  EXPECT_MSG(plexus_bus_emit(no_bus, "t", &two, NULL), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_bus_next_seq(b, &after));
  CHECK(before == after);

  /* A blocked filtered subscriber is woken by its topic only; shutdown ends it. */
  shared_bus = b;
  waited w = {PLEXUS_E_INTERNAL, PLEXUS_E_INTERNAL, "", 0, 0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, wait_for_wake, &w) == 0);
  usleep(150 * 1000);
  MUST(plexus_bus_emit(b, "other", &two, NULL));
  MUST(plexus_bus_publish(b, &two, NULL));
  plexus_value seven = plexus_int(7);
  uint64_t wake_seq = 0;
  MUST(plexus_bus_emit(b, "wake.up", &seven, &wake_seq));
  usleep(150 * 1000);
  MUST(plexus_bus_shutdown(b));
  pthread_join(t, NULL);
  CHECK(w.first == PLEXUS_OK);
  CHECK(strcmp(w.topic, "wake.up") == 0 && w.value == 7 && w.seq == wake_seq);
  CHECK(w.second == PLEXUS_CLOSED);
  EXPECT(plexus_bus_emit(b, "wake.up", &seven, NULL), PLEXUS_CLOSED);

  MUST(plexus_sub_close(all));
  MUST(plexus_sub_close(jobs));
  MUST(plexus_sub_close(done));
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_events");
}
