/* One writer per run folder: two `qat train` or `qat table` processes on one output folder
 * (two terminals, two cluster jobs on a shared filesystem) take the folder's lock, an
 * flock() on RUN_DIR/.lock, before they read or write anything in it. The kernel drops
 * the lock when its process dies, so a killed run never leaves the folder locked. */
#ifndef QAT_IO_RUN_LOCK_H
#define QAT_IO_RUN_LOCK_H

typedef struct {
    int fd;
    int waited; /* 1: another process held the lock first */
} RunLock;

/* Creates dir if needed and locks it, waiting (with a message on stderr) while another
 * process holds it. Dies when the lock file cannot be made. */
void run_lock_acquire(RunLock *l, const char *dir);
void run_lock_release(RunLock *l);

#endif
