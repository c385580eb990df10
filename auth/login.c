/* login.c - password check under the failed-login throttle (see login.h). */
#include "auth/login.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "storage/base/reg_error.h"

#include <string.h>

int login_check(int64_t *gen_out, int *wait_out, index_db *ix, const char *user,
                const char *password, const char *addr, time_t now)
{
    user_record rec;
    *wait_out = 0;
    int wait = ratelimit_login_wait(user, addr, now);
    if (wait < 0)
        return reg_error_set(REG_ERROR, "the login throttle cannot be kept");
    if (wait > 0) {
        *wait_out = wait;
        return reg_error_set(REG_EBUSY, "too many failed logins; retry in %d seconds", wait);
    }
    int err = strlen(user) > USER_NAME_MAX ? REG_ENOTFOUND : index_user_get(&rec, ix, user);
    if (err == REG_ERROR)
        return reg_error_set(REG_ERROR, "the user cannot be looked up: %s", index_errmsg(ix));
    if (err == REG_OK ? password_verify(&rec, password) == REG_OK
                      : password_verify_nobody(password) == REG_OK) {
        ratelimit_login_succeeded(user, addr, now);
        *gen_out = rec.generation;
        return REG_OK;
    }
    ratelimit_login_failed(user, addr, now);
    return reg_error_set(REG_EDENIED, "invalid username or password");
}
