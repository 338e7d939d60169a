/* tar reader: a real archive written by tar(1), truncation and a corrupt header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

static int dies(const char *path, const char *expect) {
    int fds[2];
    if (pipe(fds) != 0) return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        Seen s = {0};
        tar_foreach(path, visit, &s);
        _exit(0);
    }
    close(fds[1]);
    char buf[1024] = "";
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(buf, expect) != NULL;
    if (!ok) fprintf(stderr, "expected an error containing \"%s\"; status %d, stderr: %s\n", expect, st, buf);
    return ok;
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
    CHECK(dies(path, "truncated"));
    snprintf(path, sizeof path, "%s/bad.tar", dir);
    CHECK(dies(path, "corrupt tar header"));
    CHECK(dies("/nonexistent/x.tar.gz", "cannot open /nonexistent/x.tar.gz"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("tar");
}
