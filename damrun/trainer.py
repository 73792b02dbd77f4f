"""Trains a DAM or DNC `SequenceModel` on a task (train.py, run_nfar.py,
run_convexhull.py).

The task is the declared interface `tasks.base.Task`: batches
(`next_batch()`, `batch_specs(B)`, `max_time`), the loss (`loss(logits,
batch)`, with the Memory Refreshing Loss of Park et al. 2021 inside), what
to print (`report_metrics`), epochs done (`progress()`) and its random state
(`get_state` / `set_state`); the trainer reads nothing else of it. The
`Trainer` puts together the pieces of `damrun`:

* the compiled steps (`damrun.steps`), with the batch size fixed in the
  training signature and the time axis free (optional XLA, then batches
  are padded along time: one compilation per bucket);
* checkpoints (`damrun.checkpoints`: model, optimizer, step, the tasks'
  random states, the learning-rate phase) every `checkpoint_interval`
  steps, at the end and on Ctrl-C or SIGTERM (after the step under way,
  `damrun.stop_signals`), resumed automatically from the newest one that
  restores; a non-finite or exploded state is never saved
  (`damrun.health`); config.json checked on resume (`damrun.rundir`), and
  the scripts' flags (`damrun.resume_flags`: changes that alter the maths
  or the data stream are refused, the others logged with their step in
  history.jsonl);
* a progress line every `report_interval` steps, evaluations on fresh
  held-out batches or on fixed test sets, TensorBoard scalars and memory
  pictures, metrics.csv and summary.json (`damrun.trainer_reports`,
  `damrun.reporting`);
* learning-rate phases (`Settings.phase_steps`, `damrun.phases`):
  fine-tuning from a checkpoint trained at another learning rate continues
  the step count; each finished phase's last checkpoint is kept.
"""

import contextlib
import dataclasses
import os
import time
from typing import Callable, Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

from damrun import checkpoints as checkpoints_lib
from damrun import health
from damrun import loop
from damrun import phases as phases_lib
from damrun import reporting
from damrun import resume_flags
from damrun import run_records
from damrun import rundir
from damrun import steps
from damrun import stop_signals
from damrun import trainer_reports


@dataclasses.dataclass(frozen=True)
class Settings:
  """How long and how a run trains.

  Attributes:
    total_steps: train until the step counter reaches this (replaced by the
      phase's end with `phase_steps`).
    max_grad_norm: global-norm gradient clipping (<= 0: off).
    report_interval: steps between progress lines.
    checkpoint_interval: steps between checkpoints.
    keep_checkpoints: how many checkpoints to keep (None: all).
    phase_steps: train in phases of this many steps, each with one
      learning rate (bAbI: --epoch epochs, then fine-tuning; see
      `damrun.phases`); None: no phases.
    jit_compile: compile the steps with XLA (the fastest mode on CPU; see
      bench/). XLA compiles once per distinct batch shape, so batches are
      then padded along time (`time_bucket`); `Trainer.compiled_shapes`
      records the shapes compiled.
    time_bucket: with XLA, pad the time axis to a multiple of this (at most
      the task's `max_time`); None pads every batch to `max_time`, one
      compilation in all (tasks whose batches are nearly always near their
      longest length: the algorithmic ones).
    checkpoint_seconds: also checkpoint after the first step that ends this
      many seconds after the last save (None: by steps only), so that a
      long run whose checkpoint interval is long (bAbI: an epoch) loses at
      most this much to a kill.
    heartbeat_seconds: between progress lines more than this many seconds
      apart, a short line (step, steps/s, ETA) at most this often (None:
      none), so that a slow run shows it is moving.
  """
  total_steps: int = 0
  max_grad_norm: float = 50.
  report_interval: int = 100
  checkpoint_interval: int = 1000
  keep_checkpoints: Optional[int] = 5
  phase_steps: Optional[int] = None
  jit_compile: bool = False
  time_bucket: Optional[int] = None
  checkpoint_seconds: Optional[float] = None
  heartbeat_seconds: Optional[float] = 60.


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """What a run evaluates besides its training loss.

  Attributes:
    task: a task of held-out batches (its own seed), or None.
    batches: held-out batches of `task` evaluated at each report.
    sets: dict name -> fn() returning an iterable of `Batch`es (a fixed
      test set, any batch sizes); each is evaluated every `interval` steps
      and at the end, its metrics averaged over examples and logged as
      `<name>_<metric>`.
    interval: steps between evaluations of `sets` (None: every report); a
      multiple of the report interval keeps them on report lines.
    training: evaluate on the training graph (dropout and clipping on, no
      update: the authors' Nth Farthest / Convex Hull test accuracy);
      False: evaluation mode.
    picture: a `Batch` whose first example the model runs on (evaluation
      mode, `damrun.pictures`) every `interval` steps and at the end; the
      memory picture goes to TensorBoard (image 'memory'). None: none.
    test: fn(model) -> (row, text), a task's own test of the model (bAbI:
      error % per task, `damrun.babi_eval.test_row`), run every `interval`
      steps and at the end: `row` (flat dict of numbers) goes to the
      report's row, `text` to the progress line. None: none.
  """
  task: object = None
  batches: int = 0
  sets: Optional[Dict[str, Callable[[], Iterable]]] = None
  interval: Optional[int] = None
  training: bool = False
  picture: object = None
  test: Optional[Callable] = None


