"""The recurrent core shared by the DAM and the DNC: controller, access, output.

One time step t, with x_t [B, D] the input (Graves et al. 2016, Methods,
"Controller network"; Park et al. 2021, Sec. 3, and the authors' code for
the LayerNorm, the bypass dropout and the clipping):

  1. controller input = concat(x_t, flatten(r_{t-1}))          [B, D + R W]
  2. (h, c) = LSTM(input, (h, c)_{t-1})                          [B, H]
  3. training and clip_value > 0: clip h, and the state's h and c, to
     [-clip_value, clip_value]
  4. z = LayerNorm(h) (DAM) or z = h (DNC)                       [B, H]
     interface xi_t = the access's interface layer on z
  5. memory write, then memory read (`dam.access`): r_t          [B, R, W]
  6. o = concat(dropout(z), flatten(r_t)); dropout with keep_prob in
     training only (the DAM's bypass dropout; keep_prob 1 for the DNC)
  7. optional ReLU MLP on o (Glorot-uniform weights), then a linear layer
     to output_size, clipped in training: y_t.

`MemoryCore.step` (and `__call__`) runs these in order: `control` (1-4),
the access's `write` and `read` (5), `output` (6-7). `training` is an
argument of every call, so one set of weights serves a training step
(clipping and dropout on) and an evaluation pass (off). `dam.unroll` runs
the same pieces over a sequence (in a rotated order; see there): they are
the fast loop's contract, `dam.contract.FastUnrollCore`, which `MemoryCore`
declares.
"""

import collections

import sonnet as snt
import tensorflow as tf

from dam import contract
from dam import dense

CoreState = collections.namedtuple(
    'CoreState', ('access_output', 'access_state', 'controller_state'))
CoreState.__doc__ = """State of a `MemoryCore` after step t.

Fields:
  access_output: r_t, the read words, [B, R, W].
  access_state: the access module's namedtuple state.
  controller_state: `snt.LSTMState(hidden [B, H], cell [B, H])`.
"""

StepRecord = collections.namedtuple(
    'StepRecord', ('controller', 'written', 'read'))
StepRecord.__doc__ = """What step t computed on the way (`MemoryCore.step`).

Fields:
  controller: the step's `ControllerResult` (z_t, (h, c)_t, the parsed
    interface xi_t with its gates).
  written: the access's `WriteResult` (M_t, ww_t, u_t, links).
  read: the access's `ReadResult` (r_t, wr_t, the DAM's attentive gate).
"""

ControllerResult = collections.namedtuple(
    'ControllerResult', ('output', 'state', 'interface'))
ControllerResult.__doc__ = """What the controller of step t computed (`MemoryCore.control`).

Fields:
  output: z_t, [B, H] (clipped in training, layer-normalised for the DAM).
  state: (h, c)_t, `snt.LSTMState(hidden [B, H], cell [B, H])`.
  interface: xi_t, the parsed interface, dict of [B, K, ...] (see
    `dam.access.MemoryAccess.interface_fields`).
"""


def glorot_uniform():
  """Glorot (Xavier) uniform initializer, as `tf.glorot_uniform_initializer`."""
  return snt.initializers.VarianceScaling(1.0, 'fan_avg', 'uniform')


