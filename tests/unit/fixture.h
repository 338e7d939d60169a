/* Reader for the reference fixtures written by scripts/gen_fixtures.py (format described
 * there): a file of named float32 arrays. Every failure (missing file, bad format, missing
 * array, wrong size) prints one clear message naming the file and exits with status 1. */
#ifndef QAT_TESTS_FIXTURE_H
#define QAT_TESTS_FIXTURE_H

#include <stddef.h>

#define FIXTURE_MAX_DIMS 8

typedef struct {
    char *name;
    int ndim; /* 0: a scalar */
    int shape[FIXTURE_MAX_DIMS];
    size_t size;
    float *data;
} FixtureArray;

typedef struct {
    char path[256];
    FixtureArray *arrays;
    int n;
} Fixture;

/* Loads the whole file; dies if it cannot be read or is malformed. */
void fixture_load(Fixture *f, const char *path);
void fixture_free(Fixture *f);

/* The array called name; dies if there is none. */
const FixtureArray *fixture_get(const Fixture *f, const char *name);
/* The array called name, or NULL (optional arrays such as a bias). */
const FixtureArray *fixture_find(const Fixture *f, const char *name);
/* Its data; dies if missing or when expect_size != 0 and its size differs. */
float *fixture_data(const Fixture *f, const char *name, size_t expect_size);
/* A scalar (or first element) as a float / as an int. */
float fixture_scalar(const Fixture *f, const char *name);
int fixture_int(const Fixture *f, const char *name);
/* A newly malloc'd int copy (ids, labels); free() it. */
int *fixture_ints(const Fixture *f, const char *name, size_t *n_out);

#endif
