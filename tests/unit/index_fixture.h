/* index_fixture.h - fresh, empty indexes for the index tests on one backend: a SQLite file in
 * a temporary folder, or (argument "postgresql") a new schema in the PostgreSQL database that
 * OCIREG_TEST_PG_URL names (chosen through the URI's search_path option), dropped at the end.
 * Without that URL the PostgreSQL run exits 77, which meson reports as SKIP;
 * tests/scaleout/test_c_index_on_postgresql.py runs it against the suite's PostgreSQL. */
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

static const char *fixture_pg_url; /* OCIREG_TEST_PG_URL on PostgreSQL, else NULL */
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

/* 0 to run on the chosen backend, FIXTURE_SKIP when PostgreSQL is asked for without
 * OCIREG_TEST_PG_URL, -1 on a set-up failure. */
#define FIXTURE_SKIP 77

static int fixture_setup(int on_pg)
{
    fixture_on_pg = on_pg;
    fixture_pg_url = on_pg ? getenv("OCIREG_TEST_PG_URL") : NULL;
    if (on_pg && (!fixture_pg_url || !*fixture_pg_url)) {
        printf("skip: OCIREG_TEST_PG_URL is not set: no PostgreSQL to run on\n");
        return FIXTURE_SKIP;
    }
    if (!mkdtemp(fixture_dir)) {
        perror("mkdtemp");
        return -1;
    }
    if (!on_pg)
        return 0;
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

/* Every index test file defines suite(), the tests it runs; this main runs them on the backend
 * argv[1] names ("sqlite", the default, or "postgresql"). The exit status is 0, 1 (failures),
 * 2 (usage) or FIXTURE_SKIP. */
static void suite(void);

int main(int argc, char **argv)
{
    int on_pg = argc > 1 && strcmp(argv[1], "postgresql") == 0;
    if (argc > 1 && !on_pg && strcmp(argv[1], "sqlite") != 0) {
        fprintf(stderr, "usage: %s [sqlite|postgresql]\n", argv[0]);
        return 2;
    }
    int setup = fixture_setup(on_pg);
    if (setup == FIXTURE_SKIP)
        return FIXTURE_SKIP;
    if (setup < 0) {
        fixture_teardown();
        return 1;
    }
    printf("-- %s\n", on_pg ? "PostgreSQL" : "SQLite");
    suite();
    fixture_teardown();
    return check_failures ? 1 : 0;
}

#endif
