/* console_api.h - the console's JSON API under /console/api/: one table of endpoints, each
 * called with the viewer (console_session.h) and the index; what the endpoint files share. */
#ifndef OCIREG_CONSOLE_API_H
#define OCIREG_CONSOLE_API_H

#include "server/console/console_session.h"

/* Repositories a page of the list holds by default, and at most. */
#define CONSOLE_PAGE_DEFAULT 50
#define CONSOLE_PAGE_MAX     200
/* Names one list request looks at, at most, to fill a page with repositories the viewer may
 * see (the rest come with the next page): a user who may see few of many repositories gets
 * short pages rather than a slow one. */
#define CONSOLE_SCAN_MAX 5000
/* Images a page of a repository's images holds by default (at most CONSOLE_PAGE_MAX), the
 * tags shown per image (the rest are on the image's page), tags a tag search page holds by
 * default, and image indexes on a page whose platforms are read. */
#define CONSOLE_IMAGES_PAGE 50
#define CONSOLE_ROW_TAGS    5
#define CONSOLE_TAGS_PAGE   50
/* Tags an image's own page lists (it says how many more there are). */
#define CONSOLE_IMAGE_TAGS     1000
#define CONSOLE_PLATFORM_READS 100
/* Largest config blob shown on an image's page. */
#define CONSOLE_CONFIG_MAX (1u << 20)
/* gc runs the admin page lists, and deliveries of each webhook. */
#define CONSOLE_GC_RUNS    20
#define CONSOLE_DELIVERIES 10

/* Bytes of a POST's JSON body (an ECR lifecycle policy is at most 30,720 characters). */
#define CONSOLE_BODY_MAX (64 << 10)

/* Query parameter `key` as a count from 1 to max; fallback when absent or malformed. */
int64_t console_query_int(request *req, const char *key, int64_t fallback, int64_t max);

/* The request for endpoint `endpoint` (the path after /console/api/). */
void console_api(request *req, const char *endpoint);

/* A POST endpoint's JSON object body (NULL for other methods). */
json_t *console_body(request *req);

/* Query parameter `key`, a repository name the viewer may pull; NULL after a 400 (malformed)
 * or 404 (absent, or hidden from the viewer: the two are not told apart). */
const char *console_repo_or_reply(request *req, index_db *ix, const console_viewer *v,
                                  const char *key);

void console_repositories(request *req, index_db *ix, const console_viewer *v);
void console_repository(request *req, index_db *ix, const console_viewer *v);
void console_repository_delete(request *req, index_db *ix, const console_viewer *v);
void console_lifecycle(request *req, index_db *ix, const console_viewer *v);
void console_lifecycle_draft(request *req, index_db *ix, const console_viewer *v);
void console_images(request *req, index_db *ix, const console_viewer *v);
void console_tags(request *req, index_db *ix, const console_viewer *v);
void console_image(request *req, index_db *ix, const console_viewer *v);
void console_image_delete(request *req, index_db *ix, const console_viewer *v);
void console_tag_delete(request *req, index_db *ix, const console_viewer *v);
void console_admin(request *req, index_db *ix, const console_viewer *v);

#endif
