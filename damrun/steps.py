"""The compiled training and evaluation steps on one `tasks.base.Batch`.

A step takes a `Batch` of tensors (inputs [B, T, D] or token ids [B, T],
targets, seq_len [B], answer_mask [B, T], refresh_mask [B, T]), runs
`logits = model(batch.inputs, batch.seq_len, training=...)` and the task's
loss `metrics = loss(logits, batch)` (a dict of scalars with 'loss'); the
training step also takes the gradients of metrics['loss'], clips them by
their global norm and applies the optimizer. A step is eager, a
`tf.function` (one trace for every length: the time axis is free in the
signature) or a `tf.function` compiled by XLA, which compiles once per
distinct input shape, so batches are then padded along time (`pad_time`).
"""

import numpy as np
import tensorflow as tf

from dam import optimizers

EXECUTION_MODES = ('eager', 'function', 'xla')


def check_mode(mode):
  """Validates an execution mode name (see `EXECUTION_MODES`)."""
  if mode not in EXECUTION_MODES:
    raise ValueError(f'Unknown execution mode {mode!r}; expected one of '
                     f'{", ".join(EXECUTION_MODES)}.')
  return mode


def _compile(fn, mode, specs, counter, key, model=None):
  """fn as-is (eager), or a tf.function (+ XLA) with a trace counter.

  fn(batch, dropout_noise=None). Under XLA, with a `model` whose training
  calls draw dropout noise, the draws are made by TensorFlow's kernel
  before the compiled part (`model.dropout_noise`) and passed in: XLA:CPU's
  own Philox is slower (bench/KERNELS.md), and every execution mode then
  draws the same numbers (the eager and tf.function steps use that kernel).
  """
  check_mode(mode)
  if mode == 'eager':
    return fn

  def count():
    if counter is not None:  # Runs once per trace, never per call.
      counter[key] = counter.get(key, 0) + 1

  if mode == 'xla' and getattr(model, 'has_dropout', False):
    compiled = tf.function(fn, jit_compile=True)

    def traced_outside(batch):
      count()
      return compiled(batch, model.dropout_noise(batch.inputs))

    return tf.function(traced_outside, input_signature=[specs])

  def traced(batch):
    count()
    return fn(batch)

  return tf.function(traced, input_signature=[specs],
                     jit_compile=(mode == 'xla'))


def build(model, optimizer, specs):
  """Creates the model's variables and the optimizer's slots, eagerly.

  The compiled steps must create no variables: call this first.

  Args:
    model: called as model(inputs, seq_len) (a `dam.model.SequenceModel`).
    optimizer: a `dam.optimizers` optimizer.
    specs: the task's `batch_specs(...)` (only the inputs' dtype and
      feature shape are used).

  Returns:
    The model's trainable variables.
  """
  spec = specs.inputs
  model(tf.zeros([1, 1] + spec.shape[2:].as_list(), spec.dtype),
        tf.ones([1], tf.int32))
  variables = model.trainable_variables
  # Slots only (no update): applying zeros would move TF1 RMSProp's ms.
  optimizer.create_slots(variables)
  return variables


def replicas(strategy):
  """Replicas in sync of `strategy` (None: 1)."""
  return 1 if strategy is None else strategy.num_replicas_in_sync


def check_divisible(batch_size, strategy):
  """Raises ValueError unless the global batch splits evenly."""
  count = replicas(strategy)
  if batch_size is not None and batch_size % count:
    lower = batch_size // count * count or count
    raise ValueError(
        f'--batch_size={batch_size} does not split across {count} replicas '
        f'(the global batch is divided evenly): use a multiple of {count}, '
        f'e.g. {lower} or {lower + count}, or another number of devices.')