class Trainer:
  """Trains a `SequenceModel` on a task (see module docstring)."""

  def __init__(self, model, task, optimizer, run_dir, settings,
               evaluation=None, config=None, run_info=None, log=print,
               strategy=None, restore_directory=None):
    """Builds the compiled steps and the checkpoint; restores if one exists.

    Args:
      model: `dam.model.SequenceModel` (or any module called as
        model(inputs, sequence_length, training=...)).
      task: the training task (`tasks.base.Task`).
      optimizer: a `dam.optimizers` optimizer (`make_optimizer`).
      run_dir: `damrun.rundir.RunDirectory`.
      settings: `Settings`.
      evaluation: `Evaluation` (None: none).
      config: settings saved to config.json and checked on resume. Its
        entry 'flags' (if any; see `damrun.resume_flags.flag_record`) is
        every flag of the script: recorded in flags.json; on resume a
        change is refused unless the flag is in
        `damrun.resume_flags.CHANGEABLE_FLAGS` (or is --learning_rate of a
        phased run); accepted changes go with their step to history.jsonl,
        which summary.json names.
      run_info: extra JSON-serialisable settings written to summary.json
        (not checked on resume), e.g. the precision.
      log: where progress lines go (besides the files).
      strategy: a `tf.distribute` strategy whose scope the model and the
        optimizer were made in, or None (one device). Training steps run
        on its replicas, each on its slice of the global batch, as one
        single-device step on that batch (`damrun.steps`); evaluations
        run on one device. XLA is not used under a strategy of several
        replicas (plain `tf.function`).
      restore_directory: the checkpoint folder to resume from, if not the
        run's own (the chief's, for a multi-worker run's other workers).

    Raises:
      ValueError: a bad interval or step count, or a batch size that does
        not split across the strategy's replicas.
      damrun.rundir.ConfigMismatchError: config differs from the run's.
      damrun.checkpoints.CheckpointError: the checkpoint is unreadable.
    """
    evaluation = evaluation or Evaluation()
    self.eval_interval = _checked_eval_interval(settings, evaluation)
    self.model, self.task, self.optimizer = model, task, optimizer
    self.run_dir, self.settings, self.log = run_dir, settings, log
    self.evaluation = evaluation
    self.eval_sets = dict(evaluation.sets or {})
    self.total_steps = int(settings.total_steps)
    self.config = dict(config or {})
    self.flags = self.config.pop('flags', None)
    self.stop_signal = None  # 'SIGINT' / 'SIGTERM' while training
    self._reports = trainer_reports.Reports(self)
    self.run_info = dict(run_info or {}, eval_training=evaluation.training)
    self.report_metrics = tuple(task.report_metrics)
    self.strategy = strategy
    self._choose_compilation()
    # Every check of the run's records comes before the first write: a
    # refused start changes nothing (`damrun.run_records`).
    run_records.check(run_dir)
    new_config = rundir.check_config(run_dir, self.config, log)
    self._build_state(restore_directory)
    self._build_steps()
    self._resume(new_config)

  def _choose_compilation(self):
    """XLA or not (`jit_compile`) and the time padding (`time_bucket`)."""
    settings, strategy = self.settings, self.strategy
    steps.check_divisible(self.task.batch_size, strategy)
    self.jit_compile = jit_compile = (settings.jit_compile and
                                      steps.replicas(strategy) == 1)
    if settings.jit_compile and not jit_compile:
      self.log(f'XLA is off under a strategy of {steps.replicas(strategy)} '
               f'replicas: the training step runs as a plain tf.function.')
    if not jit_compile:
      self.time_bucket = 1
    elif settings.time_bucket is None:
      self.time_bucket = self.task.max_time
    else:
      self.time_bucket = int(settings.time_bucket)

  def _build_state(self, restore_directory):
    """The model's and optimizer's variables, the counters, the checkpoint."""
    task, strategy = self.task, self.strategy
    with strategy.scope() if strategy else contextlib.nullcontext():
      self.variables = steps.build(self.model, self.optimizer,
                                   task.batch_specs(task.batch_size))
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                              name='step')
      self.phases = phases_lib.Phases(self.run_dir.root)
    self.checkpoints = checkpoints_lib.Checkpoints(
        self.run_dir.checkpoint,
        dict(model=self.model, optimizer=self.optimizer, step=self.step,
             phase_start=self.phases.start,
             phase_learning_rate=self.phases.learning_rate),
        keep=self.settings.keep_checkpoints, state_key='data_state',
        get_state=self._task_states, set_state=self._set_task_states,
        restore_directory=restore_directory)

  def _build_steps(self):
    """The compiled training and evaluation steps (`damrun.steps`)."""
    task, strategy = self.task, self.strategy
    mode = 'xla' if self.jit_compile else 'function'
    self.traces = {}
    self.compiled_shapes = {'train': set(), 'eval': set()}
    # Seconds and count of the training steps that compiled (XLA, or the
    # first step's tf.function trace): the progress line's ETA leaves them
    # out (`damrun.trainer_reports`).
    self.compile_seconds, self.compile_steps = 0., 0
    self._train_step = steps.make_train_step(
        self.model, self.optimizer, task.loss,
        task.batch_specs(task.batch_size), self.settings.max_grad_norm, mode,
        self.traces, self.variables,
        strategy if steps.replicas(strategy) > 1 else None)
    self.eval_step = steps.make_eval_step(
        self.model, task.loss, task.batch_specs(None), mode, self.traces,
        self.evaluation.training)

  def _resume(self, new_config):
    """Restores the newest checkpoint; checks the flags; then writes the
    start's records (config.json if `new_config`, flags.json,
    history.jsonl) and sets the end of the learning-rate phase."""
    for phase in self.phases.finished():
      self.checkpoints.keep(phase['checkpoint'])
    self.restored_from = self.checkpoints.resume(log=self.log)
    # Checked after the restore (in memory only) to know if the run is
    # finished; refusing leaves every file as it was.
    phased = self.settings.phase_steps is not None
    self._flag_changes = resume_flags.check_changes(
        self.run_dir.root, self.flags, phased,
        finished=int(self.step.numpy()) >= self.total_steps,
        restored=self.restored_from is not None, log=self.log)
    if phased:
      self.total_steps = self.phases.begin(
          int(self.settings.phase_steps), self.optimizer, self.step,
          self.restored_from, self.checkpoints,
          may_return=(self.flags or {}).get('return_to_learning_rate'),
          log=self.log)
    run_records.begin(self.run_dir, self.config, new_config)
    resume_flags.record(self.run_dir.root, self.flags,
                        int(self.step.numpy()), self.restored_from,
                        self._flag_changes, self.log)

  @property
  def finished(self):
    """Whether the run already stands at (or past) its last step: training
    it again trains nothing (`train` only says so, or evaluates the test
    sets again)."""
    return int(self.step.numpy()) >= self.total_steps

  @property
  def history_path(self):
    """history.jsonl: one line per start of the run with its step and the
    flag changes accepted then."""
    return resume_flags.history_path(self.run_dir.root)

  # -- checkpoints -------------------------------------------------------------

  def _task_states(self):
    states = {'train': self.task.get_state()}
    if self.evaluation.task is not None:
      states['eval'] = self.evaluation.task.get_state()
    return states

  def _set_task_states(self, states):
    if 'train' in states:
      self.task.set_state(states['train'])
    if self.evaluation.task is not None and 'eval' in states:
      self.evaluation.task.set_state(states['eval'])

  def check_state(self):
    """Raises FloatingPointError if the state is not fit to checkpoint
    (`damrun.health.check_state`)."""
    health.check_state(self.variables, self.optimizer,
                       int(self.step.numpy()), self.checkpoints.latest)

  def save(self):
    """Writes a checkpoint at the current step (with the task states).

    Raises:
      FloatingPointError: the state is non-finite or exploded
        (`check_state`); nothing is written.
    """
    self.check_state()
    return self.checkpoints.save(int(self.step.numpy()))

  # -- steps -------------------------------------------------------------------

  def _pad(self, batch, kind):
    """Pads for XLA (see `Settings.time_bucket`); notes a new shape.

    Returns (the padded batch, the time.time() at which the step's XLA
    compilation starts, or None when its shape is compiled already). The
    message goes out before the compilation starts.
    """
    batch = steps.pad_time(batch, self.time_bucket, self.task.max_time)
    shape = tuple(batch.inputs.shape[:2])
    if self.jit_compile and shape not in self.compiled_shapes[kind]:
      self.compiled_shapes[kind].add(shape)
      self.log(f'XLA: compiling the {kind} step for batch x time {shape} '
               f'(compilation {len(self.compiled_shapes[kind])})...')
      return batch, time.time()
    return batch, None

  def train_step(self, batch):
    """One compiled training step on a `Batch`; returns float metrics."""
    batch, compiling = self._pad(batch, 'train')
    tracing = not self.compile_steps and time.time()  # the first step
    metrics = self._train_step(steps.to_tensors(batch))
    self.step.assign_add(1)
    metrics = {k: float(v) for k, v in metrics.items()}
    if compiling is not None or tracing:
      seconds = time.time() - (compiling or tracing)
      self.compile_seconds += seconds
      self.compile_steps += 1
      if compiling is not None:
        self.log(f'XLA: compiled in {seconds:.0f} s.')
    return metrics

  def evaluate_batches(self, batches):
    """Metrics over `Batch`es (no update), averaged over examples.

    The batches may have any (also different) sizes and lengths: the
    evaluation step has a dynamic batch size and time axis.
    """
    totals, count = {}, 0
    for batch in batches:
      size = batch.inputs.shape[0]
      batch, compiling = self._pad(batch, 'eval')
      metrics = self.eval_step(steps.to_tensors(batch))
      for k, v in metrics.items():
        totals[k] = totals.get(k, 0.) + float(v) * size
      if compiling is not None:
        self.log(f'XLA: compiled in {time.time() - compiling:.0f} s.')
      count += size
    if not count:
      raise ValueError('Nothing to evaluate: the evaluation set is empty.')
    return {k: v / count for k, v in totals.items()}

  def evaluate(self, num_batches=None, task=None):
    """Mean metrics over fresh held-out batches."""
    task = task or self.evaluation.task
    num_batches = (self.evaluation.batches if num_batches is None
                   else num_batches)
    return self.evaluate_batches(task.next_batch() for _ in range(num_batches))

  # -- the loop's trainable ----------------------------------------------------

  def advance(self):
    """One training step on the task's next batch (the loop's unit).

    Raises:
      FloatingPointError: the loss is not finite.
      KeyboardInterrupt: Ctrl-C or SIGTERM came during the previous step.
    """
    stop_signals.check(self)  # between two steps: stopping is safe here
    metrics = self.train_step(self.task.next_batch())
    if not np.isfinite(metrics['loss']):
      raise health.nonfinite_loss(metrics['loss'], int(self.step.numpy()),
                                  self.checkpoints.latest)
    return metrics

  def report(self, progress, window):
    """The progress line and the row of metrics.csv / TensorBoard
    (`damrun.trainer_reports`)."""
    self._reports.report(progress, window)

  def heartbeat(self, progress, next_report):
    """A line between far-apart reports: steps/s and ETA, no metrics."""
    self.log(self._reports.heartbeat_line(progress, next_report))

  def train(self):
    """Trains to `total_steps`; returns the summary (also in summary.json).

    SIGTERM (e.g. a cluster's preemption) is handled as Ctrl-C: after the
    step under way, a checkpoint is saved and KeyboardInterrupt raised
    (`damrun.stop_signals`); a second signal changes nothing, so a
    checkpoint's update and step count always agree.
    """
    start_step = int(self.step.numpy())
    self._reports.start(start_step)
    previous_final = trainer_reports.previous_final(self.run_dir.summary,
                                                    start_step)
    with stop_signals.stop_at_a_step_boundary(self):
      return self._train(start_step, previous_final)

  def _train(self, start_step, previous_final):
    finished = start_step >= self.total_steps
    if finished:
      self.log(self._finished_line(start_step))
    elif self.restored_from:
      self.log(f'Resumed from {self.restored_from} at step {start_step}.')
    run_start = time.time()
    if finished and self.eval_sets:
      # A finished run: evaluate it again.
      self._reports.evaluate_finished(start_step)
    try:
      step = loop.run(self, start_step, self.total_steps,
                      self.settings.report_interval,
                      self.settings.checkpoint_interval,
                      save=lambda _: self.save(), log=self.log,
                      checkpoint_seconds=self.settings.checkpoint_seconds,
                      eval_interval=(self.eval_interval if self.eval_sets or
                                     self.evaluation.test else None),
                      heartbeat_seconds=self.settings.heartbeat_seconds)
    finally:
      self._reports.reporter.flush()
    wall = time.time() - run_start
    summary = self._reports.summary(start_step, step, wall, previous_final)
    if finished:  # Nothing trained: the training's own timing stays.
      summary = trainer_reports.keep_timing(self.run_dir.summary, summary)
    reporting.write_summary(self.run_dir.summary, summary)
    return summary

  def _finished_line(self, step):
    """What a command says when its run has nothing left to train."""
    root = self.run_dir.root
    of = (f'of {self.total_steps}' if step == self.total_steps else
          f'(this command trains to step {self.total_steps})')
    longer = ('a larger --epoch (or --training_iteration, if given), or '
              'fine-tune it at another --learning_rate'
              if self.settings.phase_steps is not None else
              'a larger --training_iteration')
    return (f'Already trained: the run in {root} is at step {step} {of}; '
            f'its results are in {self.run_dir.summary} and '
            f'{self.run_dir.metrics}. To train longer, run the same command '
            f'with {longer}.')


def _checked_eval_interval(settings, evaluation):
  """The steps between evaluations; raises ValueError on a bad interval or
  a negative step count."""
  eval_interval = int(settings.report_interval if evaluation.interval is None
                      else evaluation.interval)
  for flag, value in (('report_interval', settings.report_interval),
                      ('checkpoint_interval', settings.checkpoint_interval),
                      ('eval_interval', eval_interval)):
    if value < 1:
      raise ValueError(f'{flag} must be >= 1, got {value}.')
  if settings.total_steps < 0:
    raise ValueError(f'the number of training steps must be >= 0, got '
                     f'{settings.total_steps}.')
  return eval_interval
