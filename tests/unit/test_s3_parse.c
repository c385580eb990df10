/* test_s3_parse.c - storage/s3/ without a server: the s3:// URL, the XML reader, listing
 * pages, byte ranges, download positioning, and SigV4 signatures against AWS's published
 * examples. Links s3_unittest, whose UNITTEST helpers (s3_internal.h) are external. */
#include "storage/s3/s3_internal.h"
#include "storage/base/datetime.h"
#include "storage/base/digest.h"
#include "storage/base/reg_error.h"
#include "check.h"
#include "s3_listing.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define AWS_KEY    "AKIAIOSFODNN7EXAMPLE"
#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

/* s3_config_parse with its reason copied to err (256 bytes), "" when none was set. */
static int parse(s3_config *c, const char *url, char *err)
{
    reg_error_clear();
    int rc = s3_config_parse(c, url);
    snprintf(err, 256, "%s", reg_error_last(""));
    return rc;
}

static void test_config_full_url(void)
{
    s3_config c;
    char err[256];
    CHECK_INT(parse(&c,
                    "s3://my-bucket?endpoint=http://127.0.0.1:7480/&region=default&"
                    "prefix=reg/&path_style=1&timeout_ms=5000&max_retries=2&"
                    "list_page_size=3&sse=0&access_key=AK&secret_key=S%2Fk",
                    err),
              REG_OK);
    CHECK_STR(c.bucket, "my-bucket");
    CHECK_STR(c.endpoint, "http://127.0.0.1:7480");
    CHECK_STR(c.region, "default");
    CHECK_STR(c.prefix, "reg/");
    CHECK_STR(c.access_key, "AK");
    CHECK_STR(c.secret_key, "S/k");
    CHECK_INT(c.path_style, 1);
    CHECK_INT(c.timeout_ms, 5000);
    CHECK_INT(c.max_retries, 2);
    CHECK_INT(c.list_page_size, 3);
    CHECK_INT(c.sse, 0);
    s3_config_free(&c);
}

static void test_config_defaults_and_environment(void)
{
    s3_config c;
    char err[256];
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    unsetenv("AWS_REGION");
    CHECK_INT(parse(&c, "s3://bucket?endpoint=https%3A%2F%2Fs3.example.com%3A443", err), REG_OK);
    CHECK_STR(c.endpoint, "https://s3.example.com");
    CHECK_STR(c.region, "us-east-1");
    CHECK_STR(c.prefix, "");
    CHECK_STR(c.access_key, "ENVKEY");
    CHECK_STR(c.secret_key, "ENVSECRET");
    CHECK_INT(c.path_style, 1);
    CHECK_INT(c.timeout_ms, 30000);
    CHECK_INT(c.max_retries, 4);
    CHECK_INT(c.list_page_size, 0);
    CHECK_INT(c.sse, 1); /* server-side encryption unless turned off */
    s3_config_free(&c);
    setenv("AWS_REGION", "eu-west-1", 1);
    CHECK_INT(parse(&c, "s3://bucket?endpoint=http://h:80", err), REG_OK);
    CHECK_STR(c.endpoint, "http://h");
    CHECK_STR(c.region, "eu-west-1");
    s3_config_free(&c);
    unsetenv("AWS_REGION");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    CHECK_INT(parse(&c, "s3://bucket?endpoint=http://h", err), REG_EINVALID);
    CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY") != NULL, "names the variable: %s", err);
    unsetenv("AWS_ACCESS_KEY_ID");
}

