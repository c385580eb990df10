/* test_digest.c - digest parsing and SHA-256/SHA-512 computation, streaming and whole. */
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA512                                                                                 \
    "sha512:"                                                                                      \
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c"       \
    "23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void test_valid_sha256_parses(void)
{
    digest d;
    CHECK_INT(digest_parse(&d, EMPTY_SHA256), REG_OK);
    CHECK_INT(d.alg, DIGEST_SHA256);
    CHECK_STR(d.str, EMPTY_SHA256);
    CHECK_STR(digest_hex(&d), &EMPTY_SHA256[7]);
}

static void test_valid_sha512_parses(void)
{
    digest d;
    CHECK_INT(digest_parse(&d, ABC_SHA512), REG_OK);
    CHECK_INT(d.alg, DIGEST_SHA512);
}

static void test_malformed_digests_are_invalid(void)
{
    static const char *const bad[] = {
        "",
        "sha256",
        "sha256:",
        "sha256:xyz",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
        "sha256:../../../../etc/passwd0000000000000000000000000000000000000000000",
        "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    };
    digest d;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(digest_parse(&d, bad[i]) == REG_EINVALID, "\"%s\" should be invalid", bad[i]);
    CHECK(digest_parse(&d, NULL) == REG_EINVALID, "NULL should be invalid");
}

static void test_buffer_digests_match_known_values(void)
{
    digest d;
    CHECK_INT(digest_buffer(&d, DIGEST_SHA256, "", 0), REG_OK);
    CHECK_STR(d.str, EMPTY_SHA256);
    CHECK_INT(digest_buffer(&d, DIGEST_SHA512, "abc", 3), REG_OK);
    CHECK_STR(d.str, ABC_SHA512);
}

static void test_streaming_equals_whole_and_peek_keeps_state(void)
{
    digester *h = NULL;
    digest whole, part, streamed;
    CHECK_INT(digester_new(&h, DIGEST_SHA256), REG_OK);
    digester_update(h, "hello ", 6);
    CHECK_INT(digester_peek(&part, h), REG_OK);
    digester_update(h, "world", 5);
    CHECK_INT(digester_peek(&streamed, h), REG_OK);
    digest_buffer(&whole, DIGEST_SHA256, "hello world", 11);
    CHECK_STR(streamed.str, whole.str);
    digest_buffer(&whole, DIGEST_SHA256, "hello ", 6);
    CHECK_STR(part.str, whole.str);
    digester_free(h);
}

static void test_file_digest_reads_given_length(void)
{
    char path[] = "/tmp/ocireg-test-XXXXXX";
    int fd = mkstemp(path);
    digest d, expected;
    CHECK(fd >= 0, "mkstemp failed");
    CHECK_INT(write(fd, "abcdef", 6), 6);
    CHECK_INT(digest_file(&d, DIGEST_SHA512, fd, 3), REG_OK);
    digest_buffer(&expected, DIGEST_SHA512, "abc", 3);
    CHECK_STR(d.str, expected.str);
    close(fd);
    unlink(path);
}

int main(void)
{
    RUN(test_valid_sha256_parses);
    RUN(test_valid_sha512_parses);
    RUN(test_malformed_digests_are_invalid);
    RUN(test_buffer_digests_match_known_values);
    RUN(test_streaming_equals_whole_and_peek_keeps_state);
    RUN(test_file_digest_reads_given_length);
    return check_failures != 0;
}
