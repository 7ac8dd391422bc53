/* big_writer <region>: writes large self-describing strings into element 0 of array
 * "big" forever (until killed). Each string is "<len>:<seq>:" followed by filler
 * characters 'a' + seq % 26 up to exactly <len> bytes, so a reader can tell a whole
 * value from a torn one. Uses write, write_xf and exchange in turn (exchange holds the
 * element lock while it copies the old value out, so kills land inside locks too).
 * Prints "ready" once the first value is stored. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "big", 1, 0, &a));
  size_t cap = 300000;
  char *buf = malloc(cap);
  unsigned seed = (unsigned)getpid();
  for (unsigned long seq = 0;; seq++) {
    size_t len = 20000 + (size_t)(rand_r(&seed) % 250000);
    int head = snprintf(buf, cap, "%zu:%lu:", len, seq);
    memset(buf + head, 'a' + (int)(seq % 26), len - (size_t)head);
    plexus_value v = plexus_string_n(buf, len);
    plexus_value old;
    switch (seq % 3) {
      case 0: MUST(plexus_array_write(a, 0, &v)); break;
      case 1: MUST(plexus_array_write_xf(a, 0, &v)); break;
      default: /* holds the element lock while it copies the old value out */
        MUST(plexus_array_exchange(a, 0, &v, &old));
        plexus_value_free(&old);
    }
    if (seq == 0) {
      MUST(plexus_array_set_tag(a, 0, true));
      printf("ready\n");
      fflush(stdout);
    }
  }
}
