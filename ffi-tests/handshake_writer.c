/* handshake_writer <region> <count>: creates array "handshake" and sends count values
 * through write_ef on element 0: INT i, or the STRING "msg-<i>" when i % 3 == 2. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: handshake_writer <region> <count>\n");
    return 2;
  }
  long count = atol(argv[2]);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "handshake", 1, 0, &a));
  char buf[32];
  for (long i = 0; i < count; i++) {
    plexus_value v = plexus_int(i);
    if (i % 3 == 2) {
      snprintf(buf, sizeof buf, "msg-%ld", i);
      v = plexus_string(buf);
    }
    plexus_status s = plexus_array_write_ef(a, 0, &v, 10LL * 1000 * 1000 * 1000);
    if (s != PLEXUS_OK) {
      fprintf(stderr, "handshake_writer: write %ld: %s: %s\n", i, plexus_status_name(s), plexus_last_error());
      return 1;
    }
  }
  /* Wait until the reader took the last value before leaving. */
  bool full = true;
  for (int k = 0; k < 10000 && full; k++) {
    MUST(plexus_array_is_full(a, 0, &full));
    if (full) usleep(1000);
  }
  MUST(plexus_region_close(r));
  printf("handshake_writer: OK %ld\n", count);
  return full ? 1 : 0;
}
