/* dynlib.h - libcurl and libpq are loaded with dlopen when S3 storage or a PostgreSQL index is
 * first asked for, not linked: a registry on local files and SQLite then maps neither them nor
 * the forty-odd libraries they bring (Kerberos, LDAP, SSH, HTTP/2, ...), which cost 1.8 MiB of
 * idle RSS and a slower start. The callers (storage/s3/, storage/remote/, sqldb.c) include
 * storage/base/dynlib_calls.h, which sends their calls through the tables below. */
#ifndef OCIREG_DYNLIB_H
#define OCIREG_DYNLIB_H

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stddef.h>

/* clang-format off: one function per line (clang-format 14 folds these lists unstably) */
#define DYNLIB_CURL_FUNCS(X)                                                                       \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_init)                                                                              \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_reset)                                                                             \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_strerror)                                                                          \
    X(curl_free)                                                                                   \
    X(curl_getdate)                                                                                \
    X(curl_global_init)                                                                            \
    X(curl_share_cleanup)                                                                          \
    X(curl_share_init)                                                                             \
    X(curl_share_setopt)                                                                           \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)                                                                         \
    X(curl_url)                                                                                    \
    X(curl_url_cleanup)                                                                            \
    X(curl_url_get)                                                                                \
    X(curl_url_set)
/* clang-format on */

/* clang-format off: one function per line (clang-format 14 folds these lists unstably) */
#define DYNLIB_PQ_FUNCS(X)                                                                         \
    X(PQclear)                                                                                     \
    X(PQcmdStatus)                                                                                 \
    X(PQcmdTuples)                                                                                 \
    X(PQconnectdb)                                                                                 \
    X(PQconsumeInput)                                                                              \
    X(PQerrorMessage)                                                                              \
    X(PQexec)                                                                                      \
    X(PQexecPrepared)                                                                              \
    X(PQfinish)                                                                                    \
    X(PQfreemem)                                                                                   \
    X(PQftype)                                                                                     \
    X(PQgetisnull)                                                                                 \
    X(PQgetvalue)                                                                                  \
    X(PQisBusy)                                                                                    \
    X(PQnfields)                                                                                   \
    X(PQntuples)                                                                                   \
    X(PQprepare)                                                                                   \
    X(PQreset)                                                                                     \
    X(PQresultErrorField)                                                                          \
    X(PQresultErrorMessage)                                                                        \
    X(PQresultStatus)                                                                              \
    X(PQsetNoticeReceiver)                                                                         \
    X(PQsocket)                                                                                    \
    X(PQstatus)                                                                                    \
    X(PQunescapeBytea)
/* clang-format on */

#define DYNLIB_MEMBER(f) __typeof__(f) *f;
typedef struct dynlib_curl_api {
    DYNLIB_CURL_FUNCS(DYNLIB_MEMBER)
} dynlib_curl_api;
typedef struct dynlib_pq_api {
    DYNLIB_PQ_FUNCS(DYNLIB_MEMBER)
} dynlib_pq_api;
#undef DYNLIB_MEMBER

/* Filled by the loaders; read only after one returned 0. */
extern dynlib_curl_api dynlib_curl;
extern dynlib_pq_api dynlib_pq;

/* Load the library once (thread-safe); REG_OK, or REG_ERROR with the reason set
 * (reg_error_last) in the calling thread, whichever thread tried first. */
int dynlib_load_curl(void);
int dynlib_load_pq(void);

#endif
