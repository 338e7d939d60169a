/* tar reader: a real archive written by tar(1), truncation and a corrupt header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/tar.h"

typedef struct {
    int n;
    char names[8][256];
    size_t sizes[8];
    char first_bytes[8][16];
} Seen;

static int visit(void *ctx, const char *name, const unsigned char *data, size_t size) {
    Seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->names[s->n], 256, "%s", name);
        s->sizes[s->n] = size;
        snprintf(s->first_bytes[s->n], 16, "%.15s", (const char *)data);
    }
    s->n++;
    return 0;
}

/* Reads the archive at path (in a child: it must die). */
static void child_read(const void *path) {
    Seen s = {0};
    tar_foreach(path, visit, &s);
}

int main(void) {
    char dir[] = "/tmp/qat_tar_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char cmd[2048];
    /* A long path (> 100 chars) forces a ustar prefix or a GNU long name. */
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir -p top/sub && printf 'hello' > top/a.txt && printf '' > top/empty.txt && "
             "d=top/sub/$(printf 'x%%.0s' $(seq 1 60))/$(printf 'y%%.0s' $(seq 1 60)) && mkdir -p $d && "
             "printf 'deep file' > $d/deep.txt && head -c 1000 /dev/zero | tr '\\0' 'z' > top/big.txt && "
             "tar czf t.tar.gz top && tar cf t.tar top && head -c 1500 t.tar > cut.tar && "
             "cp t.tar bad.tar && printf 'X' | dd of=bad.tar bs=1 seek=10 conv=notrunc 2>/dev/null",
             dir);
    CHECK(system(cmd) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/t.tar.gz", dir);
    Seen s = {0};
    long files = tar_foreach(path, visit, &s);
    CHECK(files == 4);
    int found_a = 0, found_deep = 0, found_big = 0, found_empty = 0;
    for (int i = 0; i < s.n && i < 8; i++) {
        if (!strcmp(s.names[i], "top/a.txt")) found_a = s.sizes[i] == 5 && !strcmp(s.first_bytes[i], "hello");
        if (strstr(s.names[i], "/deep.txt") && strlen(s.names[i]) > 120) found_deep = s.sizes[i] == 9;
        if (!strcmp(s.names[i], "top/big.txt")) found_big = s.sizes[i] == 1000 && s.first_bytes[i][0] == 'z';
        if (!strcmp(s.names[i], "top/empty.txt")) found_empty = s.sizes[i] == 0;
    }
    CHECK(found_a);
    CHECK(found_deep);
    CHECK(found_big);
    CHECK(found_empty);
    snprintf(path, sizeof path, "%s/t.tar", dir); /* plain tar reads the same */
    Seen s2 = {0};
    CHECK(tar_foreach(path, visit, &s2) == 4);
    snprintf(path, sizeof path, "%s/cut.tar", dir);
    CHECK_DIES_HOW(CHECK_DIES_ANYWHERE, child_read, path, "truncated");
    snprintf(path, sizeof path, "%s/bad.tar", dir);
    CHECK_DIES_HOW(CHECK_DIES_ANYWHERE, child_read, path, "corrupt tar header");
    CHECK_DIES_HOW(CHECK_DIES_ANYWHERE, child_read, "/nonexistent/x.tar.gz", "cannot open /nonexistent/x.tar.gz");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("tar");
}
