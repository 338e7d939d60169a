/* MNIST in the official IDX format (gzip), as float images in [0, 1] (ToTensor, no
 * normalisation) and int labels. */
#ifndef QAT_DATA_MNIST_H
#define QAT_DATA_MNIST_H

typedef struct {
    int n, rows, cols;
    float *images; /* [n, rows*cols] */
    int *labels;   /* [n] in 0..9 */
} ImageSet;

/* Reads an IDX image file and its label file (gzip or plain). Dies with a clear message
 * naming the file on a wrong magic number, wrong sizes, a count mismatch, or truncation. */
void mnist_load(ImageSet *set, const char *images_path, const char *labels_path);
/* Verified files from the data root (fetched if needed); split "train" or "test". */
void mnist_load_split(ImageSet *set, const char *split);
void image_set_free(ImageSet *set);

#endif
