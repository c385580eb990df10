/* parallel.h - run a function over the indices 0..n-1 on a few threads at once. For loops of
 * latency-bound system calls (gc's unlinks), which ext4 serves faster in parallel even on two
 * cores (figures: bench/RESULTS.md, gc). */
#ifndef OCIREG_PARALLEL_H
#define OCIREG_PARALLEL_H

#include <stddef.h>

/* fn(ctx, i) for every i < n, on up to `threads` threads (the caller's among them); returns
 * when all calls have. Falls back to fewer threads (down to the caller's alone) when none can
 * be started. fn must be safe to run concurrently for different i. */
void parallel_for(size_t n, unsigned threads, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