static void test_config_refuses_bad_input(void)
{
    static const char *const bad[] = {
        "http://bucket?endpoint=http://h&access_key=a&secret_key=b",
        "s3://?endpoint=http://h&access_key=a&secret_key=b",
        "s3://ab?endpoint=http://h&access_key=a&secret_key=b",
        "s3://-bucket?endpoint=http://h&access_key=a&secret_key=b",
        "s3://bucket/path?endpoint=http://h&access_key=a&secret_key=b",
        "s3://bucket?access_key=a&secret_key=b",
        "s3://bucket?endpoint=ftp://h&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h/path&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h:99999&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://user@h&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&endpoint=http://g&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&color=blue&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&region=&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&region=us%20east&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&path_style=2&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&timeout_ms=5&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&max_retries=-1&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&list_page_size=1001&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&sse=2&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&prefix=a%0Ab&access_key=a&secret_key=b",
        "s3://bucket?endpoint=http://h&access_key=a%00b&secret_key=b",
        "s3://bucket?endpoint=http://h&access_key=a&secret_key=b&novalue",
        "s3://bucket?endpoint=http://h&access_key=a&secret_key=%zz",
        "s3://Upper_Case?endpoint=http://h&path_style=0&access_key=a&secret_key=b",
    };
    s3_config c;
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK(parse(&c, bad[i], err) == REG_EINVALID, "\"%s\" should be refused", bad[i]);
        CHECK(err[0] != '\0', "\"%s\" is refused with a message", bad[i]);
    }
    CHECK_INT(
        parse(&c, "s3://Upper_Case?endpoint=http://[::1]:7480&access_key=a&secret_key=b", err),
        REG_OK);
    CHECK_STR(c.endpoint, "http://[::1]:7480");
    s3_config_free(&c);
    s3_config_free(NULL);
}

static void test_xml_element_matches_whole_names(void)
{
    static const char doc[] = "<R><KeyCount>2</KeyCount><Key a=\"1\">k&amp;1</Key >"
                              "<Empty/><Key>second</Key></R>";
    xml_span sp;
    char text[64];
    CHECK(xml_element(&sp, doc, strlen(doc), "Key"), "finds <Key ...>");
    CHECK_INT(xml_text(text, sizeof(text), sp.text, sp.len), REG_OK);
    CHECK_STR(text, "k&1");
    const char *rest = sp.end;
    CHECK(xml_element(&sp, rest, strlen(rest), "Key"), "finds the next <Key>");
    CHECK_INT(xml_text(text, sizeof(text), sp.text, sp.len), REG_OK);
    CHECK_STR(text, "second");
    CHECK(xml_element(&sp, doc, strlen(doc), "Empty") && sp.len == 0, "<Empty/> is empty");
    CHECK(!xml_element(&sp, doc, strlen(doc), "Ke"), "no partial name match");
    CHECK(!xml_element(&sp, "<Key>open", 9, "Key"), "an unclosed element is not found");
    CHECK(!xml_element(&sp, "<Key", 4, "Key"), "a cut tag is not found");
    CHECK(!xml_element(&sp, "<Key>a</Ke", 10, "Key"), "a cut closing tag is not found");
    CHECK(xml_element(&sp, "<Key>a</Key\n>", 13, "Key") && sp.len == 1, "space in closing tag");
}

