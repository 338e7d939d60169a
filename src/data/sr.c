#include "data/sr.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/tar.h"
#include "io/atomic_file.h"

/* ---- Y channel ---------------------------------------------------------------------- */

double sr_rgb_to_y(double r, double g, double b) {
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
}

/* uint8 conversion in MATLAB: round half away from zero, saturate. */
static unsigned char to_u8(double v) {
    v = floor(v + 0.5);
    return (unsigned char)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
}

void sr_image_y8(const Image8 *img, int gray_as_y, unsigned char *y) {
    size_t n = (size_t)img->w * img->h;
    const unsigned char *p = img->px;
    if (img->channels == 1) {
        for (size_t i = 0; i < n; i++) y[i] = gray_as_y ? p[i] : to_u8(sr_rgb_to_y(p[i], p[i], p[i]));
    } else {
        for (size_t i = 0; i < n; i++) y[i] = to_u8(sr_rgb_to_y(p[3 * i], p[3 * i + 1], p[3 * i + 2]));
    }
}

/* ---- MATLAB imresize, bicubic ------------------------------------------------------- */

static double cubic(double x) {
    double a = fabs(x), a2 = a * a, a3 = a2 * a;
    if (a <= 1.0) return 1.5 * a3 - 2.5 * a2 + 1.0;
    if (a <= 2.0) return -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0;
    return 0.0;
}

/* imresize.m's contributions(): for output i, taps weights w[i*P + j] on input rows
 * idx[i*P + j] (0-based, mirrored at the borders: 'symmetric'). */
typedef struct {
    int taps;
    double *w;
    int *idx;
} Contrib;

static void contributions(Contrib *c, int in_len, int out_len, double scale) {
    int aa = scale < 1.0; /* antialiasing: the kernel stretched by 1/scale */
    double width = aa ? 4.0 / scale : 4.0;
    int P = (int)ceil(width) + 2;
    c->taps = P;
    c->w = qat_malloc((size_t)out_len * P * sizeof(double));
    c->idx = qat_malloc((size_t)out_len * P * sizeof(int));
    for (int i = 0; i < out_len; i++) {
        double u = (i + 1) / scale + 0.5 * (1.0 - 1.0 / scale); /* 1-based input coordinate */
        double left = floor(u - width / 2.0);
        double sum = 0.0;
        for (int j = 0; j < P; j++) {
            double x = u - (left + j);
            double wt = aa ? scale * cubic(scale * x) : cubic(x);
            c->w[(size_t)i * P + j] = wt;
            sum += wt;
            long m = ((long)left + j - 1) % (2L * in_len); /* aux = [1:n, n:-1:1] */
            if (m < 0) m += 2L * in_len;
            c->idx[(size_t)i * P + j] = (int)(m < in_len ? m : 2L * in_len - 1 - m);
        }
        for (int j = 0; j < P; j++) c->w[(size_t)i * P + j] /= sum;
    }
}

static void contrib_free(Contrib *c) {
    free(c->w);
    free(c->idx);
}

int sr_resize_len(int n, double scale) { return (int)ceil((double)n * scale); }

void sr_imresize(const double *in, int h, int w, double scale, int oh, int ow, double *out) {
    QAT_ASSERT(h > 0 && w > 0 && oh > 0 && ow > 0 && scale > 0.0);
    Contrib cr, cc;
    contributions(&cr, h, oh, scale);
    contributions(&cc, w, ow, scale);
    double *tmp = qat_calloc((size_t)oh * w, sizeof(double));
    for (int i = 0; i < oh; i++) {
        double *t = tmp + (size_t)i * w;
        for (int j = 0; j < cr.taps; j++) {
            double wt = cr.w[(size_t)i * cr.taps + j];
            const double *row = in + (size_t)cr.idx[(size_t)i * cr.taps + j] * w;
            for (int x = 0; x < w; x++) t[x] += wt * row[x];
        }
    }
    for (int i = 0; i < oh; i++) {
        const double *t = tmp + (size_t)i * w;
        for (int o = 0; o < ow; o++) {
            const double *wt = cc.w + (size_t)o * cc.taps;
            const int *ix = cc.idx + (size_t)o * cc.taps;
            double acc = 0.0;
            for (int j = 0; j < cc.taps; j++) acc += wt[j] * t[ix[j]];
            out[(size_t)i * ow + o] = acc;
        }
    }
    free(tmp);
    contrib_free(&cr);
    contrib_free(&cc);
}

/* ---- prepared sets ------------------------------------------------------------------ */

void sr_set_init(SrSet *s, int scale, int gray_as_y) {
    memset(s, 0, sizeof *s);
    QAT_ASSERT(scale >= 1);
    s->scale = scale;
    s->gray_as_y = gray_as_y;
}

void sr_set_free(SrSet *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->img[i].hr);
        free(s->img[i].lr);
    }
    free(s->img);
    memset(s, 0, sizeof *s);
}

