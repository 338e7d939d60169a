#!/usr/bin/env bash
# Bad input ends with one clear error line and a non-zero exit.
. "$(dirname "$0")/lib.sh"

expect_error "unknown model" "unknown value 'resnet'" train --model resnet
expect_error "unknown quantizer" "unknown value 'fancy'" train --model simple_cnn --quantizer fancy
expect_error "unknown flag" "unknown flag '--modle'" train --modle simple_cnn
expect_error "missing model" "needs --model" train
expect_error "unknown command" "unknown command 'trian'" trian
expect_error "bad seed" "--seed" train --model simple_cnn --seed abc
expect_error "flag without value" "needs a value" train --model
expect_error "cuda device" "--device cuda" train --model simple_cnn --device cuda --output-dir "$TMP/runs"
expect_error "missing config file" "nope.yml" train --model simple_cnn --model-config "$TMP/nope.yml"
: > "$TMP/empty.yml"
expect_error "empty config file" "config file '$TMP/empty.yml' is empty" train --model simple_cnn --model-config "$TMP/empty.yml"
printf '# nothing here\n' > "$TMP/comments.yml"
expect_error "comment-only quantizer config" "comments.yml' is empty" train --model simple_cnn --quantizer lsq --quantizer-config "$TMP/comments.yml"

cat > "$TMP/typo.yml" <<'YML'
training:
  batch_size: 500
  lrr: 0.005
YML
expect_error "YAML key typo" "training.lrr" train --model simple_cnn --model-config "$TMP/typo.yml"

cat > "$TMP/type.yml" <<'YML'
training:
  epochs: many
YML
expect_error "YAML wrong type" "training.epochs" train --model simple_cnn --model-config "$TMP/type.yml"
expect_error "bad --set" "training.nope" train --model simple_cnn --set training.nope=1

# A truncated IDX file: cut the test images short.
mkdir -p "$TMP/mnist"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    cp "$QAT_DATA_DIR/mnist/$f" "$TMP/mnist/"
done
gzip -dc "$QAT_DATA_DIR/mnist/t10k-images-idx3-ubyte.gz" | head -c 100000 | gzip > "$TMP/mnist/t10k-images-idx3-ubyte.gz"
expect_error "truncated IDX" "is truncated" train --model simple_cnn --set dataset.root_dir="$TMP/mnist" --output-dir "$TMP/runs"
# Wrong magic: a label file where images are expected.
cp "$TMP/mnist/t10k-labels-idx1-ubyte.gz" "$TMP/mnist/t10k-images-idx3-ubyte.gz"
expect_error "wrong IDX magic" "not an IDX image file" train --model simple_cnn --set dataset.root_dir="$TMP/mnist" --output-dir "$TMP/runs"

expect_error "fetch unknown dataset" "unknown value 'cifar'" fetch cifar
finish
