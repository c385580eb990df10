/* s3_listing.h - what the S3 client's tests (test_s3_parse, s3_check) collect from s3_list:
 * the first keys with their sizes and times, how many came, and a way to stop early. */
#ifndef OCIREG_TEST_S3_LISTING_H
#define OCIREG_TEST_S3_LISTING_H

#include "storage/s3/s3.h"

#include <stdint.h>
#include <stdio.h>

#define LISTING_KEPT 16

typedef struct listing {
    char keys[LISTING_KEPT][S3_MAX_KEY + 1];
    uint64_t sizes[LISTING_KEPT];
    int64_t mtimes[LISTING_KEPT];
    size_t n;          /* keys seen, kept or not */
    size_t stop_after; /* when not 0: return stop_with after this many keys */
    int stop_with;
} listing;

static int to_listing(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    listing *l = ctx;
    if (l->n < LISTING_KEPT) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
        l->sizes[l->n] = size;
        l->mtimes[l->n] = mtime;
    }
    l->n++;
    return l->stop_after && l->n == l->stop_after ? l->stop_with : 0;
}

#endif
