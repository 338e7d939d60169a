#include "io/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime.h"

void progress_start(Progress *p, const char *label, long total, const char *unit) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start = runtime_now();
    p->tty = isatty(fileno(stderr));
}

static void draw(Progress *p, int final) {
    double el = runtime_now() - p->start;
    double rate = el > 0 ? p->done / el : 0.0;
    double eta = rate > 0 ? (p->total - p->done) / rate : 0.0;
    int width = 24, fill = p->total ? (int)(width * p->done / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "%s%s [%s] %ld/%ld %.1f %s/s %s %.0fs %s%s", p->tty ? "\r" : "", p->label, bar,
            p->done, p->total, rate, p->unit, final ? "in" : "ETA", final ? el : eta, p->extra,
            p->tty ? "\033[K" : "");
    if (final || !p->tty) fputc('\n', stderr);
    fflush(stderr);
}

void progress_update(Progress *p, long done, const char *extra) {
    p->done = done;
    if (extra) snprintf(p->extra, sizeof p->extra, "%s", extra);
    double now = runtime_now();
    /* A terminal gets a live bar; a log file gets one line every 30 s, so long epochs
     * written to a file still show they are moving. */
    if (p->last_draw == 0.0 && !p->tty) p->last_draw = p->start;
    if (now - p->last_draw < (p->tty ? 0.1 : 30.0)) return;
    p->last_draw = now;
    draw(p, 0);
}

void progress_finish(Progress *p) { draw(p, 1); }
