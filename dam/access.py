"""Memory access modules: the DAM multi-block access and the DNC access.

Both are siblings over `MemoryAccess`, which owns what they share: the one
fused interface layer and its parsing, the usage update, the write weights and
the erase-then-add write, all from `dam.addressing`. They differ only in how
they read:

* `DAMAccess` (Park et al. 2021): K blocks, one write head per block,
  content-only reads in every block, an attentive gate g = softmax over blocks
  for each read head, gated read weights kept in the state, read words summed
  over blocks.
* `DNCAccess` (Graves et al. 2016): one memory (K = 1), temporal link matrix,
  read modes (backward, forward, content).

Symbols: B batch, K blocks, N slots, W word size, Wh write heads per block,
R read heads.
"""

import abc
import collections

import numpy as np
import sonnet as snt
import tensorflow as tf

from dam import addressing

DAMAccessState = collections.namedtuple(
    'DAMAccessState',
    ('memory', 'read_weights', 'write_weights', 'usage', 'attentive_gate'))
DAMAccessState.__doc__ = """State of `DAMAccess`.

Fields:
  memory: M_k for every block, [B, K, N, W].
  read_weights: GATED read weights g[k, r] * c_k[r], [B, K, R, N].
  write_weights: [B, K, Wh, N].
  usage: [B, K, N].
  attentive_gate: g, [B, K, R] (sums to 1 over K); kept for inspection.
"""

DNCAccessState = collections.namedtuple(
    'DNCAccessState',
    ('memory', 'read_weights', 'write_weights', 'linkage', 'usage'))
DNCAccessState.__doc__ = """State of `DNCAccess` (K = 1 block).

Fields:
  memory: [B, 1, N, W].
  read_weights: [B, 1, R, N].
  write_weights: [B, 1, Wh, N].
  linkage: `addressing.TemporalLinkageState` with link [B, 1, Wh, N, N] and
    precedence_weights [B, 1, Wh, N].
  usage: [B, 1, N].
"""

# One slice of the interface vector: its name, its shape after the batch axis
# (leading with the block axis K) and its activation.
InterfaceField = collections.namedtuple('InterfaceField',
                                        ('name', 'shape', 'activation'))


def _identity(x):
  return x


def softmax_over_blocks(logits):
  """softmax over the block axis (axis 1) of [B, K, R] logits.

  Written with reductions along axis 1: `tf.nn.softmax(axis=1)` transposes,
  and the gradient of that transpose cannot be compiled by XLA inside a
  while loop.
  """
  shifted = logits - tf.stop_gradient(
      tf.reduce_max(logits, axis=1, keepdims=True))
  exp = tf.exp(shifted)
  return exp / tf.reduce_sum(exp, axis=1, keepdims=True)


