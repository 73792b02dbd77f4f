"""The application: the run machinery every script shares, the scripts'
flags and presets, evaluation and pictures (imports nothing by itself).

The scripts' interface:

* `damrun.cli`: the scripts' flags, in groups, and `run_main`; it also
  hands the scripts `run`, `set_precision`, `precision_note` and
  `mlp_sizes` from the two modules below;
* `damrun.build`: what a training script builds from its flags: the
  matmul precision, the distribution strategy, the DAM / DNC model and its
  optimizer, the model settings of config.json;
* `damrun.training_run`: one training script's run from its flags (the
  run directory of this worker, the trainer, the exit code);
* `damrun.presets`: the authors' settings (script defaults, commands);
* `damrun.usage`: a script's argument errors as one line, not its whole
  --help (`damrun.cli.run_main`; experiments/run_suite.py and the
  experiments' tools);
* `damrun.scripts`: the code of train.py, eval.py and visualize.py (the
  checkout's files are shims calling it) and the entry points of their
  console scripts, `dam-train`, `dam-eval`, `dam-visualize`.

Training:

* `damrun.steps`: the compiled training and evaluation steps on one
  `tasks.base.Batch` (eager, tf.function or XLA) and the time padding for
  XLA;
* `damrun.loop`: the loop (count units -- steps or epochs -- to a total,
  report and checkpoint at intervals, save on Ctrl-C);
* `damrun.checkpoints`: saving, the one restore function, resume with the
  data streams' state, choosing a checkpoint by step;
* `damrun.rundir`: the run directory <info_dir>/<name>/ and its
  config.json check;
* `damrun.run_records`: the run's lock (one process trains it at a time)
  and the checks of its records before a start writes anything;
* `damrun.reporting`: progress lines, metrics.csv, TensorBoard scalars,
  summary.json;
* `damrun.trainer`: the DAM / DNC trainer on a task (train.py,
  run_nfar.py, run_convexhull.py) built from the pieces above and these:
  * `damrun.trainer_reports`: its progress lines, evaluations and memory
    pictures at each report;
  * `damrun.resume_flags`: the flags recorded in a run (flags.json), which
    of them a resume may change, history.jsonl;
  * `damrun.phases`: learning-rate phases (bAbI fine-tuning);
  * `damrun.health`: whether a state is fit to checkpoint (non-finite or
    exploded weights);
  * `damrun.stop_signals`: Ctrl-C and SIGTERM stop a run between steps;
* `damrun.kvmemnn`: the KV-MemNN baseline's epochs (run_kvmemnn.py) on the
  same loop, checkpoints, run directory and reporting.

Evaluation and pictures:

* `damrun.babi_eval`: the bAbI test-set evaluation of eval.py;
* `damrun.saved`: a saved run read back (settings, model, weights);
* `damrun.pictures`: what visualize.py draws of a run's model on one
  example;
* `damrun.plots`: the figures (sequences, memory, predictions, learning
  curves).
"""