static void test_xml_text_entities_and_bounds(void)
{
    char out[16];
    const char *in = "&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#xe9;";
    CHECK_INT(xml_text(out, sizeof(out), in, strlen(in)), REG_OK);
    CHECK_STR(out, "<>&\"'AB\xc3\xa9");
    static const char *const bad[] = {"&",    "&amp",     "&bogus;",    "&#;", "&#x;",
                                      "&#0;", "&#xD800;", "&#x110000;", "a<b", "&#12345678;"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(xml_text(out, sizeof(out), bad[i], strlen(bad[i])) == REG_EINVALID,
              "\"%s\" is malformed", bad[i]);
    CHECK_INT(xml_text(out, 4, "abcd", 4), REG_ETOOLARGE);
    CHECK_INT(xml_text(out, 4, "abc", 3), REG_OK);
    CHECK_INT(xml_text(out, 3, "&#xe9;&#xe9;", 12), REG_ETOOLARGE);
    CHECK_INT(xml_text(out, sizeof(out), "a\0b", 3), REG_EINVALID);
}

static void test_error_document(void)
{
    static const char doc[] = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                              "<Message>The &lt;key&gt; is gone</Message></Error>";
    s3_error_doc e;
    parse_error_doc(&e, doc, strlen(doc));
    CHECK_STR(e.code, "NoSuchKey");
    CHECK_STR(e.message, "The <key> is gone");
    parse_error_doc(&e, "<html>bad gateway</html>", 24);
    CHECK_STR(e.code, "");
    parse_error_doc(&e, NULL, 0);
    CHECK_STR(e.code, "");
}

static const char page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/"
    "doc/2006-03-01/\"><Name>b</Name><Prefix>p/blobs/</Prefix><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated><KeyCount>2</KeyCount><Contents><Key>p/blobs/a&amp;b</Key>"
    "<LastModified>2026-11-26T14:44:55.020Z</LastModified><ETag>&quot;x&quot;</ETag>"
    "<Size>10</Size><StorageClass>STANDARD</StorageClass></Contents><Contents>"
    "<Key>p/blobs/c</Key><LastModified>garbage</LastModified><Size>18446744073709551615</Size>"
    "</Contents><NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>";

static void test_list_page(void)
{
    list_page pg = {.strip = "p/", .cb = to_listing};
    listing s = {.n = 0};
    pg.ctx = &s;
    CHECK_INT(list_page_parse(&pg, page, strlen(page)), REG_OK);
    CHECK_INT(s.n, 2);
    CHECK_STR(s.keys[0], "blobs/a&b");
    CHECK_INT(s.sizes[0], 10);
    CHECK_INT(s.mtimes[0], 1795704295);
    CHECK_STR(s.keys[1], "blobs/c");
    CHECK(s.sizes[1] == UINT64_MAX, "the largest size parses");
    CHECK_INT(s.mtimes[1], -1);
    CHECK_INT(pg.truncated, 1);
    CHECK_STR(pg.next_token, "tok/+=");
    /* The next page must go on after the last key. */
    memset(&s, 0, sizeof(s));
    CHECK_INT(list_page_parse(&pg, page, strlen(page)), REG_ERROR);
    CHECK(strstr(reg_error_last(""), "order") != NULL, "keys out of order: %s", reg_error_last(""));

    list_page stop = {.strip = "p/", .cb = to_listing};
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    s.stop_with = 1;
    stop.ctx = &s;
    CHECK_INT(list_page_parse(&stop, page, strlen(page)), REG_OK);
    CHECK_INT(stop.stopped, 1);
    CHECK_INT(s.n, 1);
}

static void test_list_page_refuses_hostile_pages(void)
{
    static const char *const bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><Contents><Key>other/x</Key><Size>1</Size></Contents>"
        "<IsTruncated>false</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>p/x</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>p/x</Key><Size>18446744073709551616</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>p/x</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>p/x&bad;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
        "</NextContinuationToken></ListBucketResult>",
        "<ListBucketResult><Contents><Key>p/b</Key><Size>1</Size></Contents><Contents><Key>p/a"
        "</Key><Size>1</Size></Contents></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        list_page pg = {.strip = "p/", .cb = to_listing};
        listing s = {.n = 0};
        pg.ctx = &s;
        CHECK(list_page_parse(&pg, bad[i], strlen(bad[i])) == REG_ERROR, "page %zu is refused", i);
    }
    list_page pg = {.strip = "", .cb = to_listing};
    listing s = {.n = 0};
    pg.ctx = &s;
    const char *empty = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    CHECK_INT(list_page_parse(&pg, empty, strlen(empty)), REG_OK);
    CHECK_INT(s.n, 0);
    CHECK_INT(pg.truncated, 0);
    list_page marker = {.strip = "p/", .cb = to_listing};
    marker.ctx = &s;
    const char *folder = "<ListBucketResult><Contents><Key>p/</Key><Size>0</Size></Contents>"
                         "<Contents><Key>p/a</Key><Size>1</Size></Contents></ListBucketResult>";
    CHECK_INT(list_page_parse(&marker, folder, strlen(folder)), REG_OK);
    CHECK_INT(s.n, 1);
    CHECK_STR(s.keys[0], "a");
}

