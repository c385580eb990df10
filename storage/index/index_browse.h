/* index_browse.h - a repository's images and tags a page at a time (keyset paging, for the
 * console): the cost of a page is the page, not the repository's 100,000 tags. */
#ifndef OCIREG_INDEX_BROWSE_H
#define OCIREG_INDEX_BROWSE_H

#include "storage/index/index.h"
#include "storage/index/index_repos.h"

#include <stdint.h>

typedef enum image_sort {
    IMAGE_SORT_PUSHED,
    IMAGE_SORT_SIZE,
    IMAGE_SORT_PULLED,
    IMAGE_SORT_DIGEST
} image_sort;

/* One keyset page of a repository's images: after the row (after_key, after_digest), or from
 * the start when after_digest is NULL (after_key is unused for IMAGE_SORT_DIGEST). */
typedef struct image_page_query {
    image_sort sort;
    int ascending;
    int all; /* index children and referrers too */
    int64_t after_key;
    const char *after_digest;
    int limit;    /* rows */
    int row_tags; /* tags listed per row (tag_count counts them all) */
} image_page_query;

/* Calls cb for each image of the page, in order. REG_ENOTFOUND if no such repository. */
int index_image_page(index_db *ix, const char *repo, const image_page_query *q, index_image_cb cb,
                     void *ctx);

/* The image `digest` of repo with its first `row_tags` tags (tag_count counts them all): cb is
 * called once. REG_ENOTFOUND if there is no such repository or image. */
int index_image_one(index_db *ix, const char *repo, const char *digest, int row_tags,
                    index_image_cb cb, void *ctx);

typedef struct tag_row {
    const char *tag;
    const char *digest;
    int64_t size;
    int64_t pushed_at;
    int64_t tag_count; /* tags of its image */
    int child;
} tag_row;

typedef int (*index_tag_row_cb)(void *ctx, const tag_row *row);
/* Up to `limit` tags of repo starting with prefix, after `after` ("" for the first), in name
 * order. REG_ENOTFOUND if no such repository. */
int index_tag_search(index_db *ix, const char *repo, const char *prefix, const char *after,
                     int limit, index_tag_row_cb cb, void *ctx);

#endif
