"""One training script's run from its flags (`damrun.cli`): the run
directory, the strategy, the model and optimizer (`damrun.build`), the
`damrun.trainer.Trainer`, and the exit code.

TensorFlow and the trainer are imported inside `run`, so that importing
this module (and `damrun.cli`) stays fast.
"""

import contextlib
import dataclasses
import os
import sys

from absl import app
from absl import flags

from damrun import build

FLAGS = flags.FLAGS


def run(task, task_name, config, evaluation=None, checkpoint_interval=None,
        phase_steps=None, time_bucket=None, embedding_size=None,
        picture=None, row_levels=1):
  """Builds the model, the optimizer and the trainer from the flags; trains.

  Args:
    task: the training task (`tasks.base.Task`); its `output_size` is the
      core's output width, its `vocab_size` (if any) the embedding's.
    task_name: for messages and config.json.
    config: task settings saved in config.json with
      `damrun.build.model_config()`.
    evaluation: a `damrun.trainer.Evaluation` (held-out batches, fixed
      test sets), or None.
    checkpoint_interval: steps between checkpoints (default:
      --checkpoint_interval).
    phase_steps: see `damrun.trainer.Settings` (bAbI epochs, fine-tuning).
    time_bucket: with XLA, pad the time axis to a multiple of this (None:
      to the task's longest length).
    embedding_size: the embedding width of a token task (bAbI).
    picture: a `Batch` of one fixed example whose memory picture goes to
      TensorBoard at each evaluation (with --memory_pictures).
    row_levels: see `dam.model.SequenceModel`.

  Returns:
    The process exit code: 0; 1 when training stopped on a non-finite loss
    or exploded weights (nothing bad was saved) or a run record could not
    be written (a full disk; the records are intact); 2 on a refused start
    (changed flags, damaged records, the run held by another process).
  """
  from damrun import run_records  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  from damrun import trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  _check_batch_fits(task)
  run_dir = rundir.RunDirectory(FLAGS.name, FLAGS.info_dir)
  if picture is not None and FLAGS.memory_pictures:
    evaluation = dataclasses.replace(
        evaluation or trainer_lib.Evaluation(), picture=picture)
  strategy = build.make_strategy()
  run_dir, restore_directory, log = _this_worker(run_dir, strategy)
  _check_batch_splits(task.batch_size, strategy)
  # This process's folder is locked while it trains (`damrun.run_records`):
  # a second process on the same --name is refused before it builds.
  with contextlib.ExitStack() as held:
    try:
      held.enter_context(run_records.hold(run_dir))
    except rundir.RunDirError as e:
      print(f'{sys.argv[0]}: {e}', file=sys.stderr)
      return 2
    return _build_and_train(
        task, task_name, config, evaluation, run_dir, restore_directory, log,
        strategy, embedding_size, row_levels,
        _settings(checkpoint_interval, phase_steps, time_bucket))


