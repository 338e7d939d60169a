/* libFuzzer harness: reading .npy arrays (io/npy.c, npy_read), the outputs another
 * engine hands to `qat eval --outputs`.
 *
 * Input: the file's bytes.
 *
 * Checked: a rejected file dies naming it; an accepted one has a known type, at most 4
 * dimensions, and survives a round trip: written again and read back, it has the same
 * type, shape and bytes (every value read, so ASan sees the whole buffer).
 * Seeds (corpus/fuzz_npy): arrays written by numpy.save. */
#include <stdint.h>
#include <string.h>

#include "io/npy.h"
#include "fuzz_common.h"

typedef struct {
    const char *path;
    NpyArray a;
} Ctx;

static void read_npy(void *p) {
    Ctx *c = p;
    c->a = npy_read(c->path);
}

static void run(const uint8_t *data, size_t size) {
    Ctx c = {fuzz_path("batch.npy"), {0}};
    fuzz_write_file(c.path, data, size, 0);
    if (fuzz_call(read_npy, &c)) {
        FUZZ_EXPECT_MESSAGE("batch.npy");
        return;
    }
    FUZZ_CHECK(c.a.type == NPY_F32 || c.a.type == NPY_I64);
    FUZZ_CHECK(c.a.ndim >= 0 && c.a.ndim <= NPY_MAX_DIMS);
    size_t bytes = npy_count(&c.a) * (c.a.type == NPY_F32 ? 4 : 8);
    Ctx back = {fuzz_path("again.npy"), {0}};
    npy_write(back.path, &c.a);
    FUZZ_CHECK(fuzz_call(read_npy, &back) == 0);
    FUZZ_CHECK(back.a.type == c.a.type && back.a.ndim == c.a.ndim);
    FUZZ_CHECK(memcmp(back.a.shape, c.a.shape, sizeof c.a.shape) == 0);
    FUZZ_CHECK(memcmp(back.a.data, c.a.data, bytes) == 0);
    npy_free(&back.a);
    npy_free(&c.a);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
