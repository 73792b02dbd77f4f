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

Besides training, a task says what the tools need of it (`tasks.registry`
names the tasks): how its constructor is fed from flags (`flag_args`,
`from_flags`), how a saved run's task is rebuilt over its test data
(`reopen`), which example of it to draw (`example`), how its outputs read
(`activate`) and which picture it has besides the generic ones
(`picture`, `picture_arrays`; `damrun.pictures` draws them). The defaults
suit a task whose examples are generated and whose outputs are sigmoid
channels: such a task declares only `flag_args`.
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

  What the tools read (class attributes; see also the methods below):
    flag_args: the constructor's arguments taken from the flags (or a saved
      run's settings) of the same names, besides batch_size, p_re and seed
      (`from_flags`); train.py's flags for a task of train.py.
    fixed_examples: False: a reopened task's examples are generated
      (`next_batch`, seeded); True: they come from a fixed test set that
      `example(index)` indexes.
    has_subtasks: `example` takes a `subtask` (bAbI: its tasks 1..20).
    sequence_picture: the generic picture of inputs, targets and outputs
      over time suits the task (not for token ids).
    picture: the kind of the task's own picture (`damrun.pictures.FIGURES`
      maps a kind to its figure, drawn from `picture_arrays`); None: the
      generic pictures only.
  """

  input_size = None
  output_size = None
  vocab_size = None
  max_time = None
  report_metrics = ()
  flag_args = ()
  fixed_examples = False
  has_subtasks = False
  sequence_picture = True
  picture = None

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

  # -- what the tools read (tasks.registry; damrun.saved, damrun.pictures) ---

  @classmethod
  def from_flags(cls, values, batch_size, p_re, seed):
    """The task with the arguments `flag_args` read from `values`.

    Args:
      values: flag name -> value (`absl.flags.FLAGS.flag_values_dict()`, or
        a saved run's settings).
      batch_size, p_re, seed: see `__init__`.

    Raises:
      ValueError: naming the offending flag.
    """
    return cls(batch_size=batch_size, p_re=p_re, seed=seed,
               **{name: values[name] for name in cls.flag_args})

  @classmethod
  def reopen(cls, settings, seed=0, data_dir=None):
    """The task of a saved run over its test data, to draw examples from:
    one example per batch, no refreshing.

    Args:
      settings: the run's settings: flag name -> value (its flags over its
        config.json over its script's defaults; `damrun.saved.settings`).
      seed: seed of the generated or picked example.
      data_dir: the data folder (None: the run's --data_dir), for tasks
        read from files.

    Raises:
      ValueError / OSError: the data cannot be had or do not match the run
        (the message says what to pass).
    """
    del data_dir  # generated: no data
    return cls.from_flags(settings, 1, 0., seed)

  @classmethod
  def synthetic(cls, batch_size, seed=0, **args):
    """The task at the sizes `args` (constructor arguments) without data
    files, for timing (bench/): the constructor by default; a task read from
    files makes stand-in data."""
    return cls(batch_size=batch_size, seed=seed, **args)

  def example(self, index=None, seed=0, subtask=None):
    """One example of a reopened task (`reopen`).

    Args:
      index: the index in the fixed test set (`fixed_examples`); None: a
        generated example (the task was reopened with `seed`) or one
        picked with `seed`.
      seed: see `index`.
      subtask: with `has_subtasks`, restrict `index` to this sub-task.

    Returns:
      (`Batch` of one example, its file-name part such as 'seed0', info: a
      dict of what `picture_arrays` needs, with 'description', one line
      saying which example it is, when the task words it itself).

    Raises:
      ValueError: an index out of range or an unknown sub-task.
    """
    del index, subtask  # generated examples (see `fixed_examples`)
    return self.next_batch(), f'seed{seed}', {}

  def activate(self, logits):
    """The outputs [T, O] as a reader sees them, from the logits [T, O]
    (NumPy): sigmoid channels by default."""
    return sigmoid(logits)

  def picture_arrays(self, batch, info, logits):
    """The keyword arguments of the task's own figure (`picture`) for one
    example: `batch` and `info` from `example`, `logits` [T, O] NumPy. The
    optional key 'memory' holds keyword arguments of the memory figure
    (time_labels, spans, marks). Default: none."""
    del batch, info, logits
    return {}


def sigmoid(x):
  """Elementwise logistic function (NumPy)."""
  return 1. / (1. + np.exp(-x))


def softmax(x):
  """Softmax over the last axis (NumPy)."""
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def pick(index, count, what, seed):
  """The index of one of `count` fixed examples: `index` if given (checked),
  else one drawn with `np.random.default_rng(seed)`.

  Raises:
    ValueError: `index` is out of range (the message names `what`).
  """
  rng = np.random.default_rng(seed)
  if index is None:
    return int(rng.integers(count))
  if not 0 <= index < count:
    raise ValueError(f'--example={index} is out of range: {what} has '
                     f'{count} examples (0..{count - 1}).')
  return index
