/* Data set-up. Each dataset is a list of files with a published sha256. A file is taken,
 * in order, from data/ when already there and intact, from the mirror directory
 * (QAT_DATA_MIRROR, default ../shared/data when it exists), or downloaded from the
 * official URL (curl or wget). Every file is checked against its sha256 before use; a
 * missing file or a mismatch is a clear error naming the file. */
#ifndef QAT_DATA_FETCH_H
#define QAT_DATA_FETCH_H

typedef struct {
    const char *dataset; /* "mnist" */
    const char *path;    /* relative to the data root and to the mirror: "mnist/train-images-idx3-ubyte.gz" */
    const char *sha256;
    const char *url;     /* official source, NULL when there is none */
} DataFile;

/* Data root: QAT_DATA_DIR, default "data". */
const char *data_root(void);
/* Makes every file of the dataset present and verified; prints what it does on stderr.
 * Dies with a clear message on failure. */
void data_fetch(const char *dataset);
/* Full path (data root + rel) of a dataset file, verified (fetching it first if needed). */
void data_path(const char *rel, char *out, int cap);
/* The one rule for where a model's data comes from: the verified copy in the data root
 * (fetched when missing, checked against its sha256, prepared caches allowed) when the
 * configured location is empty, or is the default one with downloads on; else the user's
 * own files, read as they are. default_location: "" for models whose only key is a path. */
int data_location_is_verified(const char *location, const char *default_location, int download);
/* Names of the known datasets, NULL-terminated. */
const char *const *data_known_datasets(void);

#endif
