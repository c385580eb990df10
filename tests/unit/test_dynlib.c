/* test_dynlib.c - the dlopen'd libcurl and libpq: every slot of both tables is filled, and with
 * the very functions this test links directly (the same library, loaded once). */
#include "storage/base/dynlib.h"
#include "check.h"

#include <stdio.h>

static void test_curl_table_points_at_libcurl(void)
{
    char err[256] = "";
    CHECK_INT(dynlib_load_curl(err, sizeof(err)), 0);
    CHECK_STR(err, "");
#define SAME_CURL(f) CHECK((void *)dynlib_curl.f == (void *)&f, "%s", #f);
    DYNLIB_CURL_FUNCS(SAME_CURL)
    CHECK_INT(dynlib_load_curl(err, sizeof(err)), 0); /* loading twice is harmless */
}

static void test_pq_table_points_at_libpq(void)
{
    char err[256] = "";
    CHECK_INT(dynlib_load_pq(err, sizeof(err)), 0);
    CHECK_STR(err, "");
#define SAME_PQ(f) CHECK((void *)dynlib_pq.f == (void *)&f, "%s", #f);
    DYNLIB_PQ_FUNCS(SAME_PQ)
}

int main(void)
{
    RUN(test_curl_table_points_at_libcurl);
    RUN(test_pq_table_points_at_libpq);
    return check_failures ? 1 : 0;
}
