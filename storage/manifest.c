/* manifest.c - manifest validation with jansson (see manifest.h). */
#include "storage/manifest.h"
#include "storage/base/reg_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFS 100000

static const char *const known_types[] = {MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST,
                                          MT_DOCKER_LIST};

const char *manifest_ref_kind_name(const manifest_ref *r)
{
    static const char *const names[] = {"config", "layer", "manifest"};
    return r->foreign ? "foreign" : names[r->kind];
}

int manifest_is_index(const char *media_type)
{
    return strcmp(media_type, MT_OCI_INDEX) == 0 || strcmp(media_type, MT_DOCKER_LIST) == 0;
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
static int resolve_media_type(manifest_info *m, json_t *root, const char *content_type)
{
    char header[128];
    json_t *field = json_object_get(root, "mediaType");
    bare_media_type(header, sizeof(header), content_type);
    if (field && !json_is_string(field))
        return reg_error_set(REG_EINVALID, "mediaType must be a string");
    const char *body_type = field ? json_string_value(field) : NULL;
    const char *chosen = body_type;
    if (!chosen && is_known_type(header))
        chosen = header;
    if (!chosen)
        chosen = json_object_get(root, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
    if (!is_known_type(chosen))
        return reg_error_set(REG_EINVALID, "unsupported manifest media type \"%s\"", chosen);
    if (body_type && is_known_type(header) && strcmp(body_type, header) != 0)
        return reg_error_set(REG_EINVALID, "mediaType \"%s\" does not match Content-Type \"%s\"",
                             body_type, header);
    snprintf(m->media_type, sizeof(m->media_type), "%s", chosen);
    return REG_OK;
}

/* Layers a registry is not expected to hold (OCI non-distributable, Docker foreign): only these
 * may name other locations in `urls`, so that no other layer escapes the repository check. */
int manifest_is_nondistributable(const char *media_type)
{
    static const char *const prefixes[] = {"application/vnd.oci.image.layer.nondistributable.",
                                           "application/vnd.docker.image.rootfs.foreign."};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(media_type, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

/* `urls`, when present, is a list of strings; a non-empty one makes the layer foreign. */
static int parse_urls(int *foreign, json_t *urls, const char *mt, manifest_ref_kind kind)
{
    size_t i;
    json_t *url;
    *foreign = 0;
    if (!urls)
        return REG_OK;
    if (!json_is_array(urls))
        return reg_error_set(REG_EINVALID, "urls must be an array of strings");
    json_array_foreach(urls, i, url)
    {
        if (!json_is_string(url))
            return reg_error_set(REG_EINVALID, "urls must be an array of strings");
    }
    if (json_array_size(urls) == 0)
        return REG_OK;
    if (kind != REF_LAYER || !manifest_is_nondistributable(mt))
        return reg_error_set(
            REG_EINVALID, "urls are allowed only on non-distributable layers, not on \"%s\"", mt);
    *foreign = 1;
    return REG_OK;
}

static int parse_descriptor(manifest_ref *out, json_t *desc, manifest_ref_kind kind)
{
    json_error_t jerr;
    const char *mt = NULL, *dg = NULL;
    json_int_t size = -1;
    json_t *urls = NULL;
    if (json_unpack_ex(desc, &jerr, 0, "{s:s, s:s, s:I, s?o}", "mediaType", &mt, "digest", &dg,
                       "size", &size, "urls", &urls) < 0)
        return reg_error_set(REG_EINVALID, "invalid descriptor: %s", jerr.text);
    if (size < 0)
        return reg_error_set(REG_EINVALID, "size must not be negative");
    if ((uint64_t)size > MANIFEST_MAX_DESCRIPTOR_SIZE)
        return reg_error_set(REG_EINVALID, "size %lld is over the limit of %llu bytes",
                             (long long)size, (unsigned long long)MANIFEST_MAX_DESCRIPTOR_SIZE);
    if (digest_parse(&out->dg, dg) < 0)
        return reg_error_set(REG_EINVALID, "invalid digest \"%s\"", dg);
    out->size = (uint64_t)size;
    return parse_urls(&out->foreign, urls, mt, kind);
}

static int add_ref(manifest_info *m, json_t *desc, manifest_ref_kind kind)
{
    manifest_ref *r = &m->refs[m->nrefs];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    int err = parse_descriptor(r, desc, kind);
    if (err == REG_OK)
        m->nrefs++;
    return err;
}

static int parse_descriptor_array(manifest_info *m, json_t *arr, manifest_ref_kind kind,
                                  const char *name)
{
    size_t i;
    json_t *desc;
    json_array_foreach(arr, i, desc)
    {
        int err = add_ref(m, desc, kind);
        if (err < 0)
            return reg_error_wrap(err, "%s[%zu]", name, i);
    }
    return REG_OK;
}

/* Room in m->refs for the descriptors of the array member `name` (list), and one more:
 * REG_EINVALID when it is not an array or holds too many. */
static int alloc_refs(manifest_info *m, json_t *list, const char *name)
{
    if (!json_is_array(list))
        return reg_error_set(REG_EINVALID, "%s must be an array", name);
    if (json_array_size(list) >= MAX_REFS)
        return reg_error_set(REG_EINVALID, "too many %s", name);
    m->refs = calloc(json_array_size(list) + 1, sizeof(*m->refs));
    return m->refs ? REG_OK : reg_error_set(REG_ERROR, "out of memory");
}

static int parse_image(manifest_info *m, json_t *root)
{
    json_t *config = json_object_get(root, "config");
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_object(config))
        return reg_error_set(REG_EINVALID, "config must be a descriptor object");
    int err = alloc_refs(m, layers, "layers");
    if (err < 0)
        return err;
    if ((err = add_ref(m, config, REF_CONFIG)) < 0)
        return reg_error_wrap(err, "config");
    if (!m->artifact_type) {
        const char *cmt = json_string_value(json_object_get(config, "mediaType"));
        if (cmt && !(m->artifact_type = strdup(cmt)))
            return reg_error_set(REG_ERROR, "out of memory");
    }
    return parse_descriptor_array(m, layers, REF_LAYER, "layers");
}

static int parse_index(manifest_info *m, json_t *root)
{
    json_t *manifests = json_object_get(root, "manifests");
    int err = alloc_refs(m, manifests, "manifests");
    if (err < 0)
        return err;
    return parse_descriptor_array(m, manifests, REF_MANIFEST, "manifests");
}

static int parse_common(manifest_info *m, json_t *root)
{
    json_t *version = json_object_get(root, "schemaVersion");
    json_t *artifact = json_object_get(root, "artifactType");
    json_t *subject = json_object_get(root, "subject");
    json_t *annotations = json_object_get(root, "annotations");
    if (!json_is_integer(version) || json_integer_value(version) != 2)
        return reg_error_set(REG_EINVALID, "schemaVersion must be 2");
    if (artifact) {
        if (!json_is_string(artifact))
            return reg_error_set(REG_EINVALID, "artifactType must be a string");
        if (!(m->artifact_type = strdup(json_string_value(artifact))))
            return reg_error_set(REG_ERROR, "out of memory");
    }
    if (subject) {
        manifest_ref ref = {0};
        int err = parse_descriptor(&ref, subject, REF_MANIFEST);
        if (err < 0)
            return reg_error_wrap(err, "subject");
        m->has_subject = 1;
        m->subject = ref.dg;
    }
    if (annotations) {
        if (!json_is_object(annotations))
            return reg_error_set(REG_EINVALID, "annotations must be an object");
        if (!(m->annotations = json_dumps(annotations, JSON_COMPACT)))
            return reg_error_set(REG_ERROR, "out of memory");
    }
    return REG_OK;
}

int manifest_parse(manifest_info **out, const char *content_type, const char *body, size_t len)
{
    json_error_t jerr;
    int err;
    manifest_info *m = calloc(1, sizeof(*m));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!m) {
        err = reg_error_set(REG_ERROR, "out of memory");
        goto done;
    }
    if (!root) {
        err = reg_error_set(REG_EINVALID, "manifest is not valid JSON: %s (line %d)", jerr.text,
                            jerr.line);
        goto done;
    }
    if (!json_is_object(root)) {
        err = reg_error_set(REG_EINVALID, "manifest must be a JSON object");
        goto done;
    }
    if ((err = resolve_media_type(m, root, content_type)) < 0 || (err = parse_common(m, root)) < 0)
        goto done;
    err = manifest_is_index(m->media_type) ? parse_index(m, root) : parse_image(m, root);
done:
    json_decref(root);
    if (err < 0) {
        manifest_info_free(m);
        return err;
    }
    *out = m;
    return REG_OK;
}
