/* libFuzzer harness: interaction logs (data/interactions.c) in every InterFormat, then
 * the leave-one-out split.
 *
 * Input: FLAGS LOG. FLAGS % 4 is the InterFormat (auto, user_item, ml_ratings,
 * tifu_csv); FLAGS bit 2 gzips the file.
 *
 * Checked: a rejected log dies naming the file; a loaded one has users in ascending id
 * order, offsets that cover every item, items in 1..n_items (and, renumbered formats,
 * every id 1..n_items used), and a split that follows the leave-one-out rule. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/interactions.h"
#include "fuzz_common.h"

typedef struct {
    const char *path;
    InterFormat fmt;
    Interactions ix;
} Ctx;

static void load(void *p) {
    Ctx *c = p;
    interactions_load(&c->ix, c->path, c->fmt);
}

static void check(const Interactions *ix, InterFormat fmt) {
    FUZZ_CHECK(ix->n_users > 0 && ix->off[0] == 0);
    long n = ix->off[ix->n_users];
    for (int u = 0; u < ix->n_users; u++) {
        FUZZ_CHECK(ix->off[u + 1] > ix->off[u]);
        if (u) FUZZ_CHECK(ix->user_id[u] > ix->user_id[u - 1]);
    }
    FUZZ_CHECK(ix->n_items >= 1);
    unsigned char *seen = calloc((size_t)ix->n_items + 1, 1);
    FUZZ_CHECK(seen != NULL);
    for (long k = 0; k < n; k++) {
        FUZZ_CHECK(ix->items[k] >= 1 && ix->items[k] <= ix->n_items);
        seen[ix->items[k]] = 1;
    }
    if (fmt == INTER_ML_RATINGS || fmt == INTER_TIFU_CSV)
        for (int i = 1; i <= ix->n_items; i++) FUZZ_CHECK(seen[i]);
    free(seen);

    LooSplit s;
    loo_split(ix, &s);
    FUZZ_CHECK(s.n_users == ix->n_users && s.n_items == ix->n_items);
    for (int u = 0; u < s.n_users; u++) {
        long len = ix->off[u + 1] - ix->off[u];
        if (len < 3) {
            FUZZ_CHECK(s.n_train[u] == len && s.val[u] == 0 && s.test[u] == 0);
        } else {
            FUZZ_CHECK(s.n_train[u] == len - 2);
            FUZZ_CHECK(s.val[u] == ix->items[ix->off[u + 1] - 2] && s.test[u] == ix->items[ix->off[u + 1] - 1]);
        }
    }
    loo_split_free(&s);
}

static void run(const uint8_t *data, size_t size) {
    if (size < 1) return;
    int gz = (data[0] >> 2) & 1;
    Ctx c = {fuzz_path(gz ? "log.txt.gz" : "log.txt"), (InterFormat)(data[0] % 4), {0}};
    fuzz_write_file(c.path, data + 1, size - 1, gz);
    if (fuzz_call(load, &c)) {
        FUZZ_EXPECT_MESSAGE(c.path);
        return;
    }
    /* auto resolves to one of the three: check as the weakest (user_item) */
    check(&c.ix, c.fmt);
    interactions_free(&c.ix);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    static const char sample[] = "\x02" "1::10::5::978300760\n1::20::3::978300761\n2::10::4::978300770\n";
    run((const uint8_t *)sample, sizeof sample - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
