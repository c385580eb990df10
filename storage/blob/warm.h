/* warm.h - brings a just-published blob's head back into the page cache in a background
 * thread (readahead), so that its first pull is served from memory although it was written
 * with O_DIRECT. Best effort: a full queue or a failure only leaves the blob cold. */
#ifndef OCIREG_WARM_H
#define OCIREG_WARM_H

#include <stdint.h>

/* Queue [0, len) of the file open as fd (which is duplicated: the caller may close its own).
 * The thread starts with the first request and lives until the process ends. */
void warm_file(int fd, uint64_t len);


#endif
