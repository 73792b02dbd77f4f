"""The interface every task implements, and its batch.

A task generates `Batch`es and says how its loss is computed; the run
machinery (`damrun`) reads nothing else. `Batch` holds

  inputs        float32 [B, T, D]  (token tasks, `vocab_size` set: int32
                                   token ids [B, T])
  targets       float32 [B, T, O]  (token tasks: int32 token ids [B, T])
  seq_len       int32   [B]        each sequence's length (T = max(seq_len))
  answer_mask   float32 [B, T]     1 on the task's answer steps
  refresh_mask  float32 [B, T]     1 on the steps the Memory Refreshing Loss
                                   sampled (`dam.mrl.sample_refresh_mask`;
                                   Park et al. 2021), nothing folded in

zero past each sequence's end, as NumPy arrays (`next_batch`) or as tensors
(inside the compiled step). How the two masks weigh the loss is `dam.mrl`'s
job, called from the task's `loss`.

Every task draws its data and its refresh mask from ONE
`np.random.default_rng(seed)`, so a seed fixes the whole stream, and
`get_state` / `set_state` (the generator's bit-generator state,
JSON-serialisable) checkpoint and resume it exactly.
"""

import abc
import collections
import numbers

import numpy as np

from dam import mrl

Batch = collections.namedtuple(
    'Batch', ('inputs', 'targets', 'seq_len', 'answer_mask', 'refresh_mask'))


def check_int(name, value, minimum=None):
  """Validates an integer flag; returns it as a Python int.

  Raises:
    ValueError: naming the flag, if `value` is not an integer or < minimum.
  """
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ValueError(f'{name} must be an integer, got {value!r}.')
  value = int(value)
  if minimum is not None and value < minimum:
    raise ValueError(f'{name} ({value}) must be >= {minimum}.')
  return value


class Task(abc.ABC):
  """What every task has.

  Attributes:
    batch_size: B of `next_batch()`.
    input_size: D (token tasks: the vocabulary size).
    output_size: O, the width of the core's output.
    vocab_size: None, or V when the inputs are token ids that the model
      embeds (bAbI).
    max_time: the longest possible sequence (the XLA padding cap).
    report_metrics: tuple of (metric key of `loss`, short label) shown on
      progress lines; the last one is also shown for evaluations.
    p_re: the MRL refreshing probability in [0, 1].
  """

  input_size = None
  output_size = None
  vocab_size = None
  max_time = None
  report_metrics = ()

  def __init__(self, batch_size, p_re, seed):
    """Validates the common flags and seeds the task's generator.

    Args:
      batch_size: B >= 1.
      p_re: refreshing probability in [0, 1].
      seed: seed of `np.random.default_rng` (None: fresh OS entropy).

    Raises:
      ValueError: naming the offending flag.
    """
    self.batch_size = check_int('batch_size', batch_size, 1)
    self.p_re = mrl.check_p_re(p_re)
    self._rng = np.random.default_rng(seed)

  @abc.abstractmethod
  def next_batch(self):
    """The next `Batch` (NumPy arrays)."""

  @abc.abstractmethod
  def loss(self, logits, batch):
    """The loss and metrics of a batch, in the compiled step.

    Args:
      logits: the core's output [B, T, O].
      batch: a `Batch` of tensors.

    Returns:
      dict of scalar tensors; 'loss' is what gradients are taken of (built
      with `dam.mrl`), the rest are metrics (`dam.losses`).
    """

  def batch_specs(self, batch_size):
    """tf.TensorSpecs of a `Batch` (batch_size None: any batch size).

    The time axis is free; inputs/targets are float32 [B, T, D] / [B, T, O],
    or int32 token ids [B, T] when `vocab_size` is set.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if self.vocab_size is None:
      inputs = tf.TensorSpec([batch_size, None, self.input_size], tf.float32)
      targets = tf.TensorSpec([batch_size, None, self.output_size],
                              tf.float32)
    else:
      inputs = targets = tf.TensorSpec([batch_size, None], tf.int32)
    mask = tf.TensorSpec([batch_size, None], tf.float32)
    return Batch(inputs, targets, tf.TensorSpec([batch_size], tf.int32),
                 mask, mask)

  def progress(self):
    """Epochs done (a float), or None for a task without epochs."""
    return None

  def get_state(self):
    """The random state: a JSON-serialisable dict (see `set_state`)."""
    return {'rng': self._rng.bit_generator.state}

  def set_state(self, state):
    """Restores a `get_state()` dict: the batch stream continues exactly.

    Raises:
      ValueError: `state` is not a state of this task's generator.
    """
    try:
      rng_state = state['rng']
      kind = rng_state['bit_generator']
    except (KeyError, TypeError) as e:
      raise ValueError(f'Not a task state (expected a dict from '
                       f'get_state()): {state!r}') from e
    expected = type(self._rng.bit_generator).__name__
    if kind != expected:
      raise ValueError(f'The task state is for the {kind} bit generator, '
                       f'this task uses {expected}.')
    self._rng.bit_generator.state = rng_state
