/* The super-resolution image sets by name: t91 and bsd200 (training), set5, set14 and
 * bsd100 (test). A set is read from the verified copy in the data root (fetched and
 * checked against its sha256 when missing; prepared sets kept in DATA_ROOT/sr/cache) or
 * from a folder of the user's, read as it is. */
#ifndef QAT_DATA_SR_SOURCE_H
#define QAT_DATA_SR_SOURCE_H

#include "data/sr.h"

/* 1 for set5, set14, bsd100. */
int sr_source_is_test_set(const char *name);

/* Adds the images of set `name` to s (initialised with its scale and gray handling).
 * root: NULL for the verified copy, else the folder that holds the set's archive or
 * folder (yang91.tar.gz, bsd200.tar.gz, Set5/, Set14/, bsd100.tar.gz). use_cache: load
 * and keep the prepared set in the cache (the verified copy only). */
void sr_source_load(SrSet *s, const char *name, const char *root, int use_cache);

#endif
