/* IMDB Large Movie Review data set (Maas et al. 2011) for the LSTM classifier
 * (docs/METHODS.md 7.1, docs/DATA.md 1).
 *
 * Source: the official aclImdb layout, read from the .tar.gz without extracting it, or
 * from an extracted folder: {train,test}/{pos,neg}/<id>_<rating>.txt, one review per
 * file, UTF-8, label from the folder. Other files (README, urls_*.txt, unsup/) are ignored.
 * Reviews are taken in a fixed order: split, then neg before pos, then by id.
 *
 * Tokenizer (the prototype's `re.sub(r"[^\w\s]", " ", text.lower()).split()`): lowercase
 * (Unicode simple case mapping, plus Python's two special cases: U+0130 -> "i" + U+0307
 * and the final sigma), then every maximal run of word characters (Unicode letters and
 * numbers, categories L* and N*, and "_") is a token; everything else separates tokens.
 * So `<br />` becomes the token "br", as in the prototype; strip_br drops `<br />`
 * (and `<br>`, `<br/>`) before tokenizing instead.
 *
 * Vocabulary from the training split: "<pad>" = 0, "<unk>" = 1, then the words seen at
 * least min_freq times, most frequent first, ties in order of first appearance
 * (Counter.most_common), up to max_vocab ids in all. Each review keeps its first
 * max_seq_len tokens.
 *
 * Malformed input: a missing split folder (or a tarball without one of the four
 * train/test x pos/neg folders) is an error naming it. A review that is an empty file,
 * is not valid UTF-8, or holds no word is skipped, counted and reported (first names
 * shown); the real data set has none.
 *
 * Cache: the tokenized result is stored in <data root>/cache/imdb-<key>.bin (written
 * atomically), key = sha256 of the source (the tarball's bytes, or the folder's file
 * names, sizes and mtimes), the settings and the utf8proc version; a later run with the
 * same key loads it instead of reading the reviews. */
#ifndef QAT_DATA_IMDB_H
#define QAT_DATA_IMDB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n;
    int *label;   /* [n] 0 = neg, 1 = pos */
    int *len;     /* [n] tokens kept, 1..max_seq_len */
    int64_t *off; /* [n + 1] start of each review in tok */
    int32_t *tok; /* vocabulary ids */
} ImdbSplit;

typedef struct {
    ImdbSplit train, test;
    int vocab_size; /* ids 0..vocab_size-1, <pad> and <unk> included */
    char **words;   /* [vocab_size] */
    long skipped_empty, skipped_utf8, skipped_nowords;
    int from_cache;
} ImdbData;

typedef struct {
    const char *source; /* .tar.gz / .tar or extracted folder; NULL or "": the verified
                           tarball aclImdb_v1_labelled.tar.gz in the data root */
    int max_vocab, min_freq, max_seq_len, strip_br;
    int use_cache;
    const char *cache_dir; /* NULL: <data root>/cache */
} ImdbOptions;

/* Loads both splits; prints what it does (and what it skipped) on stderr. */
void imdb_load(ImdbData *d, const ImdbOptions *o);
void imdb_free(ImdbData *d);

/* Calls fn(ctx, word, nbytes) for each token of UTF-8 text[0..n) (the word is the
 * lower-cased UTF-8, valid during the call). Returns the number of tokens, or -1 (and no
 * call) when the text is not valid UTF-8. */
typedef void (*ImdbTokenFn)(void *ctx, const char *word, size_t nbytes);
long imdb_tokenize(const char *text, size_t n, int strip_br, ImdbTokenFn fn, void *ctx);

#endif
