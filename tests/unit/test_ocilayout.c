/* test_ocilayout.c - which archive entry names an OCI image layout accepts: exactly its own
 * files and folders, and blobs/<alg>/<hex> only with a valid digest. */
#include "storage/archive/ocilayout.h"
#include "storage/base/reg_error.h"
#include "storage/archive/tar.h"
#include "check.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static layout_kind classify(const char *name)
{
    char norm[TAR_NAME_MAX];
    digest d;
    return layout_classify(&d, norm, sizeof(norm), name);
}

static void test_layout_names_are_recognised(void)
{
    char norm[TAR_NAME_MAX];
    digest d;
    CHECK_INT(classify("./"), LAYOUT_DIR);
    CHECK_INT(classify("blobs/"), LAYOUT_DIR);
    CHECK_INT(classify("./blobs/sha256/"), LAYOUT_DIR);
    CHECK_INT(classify("oci-layout"), LAYOUT_MARKER);
    CHECK_INT(classify("./index.json"), LAYOUT_INDEX_JSON);
    CHECK_INT(layout_classify(&d, norm, sizeof(norm), "./blobs/sha256/" HEX64), LAYOUT_BLOB);
    CHECK_STR(d.str, "sha256:" HEX64);
    CHECK_STR(norm, "blobs/sha256/" HEX64);
}

static void test_anything_else_is_other(void)
{
    static const char *const bad[] = {"../index.json",
                                      "/index.json",
                                      "blobs/sha256/../../etc/passwd",
                                      "blobs/sha256/" HEX64 "/x",
                                      "blobs/sha256/ABCDEF",
                                      "blobs/md5/" HEX64,
                                      "blobs/sha256/" HEX64 "0",
                                      "manifest.json",
                                      "index.json/x",
                                      ".//index.json",
                                      "blobs//sha256/" HEX64};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        layout_kind k = classify(bad[i]);
        CHECK(k == LAYOUT_OTHER, "\"%s\" should not be accepted, got kind %d", bad[i], (int)k);
    }
}

static void test_blob_name_round_trips(void)
{
    char name[DIGEST_MAX + 8], norm[TAR_NAME_MAX];
    digest d, back;
    CHECK_INT(digest_parse(&d, "sha256:" HEX64), REG_OK);
    layout_blob_name(name, sizeof(name), &d);
    CHECK_STR(name, "blobs/sha256/" HEX64);
    CHECK_INT(layout_classify(&back, norm, sizeof(norm), name), LAYOUT_BLOB);
    CHECK_STR(back.str, d.str);
}

int main(void)
{
    RUN(test_layout_names_are_recognised);
    RUN(test_anything_else_is_other);
    RUN(test_blob_name_round_trips);
    return check_failures != 0;
}
