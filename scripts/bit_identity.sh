#!/usr/bin/env bash
# Bit identity: short runs of every model x method, once with this tree's build/qat and once
# with the qat built from git revision REV (default HEAD); the metrics in their result.json
# must be identical, byte for byte. A change meant to keep every number (a refactoring, a
# new capability around the training step) passes this before it lands.
#   usage: scripts/bit_identity.sh [REV]        (run `make build` first)
# Uses the datasets in data/ (make data) and 2 threads; about 5 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD}
new="$root/build/qat"
[ -x "$new" ] || { echo "bit_identity: build/qat is missing (make build)" >&2; exit 2; }
work=$(mktemp -d)
cleanup() { git -C "$root" worktree remove --force "$work/src" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
git -C "$root" worktree add --detach -q "$work/src" "$rev"
echo "building $rev ..."
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$work/build" -j 2 > /dev/null
old="$work/build/qat"
export QAT_DATA_DIR=${QAT_DATA_DIR:-$root/data} QAT_CONFIG_DIR="$root/configs" OMP_WAIT_POLICY=passive

declare -A base=(
    [simple_cnn]="--set dataset.train_limit=4000 --set dataset.test_limit=1000 --set training.batch_size=100"
    [espcn]="--set dataset.train_limit=256 --set training.batch_size=32 --set evaluation.sets=set5"
    [lstm]="--set dataset.train_limit=600 --set dataset.test_limit=300 --set model.embedding_dim=32 --set model.hidden_size=32 --set model.max_seq_len=64"
    [sasrec]="--set dataset.user_limit=300 --set dataset.eval_negatives=20 --set model.max_seq_len=50"
)
methods=(lsq pact apot qil adaround)
fails=0
metrics_of() { grep -o '"metrics": {[^}]*}' "$1"; }
compare() { # compare NAME ARGS...: one run with each binary (@SIDE@ in ARGS: old or new)
    local name=$1
    shift
    for side in old new; do
        local bin=$old
        [ $side = new ] && bin=$new
        if ! "$bin" train "${@//@SIDE@/$side}" --threads 2 --output-dir "$work/$side/$name" > "$work/$side.$name.log" 2>&1; then
            echo "  $name: the $side binary failed:" >&2
            tail -3 "$work/$side.$name.log" >&2
            fails=$((fails + 1))
            return
        fi
    done
    local a b
    a=$(metrics_of "$(ls "$work"/old/"$name"/*/*/result.json)")
    b=$(metrics_of "$(ls "$work"/new/"$name"/*/*/result.json)")
    if [ "$a" = "$b" ]; then
        echo "  same  $name: $a"
    else
        echo "  DIFF  $name: $rev $a, now $b"
        fails=$((fails + 1))
    fi
}
for model in simple_cnn espcn lstm sasrec; do
    read -r -a args <<< "${base[$model]}"
    compare "${model}_no_quant" --model "$model" "${args[@]}" --set training.epochs=1
    for m in "${methods[@]}"; do
        extra=(--set training.epochs=1)
        [ "$m" = adaround ] && extra=(--set quantizer_optimizer.num_iterations=100 --set quantizer_optimizer.max_samples=128)
        # each side fine-tunes from its own FP run
        for side in old new; do ln -sfn "$(ls "$work"/$side/"${model}_no_quant"/*/*/model.ckpt)" "$work/$side.$model.fp.ckpt"; done
        compare "${model}_$m" --model "$model" --quantizer "$m" "${args[@]}" "${extra[@]}" \
            --from-pretrained "$work/@SIDE@.$model.fp.ckpt"
    done
done
[ "$fails" -eq 0 ] && echo "bit identity: every run gives the same metrics as $rev" || { echo "bit identity: $fails run(s) differ"; exit 1; }
