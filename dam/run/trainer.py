"""Trains a DAM or DNC `SequenceModel` on a task (train.py, run_nfar.py,
run_convexhull.py).

The task is the declared interface `tasks.base.Task`: batches
(`next_batch()`, `batch_specs(B)`, `max_time`), the loss (`loss(logits,
batch)`, with the Memory Refreshing Loss of Park et al. 2021 inside), what
to print (`report_metrics`), epochs done (`progress()`) and its random state
(`get_state` / `set_state`); the trainer reads nothing else of it. The
`Trainer` puts together the pieces of `dam.run`:

* the compiled steps (`dam.run.steps`), with the batch size fixed in the
  training signature and the time axis free (optional XLA, then batches
  are padded along time: one compilation per bucket);
* checkpoints (`dam.run.checkpoints`: model, optimizer, step, the tasks'
  random states, the learning-rate phase) every `checkpoint_interval`
  steps, at the end and on Ctrl-C, resumed automatically; config.json
  checked on resume (`dam.run.rundir`);
* a progress line every `report_interval` steps (step/total, epoch for
  epoch-based tasks, loss, the task's metrics, steps/s, ETA), evaluations
  on fresh held-out batches or on fixed test sets, TensorBoard scalars,
  metrics.csv and summary.json (`dam.run.reporting`);
* learning-rate phases (`Settings.phase_steps`): fine-tuning from a
  checkpoint trained at another learning rate continues the step count.
"""

import dataclasses
import os
import time
from typing import Callable, Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

