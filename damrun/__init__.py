"""The run machinery every script shares (imports nothing by itself).

* `damrun.steps`: the compiled training and evaluation steps on one
  `tasks.base.Batch` (eager, tf.function or XLA) and the time padding for
  XLA;
* `damrun.loop`: the loop (count units -- steps or epochs -- to a total,
  report and checkpoint at intervals, save on Ctrl-C);
* `damrun.checkpoints`: saving, the one restore function, resume with the
  data streams' state, choosing a checkpoint by step;
* `damrun.rundir`: the run directory <info_dir>/<name>/ and its
  config.json check;
* `damrun.reporting`: progress lines, metrics.csv, TensorBoard scalars,
  summary.json;
* `damrun.trainer`: the DAM / DNC trainer on a task (train.py,
  run_nfar.py, run_convexhull.py) built from the pieces above;
* `damrun.babi_eval`: the bAbI test-set evaluation of eval.py;
* `damrun.kvmemnn`: the KV-MemNN baseline's epochs (run_kvmemnn.py) on the
  same loop, checkpoints, run directory and reporting.
"""
