/* The C half of the writer/reader example pair (examples-cpp/demo_reader.cpp is the other half).
 *
 *   demo_writer <region-name>
 *
 * Creates the region and two arrays, sends five values of different types to the C++
 * reader through full/empty hand-offs (write_ef on mailbox[0], reply read_fe on
 * mailbox[1]), then both processes increment one shared counter 100,000 times each at
 * the same time, and check it ends at exactly 200,000. */
#include <plexus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECONDS(n) ((int64_t)(n) * 1000 * 1000 * 1000)

static void die(const char *what, plexus_status s) {
  fprintf(stderr, "[C writer] %s failed: %s: %s\n", what, plexus_status_name(s), plexus_last_error());
  exit(1);
}
#define TRY(call)                          \
  do {                                     \
    plexus_status s_ = (call);             \
    if (s_ != PLEXUS_OK) die(#call, s_);   \
  } while (0)

static void say(const char *fmt, const char *arg) {
  printf("[C writer] ");
  printf(fmt, arg);
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: demo_writer <region-name>\n");
    return 2;
  }
  plexus_region_options opts = PLEXUS_REGION_OPTIONS_INIT;
  opts.mode = PLEXUS_RECREATE;
  opts.size = 4 << 20;
  plexus_region region;
  TRY(plexus_region_open(argv[1], &opts, &region));
  say("created region '%s' (4 MiB in /dev/shm)", argv[1]);
  plexus_array mailbox, counter;
  TRY(plexus_array_open(region, "counter", 1, 0, &counter));
  plexus_value zero = plexus_int(0);
  TRY(plexus_array_write_xf(counter, 0, &zero));
  TRY(plexus_array_open(region, "mailbox", 2, 0, &mailbox)); /* the reader waits for this name */
  say("created arrays 'mailbox' (2 EMPTY elements) and 'counter'; waiting for the C++ reader%s", "");

  plexus_value obj;
  TRY(plexus_value_from_json("{\"from\":\"C\",\"items\":[1,2,3],\"nested\":{\"ok\":true}}", &obj));
  const unsigned char raw[] = {0xde, 0xad, 0xbe, 0xef};
  plexus_value sends[] = {plexus_int(42), plexus_float(3.14), plexus_string("hello from C"),
                          plexus_bytes(raw, sizeof raw), obj};
  const char *labels[] = {"the INT 42", "the FLOAT 3.14", "the STRING \"hello from C\"",
                          "4 BYTES de ad be ef", "an OBJECT {from, items, nested}"};
  for (int i = 0; i < 5; i++) {
    say("write_ef mailbox[0] <- %s (blocks until the slot is EMPTY)", labels[i]);
    TRY(plexus_array_write_ef(mailbox, 0, &sends[i], SECONDS(10)));
    plexus_value reply;
    TRY(plexus_array_read_fe(mailbox, 1, &reply, SECONDS(10)));
    printf("[C writer] read_fe mailbox[1] -> \"%.*s\"\n", (int)reply.as.buf.len, (const char *)reply.as.buf.ptr);
    fflush(stdout);
    plexus_value_free(&reply);
  }
  plexus_value_free(&obj);

  say("now both of us faa(counter[0], +1) 100000 times, at the same time%s", "");
  plexus_value one = plexus_int(1);
  for (int i = 0; i < 100000; i++) TRY(plexus_array_faa(counter, 0, &one, NULL));
  say("my 100000 increments are done; telling the reader%s", "");
  plexus_value done = plexus_string("done counting");
  TRY(plexus_array_write_ef(mailbox, 0, &done, SECONDS(10)));
  plexus_value theirs;
  TRY(plexus_array_read_fe(mailbox, 1, &theirs, SECONDS(30)));
  plexus_value_free(&theirs);
  plexus_value total;
  TRY(plexus_array_read(counter, 0, &total));
  printf("[C writer] counter = %lld (expected 200000: %s)\n", (long long)total.as.i,
         total.type == PLEXUS_INT && total.as.i == 200000 ? "no increment lost" : "WRONG");
  fflush(stdout);
  plexus_value bye = plexus_string("bye");
  TRY(plexus_array_write_ef(mailbox, 0, &bye, SECONDS(10)));
  /* Wait until the reader took it, then remove the region. */
  bool full = true;
  for (int k = 0; k < 1000 && full; k++) {
    TRY(plexus_array_is_full(mailbox, 0, &full));
    if (full) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  TRY(plexus_region_close(region));
  TRY(plexus_region_remove(argv[1]));
  say("removed region '%s'; bye", argv[1]);
  return total.as.i == 200000 ? 0 : 1;
}