from dam.run import checkpoints as checkpoints_lib
from dam.run import loop
from dam.run import reporting
from dam.run import rundir
from dam.run import steps


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
      learning rate (bAbI: --epoch epochs, then fine-tuning): restoring a
      checkpoint trained at ANOTHER learning rate than the optimizer's
      starts a new phase at the restored step (the step count goes on); the
      same learning rate resumes the current phase. The phase start and its
      learning rate are saved in the checkpoints.
    jit_compile: compile the steps with XLA (the fastest mode on CPU; see
      bench/). XLA compiles once per distinct batch shape, so batches are
      then padded along time (`time_bucket`); `Trainer.compiled_shapes`
      records the shapes compiled.
    time_bucket: with XLA, pad the time axis to a multiple of this (at most
      the task's `max_time`); None pads every batch to `max_time`, one
      compilation in all (tasks whose batches are nearly always near their
      longest length: the algorithmic ones).
  """
  total_steps: int = 0
  max_grad_norm: float = 50.
  report_interval: int = 100
  checkpoint_interval: int = 1000
  keep_checkpoints: Optional[int] = 5
  phase_steps: Optional[int] = None
  jit_compile: bool = False
  time_bucket: Optional[int] = None


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
  """
  task: object = None
  batches: int = 0
  sets: Optional[Dict[str, Callable[[], Iterable]]] = None
  interval: Optional[int] = None
  training: bool = False


class Trainer:
  """Trains a `SequenceModel` on a task (see module docstring)."""

  def __init__(self, model, task, optimizer, run_dir, settings,
               evaluation=None, config=None, run_info=None, log=print):
    """Builds the compiled steps and the checkpoint; restores if one exists.

    Args:
      model: `dam.model.SequenceModel` (or any module called as
        model(inputs, sequence_length, training=...)).
      task: the training task (`tasks.base.Task`).
      optimizer: a `dam.optimizers` optimizer (`make_optimizer`).
      run_dir: `dam.run.rundir.RunDirectory`.
      settings: `Settings`.
      evaluation: `Evaluation` (None: none).
      config: settings saved to config.json and checked on resume.
      run_info: extra JSON-serialisable settings written to summary.json
        (not checked on resume), e.g. the precision.
      log: where progress lines go (besides the files).

    Raises:
      ValueError: a bad interval or step count.
      dam.run.rundir.ConfigMismatchError: config differs from the run's.
      dam.run.checkpoints.CheckpointError: the checkpoint is unreadable.
    """
    evaluation = evaluation or Evaluation()
    self.eval_interval = int(settings.report_interval
                             if evaluation.interval is None
                             else evaluation.interval)
    for flag, value in (('report_interval', settings.report_interval),
                        ('checkpoint_interval', settings.checkpoint_interval),
                        ('eval_interval', self.eval_interval)):
      if value < 1:
        raise ValueError(f'{flag} must be >= 1, got {value}.')
    if settings.total_steps < 0:
      raise ValueError(f'the number of training steps must be >= 0, got '
                       f'{settings.total_steps}.')
    self.model, self.task, self.optimizer = model, task, optimizer
    self.run_dir, self.settings, self.log = run_dir, settings, log
    self.evaluation = evaluation
    self.eval_sets = dict(evaluation.sets or {})
    self.total_steps = int(settings.total_steps)
    self.config = dict(config or {})
    self.run_info = dict(run_info or {}, eval_training=evaluation.training)
    self.report_metrics = tuple(task.report_metrics)
    if not settings.jit_compile:
      self.time_bucket = 1
    elif settings.time_bucket is None:
      self.time_bucket = task.max_time
    else:
      self.time_bucket = int(settings.time_bucket)

    rundir.check_or_write_config(run_dir, self.config)
    self.variables = steps.build(model, optimizer,
                                 task.batch_specs(task.batch_size))
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self._phase_start = tf.Variable(0, dtype=tf.int64, trainable=False,
                                    name='phase_start_step')
    self._phase_learning_rate = tf.Variable(
        -1., dtype=tf.float64, trainable=False, name='phase_learning_rate')
    self.checkpoints = checkpoints_lib.Checkpoints(
        run_dir.checkpoint,
        dict(model=model, optimizer=optimizer, step=self.step,
             phase_start=self._phase_start,
             phase_learning_rate=self._phase_learning_rate),
        keep=settings.keep_checkpoints, state_key='data_state',
        get_state=self._task_states, set_state=self._set_task_states)
    mode = 'xla' if settings.jit_compile else 'function'
    self.traces = {}
    self.compiled_shapes = {'train': set(), 'eval': set()}
    self._train_step = steps.make_train_step(
        model, optimizer, task.loss, task.batch_specs(task.batch_size),
        settings.max_grad_norm, mode, self.traces, self.variables)
    self.eval_step = steps.make_eval_step(
        model, task.loss, task.batch_specs(None), mode, self.traces,
        evaluation.training)
    self.restored_from = self.checkpoints.resume()
    if settings.phase_steps is not None:
      self._start_phase(int(settings.phase_steps))

  def _start_phase(self, phase_steps):
    """Sets total_steps from the phase (see `Settings.phase_steps`)."""
    if phase_steps < 0:
      raise ValueError(f'phase_steps must be >= 0, got {phase_steps}.')
    learning_rate = float(self.optimizer.learning_rate)
    previous = float(self._phase_learning_rate.numpy())
    if self.restored_from and previous >= 0 and not np.isclose(
        learning_rate, previous, rtol=1e-6, atol=0.):
      self._phase_start.assign(self.step)
      self.log(f'Fine-tuning: the checkpoint was trained at learning rate '
               f'{previous:g}; training {phase_steps} more steps at '
               f'{learning_rate:g} from step {int(self.step.numpy())}.')
    self._phase_learning_rate.assign(learning_rate)
    self.total_steps = int(self._phase_start.numpy()) + phase_steps

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

  def save(self):
    """Writes a checkpoint at the current step (with the task states)."""
    return self.checkpoints.save(int(self.step.numpy()))

  # -- steps -------------------------------------------------------------------

  def _pad(self, batch, kind):
    """Pads for XLA (see `Settings.time_bucket`); notes a new shape."""
    batch = steps.pad_time(batch, self.time_bucket, self.task.max_time)
    shape = tuple(batch.inputs.shape[:2])
    if self.settings.jit_compile and shape not in self.compiled_shapes[kind]:
      self.compiled_shapes[kind].add(shape)
      self.log(f'XLA: compiling the {kind} step for batch x time {shape} '
               f'(compilation {len(self.compiled_shapes[kind])}).')
    return batch

  def train_step(self, batch):
    """One compiled training step on a `Batch`; returns float metrics."""
    batch = self._pad(batch, 'train')
    metrics = self._train_step(steps.to_tensors(batch))
    self.step.assign_add(1)
    return {k: float(v) for k, v in metrics.items()}

  def evaluate_batches(self, batches):
    """Metrics over `Batch`es (no update), averaged over examples.

    The batches may have any (also different) sizes and lengths: the
    evaluation step has a dynamic batch size and time axis.
    """
    totals, count = {}, 0
    for batch in batches:
      size = batch.inputs.shape[0]
      batch = self._pad(batch, 'eval')
      metrics = self.eval_step(steps.to_tensors(batch))
      for k, v in metrics.items():
        totals[k] = totals.get(k, 0.) + float(v) * size
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
    """
    metrics = self.train_step(self.task.next_batch())
    if not np.isfinite(metrics['loss']):
      raise FloatingPointError(
          f'The loss became {metrics["loss"]} at step '
          f'{int(self.step.numpy())}; the last good checkpoint is '
          f'{self.checkpoints.latest}. Lower --learning_rate or '
          f'--max_grad_norm and resume.')
    return metrics

  def report(self, progress, window):
    """The progress line and the row of metrics.csv / TensorBoard."""
    step = progress.count
    means = {k: float(np.mean(v)) for k, v in window.items()}
    rate = progress.window_rate()
    eta = (self.total_steps - step) / max(rate, 1e-9)
    row = {'step': step,
           'wall_time_s': round(time.time() - progress.run_start, 3),
           'steps_per_sec': rate}
    row.update({f'train_{k}': v for k, v in means.items()})
    epoch = self.task.progress()  # epoch-based tasks (bAbI): fractional
    if epoch is not None:
      row['epoch'] = round(epoch, 4)
    line = (f'[{step}/{self.total_steps}]'
            f'{"" if epoch is None else f" epoch {epoch:.2f}"} '
            f'loss {means["loss"]:.4f} '
            f'{reporting.format_metrics(means, self.report_metrics)} '
            f'| {rate:.2f} steps/s, ETA {reporting.format_duration(eta)}')
    if self.evaluation.task is not None and self.evaluation.batches > 0:
      held_out = self.evaluate()
      row.update({f'eval_{k}': v for k, v in held_out.items()})
      last = self.report_metrics[-1:]
      line += (f' | eval loss {held_out["loss"]:.4f} '
               f'{reporting.format_metrics(held_out, last)}')
    if self.eval_sets and (step % self.eval_interval == 0 or
                           step == self.total_steps):
      line += self._evaluate_sets(row)
    self.log(line)
    self._reporter.write(row)

  def _evaluate_sets(self, row):
    """Evaluates every evaluation set into `row`; returns the line part."""
    line = ''
    for name, make_batches in self.eval_sets.items():
      results = self.evaluate_batches(make_batches())
      row.update({f'{name}_{k}': v for k, v in results.items()})
      line += (f' | {name} '
               f'{reporting.format_metrics(results, self.report_metrics[-1:])}')
    return line

  def train(self):
    """Trains to `total_steps`; returns the summary (also in summary.json)."""
    self._reporter = reporting.Reporter(self.run_dir)
    start_step = int(self.step.numpy())
    if self.restored_from:
      self.log(f'Resumed from {self.restored_from} at step {start_step}.')
    run_start = time.time()
    if start_step >= self.total_steps and self.eval_sets:
      # A finished run: evaluate it again (e.g. with other evaluation
      # settings); the row goes to metrics.csv with evaluation_only = 1.
      training = self.evaluation.training
      row = {'step': start_step, 'evaluation_only': 1,
             'eval_training': int(training)}
      line = self._evaluate_sets(row)
      self.log(f'[{start_step}/{self.total_steps}] already trained; '
               f'evaluation ({"training" if training else "evaluation"} '
               f'mode){line}')
      self._reporter.write(row, scalars=False)
    try:
      step = loop.run(self, start_step, self.total_steps,
                      self.settings.report_interval,
                      self.settings.checkpoint_interval,
                      save=lambda _: self.save(), log=self.log)
    finally:
      self._reporter.flush()
    wall = time.time() - run_start
    summary = dict(
        name=os.path.basename(self.run_dir.root), steps=step,
        start_step=start_step, wall_time_s=wall,
        steps_per_sec=(step - start_step) / wall if wall > 0 else None,
        final=self._reporter.last, checkpoint=self.checkpoints.latest,
        config=self.config, run=self.run_info, traces=dict(self.traces),
        xla_compiles={k: len(v) for k, v in self.compiled_shapes.items()})
    reporting.write_summary(self.run_dir.summary, summary)
    return summary
