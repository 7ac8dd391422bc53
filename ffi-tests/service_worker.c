/* One role in a multi-process service test (tests/ffi.rs):
 *   serve REGION SERVICE DELAY_US   answer requests until killed: an int n gets
 *                                   n * 2 + 1 (a function of the request, which carries
 *                                   the caller's id), after DELAY_US microseconds
 *   take-hang REGION SERVICE        take one request, print "taken", never answer
 *   call REGION SERVICE CALLER N    make N calls (request CALLER * 1000000 + i); every
 *                                   reply must be its own; prints "ok=.. dead=.."
 *   call-once REGION SERVICE        print "calling", make one call without timeout */
#include "common.h"

#include <stdint.h>

#define MS 1000000LL

static plexus_service open_service(const char *region, const char *svc, plexus_region *r) {
  MUST(plexus_region_open(region, NULL, r));
  plexus_service s;
  MUST(plexus_service_open(*r, svc, 0, 0, &s)); /* made by the test */
  return s;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: service_worker ROLE REGION SERVICE ...\n");
    return 2;
  }
  const char *role = argv[1];
  plexus_region r;
  plexus_service s = open_service(argv[2], argv[3], &r);
  if (strcmp(role, "serve") == 0) {
    long delay_us = argc > 4 ? atol(argv[4]) : 0;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      plexus_request req;
      plexus_value v;
      MUST(plexus_service_next(s, &req, &v, PLEXUS_FOREVER));
      if (v.type != PLEXUS_INT) {
        MUST(plexus_service_reply_error(s, req, "not an int"));
        plexus_value_free(&v);
        continue;
      }
      if (delay_us > 0) usleep((useconds_t)(rand() % (delay_us + 1)));
      plexus_value out = plexus_int(v.as.i * 2 + 1);
      MUST(plexus_service_reply(s, req, &out));
    }
  }
  if (strcmp(role, "take-hang") == 0) {
    plexus_request req;
    plexus_value v;
    MUST(plexus_service_next(s, &req, &v, PLEXUS_FOREVER));
    printf("taken\n");
    fflush(stdout);
    for (;;) pause();
  }
  if (strcmp(role, "call") == 0 && argc > 5) {
    int64_t caller = atol(argv[4]);
    long n = atol(argv[5]), ok = 0, dead = 0;
    for (long i = 0; i < n; i++) {
      int64_t x = caller * 1000000 + i;
      plexus_value req = plexus_int(x), resp;
      plexus_status st = plexus_service_call(s, &req, &resp, 60000 * MS);
      if (st == PLEXUS_OK) {
        if (resp.type != PLEXUS_INT || resp.as.i != x * 2 + 1) {
          fprintf(stderr, "caller %ld call %ld: got another request's reply\n", (long)caller, i);
          return 1;
        }
        ok++;
      } else if (st == PLEXUS_OWNER_DEAD) {
        dead++;
      } else {
        fprintf(stderr, "caller %ld call %ld: %s: %s\n", (long)caller, i, plexus_status_name(st),
                plexus_last_error());
        return 1;
      }
    }
    printf("ok=%ld dead=%ld\n", ok, dead);
    return 0;
  }
  if (strcmp(role, "call-once") == 0) {
    printf("calling\n");
    fflush(stdout);
    plexus_value req = plexus_int(1), resp;
    plexus_status st = plexus_service_call(s, &req, &resp, PLEXUS_FOREVER);
    printf("%s\n", plexus_status_name(st));
    return 0;
  }
  fprintf(stderr, "unknown role %s\n", role);
  return 2;
}
