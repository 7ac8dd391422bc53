/* remote_statuses <url> <wrong-password-url> <unreachable-url> <password> <wrong-password>
 *
 * The statuses of remote regions as a C program sees them: their names
 * (plexus_status_name), their messages (plexus_last_error: never empty, and never the
 * password of the URL, right or wrong).
 *
 *   <url>                 a region on a running server, with a user and its password
 *   <wrong-password-url>  the same server and user with a wrong password: PERMISSION
 *   <unreachable-url>     a port nobody listens on (with ?timeout_ms=...): UNAVAILABLE
 *
 * Then on <url>: OUT_OF_RANGE, INCOMPATIBLE, TYPE_MISMATCH, NOT_FOUND; the region
 * removed under an open handle: REMOVED from every call of it; the region checker
 * (which reads region files): UNSUPPORTED. A malformed URL with a password:
 * INVALID_ARGUMENT. Exit status 0 when every check held. */
#include "common.h"

static const char *password, *wrong_password;

/* The last call failed with `expected`: its name is `name`, its message is not empty and
 * shows neither password. */
#define EXPECT_STATUS(call, expected, name)                                                 \
  do {                                                                                      \
    EXPECT_MSG(call, expected);                                                             \
    CHECK(strcmp(plexus_status_name(expected), name) == 0);                                 \
    const char *m_ = plexus_last_error();                                                   \
    if (strstr(m_, password) || strstr(m_, wrong_password)) {                               \
      fprintf(stderr, "%s:%d: %s: the message shows a password: %s\n", __FILE__, __LINE__, \
              #call, m_);                                                                   \
      failures++;                                                                           \
    }                                                                                       \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: remote_statuses <url> <wrong-password-url> <unreachable-url> "
                    "<password> <wrong-password>\n");
    return 2;
  }
  const char *url = argv[1], *wrong = argv[2], *unreachable = argv[3];
  password = argv[4];
  wrong_password = argv[5];
  if (!strstr(url, password) || !strstr(wrong, wrong_password)) {
    fprintf(stderr, "remote_statuses: the URLs must hold the passwords\n");
    return 2;
  }

  plexus_region r;
  EXPECT_STATUS(plexus_region_open(wrong, NULL, &r), PLEXUS_E_PERMISSION, "PLEXUS_E_PERMISSION");
  EXPECT_STATUS(plexus_region_open(unreachable, NULL, &r), PLEXUS_E_UNAVAILABLE,
                "PLEXUS_E_UNAVAILABLE");
  EXPECT_STATUS(plexus_region_remove(unreachable), PLEXUS_E_UNAVAILABLE, "PLEXUS_E_UNAVAILABLE");
  char bad[512];
  snprintf(bad, sizeof bad, "redis://user:%s@127.0.0.1:notaport/x", password);
  EXPECT_STATUS(plexus_region_open(bad, NULL, &r), PLEXUS_E_INVALID_ARGUMENT,
                "PLEXUS_E_INVALID_ARGUMENT");
  plexus_region_options only = PLEXUS_REGION_OPTIONS_INIT;
  only.mode = PLEXUS_OPEN;
  EXPECT_STATUS(plexus_region_open(url, &only, &r), PLEXUS_E_NOT_FOUND, "PLEXUS_E_NOT_FOUND");

  MUST(plexus_region_open(url, NULL, &r));
  plexus_array a;
  plexus_map m;
  MUST(plexus_array_open(r, "a", 2, 0, &a));
  MUST(plexus_map_open(r, "m", 4, 0, &m));
  plexus_value one = plexus_int(1), out;
  MUST(plexus_array_write(a, 1, &one));
  EXPECT_STATUS(plexus_array_read(a, 2, &out), PLEXUS_E_OUT_OF_RANGE, "PLEXUS_E_OUT_OF_RANGE");
  plexus_array other;
  EXPECT_STATUS(plexus_array_open(r, "a", 3, 0, &other), PLEXUS_E_INCOMPATIBLE,
                "PLEXUS_E_INCOMPATIBLE");
  EXPECT_STATUS(plexus_array_open(r, "m", 4, 0, &other), PLEXUS_E_TYPE_MISMATCH,
                "PLEXUS_E_TYPE_MISMATCH");
  EXPECT_STATUS(plexus_array_open(r, "none", 0, 0, &other), PLEXUS_E_NOT_FOUND,
                "PLEXUS_E_NOT_FOUND");
  EXPECT_STATUS(plexus_map_remove(m, "absent"), PLEXUS_E_NOT_FOUND, "PLEXUS_E_NOT_FOUND");
  EXPECT_STATUS(plexus_array_read_fe(a, 0, &out, 0), PLEXUS_TIMEOUT, "PLEXUS_TIMEOUT");

  plexus_check_result check;
  EXPECT_STATUS(plexus_region_check(url, 0, &check, NULL), PLEXUS_E_UNSUPPORTED,
                "PLEXUS_E_UNSUPPORTED");

  /* Removed under the open handle: every call of it says REMOVED. */
  MUST(plexus_region_remove(url));
  EXPECT_STATUS(plexus_array_read(a, 1, &out), PLEXUS_E_REMOVED, "PLEXUS_E_REMOVED");
  EXPECT_STATUS(plexus_array_write(a, 1, &one), PLEXUS_E_REMOVED, "PLEXUS_E_REMOVED");
  EXPECT_STATUS(plexus_map_write(m, "k", &one), PLEXUS_E_REMOVED, "PLEXUS_E_REMOVED");
  uint64_t len;
  EXPECT_STATUS(plexus_map_len(m, &len), PLEXUS_E_REMOVED, "PLEXUS_E_REMOVED");
  plexus_region_info info;
  EXPECT_STATUS(plexus_region_get_info(r, &info), PLEXUS_E_REMOVED, "PLEXUS_E_REMOVED");
  EXPECT_STATUS(plexus_array_open(r, "new", 1, 0, &other), PLEXUS_E_REMOVED,
                "PLEXUS_E_REMOVED");
  EXPECT_STATUS(plexus_region_remove(url), PLEXUS_E_NOT_FOUND, "PLEXUS_E_NOT_FOUND");
  MUST(plexus_region_close(r));

  /* The new statuses have their names. */
  CHECK(strcmp(plexus_status_name(PLEXUS_E_UNAVAILABLE), "PLEXUS_E_UNAVAILABLE") == 0);
  CHECK(strcmp(plexus_status_name(PLEXUS_E_REGION_LOST), "PLEXUS_E_REGION_LOST") == 0);
  CHECK(strcmp(plexus_status_name(PLEXUS_E_REMOVED), "PLEXUS_E_REMOVED") == 0);
  CHECK(strcmp(plexus_status_name(PLEXUS_E_UNSUPPORTED), "PLEXUS_E_UNSUPPORTED") == 0);
  return finish("remote_statuses");
}