static void test_numbers_dates_ranges(void)
{
    uint64_t v = 0, start = 0, total = 0;
    int64_t t = 0;
    CHECK_INT(parse_u64(&v, "0", 1), REG_OK);
    CHECK_INT(parse_u64(&v, "", 0), REG_EINVALID);
    CHECK_INT(parse_u64(&v, "+1", 2), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "1970-01-01T00:00:00Z", 20), REG_OK);
    CHECK_INT(t, 0);
    CHECK_INT(datetime_parse(&t, "2013-05-24T00:00:00.5Z", 22), REG_OK);
    CHECK_INT(t, 1369353600);
    CHECK_INT(datetime_parse(&t, "2013-05-24T00:00:00.Z", 21), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "2013-13-24T00:00:00Z", 20), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "2013-05-24 00:00:00Z", 20), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "2024-02-31T00:00:00Z", 20), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "20240231T000000Z", 16), REG_EINVALID);
    CHECK_INT(datetime_parse(&t, "20240229T000000Z", 16), REG_OK);
    CHECK_INT(t, 1709164800);
    CHECK_INT(parse_content_range(&start, &total, "bytes 10-19/100", 15), REG_OK);
    CHECK(start == 10 && total == 100, "10-19/100: %llu of %llu", (unsigned long long)start,
          (unsigned long long)total);
    CHECK_INT(parse_content_range(&start, &total, "bytes 0-0/*", 11), REG_OK);
    CHECK(total == UINT64_MAX, "unknown total");
    CHECK_INT(parse_content_range(&start, &total, "bytes 10-9/100", 14), REG_EINVALID);
    CHECK_INT(parse_content_range(&start, &total, "bytes 10-100/100", 16), REG_EINVALID);
    CHECK_INT(parse_content_range(&start, &total, "bytes */100", 11), REG_EINVALID);
}

static void test_key_encoding(void)
{
    buf b;
    buf_init(&b, 1024);
    const char *key = "blobs/sha256/ab/ab01 +~%\xc3\xa9";
    CHECK_INT(put_encoded(&b, key, strlen(key), 1), REG_OK);
    CHECK_STR(b.data, "blobs/sha256/ab/ab01%20%2B~%25%C3%A9");
    buf_free(&b);
    buf_init(&b, 1024);
    CHECK_INT(put_encoded(&b, "a/b=c", 5, 0), REG_OK);
    CHECK_STR(b.data, "a%2Fb%3Dc");
    buf_free(&b);
}

static int count_bytes(void *ctx, const void *data, size_t len)
{
    buf *b = ctx;
    return buf_append(b, data, len);
}

/* A server that ignores Range answers 200 with the whole object: only the wanted bytes pass,
 * and the transfer stops once they have. */
static void test_download_skips_what_was_not_asked_for(void)
{
    buf got;
    buf_init(&got, 1024);
    download d = {.cb = count_bytes, .ctx = &got, .next = 5, .end = 8};
    s3_req r = {.dl = &d, .status = 200};
    size_t n = deliver(&r, "0123", 4);
    CHECK_INT(n, 4);
    n = deliver(&r, "456789", 6);
    CHECK_INT(n, 0);
    CHECK(d.done, "done once [5, 8) arrived");
    CHECK_STR(got.data, "567");
    buf_free(&got);

    buf_init(&got, 1024);
    download gap = {.cb = count_bytes, .ctx = &got, .next = 5, .end = UINT64_MAX};
    s3_req r206 = {.dl = &gap, .status = 206, .has_range = 1, .range_start = 7};
    n = deliver(&r206, "789", 3);
    CHECK_INT(n, 0);
    CHECK(gap.gap, "a body starting past the wanted byte is a gap");
    CHECK_INT(got.len, 0);
    buf_free(&got);
}

static s3_client *example_client(void)
{
    s3_config cfg = {.bucket = "examplebucket",
                     .endpoint = "https://s3.amazonaws.com",
                     .region = "us-east-1",
                     .access_key = AWS_KEY,
                     .secret_key = AWS_SECRET,
                     .prefix = "",
                     .path_style = 0};
    s3_client *c = NULL;
    CHECK_INT(s3_client_new(&c, &cfg), REG_OK);
    return c;
}

/* docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object" and
 * "PUT Object". */
