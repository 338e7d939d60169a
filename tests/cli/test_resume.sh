#!/usr/bin/env bash
# Runs survive being killed: each run below is killed with SIGKILL at random points (and
# started again with the same command, which resumes it), then run to the end; its
# result.json metrics and metrics.csv must be bit-identical to those of an uninterrupted
# run, and no killed run may leave a result.json. SIGINT and SIGTERM save the state, mark
# the run interrupted and exit 130 / 143. The delays are printed, to replay a failure.
. "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
seed=${QAT_TEST_SEED:-$RANDOM}
# Under the sanitizers (every run ~10x slower) one kill per run, else 2-3.
if [ -n "${QAT_TEST_SANITIZED:-}" ]; then few=1 many=1 min_kills=5; else few=2 many=3 min_kills=10; fi
echo "kill delays from seed $seed (QAT_TEST_SEED=$seed replays them)"
kills=0

metrics_of() { grep -o '"metrics": {[^}]*}' "$1"; }
# wait_for FILE PATTERN: until a line of FILE matches (at most 60 s)
wait_for() { for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }

# kill_resume NAME N qat-train-args... : N kills, then the run to its end, against a reference.
kill_resume() {
    local name=$1 n=$2
    shift 2
    local ref="$TMP/$name.ref" out="$TMP/$name.killed" t0 t1
    t0=$(now)
    if ! "$QAT" train "$@" --output-dir "$ref" > "$TMP/$name.ref.log" 2>&1; then
        check "$name: reference run" false
        cat "$TMP/$name.ref.log" >&2
        return
    fi
    t1=$(now)
    local wall
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
    local k=1 tries=0 mlflow_before
    mlflow_before=$(ls -d "${MLFLOW_TRACKING_URI:-/nonexistent}"/*/*/ 2>/dev/null) # the runs before this one's
    while [ "$k" -le "$n" ]; do
        local delay
        delay=$(awk -v s="$seed" -v k="$k" -v n="$name" -v w="$wall" -v t="$tries" \
            'BEGIN{srand(s + k + length(n) * 7919); printf "%.2f", w * (0.15 + 0.45 * rand()) / 2 ^ t}')
        "$QAT" train "$@" --save-every 0.2 --output-dir "$out" > "$TMP/$name.kill$k.log" 2>&1 &
        local pid=$!
        sleep "$delay"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        grep -q '^final:' "$TMP/$name.kill$k.log" || kills=$((kills + 1))
        local dir
        dir=$(ls -d "$out"/*/*/ 2>/dev/null | head -1)
        echo "$name: kill $k after ${delay}s of ${wall}s: $(ls "$dir" 2>/dev/null | grep -v '^\.' | tr '\n' ' ')"
        if [ -n "$dir" ] && [ -f "$dir/result.json" ]; then
            check "$name: a run killed after ${delay}s has result.json only when it finished" \
                grep -q '^final:' "$TMP/$name.kill$k.log"
            # The run had less left than the delay (the machine ran faster than during
            # the reference, or the earlier kills' resumes left little): start it over
            # and kill it sooner, at most twice.
            tries=$((tries + 1))
            [ "$tries" -le 2 ] || break
            rm -rf "$out"
            for d in $(ls -d "${MLFLOW_TRACKING_URI:-/nonexistent}"/*/*/ 2>/dev/null); do
                grep -qxF "$d" <<< "$mlflow_before" || rm -rf "$d" # its MLflow run goes too
            done
            continue
        fi
        if [ -n "$dir" ] && [ -f "$dir/resume.state" ]; then
            # the next start says it resumes, on its first line
            "$QAT" train "$@" --save-every 0.2 --output-dir "$out" > "$TMP/$name.peek$k.log" 2>&1 &
            pid=$!
            # (up to 10 s: a loaded machine starts slowly; it stops at the first line)
            for _ in $(seq 1 500); do [ -s "$TMP/$name.peek$k.log" ] && break; sleep 0.02; done
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            head -1 "$TMP/$name.peek$k.log" | grep -q '^resuming ' ||
                echo "$name: the restart's first line: '$(head -1 "$TMP/$name.peek$k.log")'" >&2
            check "$name: a restart after kill $k says it resumes on its first line" \
                grep -q '^resuming ' <(head -1 "$TMP/$name.peek$k.log")
        fi
        k=$((k + 1))
    done
    if ! "$QAT" train "$@" --save-every 0.2 --output-dir "$out" > "$TMP/$name.final.log" 2>&1; then
        check "$name: the run after the kills finishes" false
        tail -5 "$TMP/$name.final.log" >&2
        return
    fi
    local ra rb
    ra=$(ls "$ref"/*/*/result.json)
    rb=$(ls "$out"/*/*/result.json)
    check "$name: resumed metrics $(metrics_of "$rb") = uninterrupted $(metrics_of "$ra")" \
        test "$(metrics_of "$ra")" = "$(metrics_of "$rb")"
    check "$name: metrics.csv rows identical" cmp -s "$(dirname "$ra")/metrics.csv" "$(dirname "$rb")/metrics.csv"
    check "$name: no resume state left" test ! -e "$(dirname "$rb")/resume.state"
}

