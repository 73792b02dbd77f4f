"""Memory access modules: the DAM multi-block access and the DNC access.

One access step is a write, then a read, each with a named result
(`dam.access_state`, which also has the states; all reachable here):

  written = access.write(interface, prev_state)          -> `WriteResult`
  read = access.read(interface, written, prev_state.read_weights)
                                                          -> `ReadResult`
  state = access.state(written, read)

The write side holds every equation of the memory update: `write_memory`
(usage, allocation, write weights, erase and write) then `write_links` (for
the DNC the temporal link matrix and the precedence weights). The read side
only reads the memory just written.

`MemoryAccess` owns what the two models share: the one fused interface layer
and its parse, and the write side; it declares the pieces `dam.unroll`'s
fast loop uses (`dam.contract.FastUnrollAccess`). The models differ in how
they read:

* `DAMAccess` (Park et al. 2021, Sec. 3): K blocks, one write head per block,
  content-only reads in every block, an attentive gate g = softmax over blocks
  for each read head, gated read weights kept in the state, read words summed
  over blocks.
* `DNCAccess` (Graves et al. 2016, Methods): one memory (K = 1), temporal
  link matrix, read modes (backward, forward, content).

Both compute with an addressing kernel chosen by the `kernel` argument:
'fast' (`dam.addressing_fast`, the default) or 'paper' (`dam.addressing`,
the equations in their paper form); see `addressing_kernel`.

Symbols: B batch, K blocks, N slots, W word size, Wh write heads per block,
R read heads.
"""

import abc
import collections

import numpy as np
import sonnet as snt
import tensorflow as tf

from dam import addressing
from dam import addressing_fast
from dam import contract
from dam import dense
# The state and the step's results, reachable as `dam.access.X` too.
from dam.access_state import DAMAccessState
from dam.access_state import DNCAccessState
from dam.access_state import ReadResult
from dam.access_state import WriteResult

KERNELS = {'fast': addressing_fast, 'paper': addressing}


def addressing_kernel(name):
  """The addressing kernel module called `name`.

  Args:
    name: 'fast' (`dam.addressing_fast`: the default, rewritten for speed)
      or 'paper' (`dam.addressing`: the papers' equations, plain autodiff).
      Both have the same functions and signatures and agree up to float
      rounding (tests/test_kernels.py).

  Returns:
    The module.
  """
  if name not in KERNELS:
    raise ValueError(f'kernel must be one of {sorted(KERNELS)}, got '
                     f'{name!r}.')
  return KERNELS[name]


# One slice of the interface vector: its name, its shape after the batch axis
# (leading with the block axis K) and its activation.
InterfaceField = collections.namedtuple('InterfaceField',
                                        ('name', 'shape', 'activation'))


def _identity(x):
  return x


