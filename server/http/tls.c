/* tls.c - reading and checking the TLS certificate and key (see tls.h). */
#include "server/http/tls.h"
#include "storage/base/buf.h"
#include "storage/base/reg_error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX (1 << 20) /* a certificate chain or key file larger than this is refused */

/* A whole PEM file into a malloc'd string. */
static int read_pem(char **out, const char *path)
{
    FILE *f = fopen(path, "r");
    char chunk[4096];
    size_t len;
    buf b;
    if (!f)
        return reg_error_set(REG_EINVALID, "cannot read %s: %s", path, strerror(errno));
    buf_init(&b, PEM_MAX);
    int err = REG_OK;
    while (err == REG_OK && (len = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, len) < 0)
            err = reg_error_set(REG_EINVALID, "%s is larger than %d bytes", path, PEM_MAX);
    if (err == REG_OK && (ferror(f) || buf_append(&b, "", 1) < 0))
        err = reg_error_set(REG_EINVALID, "cannot read %s", path);
    fclose(f);
    if (err < 0) {
        buf_free(&b);
        return err;
    }
    *out = b.data;
    return REG_OK;
}

/* The certificate parses, the key parses, and the key is the certificate's. */
static int check_pair(const tls_pair *p, const char *cert_path, const char *key_path)
{
    BIO *cb = BIO_new_mem_buf(p->cert_pem, -1), *kb = BIO_new_mem_buf(p->key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int err = REG_OK;
    if (!cert)
        err = reg_error_set(REG_EINVALID, "%s holds no PEM certificate", cert_path);
    else if (!key)
        err = reg_error_set(REG_EINVALID, "%s holds no PEM private key", key_path);
    else if (X509_check_private_key(cert, key) != 1)
        err = reg_error_set(REG_EINVALID, "the key %s is not the key of the certificate %s",
                            key_path, cert_path);
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return err;
}

int tls_pair_load(tls_pair *out, const char *cert_path, const char *key_path)
{
    tls_pair p = {NULL, NULL};
    int err = read_pem(&p.cert_pem, cert_path);
    if (err == REG_OK)
        err = read_pem(&p.key_pem, key_path);
    if (err == REG_OK)
        err = check_pair(&p, cert_path, key_path);
    if (err < 0) {
        tls_pair_free(&p);
        return err;
    }
    *out = p;
    return REG_OK;
}

int tls_pair_same(const tls_pair *a, const tls_pair *b)
{
    return a->cert_pem && b->cert_pem && a->key_pem && b->key_pem &&
           !strcmp(a->cert_pem, b->cert_pem) && !strcmp(a->key_pem, b->key_pem);
}

void tls_pair_free(tls_pair *p)
{
    if (!p)
        return;
    if (p->key_pem)
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem)); /* not left in freed memory */
    free(p->cert_pem);
    free(p->key_pem);
    p->cert_pem = p->key_pem = NULL;
}
