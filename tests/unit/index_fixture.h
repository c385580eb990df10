/* index_fixture.h - fresh, empty indexes for the index tests on each backend: a SQLite file in
 * a temporary folder, or, when OCIREG_TEST_PG_URL names a PostgreSQL database, a new schema
 * in it (chosen through the URI's search_path option), dropped at the end. */
#ifndef OCIREG_TEST_INDEX_FIXTURE_H
#define OCIREG_TEST_INDEX_FIXTURE_H

#include "storage/index/index.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fixture_pg_url; /* OCIREG_TEST_PG_URL, or NULL */
static PGconn *fixture_admin;      /* creates and drops the schemas */
static int fixture_on_pg;          /* the backend the tests run on now */
static char fixture_dir[] = "/tmp/ocireg-index-test-XXXXXX";
static char fixture_location[4096];
static int fixture_count;

static int fixture_sql(const char *text)
{
    PGresult *res = PQexec(fixture_admin, text);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "fixture: %s: %s", text, PQerrorMessage(fixture_admin));
    PQclear(res);
    return ok ? 0 : -1;
}

/* A location for a new, empty index on the current backend. */
static const char *fresh_location(void)
{
    int n = ++fixture_count;
    if (!fixture_on_pg) {
        snprintf(fixture_location, sizeof(fixture_location), "%s/%d.db", fixture_dir, n);
        return fixture_location;
    }
    char schema[64], create[128];
    snprintf(schema, sizeof(schema), "ocireg_test_%d_%d", (int)getpid(), n);
    snprintf(create, sizeof(create), "CREATE SCHEMA %s", schema);
    fixture_sql(create);
    snprintf(fixture_location, sizeof(fixture_location), "%s%coptions=-csearch_path%%3D%s",
             fixture_pg_url, strchr(fixture_pg_url, '?') ? '&' : '?', schema);
    return fixture_location;
}

static index_db *fresh_index(void)
{
    index_db *ix = NULL;
    int err = index_open(&ix, fresh_location());
    CHECK(err == REG_OK, "cannot open %s: %s", fixture_location, index_errmsg(NULL));
    return ix;
}

static int fixture_setup(void)
{
    if (!mkdtemp(fixture_dir)) {
        perror("mkdtemp");
        return -1;
    }
    fixture_pg_url = getenv("OCIREG_TEST_PG_URL");
    if (fixture_pg_url && !*fixture_pg_url)
        fixture_pg_url = NULL;
    if (!fixture_pg_url) {
        printf("note: OCIREG_TEST_PG_URL is not set: the PostgreSQL half is skipped\n");
        return 0;
    }
    fixture_admin = PQconnectdb(fixture_pg_url);
    if (PQstatus(fixture_admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to OCIREG_TEST_PG_URL: %s", PQerrorMessage(fixture_admin));
        return -1;
    }
    return fixture_sql("SET client_min_messages = warning");
}

static void fixture_teardown(void)
{
    char cmd[128];
    for (int n = 1; fixture_admin && n <= fixture_count; n++) {
        snprintf(cmd, sizeof(cmd), "DROP SCHEMA IF EXISTS ocireg_test_%d_%d CASCADE", (int)getpid(),
                 n);
        fixture_sql(cmd);
    }
    if (fixture_admin)
        PQfinish(fixture_admin);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fixture_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fixture_dir);
}

/* Run every test of `suite` on SQLite, then on PostgreSQL when configured. */
#define RUN_ON_BACKENDS(suite)                                                                     \
    do {                                                                                           \
        if (fixture_setup() < 0)                                                                   \
            return 1;                                                                              \
        printf("-- SQLite\n");                                                                     \
        suite();                                                                                   \
        if (fixture_pg_url) {                                                                      \
            fixture_on_pg = 1;                                                                     \
            printf("-- PostgreSQL\n");                                                             \
            suite();                                                                               \
        }                                                                                          \
        fixture_teardown();                                                                        \
    } while (0)

#endif
