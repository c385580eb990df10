/* test_blob_url.c - signed blob download URLs: a URL checks out for its own repository, blob
 * and expiry only, until it expires, and malformed values are refused. */
#include "auth/blob_url.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define REPO "ecr/app"
#define BLOB                                                                                       \
    "sha256:"                                                                                      \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define OTHER                                                                                      \
    "sha256:"                                                                                      \
    "f3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define NOW 1800000000

static unsigned char key[32], other_key[32];

/* The expiry and signature of a query "X-Ocireg-Expires=E&X-Ocireg-Signature=S". */
static void split_query(const char *q, char *expires, char *sig)
{
    sscanf(q, BLOB_URL_EXPIRES_PARAM "=%31[^&]&" BLOB_URL_SIGNATURE_PARAM "=%127s", expires, sig);
}

static void test_a_url_checks_out_only_for_what_it_signed(void)
{
    char *q = NULL, expires[32] = "", sig[128] = "";
    CHECK_INT(blob_url_query(&q, key, REPO, BLOB, NOW + 60), REG_OK);
    split_query(q, expires, sig);
    CHECK_STR(expires, "1800000060");
    CHECK_INT(strlen(sig), 64);
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, sig, NOW), REG_OK);
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, sig, NOW + 60), REG_OK);
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, sig, NOW + 61), REG_EDENIED);
    CHECK(strstr(reg_error_last(""), "expired"), "expected 'expired', got %s", reg_error_last(""));
    CHECK_INT(blob_url_check(key, "ecr/other", BLOB, expires, sig, NOW), REG_EDENIED);
    CHECK_INT(blob_url_check(key, REPO, OTHER, expires, sig, NOW), REG_EDENIED);
    CHECK_INT(blob_url_check(key, REPO, BLOB, "1800000061", sig, NOW), REG_EDENIED);
    CHECK_INT(blob_url_check(other_key, REPO, BLOB, expires, sig, NOW), REG_EDENIED);
    sig[10] = sig[10] == 'a' ? 'b' : 'a';
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, sig, NOW), REG_EDENIED);
    free(q);
}

static void test_malformed_values_are_refused(void)
{
    char *q = NULL, expires[32] = "", sig[128] = "";
    CHECK_INT(blob_url_query(&q, key, REPO, BLOB, NOW + 60), REG_OK);
    split_query(q, expires, sig);
    const char *bad_expires[] = {"",
                                 "01800000060",
                                 "+1800000060",
                                 " 1800000060",
                                 "1800000060 ",
                                 "-1",
                                 "18000000600000000000000",
                                 "1.8e9"};
    for (size_t i = 0; i < sizeof(bad_expires) / sizeof(bad_expires[0]); i++)
        CHECK(blob_url_check(key, REPO, BLOB, bad_expires[i], sig, NOW) == REG_EDENIED,
              "expiry \"%s\" should be refused", bad_expires[i]);
    CHECK_INT(blob_url_check(key, REPO, BLOB, NULL, sig, NOW), REG_EDENIED);
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, NULL, NOW), REG_EDENIED);
    sig[63] = '\0';
    CHECK_INT(blob_url_check(key, REPO, BLOB, expires, sig, NOW), REG_EDENIED);
    free(q);
}

int main(void)
{
    memset(key, 7, sizeof(key));
    memset(other_key, 8, sizeof(other_key));
    test_a_url_checks_out_only_for_what_it_signed();
    test_malformed_values_are_refused();
    return check_failures ? 1 : 0;
}
