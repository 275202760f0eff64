#include "base/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

static int enabled;

void progress_enable(int on) { enabled = on; }

void progress_start(Progress *p, const char *what, const char *unit, int64_t total) {
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->unit = unit;
    p->total = total;
    p->on = enabled;
    p->tty = enabled && isatty(fileno(stderr));
    p->started = p->shown = clock_seconds();
}

void progress_update(Progress *p, int64_t done, const char *extra) {
    if (!p->on) return;
    double now = clock_seconds(), el = now - p->started;
    if (now - p->shown < (p->tty ? PROGRESS_TTY_SECONDS : PROGRESS_PLAIN_SECONDS)) return;
    p->shown = now;
    double rate = el > 0 ? (double)done / el : 0;
    char eta[32] = "";
    if (p->total > 0 && rate > 0) {
        int left = (int)((double)(p->total - done) / rate + 0.5);
        snprintf(eta, sizeof eta, ", ETA %02d:%02d", left / 60, left % 60);
    }
    char count[48];
    if (p->total > 0)
        snprintf(count, sizeof count, "%lld/%lld", (long long)done, (long long)p->total);
    else
        snprintf(count, sizeof count, "%lld", (long long)done);
    fprintf(stderr, "%s%s: %s %s, %.1f/s%s%s%s%s", p->tty ? "\r" : "", p->what, count, p->unit, rate, eta,
            extra ? ", " : "", extra ? extra : "", p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->drawn = 1;
}

void progress_end(Progress *p) {
    if (p->tty && p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}
