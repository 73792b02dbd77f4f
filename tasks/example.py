"""Tasks built one example at a time: Copy, Associative Recall and
Representation Recall (Park et al. 2021, algorithmic tasks; the authors'
`train.py --mode=...`).

An `ExampleTask` builds one example at a time (`_example`, NumPy arrays of
that example's own length t, a length drawn from the task's inclusive range
[min_length, max_length]); `next_batch` pads B of them to the longest
(`pad_examples`) and samples the Memory Refreshing Loss steps among their
eligible steps (`dam.mrl.sample_refresh_mask`). One `np.random.default_rng`
draws, per batch and in this order, the B examples, then one uniform per
[B, T] element for the refresh mask (whatever p_re is), so the data do not
depend on p_re.

The outputs are sigmoid bits; the loss (`ExampleTask.loss`) is the MRL of
one output (`dam.mrl.single_output_loss`) over the sigmoid cross-entropy:
at a sampled input step the target is that step's input (the generators make
targets equal inputs during the input phase).
"""

import abc
import collections

import numpy as np

from dam import losses
from dam import mrl
from tasks import base

# One example before padding (t = its length):
#   inputs [t, input_size], targets [t, output_size] float32;
#   answer [t] bool (answer steps); eligible [t] bool (MRL-eligible steps).
Example = collections.namedtuple(
    'Example', ('inputs', 'targets', 'answer', 'eligible'))


def check_lengths(min_length, max_length, minimum=1):
  """Validates the min_length / max_length flags; returns them as ints.

  Raises:
    ValueError: naming the flag, if either is below `minimum` or
      min_length > max_length.
  """
  min_length = base.check_int('min_length', min_length, minimum)
  max_length = base.check_int('max_length', max_length, minimum)
  if min_length > max_length:
    raise ValueError(f'min_length ({min_length}) must be <= max_length '
                     f'({max_length}): lower --min_length or raise '
                     f'--max_length.')
  return min_length, max_length


def pad_examples(examples, input_size, output_size):
  """Stacks examples of different lengths into zero-padded arrays.

  Args:
    examples: list of B `Example`s (lengths t_b).
    input_size, output_size: channel counts.

  Returns:
    (inputs [B, T, input_size] float32, targets [B, T, output_size] float32,
    seq_len [B] int32, answer_mask [B, T] float32, eligible [B, T] bool),
    T = max_b t_b, zero (False) past each example's end.
  """
  seq_len = np.array([len(e.inputs) for e in examples], dtype=np.int32)
  batch, time = len(examples), int(seq_len.max())
  inputs = np.zeros([batch, time, input_size], np.float32)
  targets = np.zeros([batch, time, output_size], np.float32)
  answer_mask = np.zeros([batch, time], np.float32)
  eligible = np.zeros([batch, time], bool)
  for b, (example, length) in enumerate(zip(examples, seq_len)):
    inputs[b, :length] = example.inputs
    targets[b, :length] = example.targets
    answer_mask[b, :length] = example.answer
    eligible[b, :length] = example.eligible
  return inputs, targets, seq_len, answer_mask, eligible


class ExampleTask(base.Task):
  """A task of examples with a length range and sigmoid outputs.

  Subclasses set `input_size`, `output_size`, `max_time` and
  `answer_channels`, add their constructor's flags to `flag_args` and
  implement `_example()`.

  Attributes:
    min_length, max_length: the inclusive length range (items / queries).
    answer_channels: slice of the output channels that carry data (the bit
      metrics count these).
    report_metrics: (('accuracy', 'acc'), ('bit_accuracy', 'bit_acc')).
    flag_args: ('min_length', 'max_length') and a subclass's own (train.py's
      flags).
  """

  answer_channels = None
  report_metrics = (('accuracy', 'acc'), ('bit_accuracy', 'bit_acc'))
  flag_args = ('min_length', 'max_length')

  def __init__(self, batch_size, min_length, max_length, p_re, seed,
               min_length_floor=1):
    """Validates the flags and seeds the task's generator.

    Args:
      batch_size: B >= 1.
      min_length, max_length: inclusive length range, both >=
        `min_length_floor`, min_length <= max_length.
      p_re: refreshing probability in [0, 1].
      seed: seed of `np.random.default_rng` (None: fresh OS entropy).
      min_length_floor: the smallest allowed min_length.

    Raises:
      ValueError: naming the offending flag.
    """
    batch_size = base.check_int('batch_size', batch_size, 1)
    self.min_length, self.max_length = check_lengths(
        min_length, max_length, min_length_floor)
    super().__init__(batch_size, p_re, seed)

  def _length(self):
    """A length uniform in [min_length, max_length] (inclusive)."""
    return int(self._rng.integers(self.min_length, self.max_length + 1))

  def _bits(self, shape):
    """Random bits (Bernoulli 0.5) as float32 of `shape`."""
    return self._rng.integers(0, 2, size=shape).astype(np.float32)

  @abc.abstractmethod
  def _example(self):
    """One example (an `Example`)."""

  def next_batch(self):
    """The next padded batch.

    Returns:
      `tasks.base.Batch`(inputs [B, T, input_size], targets
      [B, T, output_size], seq_len [B] int32, answer_mask [B, T],
      refresh_mask [B, T]), T = the longest sequence of the batch; zero past
      each sequence's end.
    """
    examples = [self._example() for _ in range(self.batch_size)]
    inputs, targets, seq_len, answer_mask, eligible = pad_examples(
        examples, self.input_size, self.output_size)
    refresh = mrl.sample_refresh_mask(eligible, self.p_re, self._rng)
    return base.Batch(inputs, targets, seq_len, answer_mask, refresh)

  def loss(self, logits, batch):
    """The MRL-weighted sigmoid cross-entropy and the bit metrics.

    loss = sum_{B,T}(w * CE) / (B * T), CE the sigmoid cross-entropy summed
    over the O channels, w = refresh + alpha * answer, alpha = max(1,
    #refreshed / #answers) (`dam.mrl.single_output_loss`; refresh and
    answer steps are disjoint).

    Args:
      logits: [B, T, O].
      batch: `tasks.base.Batch` of tensors.

    Returns:
      dict(loss, reported_loss, accuracy, bit_accuracy,
      bit_errors_per_sequence) (`dam.losses.bit_metrics`).
    """
    per_step = losses.sigmoid_cross_entropy(logits, batch.targets)  # [B, T]
    alpha = mrl.answer_weight(batch.refresh_mask, batch.answer_mask)
    loss = mrl.single_output_loss(per_step, batch.refresh_mask,
                                  batch.answer_mask, batch.seq_len, alpha)
    return dict(loss=loss, **losses.bit_metrics(
        logits, batch.targets, per_step, batch.answer_mask,
        self.answer_channels))
