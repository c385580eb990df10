/* test_dynlib.c - the dlopen'd libcurl and libpq: every slot of both tables is filled, and with
 * the very functions this test links directly (the same library, loaded once). */
#include "storage/base/dynlib.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdio.h>

/* The library loads (again, harmlessly, when it already is) and no error is left behind. */
static void check_loads(int (*load)(void))
{
    reg_error_clear();
    CHECK_INT(load(), REG_OK);
    CHECK_STR(reg_error_last(""), "");
}

static void test_curl_table_points_at_libcurl(void)
{
    check_loads(dynlib_load_curl);
#define SAME_CURL(f) CHECK((void *)dynlib_curl.f == (void *)&f, "%s", #f);
    DYNLIB_CURL_FUNCS(SAME_CURL)
    CHECK_INT(dynlib_load_curl(), REG_OK); /* loading twice is harmless */
}

static void test_pq_table_points_at_libpq(void)
{
    check_loads(dynlib_load_pq);
#define SAME_PQ(f) CHECK((void *)dynlib_pq.f == (void *)&f, "%s", #f);
    DYNLIB_PQ_FUNCS(SAME_PQ)
}

int main(void)
{
    RUN(test_curl_table_points_at_libcurl);
    RUN(test_pq_table_points_at_libpq);
    return check_failures ? 1 : 0;
}
