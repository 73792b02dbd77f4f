"""The run machinery every script shares (imports nothing by itself).

* `dam.run.steps`: the compiled training and evaluation steps on one
  `tasks.base.Batch` (eager, tf.function or XLA) and the time padding for
  XLA;
* `dam.run.loop`: the loop (count units -- steps or epochs -- to a total,
  report and checkpoint at intervals, save on Ctrl-C);
* `dam.run.checkpoints`: saving, the one restore function, resume with the
  data streams' state, choosing a checkpoint by step;
* `dam.run.rundir`: the run directory <info_dir>/<name>/ and its
  config.json check;
* `dam.run.reporting`: progress lines, metrics.csv, TensorBoard scalars,
  summary.json;
* `dam.run.trainer`: the DAM / DNC trainer on a task (train.py,
  run_nfar.py, run_convexhull.py) built from the pieces above;
* `dam.run.babi_eval`: the bAbI test-set evaluation of eval.py;
* `dam.run.kvmemnn`: the KV-MemNN baseline's epochs (run_kvmemnn.py) on the
  same loop, checkpoints, run directory and reporting.
"""
