/* Interaction-log loaders and the leave-one-out split (data/interactions.h), on small
 * files this test writes: the three formats (plain and gzip), format detection, the
 * stable time sort, item renumbering, the short-history rule, and the errors (unknown
 * format, empty file, malformed line) run in a child process, which must exit 1 with one
 * clear message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "data/interactions.h"

static char dir[64];

static const char *write_file(const char *name, const char *text, int gz) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, text, (unsigned)strlen(text));
        gzclose(f);
    } else {
        FILE *f = fopen(path, "w");
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* The user's items as "a b c". */
static const char *user_items(const Interactions *ix, int u) {
    static char buf[256];
    int n = 0;
    buf[0] = '\0';
    for (long k = ix->off[u]; k < ix->off[u + 1]; k++) n += snprintf(buf + n, sizeof buf - n, "%s%d", n ? " " : "", ix->items[k]);
    return buf;
}

static void test_user_item(int gz) {
    /* user 1's lines are not contiguous; a blank line; user 3 has one interaction */
    const char *p = write_file(gz ? "ui.txt.gz" : "ui.txt", "1 5\n1 3\n2 7\n1 9\n\n2 4\n3 1\n", gz);
    for (int fmt = 0; fmt < 2; fmt++) {
        Interactions ix;
        interactions_load(&ix, p, fmt ? INTER_USER_ITEM : INTER_AUTO);
        CHECK(ix.n_users == 3 && ix.n_items == 9);
        CHECK(ix.user_id[0] == 1 && ix.user_id[2] == 3);
        CHECK(strcmp(user_items(&ix, 0), "5 3 9") == 0); /* file order within a user */
        CHECK(strcmp(user_items(&ix, 1), "7 4") == 0);
        CHECK(strcmp(user_items(&ix, 2), "1") == 0);
        LooSplit s;
        loo_split(&ix, &s);
        CHECK(s.n_train[0] == 1 && s.val[0] == 3 && s.test[0] == 9);
        /* fewer than 3 interactions: all training, never evaluated */
        CHECK(s.n_train[1] == 2 && s.val[1] == 0 && s.test[1] == 0);
        CHECK(s.n_train[2] == 1 && s.val[2] == 0 && s.test[2] == 0);
        loo_split_free(&s);
        interactions_free(&ix);
    }
}

static void test_ml_ratings(void) {
    /* user 1 out of time order, two ratings in the same second (file order kept) */
    const char *p = write_file("ratings.dat",
                               "1::1193::5::978300760\n1::661::3::978302109\n1::914::3::978301968\n"
                               "2::1193::4::978300000\n1::3408::4::978300275\n1::2355::5::978300760\n"
                               "2::48::5::978200000\n",
                               0);
    Interactions ix;
    interactions_load(&ix, p, INTER_AUTO);
    CHECK(ix.n_users == 2);
    /* time order 3408, 1193, 2355 (tie: file order), 914, 661 -> ids by first appearance */
    CHECK(strcmp(user_items(&ix, 0), "1 2 3 4 5") == 0);
    CHECK(strcmp(user_items(&ix, 1), "6 2") == 0); /* 48 (earlier), then 1193 (id 2) */
    CHECK(ix.n_items == 6);
    LooSplit s;
    loo_split(&ix, &s);
    CHECK(s.n_train[0] == 3 && s.val[0] == 4 && s.test[0] == 5);
    loo_split_free(&s);
    interactions_free(&ix);
}

static void test_tifu(int gz) {
    const char *p = write_file(gz ? "tifu.csv.gz" : "tifu.csv",
                               "CUSTOMER_ID,ORDER_NUMBER,MATERIAL_NUMBER\n5,2,1000100\n5,1,200\n5,1,300\n"
                               "7,1,1000100\n5,2,400\n",
                               gz);
    Interactions ix;
    interactions_load(&ix, p, gz ? INTER_TIFU_CSV : INTER_AUTO);
    CHECK(ix.n_users == 2 && ix.user_id[0] == 5 && ix.user_id[1] == 7);
    /* basket 1 (200, 300), then basket 2 (1000100, 400) */
    CHECK(strcmp(user_items(&ix, 0), "1 2 3 4") == 0);
    CHECK(strcmp(user_items(&ix, 1), "3") == 0);
    CHECK(ix.n_items == 4);
    interactions_free(&ix);
}

/* Runs fn(arg) in a child: it must exit with status 1 and print msg on stderr. */
static void expect_death(void (*fn)(const char *), const char *arg, const char *msg, const char *what) {
    int fd[2];
    if (pipe(fd) != 0) abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    char out[1024] = {0};
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd[0], out + n, sizeof out - 1 - n)) > 0) n += (size_t)r;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(out, "qat: error:") && strstr(out, msg);
    if (!ok) fprintf(stderr, "%s: stderr was: %s\n", what, out);
    check_true(ok, what, __FILE__, __LINE__);
}

static void load_auto(const char *path) {
    Interactions ix;
    interactions_load(&ix, path, INTER_AUTO);
}

static void load_user_item(const char *path) {
    Interactions ix;
    interactions_load(&ix, path, INTER_USER_ITEM);
}

static void parse_format(const char *name) { interactions_format(name); }

static void test_errors(void) {
    expect_death(parse_format, "parquet", "unknown interaction log format 'parquet'", "unknown format");
    CHECK(interactions_format("tifu_csv") == INTER_TIFU_CSV && interactions_format("ml_ratings") == INTER_ML_RATINGS);
    expect_death(load_auto, write_file("empty.txt", "", 0), "no interactions", "empty file");
    expect_death(load_auto, write_file("blank.txt", "\n  \n", 0), "no interactions", "only blank lines");
    expect_death(load_auto, write_file("empty.gz", "", 1), "no interactions", "empty gzip file");
    expect_death(load_user_item, write_file("bad.txt", "1 2\n1 x\n", 0), "bad.txt:2: expected \"user item\"",
                 "malformed line");
    expect_death(load_user_item, write_file("three.txt", "1 2 3\n", 0), "three.txt:1", "three fields");
    expect_death(load_user_item, write_file("zero.txt", "1 0\n", 0), "0 is the padding id", "item id 0");
    expect_death(load_auto, write_file("badml.dat", "1::2::3\n", 0), "UserID::MovieID::Rating::Timestamp",
                 "ratings line without a timestamp");
    expect_death(load_auto, "/nonexistent/log.txt", "cannot open", "missing file");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qat_test_interactions_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_user_item(0);
    test_user_item(1);
    test_ml_ratings();
    test_tifu(0);
    test_tifu(1);
    test_errors();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done("test_interactions");
}
