"""Pieces shared by the task generators.

`Task` holds what every task has (flags, one seeded generator, its
resumable state). The algorithmic tasks of SPEC 4 derive from `ExampleTask`:
they build one example at a time (`_example`, NumPy arrays of that example's
own length t) and `ExampleTask.next_batch` pads B of them to the longest,
samples the Memory Refreshing Loss steps (`dam.mrl`) and returns a `Batch`:

  inputs         float32 [B, T, input_size]
  targets        float32 [B, T, output_size]
  seq_len        int32   [B]      each sequence's length (T = max(seq_len))
  loss_mask      float32 [B, T]   sampled MRL refresh steps 1, answer steps
                                  alpha (`dam.mrl.loss_mask`), else 0
  original_mask  float32 [B, T]   1 on answer steps only

Everything past a sequence's end is zero (inputs, targets and both masks).

One `np.random.default_rng(seed)` per task instance draws both the data and
the MRL masks, in a fixed order per batch (the B examples, then one uniform
per [B, T] element for the refresh mask, whatever p_re is), so a seed fixes
the whole stream, the data do not depend on p_re, and `get_state` /
`set_state` (the generator's bit-generator state, JSON-serialisable)
checkpoint and resume it exactly.
"""

import abc
import collections
import numbers

import numpy as np

from dam import mrl

Batch = collections.namedtuple(
    'Batch', ('inputs', 'targets', 'seq_len', 'loss_mask', 'original_mask'))

# One example before padding (t = its length):
#   inputs [t, input_size], targets [t, output_size] float32;
#   answer [t] bool (original_mask); eligible [t] bool (MRL-eligible steps).
Example = collections.namedtuple(
    'Example', ('inputs', 'targets', 'answer', 'eligible'))


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


def check_lengths(min_length, max_length, minimum=1):
  """Validates the min_length / max_length flags; returns them as ints.

  Raises:
    ValueError: naming the flag, if either is below `minimum` or
      min_length > max_length.
  """
  min_length = check_int('min_length', min_length, minimum)
  max_length = check_int('max_length', max_length, minimum)
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
    seq_len [B] int32, original_mask [B, T] float32, eligible [B, T] bool),
    T = max_b t_b, zero (False) past each example's end.
  """
  seq_len = np.array([len(e.inputs) for e in examples], dtype=np.int32)
  batch, time = len(examples), int(seq_len.max())
  inputs = np.zeros([batch, time, input_size], np.float32)
  targets = np.zeros([batch, time, output_size], np.float32)
  original_mask = np.zeros([batch, time], np.float32)
  eligible = np.zeros([batch, time], bool)
  for b, (example, length) in enumerate(zip(examples, seq_len)):
    inputs[b, :length] = example.inputs
    targets[b, :length] = example.targets
    original_mask[b, :length] = example.answer
    eligible[b, :length] = example.eligible
  return inputs, targets, seq_len, original_mask, eligible


class Task(abc.ABC):
  """Base class of every task: flags, the seeded generator, its state.

  Subclasses set `input_size`, `output_size`, `max_time` (longest possible
  sequence) and `answer_channels` (slice of the output channels that carry
  data), and implement `next_batch()` (or derive from `ExampleTask`).

  Attributes:
    batch_size: B.
    p_re: MRL refreshing probability in [0, 1].
    min_length, max_length: the task's length range (inclusive).
  """

  input_size = None
  output_size = None
  max_time = None
  answer_channels = None

  def __init__(self, batch_size, min_length, max_length, p_re, seed,
               min_length_floor=1):
    """Validates the common flags and seeds the task's generator.

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
    self.batch_size = check_int('batch_size', batch_size, 1)
    self.min_length, self.max_length = check_lengths(
        min_length, max_length, min_length_floor)
    self.p_re = mrl.check_p_re(p_re)
    self._rng = np.random.default_rng(seed)

  def _length(self):
    """A length uniform in [min_length, max_length] (inclusive)."""
    return int(self._rng.integers(self.min_length, self.max_length + 1))

  def _bits(self, shape):
    """Random bits (Bernoulli 0.5) as float32 of `shape`."""
    return self._rng.integers(0, 2, size=shape).astype(np.float32)

  @abc.abstractmethod
  def next_batch(self):
    """The next `Batch` (NumPy arrays)."""

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


class ExampleTask(Task):
  """A task built one example at a time (Copy, AR, RR): `next_batch` pads B
  examples of `_example()`, samples the MRL refresh steps among their
  eligible steps and folds alpha into the loss mask (`dam.mrl.loss_mask`).
  """

  @abc.abstractmethod
  def _example(self):
    """One example (an `Example`)."""

  def next_batch(self):
    """The next padded batch.

    Returns:
      `Batch`(inputs [B, T, input_size], targets [B, T, output_size],
      seq_len [B] int32, loss_mask [B, T], original_mask [B, T]), T = the
      longest sequence of the batch; zero past each sequence's end.
    """
    examples = [self._example() for _ in range(self.batch_size)]
    inputs, targets, seq_len, original_mask, eligible = pad_examples(
        examples, self.input_size, self.output_size)
    refresh = mrl.sample_refresh_mask(eligible, self.p_re, self._rng)
    loss_mask, _ = mrl.loss_mask(refresh, original_mask)
    return Batch(inputs, targets, seq_len, loss_mask, original_mask)
