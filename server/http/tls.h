/* tls.h - the TLS certificate and key files of `serve`: read and checked (they parse, the key
 * is the certificate's) before a daemon is given them, at start and at every reload. */
#ifndef OCIREG_TLS_H
#define OCIREG_TLS_H

typedef struct tls_pair {
    char *cert_pem; /* malloc'd PEM texts, as libmicrohttpd takes them */
    char *key_pem;
} tls_pair;

/* Read cert_path and key_path into *out and check them. REG_OK, or REG_EINVALID with a
 * message saying what is wrong (unreadable, no certificate, key not the certificate's). */
int tls_pair_load(tls_pair *out, const char *cert_path, const char *key_path);

/* 1 when both hold the same texts. */
int tls_pair_same(const tls_pair *a, const tls_pair *b);

void tls_pair_free(tls_pair *p);

#endif
