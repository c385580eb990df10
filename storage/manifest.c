/* manifest.c - manifest validation with jansson (see manifest.h). */
#include "storage/manifest.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFS 100000

static const char *const known_types[] = {MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST,
                                          MT_DOCKER_LIST};

const char *manifest_ref_kind_name(manifest_ref_kind kind)
{
    static const char *const names[] = {"config", "layer", "manifest"};
    return names[kind];
}

int manifest_is_index(const char *media_type)
{
    return strcmp(media_type, MT_OCI_INDEX) == 0 || strcmp(media_type, MT_DOCKER_LIST) == 0;
}

static int fail(char *errmsg, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, errlen, fmt, ap);
    va_end(ap);
    return REG_EINVALID;
}

void manifest_info_free(manifest_info *m)
{
    if (!m)
        return;
    free(m->artifact_type);
    free(m->annotations);
    free(m->refs);
    free(m);
}

/* Content-Type without parameters, or "" when absent. */
static void bare_media_type(char *out, size_t n, const char *content_type)
{
    size_t len = 0;
    if (content_type) {
        while (content_type[len] && content_type[len] != ';' && content_type[len] != ' ')
            len++;
    }
    if (len >= n)
        len = 0;
    memcpy(out, content_type ? content_type : "", len);
    out[len] = '\0';
}

static int is_known_type(const char *mt)
{
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
        if (strcmp(mt, known_types[i]) == 0)
            return 1;
    return 0;
}

/* Settle the manifest's media type from the body's mediaType, the Content-Type and the shape. */
static int resolve_media_type(manifest_info *m, json_t *root, const char *content_type,
                              char *errmsg, size_t errlen)
{
    char header[128];
    json_t *field = json_object_get(root, "mediaType");
    bare_media_type(header, sizeof(header), content_type);
    if (field && !json_is_string(field))
        return fail(errmsg, errlen, "mediaType must be a string");
    const char *body_type = field ? json_string_value(field) : NULL;
    const char *chosen = body_type;
    if (!chosen && is_known_type(header))
        chosen = header;
    if (!chosen)
        chosen = json_object_get(root, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
    if (!is_known_type(chosen))
        return fail(errmsg, errlen, "unsupported manifest media type \"%s\"", chosen);
    if (body_type && is_known_type(header) && strcmp(body_type, header) != 0)
        return fail(errmsg, errlen, "mediaType \"%s\" does not match Content-Type \"%s\"",
                    body_type, header);
    snprintf(m->media_type, sizeof(m->media_type), "%s", chosen);
    return REG_OK;
}

static int parse_descriptor(manifest_ref *out, json_t *desc, const char *where, char *errmsg,
                            size_t errlen)
{
    json_error_t jerr;
    const char *mt = NULL, *dg = NULL;
    json_int_t size = -1;
    json_t *urls = NULL;
    if (json_unpack_ex(desc, &jerr, 0, "{s:s, s:s, s:I, s?o}", "mediaType", &mt, "digest", &dg,
                       "size", &size, "urls", &urls) < 0)
        return fail(errmsg, errlen, "%s: invalid descriptor: %s", where, jerr.text);
    if (size < 0)
        return fail(errmsg, errlen, "%s: size must not be negative", where);
    if (digest_parse(&out->dg, dg) < 0)
        return fail(errmsg, errlen, "%s: invalid digest \"%s\"", where, dg);
    out->size = (uint64_t)size;
    out->foreign = urls && json_is_array(urls) && json_array_size(urls) > 0;
    return REG_OK;
}

static int add_ref(manifest_info *m, json_t *desc, manifest_ref_kind kind, const char *where,
                   char *errmsg, size_t errlen)
{
    manifest_ref *r = &m->refs[m->nrefs];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    int err = parse_descriptor(r, desc, where, errmsg, errlen);
    if (err == REG_OK)
        m->nrefs++;
    return err;
}

static int parse_descriptor_array(manifest_info *m, json_t *arr, manifest_ref_kind kind,
                                  const char *name, char *errmsg, size_t errlen)
{
    size_t i;
    json_t *desc;
    char where[64];
    json_array_foreach(arr, i, desc)
    {
        snprintf(where, sizeof(where), "%s[%zu]", name, i);
        int err = add_ref(m, desc, kind, where, errmsg, errlen);
        if (err < 0)
            return err;
    }
    return REG_OK;
}

static int parse_image(manifest_info *m, json_t *root, char *errmsg, size_t errlen)
{
    json_t *config = json_object_get(root, "config");
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_object(config))
        return fail(errmsg, errlen, "config must be a descriptor object");
    if (!json_is_array(layers))
        return fail(errmsg, errlen, "layers must be an array");
    if (json_array_size(layers) >= MAX_REFS)
        return fail(errmsg, errlen, "too many layers");
    m->refs = calloc(json_array_size(layers) + 1, sizeof(*m->refs));
    if (!m->refs)
        return REG_ERROR;
    int err = add_ref(m, config, REF_CONFIG, "config", errmsg, errlen);
    if (err < 0)
        return err;
    if (!m->artifact_type) {
        const char *cmt = json_string_value(json_object_get(config, "mediaType"));
        if (cmt && !(m->artifact_type = strdup(cmt)))
            return REG_ERROR;
    }
    return parse_descriptor_array(m, layers, REF_LAYER, "layers", errmsg, errlen);
}

