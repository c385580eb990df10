/* dynlib.c - the loaders of dynlib.h: dlopen by soname (the runtime packages libcurl4 and
 * libpq5, not the -dev symlinks), then dlsym of every function the callers use. A library
 * with a function missing is refused as a whole. */
#include "storage/base/dynlib.h"
#include "storage/base/reg_error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

dynlib_curl_api dynlib_curl;
dynlib_pq_api dynlib_pq;

typedef struct loaded {
    pthread_once_t once;
    const char *soname, *package;
    int ok;
    char why[256];
} loaded;

static loaded curl_state = {PTHREAD_ONCE_INIT, "libcurl.so.4", "libcurl4", 0, ""};
static loaded pq_state = {PTHREAD_ONCE_INIT, "libpq.so.5", "libpq5", 0, ""};

/* dlsym into *slot; false (with the reason in st) when missing. */
static int bind_symbol(loaded *st, void *lib, const char *name, void **slot)
{
    if ((*slot = dlsym(lib, name)) != NULL)
        return 1;
    snprintf(st->why, sizeof(st->why), "%s lacks %s", st->soname, name);
    return 0;
}

static void *open_lib(loaded *st)
{
    void *lib = dlopen(st->soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        snprintf(st->why, sizeof(st->why), "cannot load %s (Debian package %s): %s", st->soname,
                 st->package, dlerror());
    return lib;
}

typedef struct symbol {
    const char *name;
    void **slot;
} symbol;

#define CURL_SYMBOL(f) {#f, (void **)&dynlib_curl.f},
#define PQ_SYMBOL(f)   {#f, (void **)&dynlib_pq.f},
static const symbol curl_symbols[] = {DYNLIB_CURL_FUNCS(CURL_SYMBOL)};
static const symbol pq_symbols[] = {DYNLIB_PQ_FUNCS(PQ_SYMBOL)};

static void load(loaded *st, const symbol *syms, size_t n)
{
    void *lib = open_lib(st);
    int ok = lib != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = bind_symbol(st, lib, syms[i].name, syms[i].slot);
    st->ok = ok;
}

static void load_curl(void)
{
    load(&curl_state, curl_symbols, sizeof(curl_symbols) / sizeof(curl_symbols[0]));
}

static void load_pq(void)
{
    load(&pq_state, pq_symbols, sizeof(pq_symbols) / sizeof(pq_symbols[0]));
}

/* The load happened once, in whichever thread came first; its reason is set again for this one. */
static int result(const loaded *st)
{
    return st->ok ? REG_OK : reg_error_set(REG_ERROR, "%s", st->why);
}

int dynlib_load_curl(void)
{
    pthread_once(&curl_state.once, load_curl);
    return result(&curl_state);
}

int dynlib_load_pq(void)
{
    pthread_once(&pq_state.once, load_pq);
    return result(&pq_state);
}
