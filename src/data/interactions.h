/* Interaction logs for sequential recommendation: per user, the items in time order.
 *
 * Formats (gzip or plain text; blank lines are skipped; a bad line stops the program
 * with the file and line number):
 *   user_item   "user item" per line (SASRec's data_partition layout, docs/DATA.md 5): each
 *               user's lines in time order. Item ids are kept as they are (1-based, 0 is
 *               padding); n_items is the largest id.
 *   ml_ratings  MovieLens ratings.dat "UserID::MovieID::Rating::Timestamp": every rating
 *               is an interaction; each user's ratings are sorted by timestamp, stably
 *               (equal timestamps keep file order).
 *   tifu_csv    TIFUKNN "CUSTOMER_ID,ORDER_NUMBER,MATERIAL_NUMBER" with a header line: each
 *               customer's baskets in ORDER_NUMBER order, items of a basket in file order.
 *   auto        "::" in the first data line -> ml_ratings, "," -> tifu_csv, else user_item.
 * ml_ratings and tifu_csv ids (MovieID, MATERIAL_NUMBER) are renumbered 1..n_items by
 * first appearance, scanning users in ascending id order.
 * Users are listed in ascending id order. An unknown format name or a file without a
 * single interaction is an error. */
#ifndef QAT_DATA_INTERACTIONS_H
#define QAT_DATA_INTERACTIONS_H

#include <stdint.h>

typedef enum { INTER_AUTO, INTER_USER_ITEM, INTER_ML_RATINGS, INTER_TIFU_CSV } InterFormat;

typedef struct {
    int n_users;
    int n_items;      /* items are 1..n_items */
    long *off;        /* [n_users + 1]: user u's items are items[off[u] .. off[u+1]) */
    int *items;
    int64_t *user_id; /* [n_users]: the id in the file */
} Interactions;

/* "auto", "user_item", "ml_ratings", "tifu_csv"; dies naming the valid ones otherwise. */
InterFormat interactions_format(const char *name);
void interactions_load(Interactions *ix, const char *path, InterFormat fmt);
void interactions_free(Interactions *ix);

/* Leave-one-out split (SASRec paper): per user the last item is the test item, the
 * second-to-last the validation item, the rest the training sequence.
 * Rule for short histories (as SASRec's data_partition): a user with fewer than 3
 * interactions keeps them all for training and has no validation or test item (val and
 * test are 0), so is never evaluated; a training sequence of one item has no next item
 * and gives no training example (models skip it). */
typedef struct {
    int n_users, n_items;
    const long *off;  /* the Interactions' offsets and items (not owned) */
    const int *items;
    int *n_train;     /* [n_users]: training items are items[off[u] .. off[u] + n_train[u]) */
    int *val, *test;  /* [n_users]: item id, 0 when the user has none */
} LooSplit;

void loo_split(const Interactions *ix, LooSplit *s);
void loo_split_free(LooSplit *s);

#endif