class MemoryAccess(snt.Module, contract.FastUnrollAccess):
  """What the DAM and DNC accesses share.

  One dense layer maps the controller output to the interface vector, which is
  split into named fields (`interface_fields`), each reshaped to
  [B, K, ...] and passed through its activation. The write side (usage,
  allocation, write weights, erase and write) is the same for both models.

  Subclasses define `interface_fields`, `initial_state`, and `read` and
  `state` (as `dam.contract.FastUnrollAccess` has them), and may override
  `write_links`.
  """

  # The state fields that `read` reads of the state before the step (see
  # `handover`).
  _handover_fields = ('read_weights',)
  # The interface fields that `read` reads (see `read_interface`).
  _read_fields = ('read_keys', 'read_strengths')

  def __init__(self, memory_size, word_size, num_reads, num_writes,
               num_blocks, interface_w_init=None, kernel='fast', name=None):
    """Builds the module; parameters are created on the first call.

    Args:
      memory_size: N, slots per block.
      word_size: W.
      num_reads: R, read heads.
      num_writes: Wh, write heads per block.
      num_blocks: K.
      interface_w_init: initializer of the interface layer's weights
        (Sonnet's default, truncated normal 1/sqrt(fan_in), if None).
      kernel: addressing kernel, 'fast' or 'paper' (`addressing_kernel`).
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
    self._kernel_name = kernel
    self._kernel = addressing_kernel(kernel)
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
  def kernel(self):
    """Name of the addressing kernel: 'fast' or 'paper'."""
    return self._kernel_name

  @property
  def interface_size(self):
    """Width of the interface vector."""
    return sum(self._field_sizes)

  @property
  def output_size(self):
    """Read words per example: [R, W] (summed over blocks)."""
    return tf.TensorShape([self._num_reads, self._word_size])

  def _write_fields(self):
    """Interface fields of the write side (both models), in order."""
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

  # -- one step: write, then read ----------------------------------------------

  def parse_interface(self, interface_vector):
    """Splits [B, interface_size] into a dict of activated [B, K, ...] fields."""
    pieces = tf.split(interface_vector, self._field_sizes, axis=-1)
    return {
        field.name: field.activation(tf.reshape(piece, (-1,) + field.shape))
        for field, piece in zip(self._fields, pieces)
    }

  def interface(self, controller_output):
    """The interface layer and its parse: [B, H] -> dict of [B, K, ...]."""
    layer = self._interface_layer
    if not hasattr(layer, 'w'):  # The first call creates the parameters.
      return self.parse_interface(layer(controller_output))
    return self.parse_interface(dense.linear(layer, controller_output))

  def loop_weights(self):
    """The weights a step multiplies by through `dam.dense.matmul`: the
    interface layer's [H, I]."""
    return [self._interface_layer.w]

  def write(self, interface, prev_state):
    """The write of step t: `write_memory`, then `write_links`.

    Args:
      interface: dict of [B, K, ...] fields (see `interface_fields`).
      prev_state: the access state after step t - 1.

    Returns:
      `WriteResult`.
    """
    return self.write_links(self.write_memory(interface, prev_state),
                            prev_state)

  def write_memory(self, interface, prev_state):
    """Usage u_t, write weights ww_t on M_{t-1}, then erase and write
    (Graves et al. 2016, Methods; in every block for the DAM, Park et al.
    2021, Sec. 3).

    Args:
      interface: dict of [B, K, ...] fields (see `interface_fields`).
      prev_state: the access state after step t - 1.

    Returns:
      `WriteResult` with linkage () (see `write_links`).
    """
    kernel = self._kernel
    usage = kernel.update_usage(prev_state.usage, prev_state.write_weights,
                                interface['free_gates'],
                                prev_state.read_weights)
    write_weights = kernel.write_weights(
        prev_state.memory, usage, interface['write_keys'],
        interface['write_strengths'], interface['allocation_gate'],
        interface['write_gate'])
    memory = kernel.erase_and_write(prev_state.memory, write_weights,
                                    interface['erase_vectors'],
                                    interface['write_vectors'])
    return WriteResult(memory=memory, write_weights=write_weights,
                       usage=usage, linkage=())

  def write_links(self, written, prev_state):
    """The rest of the write of step t once the memory is written: nothing
    here (the DAM has no links); `DNCAccess` updates its link matrix.

    Args:
      written: what `write_memory` returned for step t.
      prev_state: the access state after step t - 1.

    Returns:
      `WriteResult`.
    """
    del prev_state
    return written

  def handover(self, prev_state):
    """What the rest of step t reads of the state after step t - 1 once
    `write` has run: the read weights wr_{t-1} (`read`; the DNC's temporal
    reads start from them); the other fields are (). A loop that splits the
    step there (`dam.unroll`) carries this, not the whole state.
    """
    return prev_state._replace(
        **{name: () for name in prev_state._fields
           if name not in self._handover_fields})

  def read_interface(self, interface):
    """The fields of a parsed interface that `read` uses: the read keys
    and strengths, and the DAM's attentive gate or the DNC's read modes. A
    loop that splits the step after `write_memory` (`dam.unroll`) carries
    these to the read, not the write side's fields, whose gradient there
    would be zeros carried through every step of the backward loop.
    """
    return {name: interface[name] for name in self._read_fields}

  def step(self, interface, prev_state):
    """One access step from an already parsed interface: write, then read.

    Args:
      interface: dict of [B, K, ...] fields (see `interface_fields`).
      prev_state: the access state after step t - 1.

    Returns:
      (read words r_t [B, R, W], access state after step t).
    """
    written = self.write(interface, prev_state)
    read = self.read(contract.ReadInterface(self.read_interface(interface)),
                     written, self.handover(prev_state).read_weights)
    return read.words, self.state(written, read)

  def __call__(self, controller_output, prev_state):
    """Interface layer, parse, access step.

    Args:
      controller_output: [B, H].
      prev_state: the access state after step t - 1.

    Returns:
      (read words r_t [B, R, W], access state after step t).
    """
    return self.step(self.interface(controller_output), prev_state)


