"""The plain time loop: any Sonnet RNN core over padded [B, T, D] sequences.

`dam.unroll.unroll` runs here a core that does not provide the fast loop's
pieces (`dam.contract`): it needs nothing but the Sonnet `RNNCore`
interface, `core(x_t, state) -> (y_t, state)` and
`core.initial_state(batch_size)`, and calls the core once per time step in a
`tf.while_loop` (eagerly, a Python loop), with `dam.unroll`'s semantics:
outputs zero past each sequence's end and, with `freeze_finished`, each
example's state frozen there.
"""

import tensorflow as tf


def batch_size(x):
  """Static batch size of x if known, else a scalar tensor."""
  return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def select(alive, new, old):
  """Per-example choice: new where alive [B], else old; any rank."""
  alive = tf.reshape(alive, [-1] + [1] * (len(new.shape) - 1))
  return tf.where(alive, new, old)


def _batch_major(x):  # [T, B, ...] -> [B, T, ...]
  return tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))


def unroll(core, inputs, sequence_length=None, initial_state=None,
           training=False, freeze_finished=True):
  """`core(x_t, state)` for t = 0 .. T - 1, step by step.

  Step 0 runs before the loop (a Sonnet core creates its variables on its
  first call, and no variable may be created in a loop body); steps 1 ..
  T - 1 in the loop, each writing y_t to a `tf.TensorArray`.

  Args:
    core: a Sonnet RNN core (`snt.RNNCore` or alike): `core(x_t [B, D],
      state) -> (y_t, state)`, y_t a tensor [B, ...] or a nest of them, and
      `core.initial_state(batch_size)`. With `training=True` it is called as
      `core(x_t, state, training=True)`, so a core run in training takes
      that keyword argument (run a core without a training mode, such as
      `snt.LSTM`, with training=False).
    inputs: [B, T, D] (batch-major), T >= 1.
    sequence_length: optional int [B], each in [0, T]; None means all T steps.
    initial_state: optional state; `core.initial_state(B)` if None.
    training: see `core`.
    freeze_finished: keep each example's state unchanged after its last
      step, so the final state is its state at its own end.

  Returns:
    (outputs [B, T, ...] (the structure of y_t), zero past each sequence's
    end; final state).
  """
  inputs = tf.convert_to_tensor(inputs)
  if initial_state is None:
    initial_state = core.initial_state(batch_size(inputs))
  if sequence_length is not None:
    sequence_length = tf.cast(sequence_length, tf.int32)
  time_major = tf.transpose(inputs, [1, 0, 2])
  num_steps = tf.shape(time_major)[0]
  input_ta = tf.TensorArray(time_major.dtype, size=num_steps,
                            element_shape=time_major.shape[1:]).unstack(
                                time_major)
  kwargs = {'training': True} if training else {}

  def step(t, prev_state):
    output, state = core(input_ta.read(t), prev_state, **kwargs)
    if sequence_length is not None:
      alive = t < sequence_length
      output = tf.nest.map_structure(
          lambda y: select(alive, y, tf.zeros_like(y)), output)
      if freeze_finished:
        state = tf.nest.map_structure(lambda n, o: select(alive, n, o),
                                      state, prev_state)
    return output, state

  output, state = step(0, initial_state)
  output_tas = tf.nest.map_structure(
      lambda y: tf.TensorArray(y.dtype, size=num_steps,
                               element_shape=y.shape).write(0, y), output)

  def body(t, output_tas, prev_state):
    output, state = step(t, prev_state)
    output_tas = tf.nest.map_structure(lambda ta, y: ta.write(t, y),
                                       output_tas, output)
    return t + 1, output_tas, state

  _, output_tas, state = tf.while_loop(
      lambda t, *_: t < num_steps, body, (tf.constant(1), output_tas, state))
  outputs = tf.nest.map_structure(lambda ta: _batch_major(ta.stack()),
                                  output_tas)
  return outputs, state
