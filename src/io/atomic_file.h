/* Files written atomically: data goes to "<path>.tmp.<pid>", and only atomic_file_commit()
 * renames it to <path> after fsync. An interrupted run leaves no file that looks complete. */
#ifndef QAT_IO_ATOMIC_FILE_H
#define QAT_IO_ATOMIC_FILE_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char path[1024];
    char tmp[1100];
} AtomicFile;

/* Dies with a clear message when the file cannot be created. */
FILE *atomic_file_open(AtomicFile *af, const char *path);
/* Flush, fsync, rename; dies on failure (disk full...). */
void atomic_file_commit(AtomicFile *af);
/* Remove the temporary file. */
void atomic_file_abort(AtomicFile *af);

/* mkdir -p; dies on failure. */
void make_dirs(const char *path);
int file_exists(const char *path);

#endif
