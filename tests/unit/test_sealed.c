/* test_sealed.c - sealed text credentials: a text sealed under a data dir's master key opens
 * back under that key only, and long, truncated, tampered or foreign boxes are refused. */
#include "auth/sealed.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <string.h>
#include <sys/stat.h>

#define MAX 64

static char dir[64], other_dir[64];
static unsigned char master[SECRETBOX_KEY_LEN], other_master[SECRETBOX_KEY_LEN];

static void test_a_text_opens_back_under_its_key(void)
{
    unsigned char box[SEALED_SIZE(MAX)];
    size_t box_len = 0;
    char out[MAX + 1];
    struct stat st;
    CHECK_INT(sealed_text_seal(box, &box_len, dir, "s3cr3t:pass", MAX), REG_OK);
    CHECK_INT(box_len, strlen("s3cr3t:pass") + SECRETBOX_OVERHEAD);
    CHECK(memmem(box, box_len, "s3cr3t", 6) == NULL, "the box holds the text in the clear");
    CHECK_INT(secretbox_key(master, dir), REG_OK); /* the key the seal made on first use */
    char path[128];
    snprintf(path, sizeof(path), "%s/keys/master.key", dir);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_OK);
    CHECK_STR(out, "s3cr3t:pass");
    CHECK_INT(sealed_text_seal(box, &box_len, dir, "", MAX), REG_OK);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_OK);
    CHECK_STR(out, "");
    char longest[MAX + 1];
    memset(longest, 'x', MAX);
    longest[MAX] = '\0';
    CHECK_INT(sealed_text_seal(box, &box_len, dir, longest, MAX), REG_OK);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_OK);
    CHECK_STR(out, longest);
}

static void test_a_wrong_key_or_a_tampered_box_is_refused(void)
{
    unsigned char box[SEALED_SIZE(MAX)];
    size_t box_len = 0;
    char out[MAX + 1];
    CHECK_INT(sealed_text_seal(box, &box_len, dir, "password", MAX), REG_OK);
    CHECK_INT(sealed_text_open(out, sizeof(out), other_master, box, box_len), REG_EDENIED);
    CHECK(strstr(reg_error_last(""), "master key"), "got %s", reg_error_last(""));
    CHECK_STR(out, ""); /* nothing of what the wrong key produced is left */
    box[14] ^= 1;
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_EDENIED);
    box[14] ^= 1;
    box[box_len - 1] ^= 0x80; /* the tag */
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_EDENIED);
    box[box_len - 1] ^= 0x80;
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_OK);
    CHECK_STR(out, "password");
}

static void test_over_long_texts_and_boxes_are_refused(void)
{
    unsigned char box[SEALED_SIZE(MAX + 1)];
    size_t box_len = 1;
    char text[MAX + 2], out[MAX + 1];
    memset(text, 'y', MAX + 1);
    text[MAX + 1] = '\0';
    CHECK_INT(sealed_text_seal(box, &box_len, dir, text, MAX), REG_EINVALID);
    CHECK_INT(box_len, 0);
    CHECK(strstr(reg_error_last(""), "at most 64 bytes"), "got %s", reg_error_last(""));
    /* a box one byte longer than out can hold is refused before the cipher runs */
    CHECK_INT(sealed_text_seal(box, &box_len, dir, text, MAX + 1), REG_OK);
    memset(out, 'z', sizeof(out));
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len), REG_EDENIED);
    CHECK(strstr(reg_error_last(""), "longer than 64 bytes"), "got %s", reg_error_last(""));
    CHECK_STR(out, "");
    CHECK_INT(sealed_text_open(out, 0, master, box, box_len), REG_EDENIED);
}

static void test_truncated_boxes_and_nul_bytes_are_refused(void)
{
    unsigned char box[SEALED_SIZE(MAX)];
    size_t box_len = 0, n = 0;
    char out[MAX + 1];
    CHECK_INT(sealed_text_seal(box, &box_len, dir, "abcdef", MAX), REG_OK);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, box_len - 1), REG_EDENIED);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, SECRETBOX_OVERHEAD - 1), REG_EDENIED);
    CHECK(strstr(reg_error_last(""), "truncated"), "got %s", reg_error_last(""));
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, 0), REG_EDENIED);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, NULL, 0), REG_EDENIED);
    /* a box whose text holds a NUL would be cut short by every caller: refused */
    CHECK_INT(secretbox_seal(box, &n, master, (const unsigned char *)"ab\0cd", 5), REG_OK);
    CHECK_INT(sealed_text_open(out, sizeof(out), master, box, n), REG_EDENIED);
}

int main(void)
{
    if (check_tempdir(dir, sizeof(dir), "sealed") < 0 ||
        check_tempdir(other_dir, sizeof(other_dir), "sealed-other") < 0 ||
        secretbox_key(other_master, other_dir) < 0)
        return 1;
    RUN(test_a_text_opens_back_under_its_key);
    RUN(test_a_wrong_key_or_a_tampered_box_is_refused);
    RUN(test_over_long_texts_and_boxes_are_refused);
    RUN(test_truncated_boxes_and_nul_bytes_are_refused);
    CHECK_RMDIR(dir);
    CHECK_RMDIR(other_dir);
    return check_failures;
}
