/* fast_tanh against the exact tanh (double) on a dense grid and at the edges, and its
 * op against op_tanh: same output within the approximation error, same backward formula
 * through the tape. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "nn/fast_tanh.h"
#include "nn/ops.h"

int main(void) {
    enum { N = 200001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * (float)i / (N - 1);
    fast_tanh(x, y, N);
    double worst = 0.0, worst_rel = 0.0;
    for (int i = 0; i < N; i++) {
        double t = tanh((double)x[i]), e = fabs(y[i] - t);
        if (e > worst) worst = e;
        if (fabs(t) > 1e-30 && e / fabs(t) > worst_rel) worst_rel = e / fabs(t);
    }
    printf("fast_tanh on [-10, 10]: max abs error %.3g, max rel error %.3g\n", worst, worst_rel);
    CHECK(worst < 5e-7); /* a few float ulp of values near +-1 */
    CHECK(worst_rel < 1e-6);
    float edge[] = {0.0f, -0.0f, 1e-8f, -3e-4f, 5e-4f, 7.9f, 8.0f, -8.0f, 100.0f, -1e30f};
    float out[10];
    fast_tanh(edge, out, 10);
    CHECK(out[0] == 0.0f && out[2] == 1e-8f && out[3] == -3e-4f);
    CHECK(fabsf(out[6]) <= 1.0f && out[8] == out[6] && out[7] == -out[6] && out[9] == out[7]);
    CHECK_CLOSE(out[5], tanh(7.9), 1e-6);
    CHECK_CLOSE(out[4], tanh(5e-4), 1e-6);
    /* In place. */
    float inplace[3] = {0.5f, -2.0f, 3.0f};
    fast_tanh(inplace, inplace, 3);
    CHECK_CLOSE(inplace[1], tanh(-2.0), 1e-6);

    /* The op through the tape equals op_tanh's backward (dx = dy (1 - y^2)). */
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    int shape[2] = {3, 50};
    float xs[150], dys[150];
    for (int i = 0; i < 150; i++) {
        xs[i] = (float)sin(i * 0.37) * 3.0f;
        dys[i] = (float)cos(i * 0.11);
    }
    float grads[2][150], outs[2][150];
    for (int k = 0; k < 2; k++) {
        graph_reset(&g);
        Tensor *t = graph_tensor(&g, 1, 2, shape);
        memcpy(t->data, xs, sizeof xs);
        Tensor *yt = k == 0 ? op_fast_tanh(&g, t) : op_tanh(&g, t);
        /* Seed dy and run the tape by hand: loss = sum(y * dy). */
        memcpy(outs[k], yt->data, sizeof xs);
        memcpy(yt->grad, dys, sizeof dys);
        for (int n = g.n - 1; n >= 0; n--) g.nodes[n].fn(g.nodes[n].ctx);
        memcpy(grads[k], t->grad, sizeof xs);
    }
    CHECK_ARRAY(outs[0], outs[1], 150, 1e-6, "fast_tanh forward vs op_tanh");
    /* 1 - y^2 amplifies the forward's error where y is near +-1 */
    CHECK_ARRAY(grads[0], grads[1], 150, 1e-4, "fast_tanh backward vs op_tanh");
    graph_free(&g);
    return check_done("fast_tanh");
}
