"""The KV-MemNN baseline's training (run_kvmemnn.py) on the shared loop.

Miller et al. 2016 as the reference TF implementation trains it
(siyuanzhao/key-value-memory-networks, `joint.py` / `single.py`): epochs over
the training examples in batches (`tasks.babi_kv.epoch_batches`), TF1 Adam
whose learning rate decays by 0.96 every `decay_steps` steps (staircase),
per-tensor clipping and Gaussian gradient noise (`dam.kvmemnn`). Its unit of
the loop (`damrun.loop`) is an epoch: each prints a line, and every
`evaluation_interval` epochs (and at the last) the per-task accuracies on
the training, validation and test splits are printed, appended to
metrics.csv and a checkpoint (model, optimizer, epoch, noise generator,
epoch-order generator) is written (`damrun.checkpoints`). A non-finite
loss or weight stops the run (`FloatingPointError`) before anything of that
epoch is reported or saved, so the checkpoints kept are all finite.

Symbols: B batch, M memory slots, J words per sentence.
"""

import functools
import os
import time

import numpy as np
import tensorflow as tf

from dam import kvmemnn
from dam import optimizers
from damrun import checkpoints as checkpoints_lib
from dam import fileio
from damrun import loop
from damrun import reporting
from damrun import stop_signals
from tasks import babi_kv

SPLITS = ('train', 'val', 'test')


def per_task_accuracy(predict, split, task_ids, batch_size=1000):
  """dict task -> accuracy of `predict` on the examples of that task."""
  predictions = np.concatenate([
      predict(split.S[i:i + batch_size], split.Q[i:i + batch_size])
      for i in range(0, len(split.A), batch_size)])
  right = predictions == split.A
  return {t: float(right[split.task == t].mean()) for t in task_ids}


def write_scores(mode, task_ids, results, output_file):
  """The final accuracies in the reference's format (run_kvmemnn.py).

  Joint: a CSV of the 20 tasks (written atomically). Single task: one line
  appended, as the reference's single.py (a file may gather several
  tasks); it is not appended again when it is the file's last line already
  (a rerun after a kill that came after it, before summary.json), and a
  partial last line left by a kill is cut off first.
  """
  os.makedirs(os.path.dirname(output_file) or '.', exist_ok=True)
  if mode == 'joint':
    def write(f):
      f.write('Task,Training Accuracy,Validation Accuracy,Testing '
              'Accuracy\n')
      for t in task_ids:
        f.write(f'{t},{results["train"][t]:.2f},{results["val"][t]:.2f},'
                f'{results["test"][t]:.2f}\n')
    fileio.write_atomic(output_file, write)
    return
  t = task_ids[0]
  line = (f'{t}, {results["test"][t]:.2f}, {results["train"][t]:.2f}, '
          f'{results["val"][t]:.2f}')
  fileio.repair_tail(output_file)
  if fileio.last_line(output_file) != line:
    fileio.append_line(output_file, line + '\n')


