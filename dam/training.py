"""The one training loop every task script runs (train.py for the
algorithmic tasks and bAbI, run_nfar.py, run_convexhull.py).

A task supplies batches (`next_batch()` -> `tasks.base.Batch` of NumPy
arrays: inputs [B, T, D], targets [B, T, O], seq_len [B], loss_mask [B, T],
original_mask [B, T]) and a resumable random state (`get_state`,
`set_state`); a loss function (`dam.losses`) turns logits and a batch into
a dict of scalars. `Trainer` owns the rest:

* a compiled training step (`tf.function` with the batch size fixed in the
  signature and the time axis free, so sequences of any length reuse one
  trace; optional XLA): forward, loss, gradients, global-norm clipping,
  optimizer update;
* checkpoints (model, optimizer, step, task random state) under
  `info/<name>/checkpoint` every `checkpoint_interval` steps, at the end, and
  on Ctrl-C; automatic resume from the latest one; the model configuration in
  `info/<name>/config.json`, checked on resume;
* a progress line every `report_interval` steps (step/total, epoch for
  epoch-based tasks, loss, the task's metrics, steps/s, ETA), TensorBoard
  scalars in `info/<name>/log`, the same numbers in `info/<name>/metrics.csv`,
  optional evaluation on fresh held-out batches or on fixed evaluation sets,
  and a final `info/<name>/summary.json`;
* learning-rate phases (`phase_steps`): fine-tuning from a checkpoint trained
  at another learning rate continues the step count.
"""

import csv
import datetime
import json
import os
import time

import numpy as np
import sonnet as snt
import tensorflow as tf

from dam import core as core_lib
from dam import dam as dam_lib
from dam import dnc as dnc_lib
from dam import optimizers
from dam.unroll import unroll


def build_core(output_size, use_dam=True, hidden_size=128, memory_size=64,
               word_size=36, num_reads=1, num_writes=1, num_blocks=2,
               keep_prob=0.9, clip_value=20., mlp_sizes=(), seed=None):
  """The DAM (`use_dam=True`) or the DNC baseline, from the authors' flags."""
  common = dict(output_size=output_size, hidden_size=hidden_size,
                memory_size=memory_size, word_size=word_size,
                num_reads=num_reads, num_writes=num_writes,
                clip_value=clip_value, mlp_sizes=mlp_sizes)
  if use_dam:
    return dam_lib.DAM(num_blocks=num_blocks, keep_prob=keep_prob, seed=seed,
                       **common)
  return dnc_lib.DNC(**common)


EXECUTION_MODES = ('eager', 'function', 'xla')


def check_mode(mode):
  """Validates an execution mode name (see `EXECUTION_MODES`)."""
  if mode not in EXECUTION_MODES:
    raise ValueError(f'Unknown execution mode {mode!r}; expected one of '
                     f'{", ".join(EXECUTION_MODES)}.')
  return mode


def _compile(fn, mode, signature, counter, key):
  """fn as-is (eager), or a tf.function (+ XLA) with a trace counter."""
  check_mode(mode)
  if mode == 'eager':
    return fn

  def traced(*args):
    if counter is not None:  # Runs once per trace, never per call.
      counter[key] = counter.get(key, 0) + 1
    return fn(*args)

  return tf.function(traced, input_signature=signature,
                     jit_compile=(mode == 'xla'))


def make_train_step(model, optimizer, loss_fn, variables, max_grad_norm,
                    signature, mode='xla', counter=None):
  """One training step: forward, loss, gradients, clipping, update.

  Args:
    model: called as model(inputs, seq_len, training=True) -> logits.
    optimizer: a `snt.Optimizer` whose slots exist for `variables`.
    loss_fn: fn(logits, targets, loss_mask, original_mask, seq_len) -> dict
      of scalars with 'loss'.
    variables: the trained variables.
    max_grad_norm: global-norm clipping bound (<= 0: off).
    signature: tf.TensorSpecs of (inputs, targets, seq_len, loss_mask,
      original_mask); the batch size is fixed in them for training.
    mode: 'eager', 'function' (tf.function) or 'xla' (tf.function with
      jit_compile; XLA compiles once per distinct input shape).
    counter: optional dict; counter['train'] counts traces.

  Returns:
    step(inputs, targets, seq_len, loss_mask, original_mask) -> dict of the
    loss function's scalars and 'grad_norm'.
  """
  def train_step(inputs, targets, seq_len, loss_mask, original_mask):
    with tf.GradientTape() as tape:
      logits = model(inputs, seq_len, training=True)
      metrics = loss_fn(logits, targets, loss_mask, original_mask, seq_len)
    # Embedding gradients stay `tf.IndexedSlices`: the optimizers apply
    # them with TF1's sparse rules in every mode, XLA included.
    grads = tape.gradient(metrics['loss'], variables)
    grads, norm = optimizers.clip_by_global_norm(grads, max_grad_norm)
    optimizer.apply(grads, variables)
    return dict(metrics, grad_norm=norm)

  return _compile(train_step, mode, signature, counter, 'train')


