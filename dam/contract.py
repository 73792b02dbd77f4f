"""What a core provides to run under the fast unroll (`dam.unroll`).

`dam.unroll.unroll` runs any Sonnet RNN core. Of a core that provides only
`core(x_t, state) -> (y_t, state)` and `core.initial_state(batch_size)`, it
runs the steps in a plain loop over time (`dam.plain_unroll`). Its fast loop
instead splits every step into pieces, runs them in a rotated order (the
loop body finishes step t - 1 and starts step t) and runs the output layer
after the loop on all steps at once; for that it needs the pieces, named
here by two abstract classes:

* `FastUnrollCore`, the core: controller, output layer, the weights its step
  multiplies by, the dropout draws, the state;
* `FastUnrollAccess`, its memory access (`core.access`): write, read and
  what the one hands to the other.

`dam.core.MemoryCore` and `dam.access.MemoryAccess` declare them (subclass
them). `missing(core)` lists what a core lacks of the two, by name;
`supports_fast_unroll(core)` is what `dam.unroll` checks to choose its loop.

One step made of the pieces (`dam.core.MemoryCore.step`; the fast loop runs
the same calls, rotated):

  controller = core.control(x_t, state_{t-1}, training)
  written = access.write(controller.interface, state_{t-1}.access_state)
  read = access.read(access.read_interface(controller.interface), written,
                     access.handover(state_{t-1}.access_state).read_weights)
  y_t = core.output(controller.output, read.words, training)
  state_t = CoreState(access_output=read.words,
                      access_state=access.state(written, read),
                      controller_state=controller.state)

Symbols: B batch (b: the rows of a window of the loop, b <= B), D input
width, H controller width, R read heads, W word size, K memory blocks, N
slots, O output width.
"""

import abc

import tensorflow as tf


class FastUnrollAccess(abc.ABC):
  """The memory access's part of the contract (`core.access`).

  Its state after a step is a namedtuple with a field `read_weights`
  (wr [B, K, R, N]), as `dam.access_state.DAMAccessState` and
  `DNCAccessState`. Every result below is a nest of tensors (`tf.nest`): the
  loop carries them from a step's first half to its second.
  """

  @property
  @abc.abstractmethod
  def output_size(self):
    """The read words per example, `tf.TensorShape([R, W])`."""

  @abc.abstractmethod
  def write(self, interface, prev_state):
    """The whole write of step t (the memory, and any links).

    Args:
      interface: xi_t, the parsed interface (`core.control(...).interface`),
        a dict of [b, K, ...] tensors.
      prev_state: the access state after step t - 1.

    Returns:
      What the write computed (`dam.access_state.WriteResult`).
    """

  @abc.abstractmethod
  def read_interface(self, interface):
    """The fields of xi_t that `read` uses, a dict (a subset of `interface`).

    Only these reach `read` (in `MemoryCore.step` as in the loop): a `read`
    that looks up any other field raises a KeyError that names this method.
    """

  @abc.abstractmethod
  def handover(self, prev_state):
    """What the read of step t needs of the state after step t - 1: that
    state with its `read_weights` wr_{t-1} [b, K, R, N] kept, the other
    fields () (the loop carries this, not the whole state)."""

  @abc.abstractmethod
  def read(self, interface, written, prev_read_weights):
    """The read of step t, from the memory its write produced.

    Args:
      interface: `read_interface(xi_t)`.
      written: what `write` returned for step t.
      prev_read_weights: wr_{t-1}, [b, K, R, N] (`handover(...)`'s).

    Returns:
      What the read computed, with `words`, r_t [b, R, W]
      (`dam.access_state.ReadResult`).
    """

  @abc.abstractmethod
  def state(self, written, read):
    """The access state after step t, from its write's and its read's
    results (the structure of the state after step t - 1)."""