class KVTrainer:
  """One KV-MemNN run: the loop's trainable, an epoch per unit."""

  def __init__(self, model, data, task_ids, hp, run_dir, random_state,
               mix_tasks, gradient_noise, log=None):
    """Builds the optimizer, the compiled steps and the checkpoints.

    Args:
      model: a built `dam.kvmemnn.KVMemNN`.
      data: `tasks.babi_kv.KVData`.
      task_ids: the tasks trained (and reported), e.g. [1] or 1..20.
      hp: the settings (`damrun.presets.KVMEMNN` keys: learning_rate, epsilon,
        l2_lambda, max_grad_norm, evaluation_interval, batch_size, epochs,
        decay_steps, ...).
      run_dir: `damrun.rundir.RunDirectory`.
      random_state: seed of the gradient noise (+ 1) and the epoch order.
      mix_tasks: see `tasks.babi_kv.epoch_batches`.
      gradient_noise: stddev of the gradient noise.
      log: where the lines go (default: printed and flushed).
    """
    self.model, self.data, self.task_ids, self.hp = model, data, task_ids, hp
    self.run_dir, self.mix_tasks = run_dir, mix_tasks
    self.log = log or functools.partial(print, flush=True)
    variables = model.trainable_variables
    self.learning_rate = tf.Variable(hp['learning_rate'], trainable=False,
                                     dtype=tf.float32, name='learning_rate')
    self.optimizer = optimizers.TF1Adam(self.learning_rate,
                                        epsilon=hp['epsilon'])
    self.optimizer.create_slots(variables)
    noise = tf.random.Generator.from_seed(random_state + 1)
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
    self.shuffle_rng = np.random.default_rng(random_state)
    # The learning rate the restored checkpoint was trained at (recorded
    # with the epoch order since this version; None: not known).
    self.restored_learning_rate = None
    self.checkpoints = checkpoints_lib.Checkpoints(
        run_dir.checkpoint,
        dict(model=model, optimizer=self.optimizer, epoch=self.epoch,
             noise=noise),
        keep=3, state_key='order_state',
        get_state=lambda: dict(order=self.shuffle_rng.bit_generator.state,
                               learning_rate=hp['learning_rate']),
        set_state=self._set_order_state)
    self._train_step = self._make_train_step(variables, noise,
                                             gradient_noise)

    @tf.function(input_signature=[
        tf.TensorSpec([None, data.memory_size, data.sentence_size], tf.int32),
        tf.TensorSpec([None, data.sentence_size], tf.int32)])
    def predict_step(stories, queries):
      return tf.argmax(model(stories, queries), -1, output_type=tf.int32)

    self._predict_step = predict_step
    self.num_batches = len(range(0, len(data.train.A) - hp['batch_size'],
                                 hp['batch_size']))
    self.results = None
    self.stop_signal = None  # 'SIGINT' / 'SIGTERM' while training
    self._reporter = reporting.Reporter(run_dir, tensorboard=False)

  def _set_order_state(self, state):
    """Restores the epoch order and notes the learning rate saved with it
    (a checkpoint of an earlier version holds the order alone)."""
    if 'order' in state:
      self.restored_learning_rate = state.get('learning_rate')
      state = state['order']
    self.shuffle_rng.bit_generator.state = state

  def _make_train_step(self, variables, noise, gradient_noise):
    """The compiled step: decayed rate, loss, processed gradients, Adam."""
    model, optimizer, hp = self.model, self.optimizer, self.hp
    data, learning_rate = self.data, self.learning_rate
    batch_size = hp['batch_size']
    decay_steps, base_rate = hp['decay_steps'], hp['learning_rate']

    @tf.function(input_signature=[
        tf.TensorSpec([batch_size, data.memory_size, data.sentence_size],
                      tf.int32),
        tf.TensorSpec([batch_size, data.sentence_size], tf.int32),
        tf.TensorSpec([batch_size], tf.int32)])
    def train_step(stories, queries, answers):
      """stories [B, M, J], queries [B, J], answers [B] -> (loss, CE sum)."""
      # exponential_decay(staircase) of the step count before this update.
      exponent = tf.math.floordiv(optimizer.step, decay_steps)
      learning_rate.assign(base_rate * tf.pow(0.96, tf.cast(exponent,
                                                            tf.float32)))
      with tf.GradientTape() as tape:
        logits = model(stories, queries, training=True)
        total, cross_entropy = kvmemnn.loss(model, logits, answers,
                                            hp['l2_lambda'])
      grads = kvmemnn.process_gradients(
          model, tape.gradient(total, variables), hp['max_grad_norm'],
          gradient_noise, noise)
      optimizer.apply(grads, variables)
      return total, cross_entropy

    return train_step

  def resume(self):
    """Restores the latest checkpoint (None for a new run); see
    `damrun.checkpoints.Checkpoints.resume`."""
    return self.checkpoints.resume()

  def resumed_line(self, restored):
    """The line of a resumed run (`restored`: the checkpoint), saying when
    it goes on at another --learning_rate than it was trained at."""
    line = f'Resumed from {restored} at epoch {int(self.epoch.numpy())}.'
    previous, rate = self.restored_learning_rate, self.hp['learning_rate']
    if previous is not None and not np.isclose(previous, rate, rtol=1e-6,
                                               atol=0.):
      line += (f' Learning rate changed: {previous:g} -> {rate:g} (the base '
               f'rate; its decay goes on from step '
               f'{int(self.optimizer.step.numpy())}).')
    return line

  def predict(self, stories, queries):
    """Answer ids [N] of stories [N, M, J] and queries [N, J]."""
    return self._predict_step(stories, queries).numpy()

  # -- the loop's trainable ----------------------------------------------------

  def _non_finite(self, what, epoch):
    """The error that stops a run whose loss or weights are not finite."""
    latest = self.checkpoints.latest
    if latest:
      how = (f'The last good checkpoint is {latest}. Lower --learning_rate '
             f'(or --max_grad_norm) and run the same command to resume from '
             f'it.')
    else:
      how = ('The run has saved no checkpoint yet, so there is none to go '
             'back to: start it again with a lower --learning_rate (or '
             '--max_grad_norm), under a new --name.')
    return FloatingPointError(
        f'{what} in epoch {epoch} (step '
        f'{int(self.optimizer.step.numpy())}); the run stops here and '
        f'writes no checkpoint and no scores. {how}')

  def check_finite(self, epoch):
    """Raises FloatingPointError if a weight or an Adam slot is not finite
    (`epoch`: the epoch that made them, for the message)."""
    for var in (list(self.model.trainable_variables) +
                list(self.optimizer.m) + list(self.optimizer.v)):
      if not np.all(np.isfinite(var.numpy())):
        raise self._non_finite(
            f'The weights became non-finite ({var.name})', epoch)

  def advance(self):
    """One epoch; returns its mean cross-entropy sum per batch.

    Raises:
      FloatingPointError: the loss or, after the epoch, a weight is not
        finite (nothing is saved or reported then).
      KeyboardInterrupt: Ctrl-C or SIGTERM came during the previous epoch
        (the loop then saves its checkpoint).
    """
    stop_signals.check(self)  # between two epochs: stopping is safe here
    train = self.data.train
    epoch = int(self.epoch.numpy()) + 1
    costs = []
    for rows in babi_kv.epoch_batches(self.shuffle_rng, len(train.A),
                                      self.hp['batch_size'], self.mix_tasks):
      total, cross_entropy = self._train_step(train.S[rows], train.Q[rows],
                                              train.A[rows])
      costs.append(float(cross_entropy))
      if not (np.isfinite(costs[-1]) and np.isfinite(float(total))):
        raise self._non_finite(
            f'The loss became {costs[-1]} (with the L2 term: '
            f'{float(total)})', epoch)
    self.check_finite(epoch)
    self.epoch.assign_add(1)
    return {'cost': np.mean(costs)}

  def save(self, count):
    """Writes a checkpoint after `count` epochs, never of a non-finite state
    (`check_finite`)."""
    self.check_finite(count)
    return self.checkpoints.save(count)

  @property
  def finished(self):
    """Whether the run has trained its --epochs."""
    return int(self.epoch.numpy()) >= self.hp['epochs']

  def evaluate(self):
    """dict split -> task -> accuracy of the current weights."""
    return {split: per_task_accuracy(self.predict, getattr(self.data, split),
                                     self.task_ids)
            for split in SPLITS}

  def report(self, progress, window):
    """The epoch line; at evaluation epochs the accuracies, CSV row."""
    e, epochs = progress.count, self.hp['epochs']
    cost = window['cost'][-1]
    rate = progress.run_rate()
    self.log(f'[epoch {e}/{epochs}] cost {cost:.4f} | '
             f'{rate * self.num_batches:.1f} steps/s, ETA '
             f'{(epochs - e) / rate / 60:.1f} min')
    if e % self.hp['evaluation_interval'] and e != epochs:
      return
    results = self.evaluate()
    elapsed = time.time() - progress.run_start
    mean = {k: float(np.mean(list(v.values()))) for k, v in results.items()}
    self.log(f'Evaluation at epoch {e}: mean accuracy train '
             f'{mean["train"]:.3f} validation {mean["val"]:.3f} test '
             f'{mean["test"]:.3f} | lr '
             f'{float(self.learning_rate.numpy()):.2e} | '
             f'{elapsed / 60:.1f} min')
    for t in self.task_ids:
      self.log(f'  task {t:>2}: train {results["train"][t]:.2f} validation '
               f'{results["val"][t]:.2f} test {results["test"][t]:.2f}')
    row = {'epoch': e, 'step': int(self.optimizer.step.numpy()),
           'wall_time_s': round(elapsed, 2), 'cost': float(cost)}
    for split, accuracies in results.items():
      row.update({f'{split}_task{t}': a for t, a in accuracies.items()})
      row[f'{split}_mean'] = mean[split]
    self._reporter.write(row, scalars=False)
    self.results = results

  def train(self):
    """Runs the remaining epochs; returns the last evaluation's results
    (None when the run had already finished).

    Ctrl-C or SIGTERM stops after the epoch under way with a checkpoint
    (`damrun.stop_signals`): an epoch is never cut in half, so the
    checkpoint's weights, epoch count and epoch order agree.
    """
    with stop_signals.stop_at_a_step_boundary(self, unit='epoch'):
      loop.run(self, int(self.epoch.numpy()), self.hp['epochs'],
               report_interval=1,
               checkpoint_interval=self.hp['evaluation_interval'],
               save=self.save, log=self.log, unit='epoch')
    return self.results