def make_eval_step(model, loss_fn, signature, mode='xla', counter=None,
                   training=False):
  """The loss function's metrics of a batch in evaluation mode (no update).

  Same arguments as `make_train_step`; the signature may leave the batch
  size free (any batch size, ragged last batch). counter['eval'] counts
  traces. training=True runs the training graph (dropout and clipping on,
  still no update), as the authors' Nth Farthest and Convex Hull scripts
  measured their test accuracy.
  """
  def eval_step(inputs, targets, seq_len, loss_mask, original_mask):
    logits = model(inputs, seq_len, training=training)
    return loss_fn(logits, targets, loss_mask, original_mask, seq_len)

  return _compile(eval_step, mode, signature, counter, 'eval')


class SequenceModel(snt.Module):
  """A core unrolled over padded sequences: inputs -> logits [B, T, O].

  Inputs are feature vectors [B, T, D], or, with `vocab_size`, token ids
  [B, T] looked up in a learned embedding [vocab_size, embedding_size]
  (Glorot-uniform, as the authors' `xavier_initializer`; bAbI).
  """

  def __init__(self, core, vocab_size=None, embedding_size=None,
               name='model'):
    super().__init__(name=name)
    self.core = core
    self.embed = (snt.Embed(vocab_size, embedding_size,
                            initializer=core_lib.glorot_uniform(),
                            name='embedding')
                  if vocab_size else None)

  def __call__(self, inputs, sequence_length, training=False):
    if self.embed is not None:
      inputs = self.embed(inputs)
    outputs, _ = unroll(self.core, inputs, sequence_length,
                         training=training, freeze_finished=False)
    return outputs


class RunDirectory:
  """Paths of one run: info/<name>/{checkpoint,log,config.json,...}."""

  def __init__(self, name, root='info'):
    if not name:
      raise ValueError('--name must not be empty: it names the run directory '
                       f'{root}/<name>.')
    self.root = os.path.join(root, name)
    self.checkpoint = os.path.join(self.root, 'checkpoint')
    self.log = os.path.join(self.root, 'log')
    self.config = os.path.join(self.root, 'config.json')
    self.metrics = os.path.join(self.root, 'metrics.csv')
    self.summary = os.path.join(self.root, 'summary.json')


class ConfigMismatchError(ValueError):
  """Flags that change the model differ from the checkpoint's."""


def check_or_write_config(run_dir, config):
  """Writes config.json on a new run; on resume, checks it is unchanged.

  Args:
    run_dir: `RunDirectory`.
    config: dict of the settings a checkpoint depends on (model sizes,
      task, ...); JSON-serialisable.

  Raises:
    ConfigMismatchError: naming every differing setting.
  """
  config = json.loads(json.dumps(config))
  if os.path.exists(run_dir.config):
    with open(run_dir.config) as f:
      saved = json.load(f)
    differences = [f'{key}: checkpoint has {saved.get(key)!r}, flags give '
                   f'{config.get(key)!r}'
                   for key in sorted(set(saved) | set(config))
                   if saved.get(key) != config.get(key)]
    if differences:
      raise ConfigMismatchError(
          f'The run in {run_dir.root} was started with other settings:\n  ' +
          '\n  '.join(differences) +
          '\nUse the same flags to resume it, or pass a new --name to start '
          'a new run.')
    return
  os.makedirs(run_dir.root, exist_ok=True)
  with open(run_dir.config, 'w') as f:
    json.dump(config, f, indent=2, sort_keys=True)


