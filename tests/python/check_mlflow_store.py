#!/usr/bin/env python3
"""Reads an MLflow file store written by qat with the real mlflow package and checks it
against expectations (the JSON file test_run_store writes).

    QAT_MLFLOW_DIR=/tmp/qat_ml build/test_run_store          # from tests/
    python3 tests/python/check_mlflow_store.py /tmp/qat_ml/mlruns /tmp/qat_ml/mlruns.expected.json

Expectations:
    {"experiments": {"<name>": "<id>", ...},                 # exactly the active experiments
     "runs": [{"experiment": name, "run_name": ..., "run_id": ..., "status": "FINISHED",
               "params": {...},                              # exactly the run's params
               "metrics": {"key": [[step, value|null], ...]}, # full history, null = NaN
               "tags": {...},                                # a subset of the run's tags
               "artifacts": {"path": "content", ...}}]}      # a subset, content compared

Exits 0 when everything matches, 1 with a list of differences otherwise. This is an
optional oracle: the C tests do not need Python or mlflow.
"""
import json
import math
import os
import sys
import tempfile

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow >= 3.x refuses file stores otherwise

import mlflow  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    root = os.path.abspath(sys.argv[1])
    with open(sys.argv[2]) as f:
        want = json.load(f)
    uri = "file://" + root
    client = MlflowClient(tracking_uri=uri)
    errors = []

    def check(cond, what):
        if not cond:
            errors.append(what)
        return cond

    exps = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    got_exps = {e.name: e.experiment_id for e in exps}
    check(got_exps == want["experiments"], f"experiments: got {got_exps}, want {want['experiments']}")
    for e in exps:
        check(e.lifecycle_stage == "active", f"experiment {e.name}: stage {e.lifecycle_stage}")
        by_name = client.get_experiment_by_name(e.name)
        check(by_name is not None and by_name.experiment_id == e.experiment_id,
              f"get_experiment_by_name({e.name!r})")

    nruns = 0
    for w in want["runs"]:
        label = f"run {w['experiment']}/{w['run_name']} ({w['run_id']})"
        exp_id = want["experiments"][w["experiment"]]
        run = client.get_run(w["run_id"])
        info, data = run.info, run.data
        check(info.experiment_id == exp_id, f"{label}: experiment_id {info.experiment_id}")
        check(info.run_name == w["run_name"], f"{label}: run_name {info.run_name!r}")
        check(info.status == w["status"], f"{label}: status {info.status}, want {w['status']}")
        check(info.lifecycle_stage == "active", f"{label}: lifecycle {info.lifecycle_stage}")
        check(info.end_time is not None and info.end_time >= info.start_time,
              f"{label}: start {info.start_time} end {info.end_time}")
        check(data.params == w["params"], f"{label}: params {data.params}, want {w['params']}")
        for k, v in w["tags"].items():
            check(data.tags.get(k) == v, f"{label}: tag {k} = {data.tags.get(k)!r}, want {v!r}")
        check(set(data.metrics) == set(w["metrics"]),
              f"{label}: metric keys {sorted(data.metrics)}, want {sorted(w['metrics'])}")
        for key, hist in w["metrics"].items():
            got = [(m.step, m.value) for m in client.get_metric_history(w["run_id"], key)]
            ok = len(got) == len(hist) and all(
                gs == ws and ((wv is None and math.isnan(gv)) or gv == wv)
                for (gs, gv), (ws, wv) in zip(got, hist))
            check(ok, f"{label}: metric {key} history {got}, want {hist}")
        # the latest value, as mlflow reports it (largest step)
        for key, hist in w["metrics"].items():
            last = max(hist, key=lambda sv: sv[0])[1]
            gv = data.metrics.get(key)
            check(gv is not None and ((last is None and math.isnan(gv)) or gv == last),
                  f"{label}: latest {key} = {gv}, want {last}")
        listed = {a.path for a in client.list_artifacts(w["run_id"])}
        with tempfile.TemporaryDirectory() as tmp:
            for path, content in w["artifacts"].items():
                if not check(path in listed, f"{label}: artifact {path} not listed ({sorted(listed)})"):
                    continue
                local = client.download_artifacts(w["run_id"], path, tmp)
                with open(local) as f:
                    check(f.read() == content, f"{label}: artifact {path} content differs")
        found = client.search_runs([exp_id], filter_string=f"attributes.run_id = '{w['run_id']}'")
        check(len(found) == 1, f"{label}: search_runs found {len(found)}")
        nruns += 1

    # Every run in the store is one we expect (no stray folders that mlflow reads as runs).
    want_ids = {w["run_id"] for w in want["runs"]}
    for e in exps:
        for r in client.search_runs([e.experiment_id], run_view_type=ViewType.ALL):
            check(r.info.run_id in want_ids, f"unexpected run {r.info.run_id} in {e.name}")

    print(f"mlflow {mlflow.__version__}: {root}: {len(got_exps)} experiments, {nruns} runs checked")
    if errors:
        for e in errors:
            print("MISMATCH:", e)
        return 1
    print("OK: the store reads back as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
