#!/usr/bin/env bash
# qat table on simple_cnn: cells run in child processes, outputs are complete, a second
# invocation reuses every cell, a failing cell is reported while the others still run.
. "$(dirname "$0")/lib.sh"

t0=$(date +%s.%N)
"$QAT" table --models simple_cnn --methods lsq --output-dir "$TMP/t" --threads "$THREADS" > "$TMP/first.log" 2>&1
check "first table run exits 0" test $? -eq 0
first_wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b - a}')
for ext in md csv json svg; do check "table_4bit.$ext written" test -s "$TMP/t/table_4bit.$ext"; done
check "JSON has the documented keys" grep -q '"bits": 4, "preset": "quick", "metric": {"simple_cnn": "accuracy"}, "absolute"' "$TMP/t/table_4bit.json"
check "relative of no_quant is 100" grep -q '"relative": {"simple_cnn": {"no_quant": 100,' "$TMP/t/table_4bit.json"
check "Table 2 printed" grep -q 'Table 2: % of no quantization at W4A4' "$TMP/first.log"
check "two numeric cells in the CSV" test "$(grep -cE '^simple_cnn,(no_quant|lsq),[0-9]+,accuracy,0\.[0-9]+,[0-9.]+,' "$TMP/t/table_4bit.csv")" -eq 2
check "SVG is an svg document" grep -q '^<svg ' "$TMP/t/table_4bit.svg"

# Ctrl-C in the middle: the running cell saves its state, the table exits 130; the same
# command then resumes that cell and gives the same table.
"$QAT" table --models simple_cnn --methods lsq --output-dir "$TMP/int" --threads "$THREADS" > "$TMP/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q 'running (log:' "$TMP/int.log" 2>/dev/null && break; sleep 0.1; done
sleep "$(awk -v w="$first_wall" 'BEGIN{printf "%.2f", w * 0.3}')"
kill -INT "$pid"
wait "$pid"
rc=$?
check "an interrupted table exits 130 (got $rc)" test "$rc" -eq 130
check "it says how to resume" grep -q "the same command resumes the table" "$TMP/int.log"
"$QAT" table --models simple_cnn --methods lsq --output-dir "$TMP/int" --threads "$THREADS" > "$TMP/int2.log" 2>&1
check "the resumed table exits 0" test $? -eq 0
check "the resumed table equals the uninterrupted one" \
    diff <(cut -d, -f1-5 "$TMP/t/table_4bit.csv") <(cut -d, -f1-5 "$TMP/int/table_4bit.csv")

# Resume: everything is reused, nothing retrains.
start=$(date +%s)
"$QAT" table --models simple_cnn --methods lsq --output-dir "$TMP/t" --threads "$THREADS" > "$TMP/second.log" 2>&1
check "second run reuses both cells" test "$(grep -c 'reused' "$TMP/second.log")" -eq 2
check "second run takes seconds" test $(( $(date +%s) - start )) -le 5

# The printed command of a cell reproduces its value exactly.
cmd=$(grep -o '`build/qat train --model simple_cnn --quantizer lsq[^`]*`' "$TMP/t/table_4bit.md" | tr -d '`')
want=$(awk -F, '$2=="lsq" {print $5}' "$TMP/t/table_4bit.csv")
${cmd/build\/qat/$QAT} --output-dir "$TMP/again" > "$TMP/again.log" 2>&1
got=$(grep -o '"accuracy": *[0-9.e-]*' "$TMP"/again/simple_cnn_lsq/*/result.json | grep -o '[0-9.e-]*$')
check "the cell's command reproduces its value ($want vs $got)" awk -v a="$want" -v b="$got" 'BEGIN{exit !(a - b < 5e-7 && b - a < 5e-7)}'

# A failing cell (an unreadable FP checkpoint) is reported; the table still gets written.
ckpt=$(ls "$TMP"/t/simple_cnn_no_quant/*/model.ckpt)
rm -f "$TMP"/t/simple_cnn_lsq/*/result.json
printf 'garbage' > "$ckpt"
"$QAT" table --models simple_cnn --methods lsq --output-dir "$TMP/t" --threads "$THREADS" > "$TMP/fail.log" 2>&1 && rc=0 || rc=$?
check "a failed cell makes the exit status 1" test "$rc" -eq 1
check "the failure is reported with its cause" grep -q 'FAILED: checkpoint' "$TMP/fail.log"
check "the table marks the cell failed" grep -q '| LSQ | failed |' "$TMP/t/table_4bit.md"
expect_error "unknown model in --models" "unknown value 'resnet'" table --models resnet
expect_error "bad bits" "--bits" table --bits 1
finish
