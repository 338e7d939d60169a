"""Runs an exported model in onnxruntime on the inputs `qat eval --dump-inputs` wrote.

    ort_run.py MODEL.onnx DUMP_DIR OUT_DIR [--threads N] [--optimization basic|extended|all]

First checks the file with onnx.checker (full check). Then for every batch b of DUMP_DIR
(BBBBB_NAME.npy per graph input), writes the graph's output as OUT_DIR/BBBBB_OUTPUT.npy
(for `qat eval --outputs OUT_DIR`), and prints the largest absolute and relative
difference from qat's own outputs of the same batch (DUMP_DIR/BBBBB_OUTPUT.npy).
"""
import argparse
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("dump")
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--optimization", default="basic", choices=["basic", "extended", "all"])
    a = p.parse_args()

    onnx.checker.check_model(onnx.load(a.model), full_check=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[a.optimization]
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in sess.get_inputs()]
    (output,) = [o.name for o in sess.get_outputs()]
    os.makedirs(a.out, exist_ok=True)
    worst_abs = worst_rel = run_s = 0.0
    b = 0
    while os.path.exists(os.path.join(a.dump, f"{b:05d}_{inputs[0]}.npy")):
        feed = {n: np.load(os.path.join(a.dump, f"{b:05d}_{n}.npy")) for n in inputs}
        t0 = time.perf_counter()
        (y,) = sess.run([output], feed)
        run_s += time.perf_counter() - t0
        np.save(os.path.join(a.out, f"{b:05d}_{output}.npy"), np.ascontiguousarray(y, dtype=np.float32))
        ref = np.load(os.path.join(a.dump, f"{b:05d}_{output}.npy"))
        if ref.shape != y.shape:
            sys.exit(f"batch {b}: onnxruntime gives {y.shape}, qat {ref.shape}")
        d = np.abs(y.astype(np.float64) - ref)
        worst_abs = max(worst_abs, float(d.max(initial=0.0)))
        worst_rel = max(worst_rel, float((d / np.maximum(np.abs(ref), 1e-3)).max(initial=0.0)))
        b += 1
    if b == 0:
        sys.exit(f"{a.dump}: no batches ({inputs[0]} inputs)")
    print(f"onnxruntime {ort.__version__}: {b} batches, largest difference from qat: "
          f"{worst_abs:.3g} absolute, {worst_rel:.3g} relative; session.run {run_s:.4f} s")


if __name__ == "__main__":
    main()