static int parse_index(manifest_info *m, json_t *root, char *errmsg, size_t errlen)
{
    json_t *manifests = json_object_get(root, "manifests");
    if (!json_is_array(manifests))
        return fail(errmsg, errlen, "manifests must be an array");
    if (json_array_size(manifests) >= MAX_REFS)
        return fail(errmsg, errlen, "too many manifests");
    m->refs = calloc(json_array_size(manifests) + 1, sizeof(*m->refs));
    if (!m->refs)
        return REG_ERROR;
    return parse_descriptor_array(m, manifests, REF_MANIFEST, "manifests", errmsg, errlen);
}

static int parse_common(manifest_info *m, json_t *root, char *errmsg, size_t errlen)
{
    json_t *version = json_object_get(root, "schemaVersion");
    json_t *artifact = json_object_get(root, "artifactType");
    json_t *subject = json_object_get(root, "subject");
    json_t *annotations = json_object_get(root, "annotations");
    if (!json_is_integer(version) || json_integer_value(version) != 2)
        return fail(errmsg, errlen, "schemaVersion must be 2");
    if (artifact) {
        if (!json_is_string(artifact))
            return fail(errmsg, errlen, "artifactType must be a string");
        if (!(m->artifact_type = strdup(json_string_value(artifact))))
            return REG_ERROR;
    }
    if (subject) {
        manifest_ref ref = {0};
        int err = parse_descriptor(&ref, subject, "subject", errmsg, errlen);
        if (err < 0)
            return err;
        m->has_subject = 1;
        m->subject = ref.dg;
    }
    if (annotations) {
        if (!json_is_object(annotations))
            return fail(errmsg, errlen, "annotations must be an object");
        if (!(m->annotations = json_dumps(annotations, JSON_COMPACT)))
            return REG_ERROR;
    }
    return REG_OK;
}

int manifest_parse(manifest_info **out, const char *content_type, const char *body, size_t len,
                   char *errmsg, size_t errlen)
{
    json_error_t jerr;
    int err;
    manifest_info *m = calloc(1, sizeof(*m));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!m) {
        err = REG_ERROR;
        goto done;
    }
    if (!root) {
        err = fail(errmsg, errlen, "manifest is not valid JSON: %s (line %d)", jerr.text,
                   jerr.line);
        goto done;
    }
    if (!json_is_object(root)) {
        err = fail(errmsg, errlen, "manifest must be a JSON object");
        goto done;
    }
    if ((err = resolve_media_type(m, root, content_type, errmsg, errlen)) < 0 ||
        (err = parse_common(m, root, errmsg, errlen)) < 0)
        goto done;
    err = manifest_is_index(m->media_type) ? parse_index(m, root, errmsg, errlen)
                                           : parse_image(m, root, errmsg, errlen);
done:
    json_decref(root);
    if (err < 0) {
        manifest_info_free(m);
        return err;
    }
    *out = m;
    return REG_OK;
}
