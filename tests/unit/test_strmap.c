/* test_strmap.c - the string map of export and import: keys found after many grows, a
 * duplicate refused, and a grow whose allocation fails leaving the map as it was (linked
 * with -Wl,--wrap=calloc so that a chosen calloc call fails). */
#include "check.h"
#include "storage/base/reg_error.h"
#include "storage/base/strmap.h"

#include <stdint.h>

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int calls_until_failure; /* 0: never fail; 1: the next call fails */

void *__wrap_calloc(size_t n, size_t size)
{
    if (calls_until_failure > 0 && --calls_until_failure == 0)
        return NULL;
    return __real_calloc(n, size);
}

static void key_of(char *out, size_t n, int i)
{
    snprintf(out, n, "sha256:%064d", i);
}

static void test_many_keys_survive_grows(void)
{
    strmap m;
    char key[80];
    int64_t v = -1;
    strmap_init(&m);
    for (int i = 0; i < 1000; i++) {
        key_of(key, sizeof(key), i);
        CHECK_INT(strmap_put(&m, key, i * 3), REG_OK);
    }
    CHECK_INT(m.count, 1000);
    for (int i = 0; i < 1000; i++) {
        key_of(key, sizeof(key), i);
        CHECK(strmap_get(&v, &m, key) == REG_OK && v == i * 3, "key %d: got %lld", i, (long long)v);
    }
    CHECK_INT(strmap_get(NULL, &m, "sha256:absent"), REG_ENOTFOUND);
    strmap_free(&m);
    CHECK_INT(strmap_get(NULL, &m, "anything"), REG_ENOTFOUND);
}

static void test_duplicate_is_refused_and_keeps_its_value(void)
{
    strmap m;
    int64_t v = 0;
    strmap_init(&m);
    CHECK_INT(strmap_put(&m, "a", 1), REG_OK);
    CHECK_INT(strmap_put(&m, "a", 2), REG_ECONFLICT);
    CHECK_INT(strmap_get(&v, &m, "a"), REG_OK);
    CHECK_INT(v, 1);
    CHECK_INT(m.count, 1);
    strmap_free(&m);
}

/* Fill the map to the edge of a grow, make the grow's nth calloc fail, then check it. */
static void grow_fails_at(int nth)
{
    strmap m;
    char key[80];
    int64_t v = -1;
    strmap_init(&m);
    for (int i = 0; i < 32; i++) { /* 64 slots hold 32 keys; the 33rd needs a grow */
        key_of(key, sizeof(key), i);
        CHECK_INT(strmap_put(&m, key, i), REG_OK);
    }
    size_t cap = m.cap;
    key_of(key, sizeof(key), 32);
    calls_until_failure = nth;
    CHECK_INT(strmap_put(&m, key, 32), REG_ERROR);
    calls_until_failure = 0;
    CHECK(m.cap == cap && m.count == 32, "calloc %d failing changed the map: cap %zu count %zu",
          nth, m.cap, m.count);
    CHECK_INT(strmap_get(NULL, &m, key), REG_ENOTFOUND);
    key_of(key, sizeof(key), 7);
    CHECK(strmap_get(&v, &m, key) == REG_OK && v == 7, "calloc %d failing lost key 7", nth);
    key_of(key, sizeof(key), 32);
    CHECK_INT(strmap_put(&m, key, 32), REG_OK); /* and the next grow works */
    strmap_free(&m);
}

static void test_failed_grow_leaves_the_map_as_it_was(void)
{
    grow_fails_at(1); /* the key array */
    grow_fails_at(2); /* the value array */
}

int main(void)
{
    test_many_keys_survive_grows();
    test_duplicate_is_refused_and_keeps_its_value();
    test_failed_grow_leaves_the_map_as_it_was();
    return check_failures ? 1 : 0;
}
