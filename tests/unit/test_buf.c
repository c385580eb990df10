/* test_buf.c - the string list of buf.h: copies, NULL as "", the item limit, and freeing back
 * to an empty list. */
#include "check.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <string.h>

static void test_strlist_copies_and_limit(void)
{
    strlist l = {0};
    char name[8] = "a";
    CHECK_INT(strlist_add(&l, name, 2), REG_OK);
    name[0] = 'b'; /* the list holds a copy */
    CHECK_INT(strlist_add(&l, NULL, 2), REG_OK);
    CHECK_INT(strlist_add(&l, "c", 2), REG_ETOOLARGE);
    CHECK_INT((int)l.n, 2);
    CHECK_STR(l.items[0], "a");
    CHECK_STR(l.items[1], "");
    strlist_free(&l);
    CHECK_INT((int)l.n, 0);
    CHECK(l.items == NULL, "strlist_free leaves an empty list");
}

static void test_strlist_collect_grows(void)
{
    strlist l = {0};
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        CHECK_INT(strlist_collect(&l, name), REG_OK);
    }
    CHECK_INT((int)l.n, 100);
    CHECK_STR(l.items[99], "r99");
    strlist_free(&l);
}

int main(void)
{
    RUN(test_strlist_copies_and_limit);
    RUN(test_strlist_collect_grows);
    return check_failures ? 1 : 0;
}