class MemoryCore(snt.RNNCore, contract.FastUnrollCore):
  """LSTM controller + memory access + output layer (see module docstring).

  `dam.DAM` and `dam.DNC` build their access module and pass it in. The
  pieces of a step are those `dam.contract.FastUnrollCore` lists, so
  `dam.unroll` runs the core with its fast loop.
  """

  def __init__(self, access, output_size, hidden_size, clip_value,
               layer_norm, keep_prob, mlp_sizes, seed, dtype, name):
    """Builds the core; parameters are created on the first call.

    Args:
      access: the memory access, a `dam.access.MemoryAccess`.
      output_size: width of the output y_t.
      hidden_size: H, LSTM units.
      clip_value: clip bound of the controller and the output in training;
        0 or None disables clipping.
      layer_norm: LayerNorm (eps 1e-6, learned gain and bias) on h.
      keep_prob: keep probability of the bypass dropout on z in training.
      mlp_sizes: hidden widths of the optional ReLU MLP before the output
        linear layer ((), none).
      seed: seed of the dropout random stream (a `tf.random.Generator` kept
        in the module, so checkpoints restore it); None: non-deterministic.
      dtype: parameter and state dtype (float32; float64 for gradient checks).
      name: module name.
    """
    super().__init__(name=name)
    if int(output_size) != output_size or output_size < 1:
      raise ValueError(f'output_size must be a positive integer, got '
                       f'{output_size!r}.')
    if int(hidden_size) != hidden_size or hidden_size < 1:
      raise ValueError(f'hidden_size must be a positive integer, got '
                       f'{hidden_size!r}.')
    if not 0. < keep_prob <= 1.:
      raise ValueError(f'keep_prob must be in (0, 1], got {keep_prob!r}.')
    if clip_value is not None and clip_value < 0:
      raise ValueError(f'clip_value must be >= 0 (0 disables clipping), got '
                       f'{clip_value!r}.')
    self._access = access
    self._output_size = int(output_size)
    self._hidden_size = int(hidden_size)
    self._clip_value = float(clip_value or 0.)
    self._keep_prob = float(keep_prob)
    self._mlp_sizes = tuple(int(s) for s in mlp_sizes or ())
    self._seed = seed
    self._dtype = tf.as_dtype(dtype)
    self._controller = None  # Created on the first call (`_create_controller`).
    self._layer_norm = (snt.LayerNorm(axis=-1, create_scale=True,
                                      create_offset=True, eps=1e-6,
                                      name='layer_norm')
                        if layer_norm else None)
    self._mlp = (snt.nets.MLP(self._mlp_sizes, w_init=glorot_uniform(),
                              activation=tf.nn.relu, activate_final=True,
                              name='mlp')
                 if self._mlp_sizes else None)
    self._output_linear = snt.Linear(self._output_size, name='output_linear')
    if self._keep_prob < 1.:
      self._dropout_rng = (tf.random.Generator.from_seed(seed)
                           if seed is not None else
                           tf.random.Generator.from_non_deterministic_state())
    else:
      self._dropout_rng = None

  @property
  def access(self):
    """The memory access module."""
    return self._access

  @property
  def output_size(self):
    return self._output_size

  @property
  def built(self):
    """Whether the parameters exist (they are created on the first call)."""
    return hasattr(self._output_linear, 'w')

  def initial_state(self, batch_size, dtype=None):
    """All-zero state for `batch_size` examples (Python int or scalar tensor)."""
    dtype = dtype or self._dtype
    access = self._access
    return CoreState(
        access_output=tf.zeros(
            [batch_size, access.num_reads, access.word_size], dtype),
        access_state=access.initial_state(batch_size, dtype),
        controller_state=snt.LSTMState(
            hidden=tf.zeros([batch_size, self._hidden_size], dtype),
            cell=tf.zeros([batch_size, self._hidden_size], dtype)))

  @snt.once
  def _create_controller(self, input_size):
    """The LSTM controller, initialised as Sonnet 1's LSTM (the authors').

    Sonnet 1.34's LSTM (used by Park et al. and by DeepMind's DNC) drew the
    joint gate matrix [D + H, 4H] AND the gate biases [4H] from one
    truncated normal with stddev 1/sqrt(D + H), and added the forget bias
    +1 at run time. Sonnet 2 draws its input part with 1/sqrt(D), its
    recurrent part with 1/sqrt(H) and starts the biases at zero. Here all
    three use Sonnet 1's truncated normal; Sonnet 2 stores the +1 in the
    forget slice of the bias variable instead of adding it at run time,
    which gives the same function and the same gradients.
    """
    init = snt.initializers.TruncatedNormal(
        stddev=1. / float(input_size + self._hidden_size) ** 0.5)
    self._controller = snt.LSTM(self._hidden_size, w_i_init=init,
                                w_h_init=init, b_init=init, forget_bias=1.,
                                dtype=self._dtype, name='controller')

  def _lstm(self, inputs, prev_state):
    """The controller's step: Sonnet 2's LSTM step (`snt.LSTM`, no
    projection) with its two weight products through `dense.matmul`, so
    that `dam.unroll` can sum their weight gradients after its loop.

      gates = x_t W_i + h_{t-1} W_h + b;  i, f, g, o = split(gates)
      c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
      h_t = sigmoid(o) tanh(c_t)

    The first call (no variables yet) is the LSTM's own, which creates them.
    """
    lstm = self._controller
    if not hasattr(lstm, 'b'):
      return lstm(inputs, prev_state)
    gates = (dense.matmul(inputs, lstm.input_to_hidden) +
             dense.matmul(prev_state.hidden, lstm.hidden_to_hidden) + lstm.b)
    i, f, g, o = tf.split(gates, num_or_size_splits=4, axis=1)
    cell = tf.sigmoid(f) * prev_state.cell
    cell += tf.sigmoid(i) * tf.tanh(g)
    hidden = tf.sigmoid(o) * tf.tanh(cell)
    return hidden, snt.LSTMState(hidden=hidden, cell=cell)

  def loop_weights(self):
    """The weight matrices a step multiplies by through `dense.matmul`:
    W_i [D + R W, 4H], W_h [H, 4H] of the controller and the interface
    layer's [H, I] (as the attributes hold them: variables, or the tensors
    `dam.unroll.parameters_read_once` read)."""
    return [self._controller.input_to_hidden,
            self._controller.hidden_to_hidden] + self._access.loop_weights()

  def _clip(self, x, training):
    if training and self._clip_value > 0:
      return tf.clip_by_value(x, -self._clip_value, self._clip_value)
    return x

  @property
  def has_dropout(self):
    """Whether training applies the bypass dropout (keep_prob < 1)."""
    return self._dropout_rng is not None

  def dropout_noise(self, num_steps, batch_size):
    """Uniform draws for the bypass dropout of `num_steps` training steps.

    `unroll` draws them all at once before its loop and passes one [B, H]
    slice to each step (`dropout_noise=`): one random op per sequence
    instead of one per step (bench/KERNELS.md).

    Args:
      num_steps: T (int or scalar tensor).
      batch_size: B (int or scalar tensor).

    Returns:
      [T, B, H] uniform in [0, 1) from the module's generator, or None
      without dropout (keep_prob 1).
    """
    if self._dropout_rng is None:
      return None
    return self._dropout_rng.uniform([num_steps, batch_size,
                                      self._hidden_size], dtype=self._dtype)

  def _dropout(self, x, training, noise):
    """Inverted dropout (as tf.nn.dropout) of x [B, H] in training: a unit is
    kept where noise < keep_prob and scaled by 1 / keep_prob."""
    if not training or self._dropout_rng is None:
      return x
    if noise is None:
      noise = self._dropout_rng.uniform(tf.shape(x), dtype=x.dtype)
    return tf.where(noise < self._keep_prob, x / self._keep_prob,
                    tf.zeros_like(x))

  def control(self, inputs, prev_state, training=False):
    """The controller of step t and its interface (steps 1-4).

    Args:
      inputs: x_t, [B, D].
      prev_state: `CoreState` after step t - 1.
      training: clipping on (True) or off (False).

    Returns:
      `ControllerResult`.
    """
    access = self._access
    read_width = access.num_reads * access.word_size
    prev_reads = tf.reshape(prev_state.access_output, [-1, read_width])
    controller_input = tf.concat([inputs, prev_reads], axis=-1)
    self._create_controller(controller_input.shape[-1])
    h, controller_state = self._lstm(controller_input,
                                     prev_state.controller_state)
    h = self._clip(h, training)
    controller_state = snt.LSTMState(
        hidden=self._clip(controller_state.hidden, training),
        cell=self._clip(controller_state.cell, training))
    z = self._layer_norm(h) if self._layer_norm is not None else h
    return ControllerResult(output=z, state=controller_state,
                            interface=access.interface(z))

  def output(self, controller_output, read_words, training=False,
             dropout_noise=None):
    """The output y_t of step t (steps 6-7).

    Args:
      controller_output: z_t, [B, H].
      read_words: r_t, [B, R, W].
      training: clipping and dropout on (True) or off (False).
      dropout_noise: optional uniform draws [B, H] for the dropout (see
        `dropout_noise`); drawn here if None.

    Returns:
      y_t, [B, output_size].
    """
    access = self._access
    read_width = access.num_reads * access.word_size
    output = tf.concat(
        [self._dropout(controller_output, training, dropout_noise),
         tf.reshape(read_words, [-1, read_width])],
        axis=-1)
    if self._mlp is not None:
      output = self._mlp(output)
    return self._clip(self._output_linear(output), training)

  def step(self, inputs, prev_state, training=False, dropout_noise=None):
    """One time step, with what it computed on the way.

    Args:
      inputs: x_t, [B, D].
      prev_state: `CoreState` after step t - 1.
      training: clipping and dropout on (True) or off (False).
      dropout_noise: optional uniform draws [B, H] for the dropout (see
        `dropout_noise`); drawn here if None.

    Returns:
      (y_t [B, output_size], `CoreState` after step t, `StepRecord`).
    """
    access = self._access
    controller = self.control(inputs, prev_state, training)
    written = access.write(controller.interface, prev_state.access_state)
    # The read gets what the fast loop hands it (`dam.contract`).
    read = access.read(
        contract.ReadInterface(access.read_interface(controller.interface)),
        written, access.handover(prev_state.access_state).read_weights)
    output = self.output(controller.output, read.words, training,
                         dropout_noise)
    state = CoreState(access_output=read.words,
                      access_state=access.state(written, read),
                      controller_state=controller.state)
    return output, state, StepRecord(controller, written, read)

  def __call__(self, inputs, prev_state, training=False, dropout_noise=None):
    """One time step: `step` (same arguments) without its record.

    Returns:
      (y_t [B, output_size], `CoreState` after step t).
    """
    output, state, _ = self.step(inputs, prev_state, training, dropout_noise)
    return output, state
