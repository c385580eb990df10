/* dynlib_calls.h - included by the files that call libcurl or libpq: each call of those
 * libraries' functions goes through the table that storage/base/dynlib.c fills (see dynlib.h).
 * libpq has no type-checking macros, so its names simply stand for the table's entries. */
#ifndef OCIREG_DYNLIB_CALLS_H
#define OCIREG_DYNLIB_CALLS_H

#include "storage/base/dynlib.h"

/* curl.h keeps its curl_easy_setopt, curl_easy_getinfo and curl_share_setopt: with gcc they
 * are macros (typecheck-gcc.h) that check the argument's type against the option, so that a
 * wrong one fails the -Werror build (given -Wsystem-headers: see storage/s3/meson.build), and
 * that end by calling the function of their own name. A function that calls one first declares
 *     DYNLIB_CURL_LOCAL(curl_easy_setopt);
 * a local pointer of that name to the table's entry (so after the library is loaded), which
 * that last call then reaches. One forgotten is a link error of the program, which does not
 * link libcurl. */
#define DYNLIB_CURL_LOCAL(f) __typeof__(dynlib_curl.f) const f = dynlib_curl.f

#define curl_easy_cleanup   (dynlib_curl.curl_easy_cleanup)
#define curl_easy_init      (dynlib_curl.curl_easy_init)
#define curl_easy_perform   (dynlib_curl.curl_easy_perform)
#define curl_easy_reset     (dynlib_curl.curl_easy_reset)
#define curl_easy_strerror  (dynlib_curl.curl_easy_strerror)
#define curl_free           (dynlib_curl.curl_free)
#define curl_getdate        (dynlib_curl.curl_getdate)
#define curl_global_init    (dynlib_curl.curl_global_init)
#define curl_share_cleanup  (dynlib_curl.curl_share_cleanup)
#define curl_share_init     (dynlib_curl.curl_share_init)
#define curl_slist_append   (dynlib_curl.curl_slist_append)
#define curl_slist_free_all (dynlib_curl.curl_slist_free_all)
#define curl_url            (dynlib_curl.curl_url)
#define curl_url_cleanup    (dynlib_curl.curl_url_cleanup)
#define curl_url_get        (dynlib_curl.curl_url_get)
#define curl_url_set        (dynlib_curl.curl_url_set)

#define PQclear              (dynlib_pq.PQclear)
#define PQcmdStatus          (dynlib_pq.PQcmdStatus)
#define PQcmdTuples          (dynlib_pq.PQcmdTuples)
#define PQconnectdb          (dynlib_pq.PQconnectdb)
#define PQconsumeInput       (dynlib_pq.PQconsumeInput)
#define PQerrorMessage       (dynlib_pq.PQerrorMessage)
#define PQexec               (dynlib_pq.PQexec)
#define PQexecPrepared       (dynlib_pq.PQexecPrepared)
#define PQfinish             (dynlib_pq.PQfinish)
#define PQfreemem            (dynlib_pq.PQfreemem)
#define PQftype              (dynlib_pq.PQftype)
#define PQgetisnull          (dynlib_pq.PQgetisnull)
#define PQgetvalue           (dynlib_pq.PQgetvalue)
#define PQisBusy             (dynlib_pq.PQisBusy)
#define PQnfields            (dynlib_pq.PQnfields)
#define PQntuples            (dynlib_pq.PQntuples)
#define PQprepare            (dynlib_pq.PQprepare)
#define PQreset              (dynlib_pq.PQreset)
#define PQresultErrorField   (dynlib_pq.PQresultErrorField)
#define PQresultErrorMessage (dynlib_pq.PQresultErrorMessage)
#define PQresultStatus       (dynlib_pq.PQresultStatus)
#define PQsetNoticeReceiver  (dynlib_pq.PQsetNoticeReceiver)
#define PQsocket             (dynlib_pq.PQsocket)
#define PQstatus             (dynlib_pq.PQstatus)
#define PQunescapeBytea      (dynlib_pq.PQunescapeBytea)

#endif