def _local_shard(batch, strategy):
  """This replica's slice of the global batch (in a replica context)."""
  count = replicas(strategy)
  index = tf.distribute.get_replica_context().replica_id_in_sync_group

  def shard(x):
    shape = tf.shape(x)
    split = tf.reshape(x, tf.concat([[count, shape[0] // count], shape[1:]],
                                    0))
    return tf.gather(split, index)

  return type(batch)(*[shard(x) for x in batch])


def _distributed(fn, strategy):
  """fn(batch) run on every replica of `strategy` on its slice of the global
  batch (`dam.distribute` makes the losses global), its scalars taken from
  the replicas (they are equal)."""
  if strategy is None:
    return fn

  def run(batch):
    results = strategy.run(lambda b: fn(_local_shard(b, strategy)),
                           args=(batch,))
    return {key: strategy.reduce(tf.distribute.ReduceOp.MEAN, value,
                                 axis=None)
            for key, value in results.items()}

  return run


def make_train_step(model, optimizer, loss, specs, max_grad_norm=50.,
                    mode='xla', counter=None, variables=None, strategy=None):
  """One training step: forward, loss, gradients, clipping, update.

  Args:
    model: called as model(inputs, seq_len, training=True) -> logits.
    optimizer: a `snt.Optimizer` whose slots exist for the variables.
    loss: fn(logits, batch) -> dict of scalars with 'loss' (`task.loss`).
    specs: a `Batch` of tf.TensorSpecs (`task.batch_specs(B)`); the batch
      size is fixed in them for training.
    max_grad_norm: global-norm clipping bound (<= 0: off).
    mode: 'eager', 'function' (tf.function) or 'xla' (tf.function with
      jit_compile; XLA compiles once per distinct input shape).
    counter: optional dict; counter['train'] counts traces.
    variables: the trained variables (default: the model's trainable ones).
    strategy: a `tf.distribute` strategy whose scope holds the model and the
      optimizer, or None. Each replica runs the step on its slice of the
      global batch (B divisible by the replicas); the losses are those of
      the global batch (`dam.distribute`), the gradients are summed over
      the replicas before the clipping and the update, so the step is the
      single-device step on the global batch.

  Returns:
    step(batch) -> dict of the loss's scalars and 'grad_norm'.
  """
  variables = model.trainable_variables if variables is None else variables
  check_divisible(specs.inputs.shape[0], strategy)

  def train_step(batch, dropout_noise=None):
    with tf.GradientTape() as tape:
      logits = model(batch.inputs, batch.seq_len, training=True,
                     **_noise_kwargs(dropout_noise))
      metrics = loss(logits, batch)
    # Embedding gradients stay `tf.IndexedSlices`: the optimizers apply
    # them with TF1's sparse rules in every mode, XLA included.
    grads = tape.gradient(metrics['loss'], variables)
    if replicas(strategy) > 1:
      grads = tf.distribute.get_replica_context().all_reduce(
          tf.distribute.ReduceOp.SUM, grads)
    grads, norm = optimizers.clip_by_global_norm(grads, max_grad_norm)
    optimizer.apply(grads, variables)
    return dict(metrics, grad_norm=norm)

  return _compile(_distributed(train_step, strategy), mode, specs, counter,
                  'train', model if strategy is None else None)


def make_eval_step(model, loss, specs, mode='xla', counter=None,
                   training=False, strategy=None):
  """The loss's metrics of a batch, no update.

  Same arguments as `make_train_step`; the specs may leave the batch size
  free (any batch size, ragged last batch). counter['eval'] counts traces.
  training=True runs the training graph (dropout and clipping on, still no
  update), as the authors' Nth Farthest and Convex Hull scripts measured
  their test accuracy. Under a `strategy`, the batch size must split
  evenly across its replicas (see `make_train_step`).

  Returns:
    step(batch) -> dict of the loss's scalars.
  """
  def eval_step(batch, dropout_noise=None):
    logits = model(batch.inputs, batch.seq_len, training=training,
                   **_noise_kwargs(dropout_noise))
    return loss(logits, batch)

  return _compile(_distributed(eval_step, strategy), mode, specs, counter,
                  'eval', model if training and strategy is None else None)


def _noise_kwargs(dropout_noise):
  """model(...)'s dropout_noise argument, only when there are draws (a model
  without dropout need not take it)."""
  return {} if dropout_noise is None else {'dropout_noise': dropout_noise}


def to_tensors(batch):
  """The same `Batch` type with every field a tensor."""
  return type(batch)(*[tf.convert_to_tensor(x) for x in batch])


def pad_time(batch, multiple, max_time=None):
  """Zero-pads every [B, T, ...] field of a batch up to a multiple of T.

  Args:
    batch: `Batch` of NumPy arrays; seq_len [B] is unchanged.
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
