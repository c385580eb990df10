/* login.h - a user's password checked under the failed-login throttle: the one check that the
 * token service (/token) and the web console's sign-in share. */
#ifndef OCIREG_LOGIN_H
#define OCIREG_LOGIN_H

#include "storage/index/index.h"

#include <stdint.h>
#include <time.h>

/* Check `password` of `user` logging in from client address `addr` (auth/ratelimit.h):
 *   REG_OK with the user's generation in *gen_out;
 *   REG_EBUSY while the throttle refuses this login, *wait_out the seconds to wait (no
 *   password is derived then);
 *   REG_EDENIED for an unknown user or a wrong password (counted as a failure: an unknown name
 *   costs the same derivation as a wrong password, so names cannot be told apart by timing);
 *   REG_ERROR when the user cannot be looked up or the throttle cannot be kept. */
int login_check(int64_t *gen_out, int *wait_out, index_db *ix, const char *user,
                const char *password, const char *addr, time_t now);

#endif
