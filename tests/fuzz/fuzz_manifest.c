/* fuzz_manifest.c - manifest_parse (storage/manifest.c) on arbitrary bodies. The first byte
 * picks the Content-Type (none, each known type, unknown ones, one with parameters, or the
 * text up to the first newline); the rest is the body, not NUL-terminated. */
#include "fuzz_util.h"
#include "storage/manifest.h"
#include "storage/base/reg_error.h"

static const char *const content_types[] = {
    NULL,
    MT_OCI_MANIFEST,
    MT_OCI_INDEX,
    MT_DOCKER_MANIFEST,
    MT_DOCKER_LIST,
    MT_OCI_EMPTY,
    "application/json",
    "",
    MT_OCI_MANIFEST "; charset=utf-8",
    MT_DOCKER_LIST " ",
    "application/vnd.oci.image.manifest.v1+json;application/vnd.oci.image.index.v1+json",
};
#define NTYPES (sizeof(content_types) / sizeof(content_types[0]))

static int is_known(const char *mt)
{
    return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_OCI_INDEX) ||
           !strcmp(mt, MT_DOCKER_MANIFEST) || !strcmp(mt, MT_DOCKER_LIST);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    manifest_info *m = NULL;
    char *ct_copy = NULL;
    const char *ct;
    if (size < 1 || size > MANIFEST_MAX_BYTES)
        return 0;
    size_t pick = data[0] % (NTYPES + 1);
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    if (pick == NTYPES) {
        const uint8_t *nl = memchr(body, '\n', len);
        size_t ct_len = nl ? (size_t)(nl - body) : len;
        ct = ct_copy = fuzz_cstr(body, ct_len);
        body += nl ? ct_len + 1 : len;
        len -= nl ? ct_len + 1 : len;
    } else {
        ct = content_types[pick];
    }
    /* A heap copy of exactly len bytes, so reading past the body is caught. */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, body, len);

    reg_error_clear();
    int err = manifest_parse(&m, ct, copy, len);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    if (err == REG_OK) {
        FUZZ_CHECK(is_known(m->media_type));
        FUZZ_CHECK(manifest_is_index(m->media_type) || m->nrefs >= 1);
        for (size_t i = 0; i < m->nrefs; i++) {
            digest again;
            FUZZ_CHECK(digest_parse(&again, m->refs[i].dg.str) == REG_OK);
            FUZZ_CHECK(manifest_ref_kind_name(&m->refs[i]) != NULL);
            FUZZ_CHECK(manifest_is_index(m->media_type) ? m->refs[i].kind == REF_MANIFEST
                                                        : m->refs[i].kind != REF_MANIFEST);
        }
        if (m->has_subject) {
            digest again;
            FUZZ_CHECK(digest_parse(&again, m->subject.str) == REG_OK);
        }
        manifest_info_free(m);
    } else {
        FUZZ_CHECK(reg_error_last(NULL) != NULL);
    }
    free(copy);
    free(ct_copy);
    return 0;
}