class MemoryAccess(snt.Module, metaclass=abc.ABCMeta):
  """What the DAM and DNC accesses share.

  One dense layer maps the controller output to the interface vector, which is
  split into named fields (`interface_fields`), each reshaped to
  [B, K, ...] and passed through its activation. The write path (usage,
  allocation, write weights, erase-then-add) is the same for both models.

  Subclasses define `interface_fields`, `initial_state` and `read`.
  """

  def __init__(self, memory_size, word_size, num_reads, num_writes,
               num_blocks, interface_w_init=None, name=None):
    """Builds the module; parameters are created on the first call.

    Args:
      memory_size: N, slots per block.
      word_size: W.
      num_reads: R, read heads.
      num_writes: Wh, write heads per block.
      num_blocks: K.
      interface_w_init: initializer of the interface layer's weights
        (Sonnet's default, truncated normal 1/sqrt(fan_in), if None).
      name: module name.
    """
    super().__init__(name=name)
    for flag, value in (('memory_size', memory_size), ('word_size', word_size),
                        ('num_reads', num_reads), ('num_writes', num_writes),
                        ('num_blocks', num_blocks)):
      if int(value) != value or value < 1:
        raise ValueError(f'{flag} must be a positive integer, got {value!r}.')
    self._memory_size = int(memory_size)
    self._word_size = int(word_size)
    self._num_reads = int(num_reads)
    self._num_writes = int(num_writes)
    self._num_blocks = int(num_blocks)
    self._fields = tuple(self.interface_fields())
    self._field_sizes = [int(np.prod(f.shape)) for f in self._fields]
    self._interface_layer = snt.Linear(
        sum(self._field_sizes), w_init=interface_w_init,
        name='interface')

  # -- configuration ---------------------------------------------------------

  @property
  def memory_size(self):
    return self._memory_size

  @property
  def word_size(self):
    return self._word_size

  @property
  def num_reads(self):
    return self._num_reads

  @property
  def num_writes(self):
    return self._num_writes

  @property
  def num_blocks(self):
    return self._num_blocks

  @property
  def interface_size(self):
    """Width of the interface vector."""
    return sum(self._field_sizes)

  @property
  def output_size(self):
    """Read words per example: [R, W] (summed over blocks)."""
    return tf.TensorShape([self._num_reads, self._word_size])

  def _write_fields(self):
    """Interface fields of the write path (both models), in order."""
    k, wh, r, w = (self._num_blocks, self._num_writes, self._num_reads,
                   self._word_size)
    return [
        InterfaceField('write_vectors', (k, wh, w), _identity),
        InterfaceField('erase_vectors', (k, wh, w), tf.sigmoid),
        InterfaceField('free_gates', (k, r), tf.sigmoid),
        InterfaceField('allocation_gate', (k, wh), tf.sigmoid),
        InterfaceField('write_gate', (k, wh), tf.sigmoid),
    ]

  @abc.abstractmethod
  def interface_fields(self):
    """The interface layout: a list of `InterfaceField`, in slice order."""

  @abc.abstractmethod
  def initial_state(self, batch_size, dtype=tf.float32):
    """All-zero state for `batch_size` examples (int or scalar tensor)."""

  @abc.abstractmethod
  def read(self, interface, memory, write_weights, prev_state):
    """Reads the memory just written.

    Args:
      interface: parsed interface dict.
      memory: M after this step's write, [B, K, N, W].
      write_weights: this step's write weights, [B, K, Wh, N].
      prev_state: a state whose read fields (read weights, DNC linkage) are
        the previous step's.

    Returns:
      (read words [B, K, R, W] before summing over blocks, dict of the
      read-path state fields).
    """

  # -- shared pieces -----------------------------------------------------------

  def parse_interface(self, interface_vector):
    """Splits [B, interface_size] into a dict of activated [B, K, ...] fields."""
    pieces = tf.split(interface_vector, self._field_sizes, axis=-1)
    return {
        field.name: field.activation(tf.reshape(piece, (-1,) + field.shape))
        for field, piece in zip(self._fields, pieces)
    }

  def write_step(self, interface, prev_state):
    """The first half of an access step, shared by all models: usage update,
    write weights and erase-then-add.

    Args:
      interface: dict of [B, K, ...] fields (see `interface_fields`).
      prev_state: previous access state (any of the namedtuples above).

    Returns:
      The state after the write: memory [B, K, N, W], write_weights
      [B, K, Wh, N] and usage [B, K, N] of this step; the read fields (read
      weights, DNC linkage) still the previous step's, as `read` needs them.
    """
    usage = addressing.update_usage(prev_state.usage, prev_state.write_weights,
                                    interface['free_gates'],
                                    prev_state.read_weights)
    write_weights = addressing.write_weights(
        prev_state.memory, usage, interface['write_keys'],
        interface['write_strengths'], interface['allocation_gate'],
        interface['write_gate'])
    memory = addressing.erase_and_write(prev_state.memory, write_weights,
                                        interface['erase_vectors'],
                                        interface['write_vectors'])
    return prev_state._replace(memory=memory, write_weights=write_weights,
                               usage=usage)

  def read_step(self, interface, written_state):
    """The second half of an access step: reading the memory just written.

    Args:
      interface: the same interface as the step's `write_step`.
      written_state: what `write_step` returned.

    Returns:
      (read words summed over blocks [B, R, W], new access state).
    """
    read_words, read_state = self.read(interface, written_state.memory,
                                       written_state.write_weights,
                                       written_state)
    return (tf.reduce_sum(read_words, axis=1),
            written_state._replace(**read_state))

  def step(self, interface, prev_state):
    """One access step from an already parsed interface: write, then read.

    Args:
      interface: dict of [B, K, ...] fields (see `interface_fields`).
      prev_state: previous access state.

    Returns:
      (read words summed over blocks [B, R, W], new access state).
    """
    return self.read_step(interface, self.write_step(interface, prev_state))

  def interface(self, controller_output):
    """The interface layer and its parse: [B, H] -> dict of [B, K, ...]."""
    return self.parse_interface(self._interface_layer(controller_output))

  def __call__(self, controller_output, prev_state):
    """Interface layer, parse, access step.

    Args:
      controller_output: [B, H].
      prev_state: previous access state.

    Returns:
      (read words [B, R, W], new access state).
    """
    return self.step(self.interface(controller_output), prev_state)