class DAMAccess(MemoryAccess):
  """Distributed associative memory access (Park et al. 2021, Sec. 3).

  K blocks; each block k has its own write head(s), its own content-based
  read heads c_k[r] = C(M_k, k_k[r], beta_k[r]); an attentive gate
  g[k, r] = softmax_k(logits[k, r]) weighs them: wr_k[r] = g[k, r] c_k[r],
  and the read word of head r is r_r = sum_k wr_k[r] M_k.

  The interface is ONE dense layer (Glorot-uniform weights, zero bias) of
  width K (3W + 3 + RW + 3R) for one write head per block.
  """

  _read_fields = ('read_keys', 'read_strengths', 'attentive_gate')

  def __init__(self, memory_size=64, word_size=36, num_reads=1, num_writes=1,
               num_blocks=2, kernel='fast', name='dam_access'):
    super().__init__(memory_size, word_size, num_reads, num_writes,
                     num_blocks, interface_w_init=snt.initializers.VarianceScaling(
                         1.0, 'fan_avg', 'uniform'), kernel=kernel, name=name)

  def interface_fields(self):
    k, wh, r, w = (self._num_blocks, self._num_writes, self._num_reads,
                   self._word_size)
    return self._write_fields() + [
        InterfaceField('write_keys', (k, wh, w), _identity),
        InterfaceField('write_strengths', (k, wh), _identity),
        InterfaceField('read_keys', (k, r, w), _identity),
        InterfaceField('read_strengths', (k, r), _identity),
        InterfaceField('attentive_gate', (k, r), self._kernel.attentive_gate),
    ]

  def initial_state(self, batch_size, dtype=tf.float32):
    k, n, w = self._num_blocks, self._memory_size, self._word_size
    return DAMAccessState(
        memory=tf.zeros([batch_size, k, n, w], dtype),
        read_weights=tf.zeros([batch_size, k, self._num_reads, n], dtype),
        write_weights=tf.zeros([batch_size, k, self._num_writes, n], dtype),
        usage=tf.zeros([batch_size, k, n], dtype),
        attentive_gate=tf.zeros([batch_size, k, self._num_reads], dtype))

  def read(self, interface, written, prev_read_weights):
    """Content reads in every block, gated, summed over blocks (Park et al.
    2021, Sec. 3); no temporal reads, so `prev_read_weights` is unused."""
    del prev_read_weights
    kernel = self._kernel
    gate = interface['attentive_gate']  # [B, K, R]
    content = kernel.content_weights(written.memory, interface['read_keys'],
                                     interface['read_strengths'])
    read_weights = kernel.gated_read_weights(gate, content)  # [B, K, R, N]
    words = tf.reduce_sum(kernel.read(written.memory, read_weights), axis=1)
    return ReadResult(words=words, weights=read_weights, attentive_gate=gate)

  def state(self, written, read):
    return DAMAccessState(memory=written.memory, read_weights=read.weights,
                          write_weights=written.write_weights,
                          usage=written.usage,
                          attentive_gate=read.attentive_gate)


class DNCAccess(MemoryAccess):
  """DNC memory access (Graves et al. 2016; DeepMind's `MemoryAccess`).

  One memory (K = 1 block of the shared kernel), temporal linkage, and read
  weights mixing backward, forward and content weights with read modes pi =
  softmax over 1 + 2 Wh values per read head.

  The interface is one dense layer with Sonnet's default initialisation; it
  is the concatenation of DeepMind's separate linear layers (same parameter
  count, same initial distribution), in DeepMind's order.
  """

  _read_fields = ('read_keys', 'read_strengths', 'read_mode')

  def __init__(self, memory_size=64, word_size=36, num_reads=1, num_writes=1,
               kernel='fast', name='dnc_access'):
    super().__init__(memory_size, word_size, num_reads, num_writes,
                     num_blocks=1, kernel=kernel, name=name)

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

  def write_links(self, written, prev_state):
    """Link matrix L_t and precedence weights p_t from this step's write
    weights (Graves et al. 2016, Methods, "Temporal memory linkage").

    Args:
      written: what `write_memory` returned for step t.
      prev_state: the access state after step t - 1 (L_{t-1}, p_{t-1}).

    Returns:
      `WriteResult` with linkage (L_t, p_t).
    """
    linkage = self._kernel.update_linkage(prev_state.linkage,
                                          written.write_weights)
    return written._replace(linkage=linkage)

  def read(self, interface, written, prev_read_weights):
    """Read weighting wr_t = pi_b b + pi_c c + pi_f f (Graves et al. 2016,
    Methods, "Read weighting"), with f, b from L_t and wr_{t-1}."""
    kernel = self._kernel
    link = written.linkage.link
    content = kernel.content_weights(written.memory, interface['read_keys'],
                                     interface['read_strengths'])
    forward = kernel.directional_read_weights(link, prev_read_weights,
                                              forward=True)
    backward = kernel.directional_read_weights(link, prev_read_weights,
                                               forward=False)
    read_weights = kernel.mode_read_weights(content, forward, backward,
                                            interface['read_mode'])
    words = tf.reduce_sum(kernel.read(written.memory, read_weights), axis=1)
    return ReadResult(words=words, weights=read_weights, attentive_gate=())

  def state(self, written, read):
    return DNCAccessState(memory=written.memory, read_weights=read.weights,
                          write_weights=written.write_weights,
                          linkage=written.linkage, usage=written.usage)
