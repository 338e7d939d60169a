/* libFuzzer harness: the MNIST IDX reader (data/mnist.c, mnist_load).
 *
 * Input layout: FLAGS IMAGES [LABELS-MARKER LABELS], the marker being "#--labels\n".
 * FLAGS bit 0 gzips the image file, bit 1 the label file (mnist_load reads both plain
 * and gzip); without the marker the label file is empty.
 *
 * Checked: a rejected input dies naming one of the two files; an accepted one has a
 * plausible shape, pixels in [0, 1] and labels in 0..9. */
#include <stdint.h>
#include <string.h>

#include "data/mnist.h"
#include "fuzz_common.h"

typedef struct {
    const char *images, *labels;
    ImageSet set;
} Ctx;

static void load(void *p) {
    Ctx *c = p;
    mnist_load(&c->set, c->images, c->labels);
}

static void run(const uint8_t *data, size_t size) {
    if (size < 1) return;
    unsigned flags = data[0];
    const uint8_t *img, *lab;
    size_t nimg, nlab;
    fuzz_split(data + 1, size - 1, "#--labels\n", &img, &nimg, &lab, &nlab);
    Ctx c = {fuzz_path(flags & 1 ? "images-idx3-ubyte.gz" : "images-idx3-ubyte"),
             fuzz_path(flags & 2 ? "labels-idx1-ubyte.gz" : "labels-idx1-ubyte"), {0}};
    fuzz_write_file(c.images, img, nimg, flags & 1);
    fuzz_write_file(c.labels, lab, nlab, flags & 2);
    if (fuzz_call(load, &c)) {
        FUZZ_EXPECT_MESSAGE(c.images, c.labels);
        return;
    }
    const ImageSet *s = &c.set;
    FUZZ_CHECK(s->n > 0 && s->rows > 0 && s->cols > 0);
    size_t total = (size_t)s->n * s->rows * s->cols;
    for (size_t i = 0; i < total; i++) FUZZ_CHECK(s->images[i] >= 0.0f && s->images[i] <= 1.0f);
    for (int i = 0; i < s->n; i++) FUZZ_CHECK(s->labels[i] >= 0 && s->labels[i] <= 9);
    image_set_free(&c.set);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    /* one 2x2 image labelled 7, both files gzipped */
    static const uint8_t sample[] = {3, 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 9, 128,
                                     '#', '-', '-', 'l', 'a', 'b', 'e', 'l', 's', '\n',
                                     0, 0, 8, 1, 0, 0, 0, 1, 7};
    run(sample, sizeof sample);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
