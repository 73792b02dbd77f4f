"""Recording what the memory does at every step: for pictures and analysis.

`record(core, inputs)` runs a `dam.core.MemoryCore` over a padded batch in
evaluation mode (no dropout, no clipping), step by step with
`MemoryCore.step`, and keeps, for every step t, what the step wrote, read
and attended to (Graves et al. 2016, Methods; Park et al. 2021, Sec. 3):

  outputs          y_t (logits)                       [B, T, O]
  write_weights    ww_t                               [B, T, K, Wh, N]
  read_weights     wr_t (DAM: gated, g c)             [B, T, K, R, N]
  usage            u_t                                [B, T, K, N]
  write_gate       g^w_t                              [B, T, K, Wh]
  allocation_gate  g^a_t                              [B, T, K, Wh]
  free_gates       f_t                                [B, T, K, R]
  attentive_gate   g_t, softmax over the K blocks     [B, T, K, R] (DAM)
  read_mode        pi_t (backward x Wh, forward x Wh,
                   content)                           [B, T, R, 1 + 2 Wh] (DNC)
  final_state      the `CoreState` after each example's last step
                   (its DNC link matrix L is [B, 1, Wh, N, N])

Every per-step array is zero past each sequence's end. The recorded states
are the states `dam.unroll.unroll` computes (tests/test_record.py compares
them step by step); `record` is a separate, plain loop because the
training unroll keeps only the final state.

`record_model` does the same for a `dam.model.SequenceModel` (token ids are
embedded first, bAbI), and `recording_of(rec, b, length)` takes one
example's arrays as NumPy (the keys `damrun.plots.memory_figure` reads and
visualize.py --record saves).
"""

import collections

import numpy as np
import tensorflow as tf

from dam.unroll import build

Recording = collections.namedtuple(
    'Recording', ('outputs', 'write_weights', 'read_weights', 'usage',
                  'write_gate', 'allocation_gate', 'free_gates',
                  'attentive_gate', 'read_mode', 'final_state'))
Recording.__doc__ = """What `record` kept (shapes in the module docstring).

`attentive_gate` is None for the DNC, `read_mode` None for the DAM.
"""

# Per-step fields and where they come from in a `dam.core.StepRecord`.
_PER_STEP = {
    'write_weights': lambda r: r.written.write_weights,
    'read_weights': lambda r: r.read.weights,
    'usage': lambda r: r.written.usage,
    'write_gate': lambda r: r.controller.interface['write_gate'],
    'allocation_gate': lambda r: r.controller.interface['allocation_gate'],
    'free_gates': lambda r: r.controller.interface['free_gates'],
    'attentive_gate': lambda r: r.controller.interface.get('attentive_gate'),
    # [B, 1, R, 1 + 2 Wh] -> [B, R, 1 + 2 Wh] (the DNC has one block).
    'read_mode': lambda r: (r.controller.interface['read_mode'][:, 0]
                            if 'read_mode' in r.controller.interface
                            else None),
}


def record(core, inputs, sequence_length=None, initial_state=None):
  """Runs `core` over `inputs` in evaluation mode, keeping every step.

  Works eagerly and inside `tf.function` (one `tf.while_loop`).

  Args:
    core: a `dam.core.MemoryCore` (the DAM or the DNC).
    inputs: [B, T, D] (embedded if the model embeds tokens), T >= 1.
    sequence_length: optional int [B], each in [0, T]; None: all T steps.
    initial_state: optional state; `core.initial_state(B)` if None.

  Returns:
    `Recording` of tensors (shapes in the module docstring).
  """
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.rank != 3:
    raise ValueError(f'inputs must be [batch, time, features], got shape '
                     f'{inputs.shape}.')
  batch = inputs.shape[0] if inputs.shape[0] is not None else tf.shape(
      inputs)[0]
  if initial_state is None:
    initial_state = core.initial_state(batch, inputs.dtype)
  num_steps = tf.shape(inputs)[1]
  if sequence_length is None:
    sequence_length = tf.fill([batch], num_steps)
  sequence_length = tf.cast(sequence_length, tf.int32)
  build(core, inputs.shape[-1], inputs.dtype)
  time_major = tf.transpose(inputs, [1, 0, 2])

  # Which per-step fields this core has (None: not this model).
  _, _, probe = core.step(time_major[0], initial_state)
  fields = [name for name, get in _PER_STEP.items()
            if get(probe) is not None]
  arrays = {name: tf.TensorArray(inputs.dtype, size=num_steps)
            for name in ['outputs'] + fields}

  def body(t, state, arrays):
    output, new_state, step = core.step(time_major[t], state)
    alive = t < sequence_length  # [B]

    def select(new, old):  # new where alive, else old; any rank
      return tf.where(
          tf.reshape(alive, [-1] + [1] * (new.shape.rank - 1)), new, old)

    new_state = tf.nest.map_structure(select,
                                      new_state, state)
    values = {'outputs': output}
    values.update({name: _PER_STEP[name](step) for name in fields})
    arrays = {name: arrays[name].write(
        t, select(values[name], tf.zeros_like(values[name])))
              for name in arrays}
    return t + 1, new_state, arrays

  _, final_state, arrays = tf.while_loop(
      lambda t, *_: t < num_steps, body, (tf.constant(0), initial_state,
                                          arrays))

  def batch_major(array):
    stacked = array.stack()
    return tf.transpose(stacked, [1, 0] + list(range(2, stacked.shape.rank)))

  values = {name: batch_major(array) for name, array in arrays.items()}
  return Recording(final_state=final_state,
                   **{name: values.get(name) for name in Recording._fields
                      if name != 'final_state'})


def record_model(model, inputs, sequence_length=None):
  """`record` of a `dam.model.SequenceModel`'s core, after its embedding.

  Args:
    model: the model (token ids are embedded when it has an embedding).
    inputs: [B, T, D] features, or int token ids [B, T].
    sequence_length: optional int [B].

  Returns:
    `Recording` of tensors; `outputs` are the model's logits [B, T, O].
  """
  if model.embed is not None:
    inputs = model.embed(inputs)
  return record(model.core, inputs, sequence_length)


def recording_of(recording, index=0, length=None):
  """One example of a `Recording` as a dict of NumPy arrays, time cut to
  `length` (None: all steps).

  Returns:
    dict with the per-step fields ([T, ...], the batch axis dropped; None
    for fields the model does not have) and 'link' [K, Wh, N, N], the
    DNC's final temporal link matrix (None for the DAM), and 'memory'
    [K, N, W], the final memory.
  """
  out = {}
  for name in Recording._fields:
    if name == 'final_state':
      continue
    value = getattr(recording, name)
    out[name] = (None if value is None else
                 np.asarray(value)[index, :length])
  access_state = recording.final_state.access_state
  linkage = getattr(access_state, 'linkage', None)
  out['link'] = None if linkage is None else np.asarray(linkage.link)[index]
  out['memory'] = np.asarray(access_state.memory)[index]
  return out
