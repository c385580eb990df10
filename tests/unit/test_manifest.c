/* test_manifest.c - manifest validation: media types, shapes, references, subject. */
#include "storage/manifest.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <string.h>

#define D1                "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2                "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DESC(mt, d, size) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #size "}"

static int parse(manifest_info **out, const char *ct, const char *body)
{
    return manifest_parse(out, ct, body, strlen(body));
}

static void test_oci_image_manifest_refs(void)
{
    manifest_info *m = NULL;
    const char *body = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
                       "\",\"config\":" DESC("application/vnd.oci.image.config.v1+json", D1,
                                             10) ",\"layers\":[" DESC("x", D2, 20) "]}";
    CHECK_INT(parse(&m, MT_OCI_MANIFEST, body), REG_OK);
    if (!m)
        return;
    CHECK_STR(m->media_type, MT_OCI_MANIFEST);
    CHECK_INT(m->nrefs, 2);
    CHECK_INT(m->refs[0].kind, REF_CONFIG);
    CHECK_STR(m->refs[1].dg.str, D2);
    CHECK_INT(m->refs[1].size, 20);
    CHECK_STR(m->artifact_type, "application/vnd.oci.image.config.v1+json");
    manifest_info_free(m);
}

static void test_index_detected_without_media_type(void)
{
    manifest_info *m = NULL;
    const char *body = "{\"schemaVersion\":2,\"manifests\":[" DESC(MT_OCI_MANIFEST, D1, 5) "]}";
    CHECK_INT(parse(&m, NULL, body), REG_OK);
    if (!m)
        return;
    CHECK_STR(m->media_type, MT_OCI_INDEX);
    CHECK_INT(m->refs[0].kind, REF_MANIFEST);
    manifest_info_free(m);
}

static void test_artifact_with_subject_and_annotations(void)
{
    manifest_info *m = NULL;
    const char *body =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
        "\",\"artifactType\":\"application/x-sbom\",\"config\":" DESC(
            MT_OCI_EMPTY, D1,
            2) ",\"layers\":[],\"subject\":" DESC(MT_OCI_MANIFEST, D2,
                                                  7) ",\"annotations\":{\"k\":\"v\"}}";
    CHECK_INT(parse(&m, MT_OCI_MANIFEST, body), REG_OK);
    if (!m)
        return;
    CHECK_STR(m->artifact_type, "application/x-sbom");
    CHECK(m->has_subject, "subject should be recorded");
    CHECK_STR(m->subject.str, D2);
    CHECK_STR(m->annotations, "{\"k\":\"v\"}");
    manifest_info_free(m);
}

static void test_invalid_manifests_are_rejected(void)
{
    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"schemaVersion\":1,\"config\":" DESC("c", D1, 1) ",\"layers\":[]}",
        "{\"schemaVersion\":2,\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":" DESC("c", D1, 1) "}",
        "{\"schemaVersion\":2,\"config\":" DESC("c", "sha256:bad", 1) ",\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":" DESC("c", D1, -1) ",\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"application/x-unknown\",\"layers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":5}",
        "{\"schemaVersion\":2,\"manifests\":{}}",
        "{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        manifest_info *m = NULL;
        CHECK(parse(&m, NULL, bad[i]) == REG_EINVALID, "should be rejected: %s", bad[i]);
        manifest_info_free(m);
    }
}

static void test_body_media_type_must_match_content_type(void)
{
    manifest_info *m = NULL;
    const char *body = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}";
    CHECK_INT(parse(&m, MT_DOCKER_MANIFEST, body), REG_EINVALID);
    CHECK_INT(parse(&m, MT_OCI_INDEX "; charset=utf-8", body), REG_OK);
    manifest_info_free(m);
}

#define WITH_LAYER(layer)                                                                          \
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST                                     \
    "\",\"config\":" DESC("c", D1, 1) ",\"layers\":[" layer "]}"
#define URL_LAYER(mt, size)                                                                        \
    "{\"mediaType\":\"" mt "\",\"digest\":\"" D2 "\",\"size\":" #size                              \
    ",\"urls\":[\"https://example.invalid/l\"]}"

static void test_foreign_layers_are_marked(void)
{
    manifest_info *m = NULL;
    const char *body =
        WITH_LAYER(URL_LAYER("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", 3));
    CHECK_INT(parse(&m, MT_DOCKER_MANIFEST, body), REG_OK);
    if (m) {
        CHECK(m->refs[1].foreign, "a non-distributable layer with urls is foreign");
        CHECK_STR(manifest_ref_kind_name(&m->refs[1]), "foreign");
    }
    manifest_info_free(m);
}

static void test_urls_and_sizes_that_smuggle_are_refused(void)
{
    static const char *const bad[] = {
        WITH_LAYER(URL_LAYER("application/vnd.oci.image.layer.v1.tar", 3)),
        WITH_LAYER(URL_LAYER("application/vnd.oci.image.layer.nondistributable.v1.tar",
                             9223372036854775807)),
        WITH_LAYER(
            URL_LAYER("application/vnd.oci.image.layer.nondistributable.v1.tar", 9007199254740992)),
        WITH_LAYER("{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar\","
                   "\"digest\":\"" D2 "\",\"size\":3,\"urls\":[5]}"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        manifest_info *m = NULL;
        CHECK(parse(&m, NULL, bad[i]) == REG_EINVALID, "should be rejected: %s", bad[i]);
        manifest_info_free(m);
    }
    manifest_info *m = NULL;
    CHECK_INT(parse(&m, NULL,
                    WITH_LAYER(URL_LAYER("application/vnd.oci.image.layer.nondistributable.v1.tar",
                                         9007199254740991))),
              REG_OK);
    manifest_info_free(m);
}

int main(void)
{
    RUN(test_oci_image_manifest_refs);
    RUN(test_index_detected_without_media_type);
    RUN(test_artifact_with_subject_and_annotations);
    RUN(test_invalid_manifests_are_rejected);
    RUN(test_body_media_type_must_match_content_type);
    RUN(test_foreign_layers_are_marked);
    RUN(test_urls_and_sizes_that_smuggle_are_refused);
    return check_failures != 0;
}
