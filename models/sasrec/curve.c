#include "models/sasrec/curve.h"

#include <math.h>
#include <stdio.h>

#include "io/atomic_file.h"

#define PANEL_W  420
#define PANEL_H  300
#define MARGIN_L 60
#define MARGIN_B 40
#define MARGIN_T 30

/* A "nice" step for about 5 ticks over span. */
static double tick_step(double span) {
    double raw = span / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void panel(FILE *f, int x0, int n, const double *y, const char *title, const char *color, int best) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) {
            lo = fmin(lo, y[i]);
            hi = fmax(hi, y[i]);
        }
    if (!(lo <= hi)) { /* nothing finite to draw */
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-9) { /* a flat line */
        lo -= 0.5;
        hi += 0.5;
    }
    double pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
    int w = PANEL_W - MARGIN_L - 20, h = PANEL_H - MARGIN_B - MARGIN_T;
    int px = x0 + MARGIN_L, py = MARGIN_T;
    int last = n > 1 ? n - 1 : 1;
#define X(i) (px + (double)(i) / last * w)
#define Y(v) (py + h - ((v)-lo) / (hi - lo) * h)
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n", px + w / 2, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", px, py, w, h);
    double step = tick_step(hi - lo);
    for (double t = ceil(lo / step) * step; t <= hi; t += step) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", px, px + w, Y(t), Y(t));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n", px - 4, Y(t) + 3, t);
    }
    double xstep = n > 1 ? fmax(1, tick_step(n - 1)) : 1;
    for (double e = 0; e <= last; e += xstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.0f</text>\n", X(e), py + h + 14,
                e);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">epoch</text>\n", px + w / 2,
            py + h + 30);
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) fprintf(f, "%.1f,%.1f ", X(i), Y(y[i]));
    fprintf(f, "\"/>\n");
    if (best >= 0 && best < n && isfinite(y[best]))
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>best epoch %d</title></circle>\n",
                X(best), Y(y[best]), color, best);
#undef X
#undef Y
}

int curve_write_svg(const char *path, int n, const double *loss, const double *metric, const char *metric_name,
                    int best, NnError *err) {
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    FILE *f = atomic_stream(af);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n",
            2 * PANEL_W, PANEL_H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    panel(f, 0, n, loss, "training loss", "#1f77b4", -1);
    char title[64];
    snprintf(title, sizeof title, "validation %s", metric_name);
    panel(f, PANEL_W, n, metric, title, "#d62728", best);
    fprintf(f, "</svg>\n");
    return atomic_commit(af, err);
}