def pad_time(batch, multiple, max_time=None):
  """Zero-pads a batch's time axis up to a multiple of `multiple`.

  Args:
    batch: `Batch` of NumPy arrays (inputs, targets, seq_len, loss_mask,
      original_mask); seq_len is unchanged.
    multiple: bucket size (1: no padding).
    max_time: never pad beyond this length (None: no cap).

  Returns:
    The padded `Batch` (the same object when no padding is needed).
  """
  time = batch.inputs.shape[1]
  target = -(-time // multiple) * multiple
  if max_time is not None:
    target = max(time, min(target, max_time))
  if target == time:
    return batch
  def pad(x):
    if x.ndim < 2:
      return x
    widths = [(0, 0), (0, target - time)] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, widths)
  return type(batch)(*[pad(x) for x in batch])


def append_csv_row(path, row):
  """Appends a dict as a CSV row; new columns rewrite the file with them.

  Rows of earlier runs (a resumed run appends to the same file) keep their
  values; columns a row lacks stay empty.
  """
  header, rows = [], []
  if os.path.exists(path):
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      header = list(reader.fieldnames or [])
      if any(key not in header for key in row):
        rows = list(reader)
  new_keys = [key for key in row if key not in header]
  if new_keys or not header:
    header += new_keys
    with open(path, 'w', newline='') as f:
      out = csv.DictWriter(f, fieldnames=header)
      out.writeheader()
      out.writerows(rows)
  with open(path, 'a', newline='') as f:
    csv.DictWriter(f, fieldnames=header).writerow(row)