mnist=(--model simple_cnn --set training.batch_size=100 --set training.lr=0.01 --threads "$THREADS")
"$QAT" train "${mnist[@]}" --set training.epochs=1 --set dataset.train_limit=10000 --output-dir "$TMP/fp" \
    > "$TMP/fp.log" 2>&1
fp=$(ls "$TMP"/fp/simple_cnn_no_quant/*/model.ckpt)
kill_resume cnn_lsq "$many" "${mnist[@]}" --quantizer lsq --from-pretrained "$fp" --set training.epochs=3 \
    --set dataset.train_limit=20000
kill_resume cnn_adaround "$many" "${mnist[@]}" --quantizer adaround --from-pretrained "$fp" \
    --set quantizer_optimizer.num_iterations=3000

sr=(--model espcn --threads "$THREADS" --set dataset.train_limit=2048 --set training.batch_size=32
    --set training.lr_decay_at=0 --set evaluation.sets=set5)
kill_resume espcn_fp "$many" "${sr[@]}" --set training.epochs=4
sr_fp=$(ls "$TMP"/espcn_fp.ref/espcn_no_quant/*/model.ckpt)
kill_resume espcn_lsq "$many" "${sr[@]}" --quantizer lsq --from-pretrained "$sr_fp" --set training.epochs=3

awk 'BEGIN { for (u = 1; u <= 300; u++) { n = 15 + u % 10; for (k = 0; k < n; k++) print u, (u * 7 + k) % 90 + 1 } }' \
    > "$TMP/log.txt"
rec=(--model sasrec --set dataset.path="$TMP/log.txt" --set dataset.eval_negatives=20 --set model.hidden_size=32
     --set model.num_heads=2 --set model.max_seq_len=20 --set training.batch_size=16 --set training.lr=0.01
     --set training.epochs=40 --set training.eval_every=5 --threads "$THREADS" --logging-backend mlflow)
MLFLOW_TRACKING_URI="$TMP/mlruns" kill_resume sasrec "$many" "${rec[@]}"
# The MLflow run continued: one run, every metric once, as in the reference (time stamps aside).
ml_ref=$(ls -d "$TMP"/mlruns/*/*/metrics | head -1)
for d in "$TMP"/mlruns/*/*/metrics; do
    if [ "$d" != "$ml_ref" ]; then ml_kill=$d; fi
done
check "sasrec: two MLflow runs (reference, resumed), not one per restart" \
    test "$(ls -d "$TMP"/mlruns/*/*/metrics | wc -l)" -eq 2
