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
  steps, at the end and on Ctrl-C or SIGTERM (after the step under way),
  resumed automatically from the newest one that restores; a non-finite
  or exploded state is never saved (`check_state`); config.json checked on
  resume (`damrun.rundir`), and the scripts' flags (flags.json: changes
  that alter the maths or the data stream are refused, the others logged
  with their step in history.jsonl);
* a progress line every `report_interval` steps (step/total, epoch for
  epoch-based tasks, loss, the task's metrics, steps/s, ETA), evaluations
  on fresh held-out batches or on fixed test sets, TensorBoard scalars,
  metrics.csv and summary.json (`damrun.reporting`);
* learning-rate phases (`Settings.phase_steps`): fine-tuning from a
  checkpoint trained at another learning rate continues the step count;
  each finished phase's last checkpoint is kept (phases.json), and going
  back to an earlier phase's rate needs --return_to_learning_rate.
"""

import contextlib
import dataclasses
import json
import os
import signal
import threading
import time
from typing import Callable, Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

from dam import fileio
from damrun import checkpoints as checkpoints_lib
from damrun import loop
from damrun import reporting
from damrun import rundir
from damrun import steps


# Flags a resumed run may change (run length, reporting, where files are);
# any other recorded flag that differs refuses the resume. The learning
# rate may change only in phased runs (bAbI fine-tuning).
CHANGEABLE_FLAGS = frozenset({
    'training_iteration', 'epoch', 'report_interval', 'checkpoint_interval',
    'checkpoint_minutes', 'test_interval', 'row_levels',
    'keep_checkpoints', 'eval_batches', 'eval_interval', 'info_dir', 'name',
    'data_dir', 'cache_dir', 'download', 'jit_compile', 'generate_data',
    'return_to_learning_rate', 'test_examples', 'eval_batch_size',
    'memory_pictures', 'strategy', 'cpu_devices'})

# A parameter larger than this in magnitude is taken as an exploded update
# (e.g. --learning_rate=1e8 moves weights to ~5e7 in one step): such a state
# is never checkpointed. The models' weights stay within a few tens.
EXPLODED = 1e6


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
    checkpoint_seconds: also checkpoint after the first step that ends this
      many seconds after the last save (None: by steps only), so that a
      long run whose checkpoint interval is long (bAbI: an epoch) loses at
      most this much to a kill.
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
        entry 'flags' (if any; see `flag_record`) is every flag of the
        script: recorded in flags.json; on resume a change is refused
        unless the flag is in `CHANGEABLE_FLAGS` (or is --learning_rate of
        a phased run); accepted changes go with their step to
        history.jsonl, which summary.json names.
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
    self.flags = self.config.pop('flags', None)
    self.stop_signal = None  # 'SIGINT' / 'SIGTERM' while training
    self._recorder = None  # `damrun.pictures.Recorder` of the pictures
    self.run_info = dict(run_info or {}, eval_training=evaluation.training)
    self.report_metrics = tuple(task.report_metrics)
    self.strategy = strategy
    steps.check_divisible(task.batch_size, strategy)
    self.jit_compile = jit_compile = (settings.jit_compile and
                                      steps.replicas(strategy) == 1)
    if settings.jit_compile and not jit_compile:
      log(f'XLA is off under a strategy of {steps.replicas(strategy)} '
          f'replicas: the training step runs as a plain tf.function.')
    if not jit_compile:
      self.time_bucket = 1
    elif settings.time_bucket is None:
      self.time_bucket = task.max_time
    else:
      self.time_bucket = int(settings.time_bucket)

    rundir.check_or_write_config(run_dir, self.config)
    with strategy.scope() if strategy else contextlib.nullcontext():
      self.variables = steps.build(model, optimizer,
                                   task.batch_specs(task.batch_size))
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                              name='step')
      self._phase_start = tf.Variable(0, dtype=tf.int64, trainable=False,
                                      name='phase_start_step')
      self._phase_learning_rate = tf.Variable(
          -1., dtype=tf.float64, trainable=False,
          name='phase_learning_rate')
    self.checkpoints = checkpoints_lib.Checkpoints(
        run_dir.checkpoint,
        dict(model=model, optimizer=optimizer, step=self.step,
             phase_start=self._phase_start,
             phase_learning_rate=self._phase_learning_rate),
        keep=settings.keep_checkpoints, state_key='data_state',
        get_state=self._task_states, set_state=self._set_task_states,
        restore_directory=restore_directory)
    mode = 'xla' if jit_compile else 'function'
    self.traces = {}
    self.compiled_shapes = {'train': set(), 'eval': set()}
    self._train_step = steps.make_train_step(
        model, optimizer, task.loss, task.batch_specs(task.batch_size),
        settings.max_grad_norm, mode, self.traces, self.variables,
        strategy if steps.replicas(strategy) > 1 else None)
    self.eval_step = steps.make_eval_step(
        model, task.loss, task.batch_specs(None), mode, self.traces,
        evaluation.training)
    for phase in self._phases():
      self.checkpoints.keep(phase['checkpoint'])
    self.restored_from = self.checkpoints.resume(log=log)
    # Checked after the restore (in memory only) to know if the run is
    # finished; refusing leaves every file as it was.
    self._flag_changes = self._check_flags()
    if settings.phase_steps is not None:
      self._start_phase(int(settings.phase_steps))
    self._record_flags()

  # -- the flags of the run, their changes and the learning-rate phases -------

  @property
  def _flags_path(self):
    return os.path.join(self.run_dir.root, 'flags.json')

  @property
  def history_path(self):
    """history.jsonl: one line per start of the run with its step and the
    flag changes accepted then."""
    return os.path.join(self.run_dir.root, 'history.jsonl')

  def _check_flags(self):
    """The accepted flag changes {name: [old, new]}; raises on others."""
    if self.flags is None or not os.path.exists(self._flags_path):
      return {}
    with open(self._flags_path) as f:
      saved = json.load(f)
    new = json.loads(json.dumps(self.flags))
    changes = {name: [saved[name], new[name]] for name in sorted(new)
               if name in saved and saved[name] != new[name]}
    allowed = set(CHANGEABLE_FLAGS)
    if self.settings.phase_steps is not None:
      allowed.add('learning_rate')
    elif int(self.step.numpy()) >= self.total_steps:
      # A finished run is only evaluated again (the quirks switch the
      # evaluation mode of Nth Farthest / Convex Hull).
      allowed.add('reproduce_quirks')
    refused = [f'--{name}: the run has {old!r}, the flags give {value!r}'
               for name, (old, value) in changes.items()
               if name not in allowed]
    if refused:
      raise rundir.ConfigMismatchError(
          f'The run in {self.run_dir.root} was trained with other flags '
          f'(recorded in {self._flags_path}), which change its maths or its '
          f'data stream:\n  ' + '\n  '.join(refused) +
          '\nResume it with the recorded values, or pass a new --name to '
          'start a new run; nothing was changed.')
    return changes

  def _record_flags(self):
    """Writes flags.json and the history line of this start."""
    if self.flags is None:
      return
    entry = dict(time=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                 step=int(self.step.numpy()),
                 event='resume' if self.restored_from else 'start',
                 checkpoint=self.restored_from, changes=self._flag_changes)
    if not self.restored_from and not os.path.exists(self._flags_path):
      entry['flags'] = self.flags
    for name, (old, new) in self._flag_changes.items():
      self.log(f'Flag change accepted at step {entry["step"]}: --{name} '
               f'{old!r} -> {new!r} (logged in {self.history_path}).')
    with open(self.history_path, 'a') as f:
      f.write(json.dumps(entry, sort_keys=True) + '\n')
    fileio.write_json_atomic(self._flags_path, self.flags, indent=2,
                             sort_keys=True)

  @property
  def _phases_path(self):
    return os.path.join(self.run_dir.root, 'phases.json')

  def _phases(self):
    """The finished learning-rate phases: [{learning_rate, end_step,
    checkpoint}] (their last checkpoints are never rotated out)."""
    if not os.path.exists(self._phases_path):
      return []
    with open(self._phases_path) as f:
      return json.load(f)

  def _start_phase(self, phase_steps):
    """Sets total_steps from the phase (see `Settings.phase_steps`)."""
    if phase_steps < 0:
      raise ValueError(f'phase_steps must be >= 0, got {phase_steps}.')
    learning_rate = float(self.optimizer.learning_rate)
    previous = float(self._phase_learning_rate.numpy())
    if self.restored_from and previous >= 0 and not np.isclose(
        learning_rate, previous, rtol=1e-6, atol=0.):
      phases = self._phases()
      earlier = [phase for phase in phases if np.isclose(
          phase['learning_rate'], learning_rate, rtol=1e-6, atol=0.)]
      if earlier and not (self.flags or {}).get('return_to_learning_rate'):
        raise rundir.ConfigMismatchError(
            f'The run in {self.run_dir.root} trained at learning rate '
            f'{learning_rate:g} until step {earlier[-1]["end_step"]} '
            f'({earlier[-1]["checkpoint"]}), then at {previous:g} up to step '
            f'{int(self.step.numpy())}: this command would start another '
            f'phase at the earlier rate on the later weights (e.g. the first '
            f'bAbI command rerun after fine-tuning). Run the latest phase\'s '
            f'command to resume, pass --return_to_learning_rate to do this '
            f'deliberately, or a new --name; nothing was changed.')
      phases.append(dict(learning_rate=previous,
                         end_step=int(self.step.numpy()),
                         checkpoint=self.restored_from))
      fileio.write_json_atomic(self._phases_path, phases, indent=2)
      self.checkpoints.keep(self.restored_from)
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

  def check_state(self):
    """Raises FloatingPointError if the state is not fit to checkpoint.

    A model weight that is not finite or exceeds `EXPLODED` in magnitude,
    or an optimizer slot that is not finite, would give a checkpoint that
    cannot resume; the error names the last good checkpoint instead.
    """
    step = int(self.step.numpy())
    for var in self.variables:
      value = var.numpy()
      largest = float(np.max(np.abs(value))) if value.size else 0.
      if not np.isfinite(largest):
        self._refuse_save(step, f'the weight {var.name} became non-finite')
      if largest > EXPLODED:
        self._refuse_save(step, f'the weight {var.name} exploded (max |w| = '
                          f'{largest:.3g} > {EXPLODED:g})')
    for var in getattr(self.optimizer, 'variables', ()):
      if var.dtype.is_floating and not np.all(np.isfinite(var.numpy())):
        self._refuse_save(step, f'the optimizer slot {var.name} became '
                          'non-finite')

  def _refuse_save(self, step, what):
    latest = self.checkpoints.latest or 'none (the run has saved none yet)'
    raise FloatingPointError(
        f'At step {step} {what}; this state is not saved. The last good '
        f'checkpoint is {latest}. Start a new --name with a lower '
        f'--learning_rate or --max_grad_norm (bAbI: rerun with a lower '
        f'--learning_rate to fine-tune from that checkpoint).')

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
    """Pads for XLA (see `Settings.time_bucket`); notes a new shape."""
    batch = steps.pad_time(batch, self.time_bucket, self.task.max_time)
    shape = tuple(batch.inputs.shape[:2])
    if self.jit_compile and shape not in self.compiled_shapes[kind]:
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
      KeyboardInterrupt: Ctrl-C or SIGTERM came during the previous step.
    """
    if self.stop_signal is not None:
      raise KeyboardInterrupt
    metrics = self.train_step(self.task.next_batch())
    if not np.isfinite(metrics['loss']):
      raise FloatingPointError(
          f'The loss became {metrics["loss"]} at step '
          f'{int(self.step.numpy())}; the last good checkpoint is '
          f'{self.checkpoints.latest}. Start a new --name with a lower '
          f'--learning_rate or --max_grad_norm (bAbI: rerun with a lower '
          f'--learning_rate to fine-tune from that checkpoint).')
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
    evaluation_step = (step % self.eval_interval == 0 or
                       step == self.total_steps)
    if self.eval_sets and evaluation_step:
      line += self._evaluate_sets(row)
    if self.evaluation.test is not None and evaluation_step:
      test_row, text = self.evaluation.test(self.model)
      row.update(test_row)
      line += f' | {text}'
    self.log(line)
    self._reporter.write(row)
    if self.evaluation.picture is not None and evaluation_step:
      self._log_picture(step)

  def _log_picture(self, step):
    """The memory picture of `Evaluation.picture` to TensorBoard."""
    from damrun import pictures  # pylint: disable=g-import-not-at-top
    if self._recorder is None:
      self._recorder = pictures.Recorder(self.model)
    self._reporter.image(
        'memory', pictures.memory_picture(
            self._recorder, self.evaluation.picture,
            title=f'{os.path.basename(self.run_dir.root)}, step {step}'),
        step)

  def _evaluate_sets(self, row):
    """Evaluates every evaluation set into `row`; returns the line part."""
    line = ''
    for name, make_batches in self.eval_sets.items():
      results = self.evaluate_batches(make_batches())
      row.update({f'{name}_{k}': v for k, v in results.items()})
      line += (f' | {name} '
               f'{reporting.format_metrics(results, self.report_metrics[-1:])}')
    return line

  def _previous_final(self, start_step):
    """summary.json's `final` of an earlier process of this run, if it is
    not past `start_step` (a rerun of a finished command keeps it)."""
    try:
      with open(self.run_dir.summary) as f:
        final = json.load(f).get('final')
    except (OSError, ValueError, AttributeError):
      return None
    if isinstance(final, dict) and final.get('step', 0) <= start_step:
      return final
    return None

  def train(self):
    """Trains to `total_steps`; returns the summary (also in summary.json).

    SIGTERM (e.g. a cluster's preemption) is handled as Ctrl-C: after the
    step under way, a checkpoint is saved and KeyboardInterrupt raised.
    """
    start_step = int(self.step.numpy())
    # Rows and TensorBoard events past the restored step (written after
    # the last checkpoint by a killed process) are dropped.
    self._reporter = reporting.Reporter(self.run_dir, resume_step=start_step)
    previous_final = self._previous_final(start_step)
    with _stop_at_a_step_boundary(self):
      return self._train(start_step, previous_final)

  def _train(self, start_step, previous_final):
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
                      save=lambda _: self.save(), log=self.log,
                      checkpoint_seconds=self.settings.checkpoint_seconds,
                      eval_interval=(self.eval_interval if self.eval_sets or
                                     self.evaluation.test else None))
    finally:
      self._reporter.flush()
    wall = time.time() - run_start
    summary = dict(
        name=os.path.basename(self.run_dir.root), steps=step,
        start_step=start_step, wall_time_s=wall,
        steps_per_sec=(step - start_step) / wall if wall > 0 else None,
        final=self._reporter.last or previous_final,
        checkpoint=self.checkpoints.latest,
        config=self.config, run=self.run_info, traces=dict(self.traces),
        flags=self.flags, phases=self._phases(),
        history=(self.history_path if os.path.exists(self.history_path)
                 else None),
        xla_compiles={k: len(v) for k, v in self.compiled_shapes.items()})
    reporting.write_summary(self.run_dir.summary, summary)
    return summary


def flag_record(flag_values, modules):
  """{name: value} of the flags the `modules` define (module names, e.g.
  sys.argv[0] and 'damrun.cli'): the 'flags' entry of a Trainer's config."""
  by_module = flag_values.flags_by_module_dict()
  return {flag.name: flag.value for module in modules
          for flag in by_module.get(module, ())}


class _stop_at_a_step_boundary:  # pylint: disable=invalid-name
  """Within: Ctrl-C (SIGINT) and SIGTERM stop the run between two steps.

  A KeyboardInterrupt raised at once could land after a step's update and
  before its step count (a checkpoint one update ahead of its step); the
  signal is noted instead and `Trainer.advance` raises KeyboardInterrupt
  before the next step. A second signal raises at once. Main thread only.
  """

  def __init__(self, trainer):
    self._trainer = trainer
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self._trainer.stop_signal is not None:
      raise KeyboardInterrupt
    name = signal.Signals(signum).name
    self._trainer.stop_signal = name
    print(f'{name} received: stopping after this step and saving a '
          f'checkpoint (again to stop at once).', flush=True)

  def __enter__(self):
    self._trainer.stop_signal = None
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGINT, signal.SIGTERM):
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    return False
