/* The tied item scorer losses (nn/item_scorer.h): the sampled-softmax worked example SSM
 * of docs/METHODS.md 7.2, and both losses against central differences in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "nn/item_scorer.h"

static void run_tape(Graph *g, Tensor *loss) {
    loss->grad[0] = 1.0f;
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}

static void test_ssm(void) {
    /* h = [1, -0.5]; candidates [[0.5,0.5],[1,0],[-1,0],[0.2,-0.4]], target first. */
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Tensor *h = graph_tensor2(&g, 1, 1, 2), *E = graph_tensor2(&g, 1, 4, 2);
    float hv[2] = {1.0f, -0.5f}, ev[8] = {0.5f, 0.5f, 1, 0, -1, 0, 0.2f, -0.4f};
    memcpy(h->data, hv, sizeof hv);
    memcpy(E->data, ev, sizeof ev);
    int cand[4] = {0, 1, 2, 3};
    Tensor *loss = op_scorer_sampled_softmax(&g, h, E, cand, 4);
    CHECK_CLOSE(loss->data[0], 1.518493, 1e-6);
    run_tape(&g, loss);
    CHECK_CLOSE(h->grad[0], 0.061374, 2e-5);
    CHECK_CLOSE(h->grad[1], -0.492275, 2e-6);
    /* dM[target] = dscore_0 * h = -0.780958 * [1, -0.5]; dM[j] = p_j * h */
    CHECK_CLOSE(E->grad[0], -0.780958, 2e-6);
    CHECK_CLOSE(E->grad[1], 0.390479, 2e-6);
    CHECK_CLOSE(E->grad[2], 0.463711, 2e-6);
    CHECK_CLOSE(E->grad[3], -0.5 * 0.463711, 2e-6);
    CHECK_CLOSE(E->grad[4], 0.062757, 2e-5);
    CHECK_CLOSE(E->grad[6], 0.254490, 2e-6);
    graph_free(&g);
}

/* Losses in double for the finite differences. */
static double bce_ref(const double *h, const double *E, const int *pos, const int *neg, int T, int d) {
    double L = 0.0;
    for (int t = 0; t < T; t++) {
        double sp = 0, sn = 0;
        for (int i = 0; i < d; i++) {
            sp += h[t * d + i] * E[pos[t] * d + i];
            sn += h[t * d + i] * E[neg[t] * d + i];
        }
        L += log1p(exp(-sp)) + log1p(exp(sn));
    }
    return L / T;
}

static double ssm_ref(const double *h, const double *E, const int *cand, int B, int k, int d) {
    double L = 0.0;
    for (int b = 0; b < B; b++) {
        double s[16], mx = -1e300, z = 0;
        for (int j = 0; j < k; j++) {
            s[j] = 0;
            for (int i = 0; i < d; i++) s[j] += h[b * d + i] * E[cand[b * k + j] * d + i];
            mx = fmax(mx, s[j]);
        }
        for (int j = 0; j < k; j++) z += exp(s[j] - mx);
        L += log(z) + mx - s[0];
    }
    return L / B;
}

static void test_fd(int bce) {
    enum { T = 5, D = 4, V = 6, K = 4 };
    Rng r;
    rng_seed(&r, bce ? 3 : 4);
    double h[T * D], E[V * D];
    for (int i = 0; i < T * D; i++) h[i] = rng_uniform_range(&r, -1.5f, 1.5f);
    for (int i = 0; i < V * D; i++) E[i] = rng_uniform_range(&r, -1.5f, 1.5f);
    /* repeated items: the table gradient must accumulate */
    int pos[T] = {1, 2, 1, 5, 3}, neg[T] = {4, 4, 0, 2, 1};
    int cand[T * K] = {1, 2, 2, 0, 3, 4, 5, 3, 5, 1, 1, 2, 0, 3, 4, 5, 2, 0, 1, 4};
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Tensor *ht = graph_tensor2(&g, 1, T, D), *Et = graph_tensor2(&g, 1, V, D);
    for (int i = 0; i < T * D; i++) ht->data[i] = (float)h[i];
    for (int i = 0; i < V * D; i++) Et->data[i] = (float)E[i];
    /* the double reference uses the same float values */
    for (int i = 0; i < T * D; i++) h[i] = ht->data[i];
    for (int i = 0; i < V * D; i++) E[i] = Et->data[i];
    Tensor *loss = bce ? op_scorer_bce(&g, ht, Et, pos, neg) : op_scorer_sampled_softmax(&g, ht, Et, cand, K);
    double L = bce ? bce_ref(h, E, pos, neg, T, D) : ssm_ref(h, E, cand, T, K, D);
    CHECK_CLOSE(loss->data[0], L, 1e-6);
    run_tape(&g, loss);
    double worst = 0.0;
    for (int which = 0; which < 2; which++) {
        double *x = which ? E : h;
        const float *gr = which ? Et->grad : ht->grad;
        int n = which ? V * D : T * D;
        for (int i = 0; i < n; i++) {
            double keep = x[i], e = 1e-5;
            x[i] = keep + e;
            double lp = bce ? bce_ref(h, E, pos, neg, T, D) : ssm_ref(h, E, cand, T, K, D);
            x[i] = keep - e;
            double lm = bce ? bce_ref(h, E, pos, neg, T, D) : ssm_ref(h, E, cand, T, K, D);
            x[i] = keep;
            worst = fmax(worst, fabs((lp - lm) / (2 * e) - gr[i]));
        }
    }
    check_true(worst < 1e-5, bce ? "bce gradients vs finite differences" : "sampled softmax gradients vs finite differences",
               __FILE__, __LINE__);
    graph_free(&g);
}

int main(void) {
    test_ssm();
    test_fd(1);
    test_fd(0);
    return check_done("test_item_scorer");
}