check "sasrec: the resumed MLflow run logged each metric value once" \
    diff <(cd "$ml_ref" && for f in *; do echo "$f"; cut -d' ' -f2- "$f"; done) \
         <(cd "${ml_kill:-/nonexistent}" && for f in *; do echo "$f"; cut -d' ' -f2- "$f"; done)
check "sasrec: the resumed MLflow run is FINISHED" grep -q '^status: 3' "$(dirname "$ml_kill")/meta.yaml"

# SIGINT / SIGTERM: the state is saved, the run marked interrupted, exit 130 / 143.
for sig in INT TERM; do
    out="$TMP/sig$sig"
    "$QAT" train "${mnist[@]}" --set training.epochs=3 --output-dir "$out" > "$TMP/sig$sig.log" 2>&1 &
    pid=$!
    wait_for "$TMP/sig$sig.log" '^epoch  train_loss' # training has started
    sleep 0.5
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    check "SIG$sig: exit $rc = $want" test "$rc" -eq "$want"
    dir=$(ls -d "$out"/*/*/)
    check "SIG$sig: the run is marked interrupted" grep -q "interrupted by SIG$sig" "$dir/interrupted"
    check "SIG$sig: the resume state is saved" test -s "$dir/resume.state"
    "$QAT" train "${mnist[@]}" --set training.epochs=3 --output-dir "$out" > "$TMP/sig$sig.2.log" 2>&1
    check "SIG$sig: resumed run finishes, the mark is gone" test -f "$dir/result.json" -a ! -e "$dir/interrupted"
done
check "runs stopped by SIGINT and by SIGTERM at other points end with the same metrics" \
    test "$(metrics_of "$(ls "$TMP"/sigINT/*/*/result.json)")" = "$(metrics_of "$(ls "$TMP"/sigTERM/*/*/result.json)")"
# Two Ctrl-C: the second one quits at once.
"$QAT" train "${mnist[@]}" --set training.epochs=3 --output-dir "$TMP/twice" > "$TMP/twice.log" 2>&1 &
pid=$!
wait_for "$TMP/twice.log" '^epoch  train_loss'
sleep 0.5
kill -INT "$pid"
kill -INT "$pid"
wait "$pid"
check "two SIGINT: exit 130" test $? -eq 130

check "$kills kills of running runs (at least $min_kills)" test "$kills" -ge "$min_kills"

# A non-finite loss names the first op and layer whose output is not finite, and keeps
# the last resume state (one after every batch here).
rec_nan=("${rec[@]}" --set training.lr=1e6 --save-every 0 --output-dir "$TMP/nan")
MLFLOW_TRACKING_URI="$TMP/mlruns" expect_error "diverged SASRec names the op" \
    "the first non-finite value is in the output of op_" train "${rec_nan[@]}"
MLFLOW_TRACKING_URI="$TMP/mlruns" expect_error "diverged SASRec names the layer" "(layer 'blocks." \
    train "${rec_nan[@]}"
check "diverged SASRec keeps its last resume state" test -s "$(ls -d "$TMP"/nan/*/*/)/resume.state"

# Two processes on one run folder: the second waits for the first and reuses its run.
two=("${mnist[@]}" --set training.epochs=2 --output-dir "$TMP/two")
"$QAT" train "${two[@]}" > "$TMP/two.a.log" 2>&1 &
pa=$!
wait_for "$TMP/two.a.log" '^run: ' # it holds the lock
"$QAT" train "${two[@]}" > "$TMP/two.b.log" 2>&1
rb=$?
wait "$pa"
ra=$?
check "two processes on one folder: both exit 0 ($ra, $rb)" test "$ra" -eq 0 -a "$rb" -eq 0
check "the second one waited for the lock" grep -q "in use by another qat process" "$TMP/two.b.log"
check "the second one reused the first one's run" grep -q "was finished by another qat process" "$TMP/two.b.log"
check "one run folder" test "$(ls -d "$TMP"/two/*/*/ | wc -l)" -eq 1
finish
