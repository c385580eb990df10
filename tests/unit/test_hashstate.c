/* test_hashstate.c - the resumable hash of S3 upload sessions: a state saved after any number
 * of bytes and loaded into a fresh hashstate goes on to the same digests as hashing the whole
 * input at once; states that are not this build's are refused. */
#include "storage/base/hashstate.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define LEN 300001

static unsigned char *sample(void)
{
    unsigned char *p = malloc(LEN);
    for (size_t i = 0; p && i < LEN; i++)
        p[i] = (unsigned char)(i * 7919u >> 3);
    return p;
}

/* Hash data in pieces cut at `cuts`, moving the state through save/load at every cut. */
static void check_resumed(const unsigned char *data, const size_t *cuts, size_t ncuts)
{
    unsigned char saved[HASHSTATE_BYTES];
    digest want256, want512, got;
    hashstate *h = NULL;
    size_t at = 0;
    CHECK_INT(hashstate_new(&h), REG_OK);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : LEN;
        hashstate_update(h, data + at, end - at);
        at = end;
        size_t n = hashstate_save(h, saved);
        hashstate_free(h);
        h = NULL;
        CHECK_INT(hashstate_new(&h), REG_OK);
        CHECK_INT(hashstate_load(h, saved, n), REG_OK);
    }
    digest_buffer(&want256, DIGEST_SHA256, data, LEN);
    digest_buffer(&want512, DIGEST_SHA512, data, LEN);
    CHECK_INT(hashstate_digest(&got, h, DIGEST_SHA256), REG_OK);
    CHECK_STR(got.str, want256.str);
    CHECK_INT(hashstate_digest(&got, h, DIGEST_SHA512), REG_OK);
    CHECK_STR(got.str, want512.str);
    hashstate_free(h);
}

static void test_resumed_state_gives_the_whole_digest(void)
{
    unsigned char *data = sample();
    static const size_t odd[] = {1, 63, 64, 65, 127, 129, 4096, 8191, 200000};
    static const size_t none[] = {0};
    check_resumed(data, odd, sizeof(odd) / sizeof(odd[0]));
    check_resumed(data, none, 1);
    free(data);
}

static void test_foreign_states_are_refused(void)
{
    unsigned char saved[HASHSTATE_BYTES];
    hashstate *h = NULL;
    CHECK_INT(hashstate_new(&h), REG_OK);
    hashstate_update(h, "abc", 3);
    size_t n = hashstate_save(h, saved);
    CHECK_INT(hashstate_load(h, saved, n - 1), REG_EINVALID);
    saved[0] ^= 0x7f;
    CHECK_INT(hashstate_load(h, saved, n), REG_EINVALID);
    memset(saved, 0xff, sizeof(saved));
    saved[0] = 1;
    CHECK_INT(hashstate_load(h, saved, n), REG_EINVALID); /* block fill past the block */
    hashstate_free(h);
}

int main(void)
{
    RUN(test_resumed_state_gives_the_whole_digest);
    RUN(test_foreign_states_are_refused);
    return check_failures != 0;
}
