/* warm.c - background readahead of just-published blobs (see warm.h): a bounded queue of
 * duplicated descriptors and one detached thread that asks the kernel to read each range in
 * steps (a single POSIX_FADV_WILLNEED reads at most the device's readahead window). */
#include "storage/blob/warm.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

/* Queued files beyond this are not warmed (a burst of pushes). */
#define WARM_QUEUE_MAX 16
/* Bytes per readahead request: no larger than the smallest usual readahead window. */
#define WARM_STEP (128u << 10)

typedef struct warm_job {
    int fd;
    uint64_t len;
} warm_job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static warm_job queue[WARM_QUEUE_MAX];
static int head, queued, started;

static void warm_one(const warm_job *j)
{
    for (uint64_t at = 0; at < j->len; at += WARM_STEP)
        posix_fadvise(j->fd, (off_t)at, WARM_STEP, POSIX_FADV_WILLNEED);
    close(j->fd);
}

static void *warm_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!queued)
            pthread_cond_wait(&wake, &lock);
        warm_job j = queue[head];
        head = (head + 1) % WARM_QUEUE_MAX;
        queued--;
        pthread_mutex_unlock(&lock);
        warm_one(&j);
        pthread_mutex_lock(&lock);
    }
    return NULL;
}

/* Lock held. */
static int start_thread(void)
{
    pthread_t t;
    if (started)
        return 1;
    if (pthread_create(&t, NULL, warm_main, NULL) != 0)
        return 0;
    pthread_detach(t);
    started = 1;
    return 1;
}

void warm_file(int fd, uint64_t len)
{
    if (len == 0)
        return;
    pthread_mutex_lock(&lock);
    int dup_fd = queued < WARM_QUEUE_MAX && start_thread() ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup_fd >= 0) {
        queue[(head + queued) % WARM_QUEUE_MAX] = (warm_job){.fd = dup_fd, .len = len};
        queued++;
        pthread_cond_signal(&wake);
    }
    pthread_mutex_unlock(&lock);
}
