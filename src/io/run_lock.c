#include "io/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "io/atomic_file.h"

void run_lock_acquire(RunLock *l, const char *dir) {
    make_dirs(dir);
    char path[1200];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path) qat_die("path too long: %s/.lock", dir);
    l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->fd < 0) qat_die("cannot create the lock file %s: %s", path, strerror(errno));
    l->waited = 0;
    if (flock(l->fd, LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK) qat_die("cannot lock %s: %s", path, strerror(errno));
    fprintf(stderr, "qat: %s is in use by another qat process; waiting for it to finish\n", dir);
    l->waited = 1;
    while (flock(l->fd, LOCK_EX) != 0)
        if (errno != EINTR) qat_die("cannot lock %s: %s", path, strerror(errno));
}

void run_lock_release(RunLock *l) {
    if (l->fd >= 0) close(l->fd); /* closing drops the lock */
    l->fd = -1;
}
