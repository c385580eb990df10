/* fuzz_range.c - the Range header of a blob GET and the Content-Range header of an upload
 * PATCH (server/http/range.c). The first 8 input bytes are the resource size, the rest the header.
 */
#include "fuzz_util.h"
#include "server/http/range.h"
#include "storage/base/reg_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t resource = 0;
    byte_range r;
    if (size < sizeof(resource))
        return 0;
    memcpy(&resource, data, sizeof(resource));
    /* Small sizes are where the edge cases are; keep most of them there. */
    if (resource & 1)
        resource = (resource >> 1) % 4096;
    char *header = fuzz_cstr(data + sizeof(resource), size - sizeof(resource));

    int err = range_parse(&r, header, resource);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID || err == REG_ENOTFOUND);
    if (err == REG_OK) {
        FUZZ_CHECK(r.length >= 1);
        FUZZ_CHECK(r.start < resource);
        FUZZ_CHECK(r.length <= resource - r.start);
    }

    err = content_range_parse(&r, header);
    FUZZ_CHECK(err == REG_OK || err == REG_EINVALID);
    if (err == REG_OK) {
        FUZZ_CHECK(r.length >= 1);
        FUZZ_CHECK(r.start + (r.length - 1) >= r.start);
    }
    free(header);
    return 0;
}
