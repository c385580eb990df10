/* curl_typecheck.c - compiled by tests/meson.build at setup, never run: a caller of libcurl
 * through storage/base/dynlib_calls.h keeps libcurl's type checks. As written it compiles;
 * with WRONG_TYPE (a string for a long option) gcc -O2 -Werror must refuse it. */
#include "storage/base/dynlib_calls.h"

int set_timeout(CURL *h);

int set_timeout(CURL *h)
{
    DYNLIB_CURL_LOCAL(curl_easy_setopt);
#ifdef WRONG_TYPE
    return curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, "30000") != CURLE_OK;
#else
    return curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L) != CURLE_OK;
#endif
}
