/* datetime.c - UTC timestamps in ISO 8601 basic or extended form (see datetime.h). */
#include "storage/base/datetime.h"
#include "storage/base/reg_error.h"

#include <time.h>

/* Field offsets of year, month, day, hour, minute, second in each form. */
static const int basic_pos[6] = {0, 4, 6, 9, 11, 13};
static const int extended_pos[6] = {0, 5, 8, 11, 14, 17};

static int read_fields(int f[6], const char *s, const int pos[6])
{
    for (int k = 0; k < 6; k++) {
        int width = k == 0 ? 4 : 2;
        f[k] = 0;
        for (int j = pos[k]; j < pos[k] + width; j++) {
            if (s[j] < '0' || s[j] > '9')
                return REG_EINVALID;
            f[k] = f[k] * 10 + (s[j] - '0');
        }
    }
    return REG_OK;
}

/* "-" "-" "T" ":" ":" between the extended form's fields, then an optional ".digits" and "Z". */
static int extended_shape(const char *s, size_t len)
{
    static const char sep[5] = {'-', '-', 'T', ':', ':'};
    for (int k = 0; k < 5; k++)
        if (s[extended_pos[k + 1] - 1] != sep[k])
            return 0;
    if (len == 20)
        return 1;
    if (s[19] != '.' || len == 21)
        return 0;
    for (size_t j = 20; j < len - 1; j++)
        if (s[j] < '0' || s[j] > '9')
            return 0;
    return 1;
}

int datetime_parse(int64_t *out, const char *s, size_t len)
{
    int f[6];
    if (!s || len < 16 || s[len - 1] != 'Z')
        return REG_EINVALID;
    if (len == 16 ? s[8] != 'T' || read_fields(f, s, basic_pos) < 0
                  : len < 20 || !extended_shape(s, len) || read_fields(f, s, extended_pos) < 0)
        return REG_EINVALID;
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 59)
        return REG_EINVALID;
    struct tm tm = {.tm_year = f[0] - 1900,
                    .tm_mon = f[1] - 1,
                    .tm_mday = f[2],
                    .tm_hour = f[3],
                    .tm_min = f[4],
                    .tm_sec = f[5]},
              back;
    time_t t = timegm(&tm);
    /* timegm rolls Feb 31 over into March: such a date is refused, not moved. */
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != f[2])
        return REG_EINVALID;
    *out = (int64_t)t;
    return REG_OK;
}

struct timespec datetime_deadline_in(int wait_ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += wait_ms / 1000;
    t.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