class FastUnrollCore(abc.ABC):
  """The core's part of the contract.

  A core that provides these (and is a `tf.Module`: the loop reads its
  trainable variables once, `dam.unroll.parameters_read_once`) runs under
  the fast loop. Its state is a `dam.core.CoreState` (access_output r [B, R,
  W], access_state, controller_state with `hidden` [B, H]): the loop builds
  the state after each step itself, from the pieces' results.
  """

  @property
  @abc.abstractmethod
  def access(self):
    """The memory access, a `FastUnrollAccess`."""

  @property
  @abc.abstractmethod
  def output_size(self):
    """O, the width of y_t (an int)."""

  @property
  @abc.abstractmethod
  def built(self):
    """Whether the variables exist. If not, `dam.unroll.build` runs one
    step (`__call__`) before the loop: no variable is created in a loop
    body."""

  @abc.abstractmethod
  def initial_state(self, batch_size, dtype):
    """The state before step 0, a `dam.core.CoreState` of `batch_size`
    (int or scalar tensor) rows of `dtype`."""

  @abc.abstractmethod
  def __call__(self, inputs, prev_state):
    """One whole step: x_t [B, D], state_{t-1} -> (y_t [B, O], state_t)."""

  @abc.abstractmethod
  def control(self, inputs, prev_state, training):
    """The controller of step t and its parsed interface.

    Args:
      inputs: x_t, [b, D].
      prev_state: the `CoreState` after step t - 1.
      training: a Python bool.

    Returns:
      `dam.core.ControllerResult`: output z_t [b, H], state (the
      controller's, with `hidden` [b, H]), interface xi_t (a dict of
      [b, K, ...] tensors, for `access.write` and `access.read_interface`).
    """

  @abc.abstractmethod
  def output(self, controller_output, read_words, training,
             dropout_noise=None):
    """The outputs y of any number of rows, each from its own row only.

    The loop calls it once, after the loop, on all T B rows.

    Args:
      controller_output: z, [rows, H].
      read_words: r, [rows, R, W].
      training: a Python bool.
      dropout_noise: `dropout_noise`'s draws for these rows, [rows, H], or
        None (no dropout, or drawn here).

    Returns:
      y, [rows, O].
    """

  @abc.abstractmethod
  def loop_weights(self):
    """The weight matrices [D_in, D_out] a step multiplies by through
    `dam.dense.matmul` (as the attributes hold them: variables, or the
    tensors `parameters_read_once` read); [] if none."""

  @abc.abstractmethod
  def dropout_noise(self, num_steps, batch_size):
    """The uniform draws [T, B, H] of the dropout of `num_steps` training
    steps (ints or scalar tensors), or None without dropout."""


def _pieces(contract):
  return sorted(contract.__abstractmethods__)


def missing(core):
  """What `core` lacks of the fast-unroll contract, by name.

  Args:
    core: any object.

  Returns:
    A list of names, [] if nothing is missing: the `FastUnrollCore` members
    it lacks ('loop_weights'), 'tf.Module' if it is not one, and the
    `FastUnrollAccess` members its `access` lacks ('access.handover').
  """
  lacks = [] if isinstance(core, tf.Module) else ['tf.Module']
  lacks += [name for name in _pieces(FastUnrollCore)
            if not hasattr(core, name)]
  if hasattr(core, 'access'):
    lacks += [f'access.{name}' for name in _pieces(FastUnrollAccess)
              if not hasattr(core.access, name)]
  return lacks


def supports_fast_unroll(core):
  """Whether `dam.unroll` runs `core` with its fast loop: `missing(core)` is
  empty. A core that declares the contract (a `FastUnrollCore`) but lacks a
  piece (its access's) is an error, raised here as a ValueError."""
  lacks = missing(core)
  if lacks and isinstance(core, FastUnrollCore):
    raise ValueError(
        f'{type(core).__name__} declares dam.contract.FastUnrollCore but '
        f'lacks {lacks} (its access must provide '
        f'dam.contract.FastUnrollAccess).')
  return not lacks


class ReadInterface(dict):
  """The fields `access.read_interface` hands to `access.read`: a dict whose
  missing key is reported as a breach of the contract."""

  def __missing__(self, name):
    raise KeyError(
        f'access.read looked up the interface field {name!r}, which '
        f'access.read_interface does not hand it (it hands {sorted(self)}); '
        f'return it from read_interface '
        f'(dam.contract.FastUnrollAccess.read_interface).')
