/* One process of the multi-process bus test.
 *
 *   bus_worker REGION init CAPACITY          creates the region (32 MiB) and the bus
 *   bus_worker REGION close                  closes the bus
 *   bus_worker REGION publish ID COUNT       publishes ID*COUNT .. ID*COUNT+COUNT-1
 *   bus_worker REGION subscribe TOTAL        receives TOTAL messages from the oldest
 *   bus_worker REGION spray ID               publishes self-checking strings of 1..300
 *                                            bytes forever (to be SIGKILLed)
 *   bus_worker REGION validate               receives until CLOSED, checks every string,
 *                                            prints "count gaps"
 *   bus_worker REGION slow STEP_US           prints "subscribed", then receives until
 *                                            CLOSED, sleeping STEP_US between messages;
 *                                            expects a fresh bus, so a first message
 *                                            other than 1 counts as a gap
 *
 * The bus is "events". A subscriber prints "count first_seq last_seq hash gaps", where
 * hash is FNV-1a over (sequence number, value) of every message in the order received,
 * so subscribers that agree on the order print the same hash; it also checks that the
 * values of each publisher arrive in increasing order. Exit status 0 = all checks held. */
#include <stdint.h>
#include <time.h>

#include "common.h"

static uint64_t fnv(uint64_t h, uint64_t x) {
  for (int i = 0; i < 8; i++) {
    h ^= (x >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  return h;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (strcmp(argv[2], "init") == 0 && argc == 4) {
    plexus_region_options c = PLEXUS_REGION_OPTIONS_INIT;
    c.mode = PLEXUS_RECREATE;
    c.size = 32u << 20;
    plexus_region r;
    plexus_bus b;
    MUST(plexus_region_open(argv[1], &c, &r));
    MUST(plexus_bus_open(r, "events", (uint64_t)atoll(argv[3]), 0, &b));
    return 0;
  }
  if (argc < 4 && strcmp(argv[2], "close") != 0 && strcmp(argv[2], "validate") != 0) return 2;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  MUST(plexus_region_wait_object(r, "events", 10LL * 1000 * 1000 * 1000));
  plexus_bus b;
  MUST(plexus_bus_open(r, "events", 0, 0, &b));
  if (strcmp(argv[2], "close") == 0) {
    MUST(plexus_bus_shutdown(b));
    return 0;
  }
  if (strcmp(argv[2], "spray") == 0) {
    /* "<id>:<n>:" then filler, then the FNV of everything before as 16 hex digits. */
    long id = atol(argv[3]);
    char buf[400];
    for (unsigned long n = 0;; n++) {
      int len = snprintf(buf, sizeof buf, "%ld:%lu:", id, n);
      int extra = (int)((n * 7919u + (unsigned long)id * 31u) % 280u);
      for (int i = 0; i < extra; i++) buf[len++] = (char)('a' + (n + (unsigned)i) % 26);
      uint64_t h = 0xcbf29ce484222325ULL;
      for (int i = 0; i < len; i++) h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
      len += snprintf(buf + len, sizeof buf - (size_t)len, "%016llx", (unsigned long long)h);
      plexus_value v = plexus_string_n(buf, (size_t)len);
      MUST(plexus_bus_publish(b, &v, NULL));
    }
  }
  if (strcmp(argv[2], "validate") == 0) {
    plexus_sub s;
    MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &s));
    unsigned long long count = 0, gaps = 0, prev = 0;
    for (;;) {
      plexus_value v;
      uint64_t seq;
      plexus_status st = plexus_sub_next(s, &v, &seq, 30LL * 1000 * 1000 * 1000);
      if (st == PLEXUS_CLOSED) break;
      if (st != PLEXUS_OK) {
        fprintf(stderr, "validate: %s: %s\n", plexus_status_name(st), plexus_last_error());
        return 1;
      }
      if (count && seq != prev + 1) gaps++;
      if (count && seq <= prev) {
        fprintf(stderr, "validate: seq %llu after %llu\n", (unsigned long long)seq,
                (unsigned long long)prev);
        return 1;
      }
      prev = seq;
      const char *p = v.as.buf.ptr;
      size_t len = v.as.buf.len;
      uint64_t h = 0xcbf29ce484222325ULL;
      char want[17];
      if (v.type != PLEXUS_STRING || len < 20) {
        fprintf(stderr, "validate: torn message %llu\n", (unsigned long long)seq);
        return 1;
      }
      for (size_t i = 0; i < len - 16; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
      snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
      if (memcmp(want, p + len - 16, 16) != 0) {
        fprintf(stderr, "validate: torn message %llu: %.*s\n", (unsigned long long)seq,
                (int)len, p);
        return 1;
      }
      plexus_value_free(&v);
      count++;
    }
    printf("%llu %llu\n", count, gaps);
    return 0;
  }
  if (strcmp(argv[2], "publish") == 0) {
    long long id = atoll(argv[3]), count = atoll(argv[4]);
    for (long long i = 0; i < count; i++) {
      plexus_value v = plexus_int(id * count + i);
      MUST(plexus_bus_publish(b, &v, NULL));
    }
    return 0;
  }
  int slow = strcmp(argv[2], "slow") == 0;
  long long total = slow ? -1 : atoll(argv[3]);
  long step_us = slow ? atol(argv[3]) : 0;
  plexus_sub s;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &s));
  if (slow) { /* the test starts publishing once it reads this */
    printf("subscribed\n");
    fflush(stdout);
  }
  long long last_of[64];
  for (int i = 0; i < 64; i++) last_of[i] = -1;
  uint64_t hash = 0xcbf29ce484222325ULL, first = 0, prev = 0, gaps = 0;
  long long count = 0, per = slow ? 1 : 10000;
  if (argc > 4) per = atoll(argv[4]);
  int bad = 0;
  while (total < 0 || count < total) {
    plexus_value v;
    uint64_t seq;
    plexus_status st = plexus_sub_next(s, &v, &seq, 30LL * 1000 * 1000 * 1000);
    if (st == PLEXUS_CLOSED && slow) break;
    if (st != PLEXUS_OK) {
      fprintf(stderr, "sub_next: %s: %s\n", plexus_status_name(st), plexus_last_error());
      return 1;
    }
    if (v.type != PLEXUS_INT) {
      fprintf(stderr, "message %llu is not an INT\n", (unsigned long long)seq);
      return 1;
    }
    if (count == 0) {
      first = seq;
      /* the bus was empty when the slow subscriber joined from the oldest message, so
       * anything but 1 first means it was overrun before its first receive */
      if (slow && seq != 1) gaps++;
    } else if (seq != prev + 1) {
      gaps++;
    }
    if (seq <= prev && count > 0) bad = 1;
    prev = seq;
    if (!slow) {
      long long p = v.as.i / per;
      if (p < 0 || p >= 64 || v.as.i <= last_of[p]) {
        fprintf(stderr, "value %lld out of order\n", (long long)v.as.i);
        bad = 1;
      } else {
        last_of[p] = v.as.i;
      }
    }
    hash = fnv(fnv(hash, seq), (uint64_t)v.as.i);
    count++;
    if (step_us) usleep(step_us);
  }
  printf("%lld %llu %llu %016llx %llu\n", count, (unsigned long long)first,
         (unsigned long long)prev, (unsigned long long)hash, (unsigned long long)gaps);
  return bad;
}
