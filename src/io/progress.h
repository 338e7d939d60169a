/* A progress bar on stderr with rate and ETA, redrawn at most 10 times a second; quiet
 * when stderr is not a terminal except for one line at the end. */
#ifndef QAT_IO_PROGRESS_H
#define QAT_IO_PROGRESS_H

typedef struct {
    const char *label;
    const char *unit;
    long total, done;
    double start, last_draw;
    int tty;
    char extra[64];
} Progress;

void progress_start(Progress *p, const char *label, long total, const char *unit);
/* extra: short text shown after the bar (e.g. "loss 0.312"), may be NULL. */
void progress_update(Progress *p, long done, const char *extra);
void progress_finish(Progress *p);

#endif