class DAMAccess(MemoryAccess):
  """Distributed associative memory access (Park et al. 2021, SPEC 1.5-1.12).

  K blocks; each block k has its own write head(s), its own content-based
  read heads c_k[r] = C(M_k, k_k[r], beta_k[r]); an attentive gate
  g[k, r] = softmax_k(logits[k, r]) weighs them: wr_k[r] = g[k, r] c_k[r],
  and the read word of head r is r_r = sum_k wr_k[r] M_k.

  The interface is ONE dense layer (Glorot-uniform weights, zero bias) of
  width K (3W + 3 + RW + 3R) for one write head per block.
  """

  def __init__(self, memory_size=64, word_size=36, num_reads=1, num_writes=1,
               num_blocks=2, name='dam_access'):
    super().__init__(memory_size, word_size, num_reads, num_writes,
                     num_blocks, interface_w_init=snt.initializers.VarianceScaling(
                         1.0, 'fan_avg', 'uniform'), name=name)

  def interface_fields(self):
    k, wh, r, w = (self._num_blocks, self._num_writes, self._num_reads,
                   self._word_size)
    return self._write_fields() + [
        InterfaceField('write_keys', (k, wh, w), _identity),
        InterfaceField('write_strengths', (k, wh), _identity),
        InterfaceField('read_keys', (k, r, w), _identity),
        InterfaceField('read_strengths', (k, r), _identity),
        InterfaceField('attentive_gate', (k, r), softmax_over_blocks),
    ]

  def initial_state(self, batch_size, dtype=tf.float32):
    k, n, w = self._num_blocks, self._memory_size, self._word_size
    return DAMAccessState(
        memory=tf.zeros([batch_size, k, n, w], dtype),
        read_weights=tf.zeros([batch_size, k, self._num_reads, n], dtype),
        write_weights=tf.zeros([batch_size, k, self._num_writes, n], dtype),
        usage=tf.zeros([batch_size, k, n], dtype),
        attentive_gate=tf.zeros([batch_size, k, self._num_reads], dtype))

  def read(self, interface, memory, write_weights, prev_state):
    del write_weights, prev_state  # Content-only reads, no links.
    gate = interface['attentive_gate']  # [B, K, R]
    content = addressing.content_weights(memory, interface['read_keys'],
                                         interface['read_strengths'])
    read_weights = gate[..., None] * content  # [B, K, R, N]
    return addressing.read(memory, read_weights), dict(
        read_weights=read_weights, attentive_gate=gate)


class DNCAccess(MemoryAccess):
  """DNC memory access (Graves et al. 2016; DeepMind's `MemoryAccess`).

  One memory (K = 1 block of the shared kernel), temporal linkage, and read
  weights mixing backward, forward and content weights with read modes pi =
  softmax over 1 + 2 Wh values per read head.

  The interface is one dense layer with Sonnet's default initialisation; it
  is the concatenation of DeepMind's separate linear layers (same parameter
  count, same initial distribution), in DeepMind's order.
  """

  def __init__(self, memory_size=64, word_size=36, num_reads=1, num_writes=1,
               name='dnc_access'):
    super().__init__(memory_size, word_size, num_reads, num_writes,
                     num_blocks=1, name=name)

  def interface_fields(self):
    wh, r, w = self._num_writes, self._num_reads, self._word_size
    fields = self._write_fields()
    fields.insert(5, InterfaceField('read_mode', (1, r, 1 + 2 * wh),
                                    lambda x: tf.nn.softmax(x, axis=-1)))
    return fields + [
        InterfaceField('write_keys', (1, wh, w), _identity),
        InterfaceField('write_strengths', (1, wh), _identity),
        InterfaceField('read_keys', (1, r, w), _identity),
        InterfaceField('read_strengths', (1, r), _identity),
    ]

  def initial_state(self, batch_size, dtype=tf.float32):
    n, w, wh, r = (self._memory_size, self._word_size, self._num_writes,
                   self._num_reads)
    return DNCAccessState(
        memory=tf.zeros([batch_size, 1, n, w], dtype),
        read_weights=tf.zeros([batch_size, 1, r, n], dtype),
        write_weights=tf.zeros([batch_size, 1, wh, n], dtype),
        linkage=addressing.TemporalLinkageState(
            link=tf.zeros([batch_size, 1, wh, n, n], dtype),
            precedence_weights=tf.zeros([batch_size, 1, wh, n], dtype)),
        usage=tf.zeros([batch_size, 1, n], dtype))

  def read(self, interface, memory, write_weights, prev_state):
    linkage = addressing.update_linkage(prev_state.linkage, write_weights)
    content = addressing.content_weights(memory, interface['read_keys'],
                                         interface['read_strengths'])
    forward = addressing.directional_read_weights(
        linkage.link, prev_state.read_weights, forward=True)
    backward = addressing.directional_read_weights(
        linkage.link, prev_state.read_weights, forward=False)
    read_weights = addressing.mode_read_weights(content, forward, backward,
                                                interface['read_mode'])
    return addressing.read(memory, read_weights), dict(
        read_weights=read_weights, linkage=linkage)
