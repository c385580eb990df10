/* readahead.c - a detached thread that asks for a blob file's range to be read into the page
 * cache (see readahead.h). Whether a range needs it is told by mincore on a mapping of it. */
#include "storage/blob/readahead.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Pages of a range checked when deciding whether it is all in the page cache. */
#define READAHEAD_SAMPLES 64

typedef struct readahead_job {
    int fd; /* a duplicate, closed by the thread */
    uint64_t start, end;
} readahead_job;

static atomic_int jobs_running;
static atomic_ullong jobs_started;

/* Whether one of READAHEAD_SAMPLES pages spread over [start, end) of fd, the last one among
 * them, is not in the page cache (1), or the file cannot be mapped to tell (0). */
static int partly_cold(int fd, uint64_t start, uint64_t end)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t base = start / page * page;
    size_t len = (size_t)(end - base);
    unsigned char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)base);
    if (map == MAP_FAILED)
        return 0;
    int cold = 0;
    for (int i = 0; i < READAHEAD_SAMPLES && !cold; i++) {
        uint64_t at = i == READAHEAD_SAMPLES - 1 ? len - 1 : len / READAHEAD_SAMPLES * (uint64_t)i;
        unsigned char in = 0;
        cold = mincore(map + at / page * page, 1, &in) == 0 && !(in & 1);
    }
    munmap(map, len);
    return cold;
}

static void *read_ahead(void *arg)
{
    readahead_job *job = arg;
    for (uint64_t at = job->start; at < job->end; at += READAHEAD_STEP) {
        uint64_t n = job->end - at < READAHEAD_STEP ? job->end - at : READAHEAD_STEP;
        if (posix_fadvise(job->fd, (off_t)at, (off_t)n, POSIX_FADV_WILLNEED) != 0)
            break;
    }
    close(job->fd);
    free(job);
    atomic_fetch_sub(&jobs_running, 1);
    return NULL;
}

static int take_a_place(void)
{
    int n = atomic_load(&jobs_running);
    while (n < READAHEAD_MAX)
        if (atomic_compare_exchange_weak(&jobs_running, &n, n + 1))
            return 1;
    return 0;
}

/* The job's thread, detached; 0 when it could not start. */
static int start_job(readahead_job *job)
{
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0)
        return 0;
    int ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
             pthread_create(&thread, &attr, read_ahead, job) == 0;
    pthread_attr_destroy(&attr);
    return ok;
}

int blob_readahead(int fd, uint64_t start, uint64_t length)
{
    /* only the part that would be read ahead is looked at */
    uint64_t end = start + (length < READAHEAD_MAX_BYTES ? length : READAHEAD_MAX_BYTES);
    if (length < READAHEAD_MIN_BYTES || !partly_cold(fd, start, end) || !take_a_place())
        return 0;
    readahead_job *job = malloc(sizeof(*job));
    if (job && (job->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
        job->start = start;
        job->end = end;
        if (start_job(job)) {
            atomic_fetch_add(&jobs_started, 1);
            return 1;
        }
        close(job->fd);
    }
    free(job);
    atomic_fetch_sub(&jobs_running, 1);
    return 0;
}

uint64_t blob_readaheads_started(void)
{
    return (uint64_t)atomic_load(&jobs_started);
}
