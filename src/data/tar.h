/* Reading (gzip-compressed) tar archives entry by entry: the IMDB and super-resolution
 * sets come as .tar.gz. ustar names (prefix + name) and GNU long names are supported. */
#ifndef QAT_DATA_TAR_H
#define QAT_DATA_TAR_H

#include <stddef.h>

/* Called for every regular file: name as stored ("aclImdb/train/pos/0_9.txt"), its bytes
 * (NUL-terminated for convenience; valid only during the call). Return 0 to go on, 1 to
 * stop early. */
typedef int (*TarEntryFn)(void *ctx, const char *name, const unsigned char *data, size_t size);

/* Walks the archive (.tar or .tar.gz). Dies with a clear message naming the file on a
 * missing file, a corrupt header (bad checksum) or truncation. Returns the number of
 * regular files visited. */
long tar_foreach(const char *path, TarEntryFn fn, void *ctx);

#endif