static SrImage *push_image(SrSet *s, const char *name, int h, int w) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->img = qat_realloc(s->img, (size_t)s->cap * sizeof *s->img);
    }
    SrImage *im = &s->img[s->n++];
    memset(im, 0, sizeof *im);
    snprintf(im->name, sizeof im->name, "%s", name);
    im->h = h;
    im->w = w;
    im->hr = qat_malloc((size_t)h * w);
    im->lr = qat_malloc((size_t)(h / s->scale) * (w / s->scale) * sizeof(float));
    return im;
}

void sr_set_add(SrSet *s, const Image8 *img, const char *name) {
    int r = s->scale;
    int h = img->h - img->h % r, w = img->w - img->w % r;
    if (h == 0 || w == 0)
        qat_die("%s: a %dx%d image is smaller than the scale %d: nothing is left after cropping it "
                "to a multiple of %d", name, img->w, img->h, r, r);
    unsigned char *y = qat_malloc((size_t)img->w * img->h);
    sr_image_y8(img, s->gray_as_y, y);
    SrImage *im = push_image(s, name, h, w);
    double *hr = qat_malloc((size_t)h * w * sizeof(double));
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            unsigned char v = y[(size_t)i * img->w + j]; /* modcrop keeps the top-left */
            im->hr[(size_t)i * w + j] = v;
            hr[(size_t)i * w + j] = v / 255.0;
        }
    int lh = h / r, lw = w / r;
    double *lr = qat_malloc((size_t)lh * lw * sizeof(double));
    sr_imresize(hr, h, w, 1.0 / r, lh, lw, lr);
    for (size_t i = 0; i < (size_t)lh * lw; i++) im->lr[i] = (float)lr[i];
    free(lr);
    free(hr);
    free(y);
}

static int is_image_name(const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (base[0] == '.') return 0; /* hidden files, "._x.png" resource forks */
    size_t n = strlen(base);
    return n > 4 && (strcasecmp(base + n - 4, ".png") == 0 || strcasecmp(base + n - 4, ".bmp") == 0);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const SrImage *)a)->name, ((const SrImage *)b)->name);
}

typedef struct {
    SrSet *s;
    const char *tar;
} TarCtx;

static int tar_visit(void *ctx, const char *name, const unsigned char *data, size_t size) {
    TarCtx *c = ctx;
    if (!is_image_name(name)) return 0;
    char where[1200];
    snprintf(where, sizeof where, "%s:%s", c->tar, name);
    Image8 img;
    image_decode(&img, data, size, where);
    /* Errors name the archive and the member; the image keeps its file name. */
    sr_set_add(c->s, &img, where);
    const char *base = strrchr(name, '/');
    snprintf(c->s->img[c->s->n - 1].name, sizeof c->s->img[0].name, "%s", base ? base + 1 : name);
    image_free(&img);
    return 0;
}

void sr_set_add_tar(SrSet *s, const char *tar_path) {
    int first = s->n;
    TarCtx c = {s, tar_path};
    tar_foreach(tar_path, tar_visit, &c);
    /* As for a folder: an archive without images is the wrong file (an empty set would
     * only show later, as no training patch or a NaN PSNR). */
    if (s->n == first) qat_die("the archive %s holds no .png or .bmp file", tar_path);
    qsort(s->img + first, (size_t)(s->n - first), sizeof *s->img, by_name);
}

void sr_set_add_dir(SrSet *s, const char *dir) {
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) qat_die("cannot list the image folder %s", dir);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (is_image_name(list[i]->d_name)) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            Image8 img;
            image_load(&img, path);
            sr_set_add(s, &img, path);
            image_free(&img);
            found++;
        }
        free(list[i]);
    }
    free(list);
    if (!found) qat_die("the image folder %s holds no .png or .bmp file", dir);
}

/* ---- cache -------------------------------------------------------------------------- */

/* Layout (native byte order, a machine-local file): "QSR1", key u64, scale, gray_as_y,
 * n (i32); per image: h, w, name length (i32), name, hr[h*w] u8, lr f32; then "END1". */
static const char MAGIC[4] = {'Q', 'S', 'R', '1'}, TRAILER[4] = {'E', 'N', 'D', '1'};

static int read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