def _format_duration(seconds):
  return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class Trainer:
  """Trains a `SequenceModel` on a task (see module docstring)."""

  def __init__(self, model, task, optimizer, run_dir, loss_fn, total_steps,
               max_grad_norm=50., report_interval=100, checkpoint_interval=1000,
               eval_task=None, eval_batches=0, eval_sets=None,
               eval_interval=None, report_metrics=None, jit_compile=False,
               time_bucket=None, config=None, keep_checkpoints=5,
               phase_steps=None, eval_training=False, run_info=None,
               log=print):
    """Builds the compiled steps and the checkpoint; restores if one exists.

    Args:
      model: `SequenceModel` (or any module called as
        model(inputs, sequence_length, training=...)).
      task: batch source with `next_batch`, `get_state`, `set_state`,
        `batch_size`, `input_size`, `output_size`.
      optimizer: a `snt.Optimizer` (`dam.optimizers.make_optimizer`).
      run_dir: `RunDirectory`.
      loss_fn: fn(logits, targets, loss_mask, original_mask, seq_len) ->
        dict of scalars with a 'loss' entry (`dam.losses`).
      total_steps: train until the step counter reaches this (ignored
        with `phase_steps`).
      max_grad_norm: global-norm clipping (<= 0: off).
      report_interval: steps between progress lines.
      checkpoint_interval: steps between checkpoints.
      eval_task: optional task of held-out batches (its own seed).
      eval_batches: held-out batches evaluated at each report.
      eval_sets: optional dict name -> fn() returning an iterable of
        `Batch`es (a fixed test set, any batch sizes); each is evaluated
        every `eval_interval` steps and at the end, its metrics averaged
        over examples and logged as `<name>_<metric>`.
      eval_interval: steps between evaluations of `eval_sets` (default:
        `report_interval`); a multiple of `report_interval` keeps them on
        report lines.
      report_metrics: (metric key, label) pairs shown on the progress line
        after the loss (default: the algorithmic tasks' accuracy and bit
        accuracy); the last one is also shown for each evaluation.
      jit_compile: compile the training and evaluation steps with XLA
        (the fastest mode on CPU; see bench/). XLA compiles once per
        distinct batch shape, so batches are then padded along time (see
        `time_bucket`); `compiled_shapes` records the shapes compiled.
      time_bucket: with XLA, pad the time axis to a multiple of this (at
        most the task's `max_time`); None pads every batch to the task's
        `max_time`, one compilation in all (tasks whose batches are nearly
        always near their longest length: the algorithmic ones).
      config: settings saved to config.json and checked on resume.
      keep_checkpoints: how many checkpoints to keep (None: all).
      phase_steps: train in phases of this many steps, each with one
        learning rate (bAbI: --epoch epochs, then fine-tuning): restoring a
        checkpoint trained at ANOTHER learning rate than the optimizer's
        starts a new phase at the restored step (the step count goes on);
        the same learning rate resumes the current phase. The phase start
        and its learning rate are saved in the checkpoints.
      eval_training: run every evaluation (held-out batches and
        `eval_sets`) in training mode: dropout and clipping on, no update
        (the authors' Nth Farthest / Convex Hull test accuracy); False:
        evaluation mode.
      run_info: extra JSON-serialisable settings written to summary.json
        (not checked on resume), e.g. the precision.
      log: where progress lines go (besides the files).
    """
    eval_interval = report_interval if eval_interval is None else eval_interval
    for flag, value in (('report_interval', report_interval),
                        ('checkpoint_interval', checkpoint_interval),
                        ('eval_interval', eval_interval)):
      if value < 1:
        raise ValueError(f'{flag} must be >= 1, got {value}.')
    if total_steps < 0:
      raise ValueError(f'the number of training steps must be >= 0, got '
                       f'{total_steps}.')
    self.model = model
    self.task = task
    self.optimizer = optimizer
    self.run_dir = run_dir
    self.loss_fn = loss_fn
    self.total_steps = int(total_steps)
    self.max_grad_norm = max_grad_norm
    self.report_interval = int(report_interval)
    self.checkpoint_interval = int(checkpoint_interval)
    self.eval_task = eval_task
    self.eval_batches = int(eval_batches)
    self.eval_sets = dict(eval_sets or {})
    self.eval_interval = int(eval_interval)
    self.report_metrics = tuple(report_metrics or (
        ('accuracy', 'acc'), ('bit_accuracy', 'bit_acc')))
    self.log = log
    self.config = dict(config or {})
    self.eval_training = bool(eval_training)
    self.run_info = dict(run_info or {}, eval_training=self.eval_training)
    self.jit_compile = bool(jit_compile)
    max_time = getattr(task, 'max_time', None)
    if not jit_compile:
      self.time_bucket = 1
    elif time_bucket is None:
      self.time_bucket = max_time or 1
    else:
      self.time_bucket = int(time_bucket)

    check_or_write_config(run_dir, self.config)
    self._build()
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self._data_state = tf.Variable('', dtype=tf.string, trainable=False,
                                   name='data_state')
    self._phase_start = tf.Variable(0, dtype=tf.int64, trainable=False,
                                    name='phase_start_step')
    self._phase_learning_rate = tf.Variable(
        -1., dtype=tf.float64, trainable=False, name='phase_learning_rate')
    self.checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=self.step,
        data_state=self._data_state, phase_start=self._phase_start,
        phase_learning_rate=self._phase_learning_rate)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, run_dir.checkpoint, max_to_keep=keep_checkpoints)
    mode = 'xla' if jit_compile else 'function'
    self.traces = {}
    self.compiled_shapes = {'train': set(), 'eval': set()}
    self._train_step = make_train_step(
        model, optimizer, loss_fn, self.variables, max_grad_norm,
        self._specs(task.batch_size), mode, self.traces)
    self._eval_step = make_eval_step(model, loss_fn, self._specs(None), mode,
                                     self.traces, self.eval_training)
    self.restored_from = self._restore()
    if phase_steps is not None:
      self._start_phase(int(phase_steps))

  # -- construction ------------------------------------------------------------

  def _build(self):
    """Creates all variables eagerly, so the compiled steps create none."""
    spec = self._specs(1)[0]
    self.model(tf.zeros([1, 1] + spec.shape[2:].as_list(), spec.dtype),
               tf.ones([1], tf.int32))
    self.variables = self.model.trainable_variables
    # Slots only (no update): applying zeros would move TF1 RMSProp's ms.
    self.optimizer._initialize(self.variables)  # pylint: disable=protected-access

  def _specs(self, batch_size):
    """Signature of a batch: the task's `batch_specs(B)` if it has one,
    else float inputs [B, T, input_size] and targets [B, T, output_size]."""
    task = self.task
    if hasattr(task, 'batch_specs'):
      return tuple(task.batch_specs(batch_size))
    return (tf.TensorSpec([batch_size, None, task.input_size], tf.float32),
            tf.TensorSpec([batch_size, None, task.output_size], tf.float32),
            tf.TensorSpec([batch_size], tf.int32),
            tf.TensorSpec([batch_size, None], tf.float32),
            tf.TensorSpec([batch_size, None], tf.float32))

  def _start_phase(self, phase_steps):
    """Sets total_steps from the phase (see `phase_steps` in __init__)."""
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

  # -- checkpoints ---------------------------------------------------------------

  def _task_states(self):
    states = {'train': self.task.get_state()}
    if self.eval_task is not None:
      states['eval'] = self.eval_task.get_state()
    return json.dumps(states)

  def _restore(self):
    latest = self.manager.latest_checkpoint
    if latest is None:
      if os.path.isdir(self.run_dir.checkpoint) and any(
          name.startswith('ckpt') for name in os.listdir(
              self.run_dir.checkpoint)):
        raise RuntimeError(
            f'{self.run_dir.checkpoint} holds checkpoint files but no readable '
            f'"checkpoint" index file. Restore the index (or move the files '
            f'away) to resume, or pass a new --name; nothing was changed.')
      return None
    try:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError,
            KeyError) as e:
      # IndexError: TF's reader on a truncated data file.
      raise RuntimeError(
          f'Cannot restore the checkpoint {latest}: {type(e).__name__}: '
          f'{str(e).splitlines()[0] if str(e) else ""}\nIt is corrupt or was '
          f'written by another model. Delete {self.run_dir.checkpoint} to '
          f'start over, or pass a new --name; nothing was overwritten.'
      ) from e
    states = json.loads(self._data_state.numpy().decode() or '{}')
    if 'train' in states:
      self.task.set_state(states['train'])
    if self.eval_task is not None and 'eval' in states:
      self.eval_task.set_state(states['eval'])
    return latest

  def save(self):
    """Writes a checkpoint at the current step (with the task states)."""
    self._data_state.assign(self._task_states())
    return self.manager.save(checkpoint_number=int(self.step.numpy()))

  # -- running -------------------------------------------------------------------

  def _pad(self, batch, kind):
    """Pads for XLA (see `time_bucket`) and notes a new compiled shape."""
    batch = pad_time(batch, self.time_bucket,
                     getattr(self.task, 'max_time', None))
    shape = tuple(batch.inputs.shape[:2])
    if self.jit_compile and shape not in self.compiled_shapes[kind]:
      self.compiled_shapes[kind].add(shape)
      self.log(f'XLA: compiling the {kind} step for batch x time {shape} '
               f'(compilation {len(self.compiled_shapes[kind])}).')
    return batch

  def train_step(self, batch):
    """One compiled training step on a `Batch`; returns float metrics."""
    batch = self._pad(batch, 'train')
    metrics = self._train_step(*[tf.convert_to_tensor(x) for x in batch])
    self.step.assign_add(1)
    return {k: float(v) for k, v in metrics.items()}

  def evaluate_batches(self, batches):
    """Metrics over `Batch`es in evaluation mode, averaged over examples.

    The batches may have any (also different) sizes and lengths: the
    evaluation step has a dynamic batch size and time axis.
    """
    totals, count = {}, 0
    for batch in batches:
      size = batch.inputs.shape[0]
      batch = self._pad(batch, 'eval')
      metrics = self._eval_step(*[tf.convert_to_tensor(x) for x in batch])
      for k, v in metrics.items():
        totals[k] = totals.get(k, 0.) + float(v) * size
      count += size
    if not count:
      raise ValueError('Nothing to evaluate: the evaluation set is empty.')
    return {k: v / count for k, v in totals.items()}

  def evaluate(self, num_batches=None, task=None):
    """Mean metrics over fresh held-out batches (evaluation mode)."""
    task = task or self.eval_task
    num_batches = self.eval_batches if num_batches is None else num_batches
    return self.evaluate_batches(task.next_batch() for _ in range(num_batches))

  def _format_metrics(self, metrics, keys=None):
    keys = self.report_metrics if keys is None else keys
    return ' '.join(f'{label} {metrics.get(key, float("nan")):.4f}'
                    for key, label in keys)

  def _report(self, step, window, elapsed, start_step, writer, csv_writer,
              run_start):
    means = {k: float(np.mean(v)) for k, v in window.items()}
    rate = (step - start_step) / max(elapsed, 1e-9)
    eta = (self.total_steps - step) / max(rate, 1e-9)
    row = {'step': step, 'wall_time_s': round(time.time() - run_start, 3),
           'steps_per_sec': rate}
    row.update({f'train_{k}': v for k, v in means.items()})
    epoch = None  # Epoch-based tasks (bAbI): epochs done, fractional.
    if hasattr(self.task, 'steps_per_epoch'):
      epoch = self.task.epoch + self.task.position / self.task.steps_per_epoch
      row['epoch'] = round(epoch, 4)
    line = (f'[{step}/{self.total_steps}]'
            f'{"" if epoch is None else f" epoch {epoch:.2f}"} '
            f'loss {means["loss"]:.4f} '
            f'{self._format_metrics(means)} '
            f'| {rate:.2f} steps/s, ETA {_format_duration(eta)}')
    if self.eval_task is not None and self.eval_batches > 0:
      held_out = self.evaluate()
      row.update({f'eval_{k}': v for k, v in held_out.items()})
      line += (f' | eval loss {held_out["loss"]:.4f} '
               f'{self._format_metrics(held_out, self.report_metrics[-1:])}')
    if self.eval_sets and (step % self.eval_interval == 0 or
                           step == self.total_steps):
      line += self._evaluate_sets(row)
    self.log(line)
    with writer.as_default(step=step):
      for key, value in row.items():
        if key != 'step':
          tf.summary.scalar(key, value)
    csv_writer(row)
    return row

  def _evaluate_sets(self, row):
    """Evaluates every `eval_sets` entry into `row`; returns the line part."""
    line = ''
    for name, make_batches in self.eval_sets.items():
      results = self.evaluate_batches(make_batches())
      row.update({f'{name}_{k}': v for k, v in results.items()})
      line += (f' | {name} '
               f'{self._format_metrics(results, self.report_metrics[-1:])}')
    return line

  def train(self):
    """Trains to `total_steps`; returns the summary (also in summary.json)."""
    run_dir = self.run_dir
    os.makedirs(run_dir.log, exist_ok=True)
    writer = tf.summary.create_file_writer(run_dir.log)
    start_step = int(self.step.numpy())
    if self.restored_from:
      self.log(f'Resumed from {self.restored_from} at step {start_step}.')
    history = []

    def write_csv(row):
      history.append(row)
      append_csv_row(run_dir.metrics, row)

    window = {}
    run_start = time.time()
    window_start, window_step = time.time(), start_step
    step = start_step
    if step >= self.total_steps and self.eval_sets:
      # A finished run: evaluate it again (e.g. with other evaluation
      # settings); the row goes to metrics.csv with evaluation_only = 1.
      row = {'step': step, 'evaluation_only': 1,
             'eval_training': int(self.eval_training)}
      line = self._evaluate_sets(row)
      self.log(f'[{step}/{self.total_steps}] already trained; evaluation '
               f'({"training" if self.eval_training else "evaluation"} '
               f'mode){line}')
      write_csv(row)
    try:
      while step < self.total_steps:
        metrics = self.train_step(self.task.next_batch())
        step += 1
        for k, v in metrics.items():
          window.setdefault(k, []).append(v)
        if not np.isfinite(metrics['loss']):
          raise FloatingPointError(
              f'The loss became {metrics["loss"]} at step {step}; the last '
              f'good checkpoint is {self.manager.latest_checkpoint}. Lower '
              f'--learning_rate or --max_grad_norm and resume.')
        if step % self.report_interval == 0 or step == self.total_steps:
          self._report(step, window, time.time() - window_start, window_step,
                       writer, write_csv, run_start)
          window, window_start, window_step = {}, time.time(), step
        if step % self.checkpoint_interval == 0 or step == self.total_steps:
          self.save()
    except KeyboardInterrupt:
      path = self.save()
      self.log(f'Interrupted at step {step}; saved {path}. Run the same '
               f'command to resume.')
      raise
    finally:
      writer.flush()
    wall = time.time() - run_start
    summary = dict(
        name=os.path.basename(run_dir.root), steps=step,
        start_step=start_step, wall_time_s=wall,
        steps_per_sec=(step - start_step) / wall if wall > 0 else None,
        final=history[-1] if history else None,
        checkpoint=self.manager.latest_checkpoint, config=self.config,
        run=self.run_info,
        traces=dict(self.traces),
        xla_compiles={k: len(v) for k, v in self.compiled_shapes.items()})
    with open(run_dir.summary, 'w') as f:
      json.dump(summary, f, indent=2, sort_keys=True)
    return summary
