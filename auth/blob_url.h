/* blob_url.h - signed blob download URLs (ECR GetDownloadUrlForLayer on local storage): they
 * grant a GET of one blob in one repository until a time, without a bearer token. The
 * signature is an HMAC-SHA256, under a key derived from the master key, of the method, the
 * repository, the digest and the expiry, so changing any of them voids it. */
#ifndef OCIREG_BLOB_URL_H
#define OCIREG_BLOB_URL_H

#include <time.h>

#define BLOB_URL_SECONDS         1200 /* how long a URL is valid */
#define BLOB_URL_EXPIRES_PARAM   "X-Ocireg-Expires"
#define BLOB_URL_SIGNATURE_PARAM "X-Ocireg-Signature"

/* The query string granting GET of blob `digest` in `repo` until `expires` (malloc'd: the
 * caller frees it). master_key is the server's 32-byte key (SECRETBOX_KEY_LEN). */
int blob_url_query(char **out, const unsigned char *master_key, const char *repo,
                   const char *digest, time_t expires);

/* REG_OK when expires_text and signature (the query's values, either may be NULL) grant GET
 * of `digest` in `repo` at time `now`; REG_EDENIED, with the reason in reg_error_last(),
 * otherwise. */
int blob_url_check(const unsigned char *master_key, const char *repo, const char *digest,
                   const char *expires_text, const char *signature, time_t now);

#endif