static void test_header_signature_matches_aws_examples(void)
{
    s3_client *c = example_client();
    buf auth;
    if (!c)
        return;
    const char *get[] = {"Range: bytes=0-9", "x-amz-content-sha256: " EMPTY_SHA256};
    buf_init(&auth, 2048);
    CHECK_INT(
        sign_request(&auth, c, "GET", "/test.txt", NULL, get, 2, EMPTY_SHA256, "20130524T000000Z"),
        REG_OK);
    CHECK_STR(auth.data,
              "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
              "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    buf_free(&auth);

    const char *sha = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    const char *put[] = {"Date: Fri, 24 May 2013 00:00:00 GMT",
                         "x-amz-storage-class: REDUCED_REDUNDANCY",
                         ("x-amz-content-sha256: "
                          "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")};
    buf path;
    buf_init(&path, 1024);
    CHECK_INT(build_path(&path, c, "test$file.text"), REG_OK);
    CHECK_STR(path.data, "/test%24file.text");
    buf_init(&auth, 2048);
    CHECK_INT(sign_request(&auth, c, "PUT", path.data, NULL, put, 3, sha, "20130524T000000Z"),
              REG_OK);
    CHECK(strstr(auth.data, "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                            "x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea"
                            "1380cd77a1b5971af0ece108bd") != NULL,
          "PUT example: %s", auth.data);
    buf_free(&auth);
    buf_free(&path);

    /* The case curl 7.88 gets wrong: a header name that is a prefix of another sorts first. */
    const char *copy[] = {"x-amz-copy-source-range: bytes=0-9", "x-amz-copy-source: /b/k",
                          ("x-amz-content-sha256: " EMPTY_SHA256)};
    buf_init(&auth, 2048);
    CHECK_INT(sign_request(&auth, c, "PUT", "/k", "partNumber=1&uploadId=x", copy, 3, EMPTY_SHA256,
                           "20130524T000000Z"),
              REG_OK);
    CHECK(strstr(auth.data, "SignedHeaders=host;x-amz-content-sha256;x-amz-copy-source;"
                            "x-amz-copy-source-range;x-amz-date,") != NULL,
          "copy-source before copy-source-range: %s", auth.data);
    buf_free(&auth);
    s3_client_free(c);
}

/* docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html */
static void test_presigned_url_matches_aws_example(void)
{
    s3_client *c = example_client();
    char *url = NULL;
    if (!c)
        return;
    CHECK_INT(presign_at(&url, c, "test.txt", 86400, 1369353600), REG_OK);
    CHECK_STR(url, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-"
                   "SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                   "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
                   "SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da"
                   "4c265957d157751f604d404");
    free(url);
    CHECK_INT(s3_presign_get(&url, c, "", 60), REG_EINVALID);
    CHECK_INT(s3_presign_get(&url, c, "k", 0), REG_EINVALID);
    s3_client_free(c);
}

static void test_multipart_etag(void)
{
    s3_part parts[2] = {{1, "\"0cc175b9c0f1b6a831c399e269772661\""},  /* md5("a") */
                        {2, "\"92eb5ffee6ae2fec3ad71c777531578f\""}}; /* md5("b") */
    char etag[S3_ETAG_MAX], want[65];
    unsigned char raw[32], md[16];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 16; j++)
            raw[16 * i + j] = (unsigned char)(hex_value(parts[i].etag[1 + 2 * j]) << 4 |
                                              hex_value(parts[i].etag[2 + 2 * j]));
    EVP_Digest(raw, 32, md, NULL, EVP_md5(), NULL);
    hex_encode(want + 1, md, 16);
    want[0] = '"';
    strcpy(want + 33, "-2\"");
    CHECK_INT(multipart_etag(etag, parts, 2), REG_OK);
    CHECK_STR(etag, want);
    strcpy(parts[1].etag, "");
    CHECK_INT(multipart_etag(etag, parts, 2), REG_EINVALID);
}

int main(void)
{
    RUN(test_config_full_url);
    RUN(test_config_defaults_and_environment);
    RUN(test_config_refuses_bad_input);
    RUN(test_xml_element_matches_whole_names);
    RUN(test_xml_text_entities_and_bounds);
    RUN(test_error_document);
    RUN(test_list_page);
    RUN(test_list_page_refuses_hostile_pages);
    RUN(test_numbers_dates_ranges);
    RUN(test_key_encoding);
    RUN(test_download_skips_what_was_not_asked_for);
    RUN(test_header_signature_matches_aws_examples);
    RUN(test_presigned_url_matches_aws_example);
    RUN(test_multipart_etag);
    curl_global_cleanup();
    return check_failures != 0;
}
