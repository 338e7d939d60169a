#!/usr/bin/env bash
# The lstm model end to end on a small synthetic aclImdb folder (a tiny LSTM, seconds):
# FP training learns (ROC-AUC and accuracy in result.json), the tokenized cache is reused,
# an LSQ 4-bit run from the FP checkpoint quantizes every LSTM site (weights W_ih, W_hh,
# the layer inputs and h_{t-1}), AdaRound W4A4 from the FP checkpoint calibrates every LSTM
# weight and input, length bucketing acts on the epochs it is set for, malformed data is
# reported.
. "$(dirname "$0")/lib.sh"

export QAT_DATA_DIR="$TMP/data" # the cache goes to $TMP/data/cache
# Reviews of 3-40 words: sentiment words of the label among neutral ones, plus <br />.
mk_split() { # mk_split DIR N SEED
    awk -v dir="$1" -v n="$2" -v seed="$3" 'BEGIN {
        srand(seed);
        split("great wonderful superb loved enjoyable", pos, " ");
        split("awful boring terrible hated dull", neg, " ");
        split("the movie film plot actor scene story was it and a of", neu, " ");
        for (i = 0; i < n; i++) for (c = 0; c < 2; c++) {
            f = sprintf("%s/%s/%d_%d.txt", dir, c ? "pos" : "neg", i, c ? 7 + i % 4 : 1 + i % 4);
            len = 3 + int(rand() * 38); s = "";
            for (k = 0; k < len; k++) {
                w = rand() < 0.25 ? (c ? pos[1 + int(rand() * 5)] : neg[1 + int(rand() * 5)]) : neu[1 + int(rand() * 12)];
                s = s (k ? " " : "") (rand() < 0.1 ? toupper(substr(w, 1, 1)) substr(w, 2) "!" : w);
                if (k == 1) s = s " <br /><br />";
            }
            printf "%s", s > f; close(f);
        }
    }'
}
src="$TMP/aclImdb"
mkdir -p "$src"/train/pos "$src"/train/neg "$src"/test/pos "$src"/test/neg
mk_split "$src/train" 200 1
mk_split "$src/test" 100 2

tiny=(--set dataset.path="$src" --set model.embedding_dim=16 --set model.hidden_size=16
      --set training.batch_size=16 --set training.lr=0.01 --threads "$THREADS")
num_of() { grep -o "\"$1\": *[0-9.e-]*" "$2" | grep -o '[0-9.e-]*$'; }

