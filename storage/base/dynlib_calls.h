/* dynlib_calls.h - included by the files that call libcurl or libpq: each call of those
 * libraries' functions goes through the table that storage/base/dynlib.c fills (see dynlib.h). */
#ifndef OCIREG_DYNLIB_CALLS_H
#define OCIREG_DYNLIB_CALLS_H

#include "storage/base/dynlib.h"

/* curl.h's type-checking wrappers are function-like macros of the same names. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt

#define curl_easy_cleanup (dynlib_curl.curl_easy_cleanup)
#define curl_easy_getinfo (dynlib_curl.curl_easy_getinfo)
#define curl_easy_init (dynlib_curl.curl_easy_init)
#define curl_easy_perform (dynlib_curl.curl_easy_perform)
#define curl_easy_reset (dynlib_curl.curl_easy_reset)
#define curl_easy_setopt (dynlib_curl.curl_easy_setopt)
#define curl_easy_strerror (dynlib_curl.curl_easy_strerror)
#define curl_getdate (dynlib_curl.curl_getdate)
#define curl_global_init (dynlib_curl.curl_global_init)
#define curl_share_cleanup (dynlib_curl.curl_share_cleanup)
#define curl_share_init (dynlib_curl.curl_share_init)
#define curl_share_setopt (dynlib_curl.curl_share_setopt)
#define curl_slist_append (dynlib_curl.curl_slist_append)
#define curl_slist_free_all (dynlib_curl.curl_slist_free_all)

#define PQclear (dynlib_pq.PQclear)
#define PQcmdStatus (dynlib_pq.PQcmdStatus)
#define PQcmdTuples (dynlib_pq.PQcmdTuples)
#define PQconnectdb (dynlib_pq.PQconnectdb)
#define PQconsumeInput (dynlib_pq.PQconsumeInput)
#define PQerrorMessage (dynlib_pq.PQerrorMessage)
#define PQexec (dynlib_pq.PQexec)
#define PQexecPrepared (dynlib_pq.PQexecPrepared)
#define PQfinish (dynlib_pq.PQfinish)
#define PQfreemem (dynlib_pq.PQfreemem)
#define PQftype (dynlib_pq.PQftype)
#define PQgetisnull (dynlib_pq.PQgetisnull)
#define PQgetvalue (dynlib_pq.PQgetvalue)
#define PQisBusy (dynlib_pq.PQisBusy)
#define PQnfields (dynlib_pq.PQnfields)
#define PQntuples (dynlib_pq.PQntuples)
#define PQprepare (dynlib_pq.PQprepare)
#define PQreset (dynlib_pq.PQreset)
#define PQresultErrorField (dynlib_pq.PQresultErrorField)
#define PQresultErrorMessage (dynlib_pq.PQresultErrorMessage)
#define PQresultStatus (dynlib_pq.PQresultStatus)
#define PQsetNoticeReceiver (dynlib_pq.PQsetNoticeReceiver)
#define PQsocket (dynlib_pq.PQsocket)
#define PQstatus (dynlib_pq.PQstatus)
#define PQunescapeBytea (dynlib_pq.PQunescapeBytea)

#endif