int sr_set_cache_load(SrSet *s, const char *path, uint64_t key) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4];
    uint64_t k;
    int32_t hdr[3];
    int ok = read_exact(f, magic, 4) && memcmp(magic, MAGIC, 4) == 0 && read_exact(f, &k, 8) &&
             k == key && read_exact(f, hdr, sizeof hdr) && hdr[0] == s->scale &&
             hdr[1] == s->gray_as_y && hdr[2] >= 0;
    struct stat st;
    ok = ok && fstat(fileno(f), &st) == 0;
    int first = s->n;
    for (int i = 0; ok && i < hdr[2]; i++) {
        int32_t dim[3];
        char name[sizeof s->img[0].name];
        ok = read_exact(f, dim, sizeof dim) && dim[0] > 0 && dim[1] > 0 && dim[0] % s->scale == 0 &&
             dim[1] % s->scale == 0 && dim[2] >= 0 && dim[2] < (int)sizeof name &&
             read_exact(f, name, (size_t)dim[2]);
        if (!ok) break;
        name[dim[2]] = '\0';
        ok = strlen(name) == (size_t)dim[2]; /* a NUL inside would cut the name short */
        if (!ok) break;
        /* A damaged size must not allocate more than the rest of the file holds. */
        size_t hr = (size_t)dim[0] * dim[1], lr = (size_t)(dim[0] / s->scale) * (dim[1] / s->scale);
        long at = ftell(f);
        size_t rest = at >= 0 && at <= st.st_size ? (size_t)(st.st_size - at) : 0;
        ok = hr <= rest && lr * sizeof(float) <= rest - hr;
        if (!ok) break;
        SrImage *im = push_image(s, name, dim[0], dim[1]);
        ok = read_exact(f, im->hr, hr) && read_exact(f, im->lr, lr * sizeof(float));
    }
    ok = ok && read_exact(f, magic, 4) && memcmp(magic, TRAILER, 4) == 0 && fgetc(f) == EOF;
    fclose(f);
    if (!ok) { /* drop what was read: the caller prepares the set again */
        while (s->n > first) {
            s->n--;
            free(s->img[s->n].hr);
            free(s->img[s->n].lr);
        }
    }
    return ok;
}

void sr_set_cache_save(const SrSet *s, const char *path, uint64_t key) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        make_dirs(dir);
    }
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    int32_t hdr[3] = {s->scale, s->gray_as_y, s->n};
    fwrite(MAGIC, 1, 4, f);
    fwrite(&key, 8, 1, f);
    fwrite(hdr, sizeof hdr, 1, f);
    for (int i = 0; i < s->n; i++) {
        const SrImage *im = &s->img[i];
        int32_t dim[3] = {im->h, im->w, (int32_t)strlen(im->name)};
        fwrite(dim, sizeof dim, 1, f);
        fwrite(im->name, 1, (size_t)dim[2], f);
        fwrite(im->hr, 1, (size_t)im->h * im->w, f);
        fwrite(im->lr, sizeof(float), (size_t)(im->h / s->scale) * (im->w / s->scale), f);
    }
    fwrite(TRAILER, 1, 4, f);
    atomic_file_commit(&af); /* checks for write errors */
}

/* ---- patches ------------------------------------------------------------------------ */

void sr_patches_index(SrPatches *pt, const SrSet *s, int size, int stride) {
    QAT_ASSERT(size >= 1 && stride >= 1);
    memset(pt, 0, sizeof *pt);
    pt->size = size;
    size_t cap = 0;
    for (int i = 0; i < s->n; i++) {
        int lh = s->img[i].h / s->scale, lw = s->img[i].w / s->scale;
        if (lh < size || lw < size) {
            pt->skipped++;
            continue;
        }
        for (int y = 0; y + size <= lh; y += stride)
            for (int x = 0; x + size <= lw; x += stride) {
                if ((size_t)pt->n == cap) {
                    cap = cap ? 2 * cap : 1024;
                    pt->p = qat_realloc(pt->p, cap * sizeof *pt->p);
                }
                pt->p[pt->n++] = (SrPatch){i, y, x};
            }
    }
}

void sr_patches_free(SrPatches *pt) {
    free(pt->p);
    memset(pt, 0, sizeof *pt);
}

/* Source coordinate (a, b) of destination (i, j) in an n x n square under transform t. */
static inline void dihedral(int t, int n, int i, int j, int *a, int *b) {
    int u = (t & 1) ? j : i, v = (t & 1) ? i : j;
    if (t & 2) v = n - 1 - v;
    if (t & 4) u = n - 1 - u;
    *a = u;
    *b = v;
}

void sr_patch_get(const SrSet *s, const SrPatch *p, int size, int t, float *lr, float *hr) {
    const SrImage *im = &s->img[p->img];
    int r = s->scale, lw = im->w / r, hs = size * r;
    for (int i = 0; i < size; i++)
        for (int j = 0; j < size; j++) {
            int a, b;
            dihedral(t, size, i, j, &a, &b);
            lr[i * size + j] = im->lr[(size_t)(p->y + a) * lw + p->x + b];
        }
    for (int i = 0; i < hs; i++)
        for (int j = 0; j < hs; j++) {
            int a, b;
            dihedral(t, hs, i, j, &a, &b);
            hr[i * hs + j] = im->hr[(size_t)(p->y * r + a) * im->w + p->x * r + b] / 255.0f;
        }
}

void sr_bicubic_up(const SrSet *s, const SrImage *im, float *out) {
    int r = s->scale, lh = im->h / r, lw = im->w / r;
    double *lr = qat_malloc((size_t)lh * lw * sizeof(double));
    double *up = qat_malloc((size_t)im->h * im->w * sizeof(double));
    for (size_t i = 0; i < (size_t)lh * lw; i++) lr[i] = im->lr[i];
    sr_imresize(lr, lh, lw, (double)r, im->h, im->w, up);
    for (size_t i = 0; i < (size_t)im->h * im->w; i++) out[i] = (float)up[i];
    free(up);
    free(lr);
}