"$QAT" train --model lstm "${tiny[@]}" --set training.epochs=3 --output-dir "$TMP/fp" > "$TMP/fp.log" 2>&1
r=$(ls "$TMP"/fp/lstm_no_quant/*/result.json)
auc=$(num_of roc_auc "$r")
acc=$(num_of accuracy "$r")
check "FP run learns the synthetic sentiment (ROC-AUC $auc)" awk -v a="$auc" 'BEGIN{exit !(a > 0.9)}'
check "accuracy reported beside ROC-AUC ($acc)" awk -v a="$acc" 'BEGIN{exit !(a > 0.7)}'
check "headline metric is roc_auc" grep -q '"metric": "roc_auc"' "$r"
check "cache written" test "$(ls "$TMP"/data/cache/imdb-*.bin | wc -l)" -eq 1

# The same data again: read from the cache.
"$QAT" train --model lstm "${tiny[@]}" --set training.epochs=0 --output-dir "$TMP/fp0" > "$TMP/fp0.log" 2>&1
check "second run reads the cache" grep -q 'from .*/cache/imdb-' "$TMP/fp0.log"

# LSQ 4-bit from the FP checkpoint: every LSTM weight and activation site quantized.
ckpt=$(dirname "$r")/model.ckpt
"$QAT" train --model lstm --quantizer lsq "${tiny[@]}" --set training.epochs=1 --from-pretrained "$ckpt" \
    --output-dir "$TMP/q4" > "$TMP/q4.log" 2>&1
r4=$(ls "$TMP"/q4/lstm_lsq/*/result.json)
check "LSQ run finished" test -s "$r4"
lstm_sites=$(grep -Ec '^  lstm\.l[01](_reverse)?(\.ih|\.hh)? ' "$TMP/q4.log")
lstm_q4=$(grep -Ec '^  lstm\.l[01](_reverse)?(\.ih|\.hh)? +(weight|input) +4 +signed' "$TMP/q4.log")
check "site table: 2 layers x (input + 2 directions x (W_ih, W_hh, h)) = 14 LSTM sites, all 4-bit ($lstm_q4 of $lstm_sites)" \
    test "$lstm_sites" -eq 14 -a "$lstm_q4" -eq 14
check "h_{t-1} sites listed" grep -Eq '^  lstm\.l1_reverse\.hh +input +4 +signed' "$TMP/q4.log"
check "embedding and classifier at 8 bits (first/last)" \
    grep -Eq '^  classifier +weight +8' "$TMP/q4.log"
auc4=$(num_of roc_auc "$r4")
check "LSQ W4A4 ROC-AUC $auc4 stays near FP $auc" awk -v a="$auc" -v b="$auc4" 'BEGIN{exit !(b > a - 0.1)}'
check "checkpoint holds the h_{t-1} step" grep -qa 'lstm.l0.hh.input_quant.s' "$(dirname "$r4")/model.ckpt"

# AdaRound: each W_ih / W_hh reconstructed on sampled rows of its input (quant/adaround.c).
"$QAT" train --model lstm --quantizer adaround "${tiny[@]}" --from-pretrained "$ckpt" \
    --set quantizer_optimizer.num_iterations=200 --set quantizer_optimizer.max_samples=64 \
    --output-dir "$TMP/ada" > "$TMP/ada.log" 2>&1
ra=$(ls "$TMP"/ada/lstm_adaround/*/result.json 2>/dev/null)
check "AdaRound run finished" test -s "$ra"
ada_w=$(grep -Ec '^adaround: lstm\.l[01](_reverse)?\.(ih|hh) +4-bit weights: 200 it, rec loss' "$TMP/ada.log")
check "AdaRound optimised the 8 LSTM weights ($ada_w)" test "$ada_w" -eq 8
ada_x=$(grep -Ec '^adaround: input lstm\.l[01](_reverse)?(\.hh)? +4-bit signed +scale .*\(64 sampled rows\)' "$TMP/ada.log")
check "AdaRound scales of the 6 LSTM inputs from 64 sampled rows ($ada_x)" test "$ada_x" -eq 6
auca=$(num_of roc_auc "$ra")
check "AdaRound W4A4 ROC-AUC $auca stays near FP $auc" awk -v a="$auc" -v b="$auca" 'BEGIN{exit !(b > a - 0.1)}'

# Length bucketing (training.bucket_window) changes the batches; bucket_epochs=1 (the
# default config's) limits it to epoch 1: epoch 1 as with bucketing in both epochs, epoch 2
# with plain random batches (so different).
bucket_run() { # bucket_run NAME --set ...: 2 epochs, prints "train_loss(1) train_loss(2)"
    local name=$1
    shift
    "$QAT" train --model lstm "${tiny[@]}" --set training.epochs=2 --set training.bucket_window=8 "$@" \
        --output-dir "$TMP/$name" > "$TMP/$name.log" 2>&1 || { echo "run $name failed" >&2; return; }
    awk -F, '$2 == "train_loss" { printf "%s ", $3 }' "$TMP/$name"/lstm_no_quant/*/metrics.csv
}
every=$(bucket_run b_every --set training.bucket_epochs=2) # both epochs
first=$(bucket_run b_first --set training.bucket_epochs=1)
plain=$(bucket_run b_plain --set training.bucket_window=0)
check "bucketing changes epoch 1 ($every vs $plain)" test "${every%% *}" != "${plain%% *}"
check "bucket_epochs=1: epoch 1 as bucketing every epoch ($first vs $every)" test "${first%% *}" = "${every%% *}"
check "bucket_epochs=1: epoch 2 differs from bucketing every epoch ($first vs $every)" \
    test "$(echo "$first" | cut -d' ' -f2)" != "$(echo "$every" | cut -d' ' -f2)"
check "bucket_epochs=1: train losses of both epochs present ($first)" test "$(echo $first | wc -w)" -eq 2
every0=$(bucket_run b_every0 --set training.bucket_epochs=0)
check "bucket_epochs=0 buckets every epoch ($every0 vs $every)" test "$every0" = "$every"
expect_error "negative bucket_epochs" "'training.bucket_epochs' must be >= 0, got '-1'" train --model lstm "${tiny[@]}" \
    --set training.bucket_epochs=-1 --output-dir "$TMP/bad0"

rm -r "$src/test/neg"
expect_error "missing split folder" "test/neg" train --model lstm "${tiny[@]}" --output-dir "$TMP/bad"
expect_error "bad dropout" "model.dropout" train --model lstm "${tiny[@]}" --set model.dropout=1.5
finish
