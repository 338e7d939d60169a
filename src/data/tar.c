#include "data/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"

static void read_block(gzFile f, const char *path, unsigned char *buf, size_t n, const char *what) {
    size_t got = 0;
    while (got < n) {
        int r = gzread(f, buf + got, (unsigned)(n - got));
        if (r < 0) {
            int err;
            qat_die("%s: cannot read %s: %s", path, what, gzerror(f, &err));
        }
        if (r == 0) qat_die("%s is truncated inside %s", path, what);
        got += (size_t)r;
    }
}

static size_t octal(const unsigned char *p, int n) {
    size_t v = 0;
    for (int i = 0; i < n && p[i]; i++) {
        if (p[i] == ' ') continue;
        if (p[i] < '0' || p[i] > '7') return (size_t)-1;
        v = v * 8 + (size_t)(p[i] - '0');
    }
    return v;
}

static int header_ok(const unsigned char *h) {
    size_t want = octal(h + 148, 8), sum = 0;
    for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return want == sum;
}

static int all_zero(const unsigned char *h) {
    for (int i = 0; i < 512; i++)
        if (h[i]) return 0;
    return 1;
}

long tar_foreach(const char *path, TarEntryFn fn, void *ctx) {
    gzFile f = gzopen(path, "rb");
    if (!f) qat_die("cannot open %s", path);
    gzbuffer(f, 1 << 18);
    unsigned char h[512];
    char longname[4096] = "";
    unsigned char *data = NULL;
    size_t cap = 0;
    long files = 0;
    for (;;) {
        int r = gzread(f, h, 512);
        if (r == 0) break; /* end without the zero blocks: tolerated */
        if (r != 512) qat_die("%s is truncated (a tar header is cut short)", path);
        if (all_zero(h)) break;
        if (!header_ok(h)) qat_die("%s: corrupt tar header (bad checksum) after %ld files", path, files);
        size_t size = octal(h + 124, 12);
        if (size == (size_t)-1 || size > ((size_t)1 << 34)) qat_die("%s: corrupt tar entry size", path);
        size_t padded = (size + 511) / 512 * 512;
        if (padded + 1 > cap) {
            cap = padded + 1;
            data = qat_realloc(data, cap);
        }
        read_block(f, path, data, padded, "a tar entry");
        data[size] = '\0';
        char type = (char)h[156];
        if (type == 'L') { /* GNU long name for the next entry */
            snprintf(longname, sizeof longname, "%s", (const char *)data);
            continue;
        }
        char name[4096];
        if (longname[0]) {
            snprintf(name, sizeof name, "%s", longname);
            longname[0] = '\0';
        } else if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345, (const char *)h);
        } else {
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        }
        if (type != '0' && type != '\0') continue; /* folders, links, pax headers */
        files++;
        if (fn(ctx, name, data, size)) break;
    }
    free(data);
    gzclose(f);
    return files;
}
