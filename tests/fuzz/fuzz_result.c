/* libFuzzer harness: reading a finished run's result.json (io/run_store.c,
 * run_store_read_result, on jansson), which decides whether a run is reused.
 *
 * Input: the file's bytes, as RUN_DIR/result.json.
 *
 * Checked: a rejected file dies naming it; an accepted one gives a NUL-terminated metric
 * key shorter than its buffer and the threads the file records. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "io/run_store.h"
#include "fuzz_common.h"

typedef struct {
    const char *dir;
    RunResult r;
    int found;
} Ctx;

static void read_result(void *p) {
    Ctx *c = p;
    c->found = run_store_read_result(c->dir, NULL, &c->r);
}

static void run(const uint8_t *data, size_t size) {
    Ctx c = {fuzz_path("run"), {0}, 0};
    mkdir(c.dir, 0700);
    fuzz_write_file(fuzz_path("run/result.json"), data, size, 0);
    if (fuzz_call(read_result, &c)) {
        FUZZ_EXPECT_MESSAGE("run/result.json");
        return;
    }
    FUZZ_CHECK(c.found == 1);
    FUZZ_CHECK(memchr(c.r.metric, '\0', sizeof c.r.metric) != NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    static const char sample[] = "{\"model\": \"simple_cnn\", \"threads\": 2, \"wall_seconds\": 10.5, "
                                 "\"metric\": \"accuracy\", \"metrics\": {\"accuracy\": 0.99, \"loss\": 0.03}}\n";
    run((const uint8_t *)sample, sizeof sample - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