def _build_and_train(task, task_name, config, evaluation, run_dir,
                     restore_directory, log, strategy, embedding_size,
                     row_levels, settings):
  """The rest of `run`, with the run folder locked: the model, the
  optimizer, the trainer, the training; returns the exit code."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  from damrun import trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  build.set_precision()
  tf.random.set_seed(FLAGS.seed)
  with strategy.scope() if strategy else contextlib.nullcontext():
    model = build.build_model(task.output_size, task.vocab_size,
                              embedding_size, row_levels)
    optimizer = build.build_optimizer()
  try:
    trainer = trainer_lib.Trainer(
        model, task, optimizer, run_dir, settings, evaluation,
        config=dict(task=task_name, **build.model_config(), **config),
        run_info=_run_info(strategy), log=log, strategy=strategy,
        restore_directory=restore_directory)
  except (rundir.ConfigMismatchError, checkpoints.CheckpointError) as e:
    print(f'{sys.argv[0]}: {e}', file=sys.stderr)
    return 2
  log(_start_line(trainer, task_name, run_dir, strategy))
  finished = trainer.finished  # it only says so (`Trainer.train`)
  try:
    summary = trainer.train()
  except (FloatingPointError,  # A non-finite loss or exploded weights.
          reporting.RecordWriteError) as e:  # A full disk.
    print(f'{sys.argv[0]}: {e}', file=sys.stderr)
    return 1
  if not finished:
    log(f'Done: {summary["steps"]} steps, '
        f'{summary["steps_per_sec"] or 0:.2f} steps/s; summary in '
        f'{run_dir.summary}')
  return 0


def _log(line):
  print(line, flush=True)


def _replicas(strategy):
  return strategy.num_replicas_in_sync if strategy else 1


def _this_worker(run_dir, strategy):
  """(run directory, checkpoint folder to resume from or None, log) of this
  process.

  Another worker than the chief of a multi-worker run resumes from the
  chief's checkpoints and writes its files (checkpoints included: every
  worker must save) to <run>/worker<id>/, silently; the chief reports.
  Each process locks the folder it writes (`damrun.run_records.hold`):
  the chief <run>/, the others their worker<id>/.
  """
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  chief, task_id = build.worker(strategy)
  if chief:
    return run_dir, None, _log
  worker_dir = rundir.RunDirectory(
      os.path.join(FLAGS.name, f'worker{task_id}'), FLAGS.info_dir)
  return worker_dir, run_dir.checkpoint, lambda line: None


def _check_batch_fits(task):
  """Raises app.UsageError if one training batch (its sequences, one
  memory per example) cannot fit in this machine's memory at all
  (`damrun.failures.check_batch_fits`), before anything is built."""
  from damrun import failures  # pylint: disable=g-import-not-at-top
  model = build.model_settings()
  step_floats = 4 if task.vocab_size else (task.input_size +
                                           task.output_size + 2)
  needed = failures.batch_bytes(
      task.batch_size, task.max_time, step_floats,
      model.memory_size * model.word_size + model.hidden_size)
  try:
    failures.check_batch_fits('batch_size', task.batch_size, needed)
  except ValueError as e:
    raise app.UsageError(str(e)) from e


def _check_batch_splits(batch_size, strategy):
  """Raises app.UsageError if the batch does not split across replicas."""
  if batch_size % _replicas(strategy):
    from damrun import steps  # pylint: disable=g-import-not-at-top
    try:
      steps.check_divisible(batch_size, strategy)
    except ValueError as e:
      raise app.UsageError(str(e)) from e


def _settings(checkpoint_interval, phase_steps, time_bucket):
  """The `damrun.trainer.Settings` of the loop flags."""
  from damrun import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  return trainer_lib.Settings(
      total_steps=FLAGS.training_iteration,
      max_grad_norm=FLAGS.max_grad_norm,
      report_interval=FLAGS.report_interval,
      checkpoint_interval=checkpoint_interval or FLAGS.checkpoint_interval,
      keep_checkpoints=FLAGS.keep_checkpoints or None,
      phase_steps=phase_steps, jit_compile=FLAGS.jit_compile,
      time_bucket=time_bucket,
      checkpoint_seconds=60. * FLAGS.checkpoint_minutes or None)


def _run_info(strategy):
  """The settings of this process that summary.json records (precision,
  quirks, strategy), not checked on resume."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(
      tf32=tf.config.experimental.tensor_float_32_execution_enabled(),
      reproduce_quirks=FLAGS.reproduce_quirks, strategy=FLAGS.strategy,
      replicas=_replicas(strategy))


def _start_line(trainer, task_name, run_dir, strategy):
  """The first line of a run: model, size, run directory, precision."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  params = sum(int(tf.size(v)) for v in trainer.variables)
  replicas_note = (f'; {_replicas(strategy)} replicas '
                   f'(--strategy={FLAGS.strategy})' if strategy else '')
  mrl = (f'Memory Refreshing Loss on (p_re={FLAGS.p_re:g})' if FLAGS.p_re
         else 'Memory Refreshing Loss off (--p_re=0)')
  return (f'{build.model_settings().label} on {task_name}: {params:,} '
          f'parameters; {mrl}; run directory {run_dir.root}; '
          f'{build.precision_note()}; '
          f'{"" if FLAGS.reproduce_quirks else "no "}original-code quirks'
          f'{" (--noreproduce_quirks)" if not FLAGS.reproduce_quirks else ""}'
          f'{replicas_note}.')
