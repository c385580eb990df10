/* fuzz_reference.c - repository names, tags, manifest references and digests from arbitrary
 * client text (storage/base/reference.c, storage/base/digest.c). */
#include "fuzz_util.h"
#include "storage/base/digest.h"
#include "storage/base/reference.h"
#include "storage/base/reg_error.h"

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
           c == '/';
}

static void check_digest(const digest *d, const char *text)
{
    size_t hex_len = d->alg == DIGEST_SHA256 ? 64 : 128;
    FUZZ_CHECK(d->alg == DIGEST_SHA256 || d->alg == DIGEST_SHA512);
    FUZZ_CHECK(strcmp(d->str, text) == 0);
    FUZZ_CHECK(strlen(digest_hex(d)) == hex_len);
    FUZZ_CHECK(strncmp(d->str, digest_alg_name(d->alg), strlen(digest_alg_name(d->alg))) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    size_t len = strlen(text);
    reference ref;
    digest dg;

    if (reference_check_name(text) == REG_OK) {
        FUZZ_CHECK(len >= 1 && len <= REPO_NAME_MAX);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(is_name_char(text[i]));
        FUZZ_CHECK(text[0] != '/' && text[len - 1] != '/' && !strstr(text, "//"));
    }
    if (reference_check_tag(text) == REG_OK)
        FUZZ_CHECK(len >= 1 && len <= TAG_MAX && text[0] != '.' && text[0] != '-');

    int digest_err = digest_parse(&dg, text);
    if (digest_err == REG_OK)
        check_digest(&dg, text);
    else
        FUZZ_CHECK(digest_err == REG_EINVALID);

    if (reference_parse(&ref, text) == REG_OK) {
        if (ref.is_digest) {
            FUZZ_CHECK(digest_err == REG_OK);
            check_digest(&ref.dg, text);
        } else {
            FUZZ_CHECK(ref.tag == text && reference_check_tag(text) == REG_OK);
        }
    }
    free(text);
    return 0;
}
