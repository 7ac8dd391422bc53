/* A FIFO queue shut down that pops have drained must report plexus_queue_len 0 (plexus.h:
 * "number of values in the queue"), also when a push raced with the shutdown.
 *
 * The race: a push passes its "shut down?" check, then prepares its value (a 32 MB string:
 * validated and copied into the heap, which takes a while), and meanwhile another thread
 * shuts the queue down and pops (PLEXUS_CLOSED: shut down and empty). The push then claims its
 * slot, sees the queue shut down and abandons the claim (PLEXUS_CLOSED, nothing stored:
 * right). The abandoned claim has moved the queue's tail on but nobody moves its head
 * past it until some later pop does, so plexus_queue_len reports 1 for an empty queue for
 * as long as nobody pops again.
 *
 * The pusher thread is given part of the time its push takes (measured first), so the
 * shutdown and the pop land inside its preparation; tries with other timings are counted
 * but cannot fail. Exit 0 when every shut-down and drained queue reports length 0. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define TRIES 12

static plexus_queue q;
static char *big;
static const size_t big_len = 32u << 20;
static plexus_status push_status;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *pusher(void *arg) {
  (void)arg;
  plexus_value v = plexus_string_n(big, big_len);
  push_status = plexus_queue_push(q, &v, PLEXUS_FOREVER);
  return NULL;
}

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "qlen");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 96 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  big = malloc(big_len);
  memset(big, 'x', big_len);

  /* How long one push of the big value takes when nothing is in its way. */
  MUST(plexus_queue_open(r, "timing", 1, 0, &q));
  plexus_value v = plexus_string_n(big, big_len), out;
  int64_t push_ns = INT64_MAX;
  for (int i = 0; i < 3; i++) {
    int64_t t0 = now_ns();
    MUST(plexus_queue_push(q, &v, 0));
    int64_t took = now_ns() - t0;
    if (took < push_ns) push_ns = took;
    MUST(plexus_queue_pop(q, &out, 0));
    plexus_value_free(&out);
  }

  int raced = 0, wrong = 0;
  for (int i = 0; i < TRIES; i++) {
    char qname[32];
    snprintf(qname, sizeof qname, "q%d", i);
    MUST(plexus_queue_open(r, qname, 4, 0, &q));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pusher, NULL) == 0);
    /* 20% to 75% into the push: inside its preparation. */
    int64_t wait_ns = push_ns * (20 + 5 * i) / 100;
    struct timespec ts = {wait_ns / 1000000000LL, wait_ns % 1000000000LL};
    nanosleep(&ts, NULL);
    MUST(plexus_queue_shutdown(q));
    plexus_status popped = plexus_queue_pop(q, &out, 0);
    if (popped == PLEXUS_OK) plexus_value_free(&out);
    pthread_join(t, NULL);
    if (popped != PLEXUS_CLOSED) continue; /* the push was done before the shutdown */
    if (push_status == PLEXUS_CLOSED) raced++;
    /* Closed, and a pop found it empty; the push was refused: nothing is in the queue. */
    uint64_t len = 99;
    MUST(plexus_queue_len(q, &len));
    if (len != 0) {
      fprintf(stderr,
              "try %d: shut down and drained (push %s, pop PLEXUS_CLOSED), yet plexus_queue_len "
              "is %llu\n",
              i, plexus_status_name(push_status), (unsigned long long)len);
      wrong++;
    }
    MUST(plexus_queue_pop(q, &out, 0) == PLEXUS_CLOSED ? PLEXUS_OK : PLEXUS_E_INTERNAL);
    MUST(plexus_queue_len(q, &len));
    CHECK(len == 0); /* a second pop moves the head past the abandoned claim */
    MUST(plexus_queue_close(q));
  }
  printf("push of %zu bytes takes %.1f ms; %d of %d tries closed the queue during a push; "
         "%d of them reported a length other than 0\n",
         big_len, (double)push_ns / 1e6, raced, TRIES, wrong);
  failures += wrong;
  free(big);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("queue_len_after_shutdown");
}
