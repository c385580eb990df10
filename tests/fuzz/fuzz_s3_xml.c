/* fuzz_s3_xml.c - the S3 client's readers of server answers (storage/s3/): ListObjectsV2
 * pages, error documents, element text with entities, and the Content-Range, Last-Modified
 * and size fields. The input is one answer body; links s3_unittest to reach the helpers. */
#include "storage/s3/s3_internal.h"
#include "storage/base/datetime.h"
#include "storage/base/reg_error.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct order {
    char last[S3_MAX_KEY + 1];
    size_t n;
} order;

static int each_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    order *o = ctx;
    size_t len = strlen(key);
    FUZZ_CHECK(len > 0 && len + 2 <= S3_MAX_KEY);
    /* Keys come in strictly ascending order of their full names ("p/" + key). */
    FUZZ_CHECK(o->n == 0 || strcmp(key, o->last) > 0);
    memcpy(o->last, key, len + 1);
    return ++o->n == 50 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    list_page *pg = calloc(1, sizeof(*pg));
    order o = {.n = 0};
    s3_error_doc e;
    xml_span sp;
    char text[256];
    if (!pg)
        abort();
    pg->strip = "p/";
    pg->cb = each_key;
    pg->ctx = &o;
    int err = list_page_parse(pg, doc, size);
    FUZZ_CHECK(err == REG_OK || err == REG_ERROR);
    if (err == REG_OK && pg->truncated && !pg->stopped)
        FUZZ_CHECK(pg->next_token[0] != '\0' && strlen(pg->next_token) <= MAX_TOKEN);
    FUZZ_CHECK(o.n <= pg->keys); /* the prefix itself (a "folder" marker) is skipped */

    parse_error_doc(&e, doc, size);
    FUZZ_CHECK(strlen(e.code) < sizeof(e.code) && strlen(e.message) < sizeof(e.message));

    /* Every element's text either unescapes within bounds or is refused. */
    static const char *const names[] = {"Key", "UploadId", "ETag", "Code", "Contents", "Error"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (const char *p = doc, *end = doc + size;
             xml_element(&sp, p, (size_t)(end - p), names[i]); p = sp.end) {
            FUZZ_CHECK(sp.text >= doc && sp.text + sp.len <= end && sp.end <= end && sp.end > p);
            int rc = xml_text(text, sizeof(text), sp.text, sp.len);
            FUZZ_CHECK(rc == REG_OK || rc == REG_EINVALID || rc == REG_ETOOLARGE);
            if (rc == REG_OK)
                FUZZ_CHECK(strlen(text) < sizeof(text) && strlen(text) <= 4 * sp.len);
        }
    }

    uint64_t start, total, v;
    int64_t t;
    if (parse_content_range(&start, &total, doc, size) == REG_OK)
        FUZZ_CHECK(total == UINT64_MAX || start < total);
    if (parse_u64(&v, doc, size) == REG_OK)
        FUZZ_CHECK(size > 0 && size <= 20);
    (void)datetime_parse(&t, doc, size);
    free(pg);
    return 0;
}
