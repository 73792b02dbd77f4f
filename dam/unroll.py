"""Running a core over padded [B, T, D] sequences, eagerly or compiled.

`unroll` is the one loop every model and task uses. `compile_unroll` gives
the one obvious way to choose between the two batch modes:

* fixed batch, `batch_size=16`: the batch size is part of the traced shapes
  (fastest; what training uses);
* dynamic batch, `batch_size=None`: any batch size at run time with one trace
  (evaluation, a ragged last batch).

Both run the same core and the same addressing kernel; the kernel never reads
a Python int from a tensor's batch axis.

Two loops: a core that provides the pieces of a step (`dam.contract`: the
`dam.core.MemoryCore` of `dam.DAM` and `dam.DNC`) runs the fast loop of
`dam.windows`, rotated, with the output layer after it; any other Sonnet
RNN core, of which `unroll` uses only `core(x_t, state)` and
`core.initial_state`, runs the plain loop of `dam.plain_unroll`, with the
same results.
"""

import contextlib

import tensorflow as tf

from dam import contract
from dam import plain_unroll
from dam import windows as windows_lib


@contextlib.contextmanager
def parameters_read_once(module):
  """Within the context, `module`'s trainable variables are read once.

  Every attribute of `module` or of one of its submodules that holds a
  trainable `tf.Variable` is replaced by the variable's value, read once on
  entry (the read is recorded by an enclosing `GradientTape`, so gradients
  still reach the variable), and restored on exit.

  Why: a variable read inside a `tf.while_loop` body is a new tensor at every
  iteration, so the loop's gradient saves a copy of every weight matrix per
  time step and reads it back in the backward loop; a tensor captured from
  outside the loop is loop-invariant and is not saved (bench/KERNELS.md).

  Variables in lists or dicts, and non-trainable ones (the dropout random
  generator's state), are left alone and read where they are used.
  """
  swapped = []
  try:
    for owner in (module,) + tuple(module.submodules):
      for name, value in list(vars(owner).items()):
        if isinstance(value, tf.Variable) and value.trainable:
          object.__setattr__(owner, name, tf.convert_to_tensor(value))
          swapped.append((owner, name, value))
    yield module
  finally:
    for owner, name, value in reversed(swapped):
      object.__setattr__(owner, name, value)


def unroll(core, inputs, sequence_length=None, initial_state=None,
           training=False, freeze_finished=True,
           weight_gradients_after_loop=None, dropout_noise=None):
  """Runs `core` over a padded batch of sequences.

  Past a sequence's end its outputs are zeros and (`freeze_finished`) its
  state stops changing, so the final state of every example is its state
  after its last step.

  The result is that of calling `core(x_t, state)` for t = 0 .. T - 1 (the
  tests compare the two, values and gradients). For a core with the pieces
  of a step (`dam.contract.supports_fast_unroll`, e.g. a
  `dam.core.MemoryCore`) the loop runs those pieces in a rotated order,
  described in the loop below, and the output layer after it on all steps
  at once; any other core runs step by step (`dam.plain_unroll.unroll`,
  where `training` is passed on as `core(x_t, state, training=True)` and
  `weight_gradients_after_loop` has no effect).

  Args:
    core: a Sonnet RNN core: `core(x_t, state) -> (y_t, state)` and
      `core.initial_state(batch_size)`; the fast loop also uses the pieces
      `dam.contract.FastUnrollCore` lists.
    inputs: [B, T, D] (batch-major), T >= 1.
    sequence_length: optional int [B], each in [0, T]; None means all T steps.
    initial_state: optional state; `core.initial_state(B)` if None.
    training: passed to every core call (clipping, dropout).
    freeze_finished: keep each example's state unchanged after its last
      step, so the final state is its state at its own end (one select per
      state tensor per step). Outputs do not depend on it: pass False when
      only the outputs are used (training, evaluation), which saves those
      selects and their gradients.
    weight_gradients_after_loop: sum the gradients of the step's weight
      matrices (`core.loop_weights()`) over the sequence after the loop, as
      one product each (`dam.dense`), instead of one per step inside the
      backward loop. Same values, same gradients up to the order of the
      sums; a few list pushes of extra work when nothing is differentiated.
      True: every loop weight; False: none; None: in training, the weights
      of at least `dam.dense.MIN_ENTRIES_AFTER_LOOP` entries (below that the
      pushes cost about what they save).
    dropout_noise: in training, the uniform draws [T, B, H] of the core's
      dropout (`core.dropout_noise`), drawn by the caller; None: drawn here.
      (`damrun.steps` draws them outside an XLA-compiled step: XLA:CPU's
      Philox ran ~3x slower than TensorFlow's kernel, which also gives the
      same draws in every execution mode.) Only for the fast loop.

  Returns:
    (outputs [B, T, output_size], final state).
  """
  inputs = _check_inputs(inputs)
  if not contract.supports_fast_unroll(core):
    if dropout_noise is not None:
      raise ValueError(
          f"dropout_noise needs a core with the fast loop's pieces; "
          f'{type(core).__name__} lacks {contract.missing(core)} '
          f'(dam.contract.FastUnrollCore).')
    return plain_unroll.unroll(core, inputs, sequence_length, initial_state,
                               training, freeze_finished)
  if initial_state is None:
    initial_state = core.initial_state(plain_unroll.batch_size(inputs),
                                       inputs.dtype)
  if sequence_length is not None:
    sequence_length = tf.cast(sequence_length, tf.int32)
  noise = _noise(core, inputs, training, dropout_noise)
  time_major = tf.transpose(inputs, [1, 0, 2])
  num_steps = tf.shape(time_major)[0]
  controller_outputs, read_words, state = _run_windows(
      core, time_major, initial_state, [(None, 0, num_steps)], training,
      sequence_length if freeze_finished else None,
      weight_gradients_after_loop)
  outputs = _outputs(core, controller_outputs, read_words, noise,
                     sequence_length, training)
  return outputs, state


def row_levels(batch_size, levels):
  """The row counts `unroll_packed` narrows its loop to: B, B/4, B/16, ...
  (`levels` of them at most, each >= 1, distinct), e.g. (32, 8, 2)."""
  counts = []
  for level in range(max(int(levels), 1)):
    rows = max(batch_size >> (2 * level), 1)
    if not counts or rows < counts[-1]:
      counts.append(rows)
  return tuple(counts)


def unroll_packed(core, inputs, sequence_length, training=False, levels=4,
                  weight_gradients_after_loop=None, dropout_noise=None):
  """The outputs of `unroll`, without computing rows past their end.

  What packed sequences do for cuDNN and PyTorch, for a batch of static
  size B: the batch is sorted by length (longest first) and the time loop
  runs in `levels` windows over ever fewer rows, B, B/4, B/16, ...
  (`row_levels`): the window over the first b rows ends when the rows
  after them have all ended (at the length of row b of the sorted batch,
  at least one step after the previous window), so rows that have ended
  are dropped as soon as a narrower window holds every live row. The loop
  bounds are tensors, so one compiled program serves every batch of the
  same padded shape. The result is `unroll(core, inputs, sequence_length,
  training=training, freeze_finished=False)[0]`, the same maths row by row
  (the tests compare values and gradients); the work follows the real
  tokens rather than B times the longest sequence (bAbI: ~1/3 of the
  padded tokens are real).

  Args:
    core: as `unroll`. A core without the pieces of the fast loop
      (`dam.contract.supports_fast_unroll`) is not packed: it runs
      `unroll`'s plain loop over all rows, which gives the same outputs.
    inputs: [B, T, D] with a static B.
    sequence_length: int [B], each in [0, T].
    training, weight_gradients_after_loop, dropout_noise: as `unroll`.
    levels: how many row counts (1: `unroll`'s one window over all rows).

  Returns:
    outputs [B, T, output_size], zero past each sequence's end. (No final
    state: the rows that ended early leave the loop before the others.)
  """
  inputs = _check_inputs(inputs)
  batch = inputs.shape[0]
  if batch is None:
    raise ValueError('unroll_packed needs a static batch size (the rows of '
                     'its windows are static); use unroll for a dynamic '
                     'batch.')
  if not contract.supports_fast_unroll(core):
    return unroll(core, inputs, sequence_length, training=training,
                  freeze_finished=False, dropout_noise=dropout_noise)[0]
  counts = row_levels(batch, levels)
  sequence_length = tf.cast(sequence_length, tf.int32)
  noise = _noise(core, inputs, training, dropout_noise)
  order = tf.argsort(sequence_length, direction='DESCENDING', stable=True)
  lengths = tf.gather(sequence_length, order)
  time_major = tf.transpose(tf.gather(inputs, order), [1, 0, 2])
  num_steps = tf.shape(time_major)[0]
  # Each window runs at least one step, so the one before the last may end
  # up to len(counts) - 2 steps past the longest sequence: zero steps are
  # added. The last runs to the end of the padded time axis: every step
  # then pushes its outputs, as the backward pass of a compiled (XLA) loop,
  # whose lists are stacked whole, needs.
  time_major = tf.pad(time_major, [[0, len(counts) - 1], [0, 0], [0, 0]])
  windows, begin = [], 0
  for i, rows in enumerate(counts):
    if i + 1 < len(counts):
      end = tf.maximum(lengths[counts[i + 1]], begin + 1)
    else:
      end = tf.shape(time_major)[0]
    windows.append((rows if i else None, begin, end))
    begin = end
  controller_outputs, read_words, _ = _run_windows(
      core, time_major, core.initial_state(batch, inputs.dtype), windows,
      training, None, weight_gradients_after_loop)
  back = tf.math.invert_permutation(order)

  def unsorted(x):  # [T + levels, B, ...] -> [T, B, ...], original rows.
    x = tf.gather(x[:num_steps], back, axis=1)
    missing = num_steps - tf.shape(x)[0]  # Eager: only the steps run.
    return tf.pad(x, [[0, missing]] + [[0, 0]] * (x.shape.rank - 1))

  return _outputs(core, unsorted(controller_outputs), unsorted(read_words),
                  noise, sequence_length, training)


def _check_inputs(inputs):
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.rank != 3:
    raise ValueError(f'inputs must be [batch, time, features], got shape '
                     f'{inputs.shape}.')
  if inputs.shape[1] == 0:
    raise ValueError('inputs must have at least one time step.')
  return inputs


def _noise(core, inputs, training, dropout_noise):
  """The dropout draws [T, B, H] of a training call (None without)."""
  if not training:
    return None
  if dropout_noise is not None:
    noise = tf.convert_to_tensor(dropout_noise, inputs.dtype)
    expected = [inputs.shape[1], inputs.shape[0]]
    if noise.shape.rank != 3 or not all(
        a is None or b is None or a == b
        for a, b in zip(noise.shape[:2], expected)):
      raise ValueError(f'dropout_noise must be [time, batch, hidden] = '
                       f'[{expected[0]}, {expected[1]}, H] for inputs of '
                       f'shape {inputs.shape}, got {noise.shape}; draw it '
                       f'with core.dropout_noise(time, batch).')
    return noise
  return core.dropout_noise(tf.shape(inputs)[1],
                            plain_unroll.batch_size(inputs))


def _run_windows(core, time_major, initial_state, windows, training,
                 sequence_length, weight_gradients_after_loop):
  """`dam.windows.run` (the rotated time loop; its arguments and results)
  on `core`, built, with its parameters read once."""
  # Variables are created outside the loop body (never inside one).
  build(core, time_major.shape[-1], time_major.dtype)
  with parameters_read_once(core):
    return windows_lib.run(core, core.loop_weights(), time_major,
                           initial_state, windows, training, sequence_length,
                           weight_gradients_after_loop)


def _outputs(core, controller_outputs, read_words, noise, sequence_length,
             training):
  """The outputs y_t of all steps, batch-major, zero past each sequence's
  end: `core.output` on the T B rows at once.

  Args:
    core: the core.
    controller_outputs: z_t of every step, [T, B, H].
    read_words: r_t of every step, [T, B, R, W].
    noise: the dropout draws [T, B, H] or None.
    sequence_length: int [B] or None.
    training: clipping and dropout on or off.

  Returns:
    [B, T, output_size].
  """
  shape = tf.shape(controller_outputs)
  rows = lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
  kwargs = {} if noise is None else {'dropout_noise': rows(noise)}
  outputs = core.output(rows(controller_outputs), rows(read_words),
                        training=training, **kwargs)
  outputs = tf.reshape(outputs, [shape[0], shape[1], core.output_size])
  if sequence_length is not None:
    alive = tf.range(shape[0])[:, None] < sequence_length[None, :]  # [T, B]
    outputs = tf.where(alive[..., None], outputs, tf.zeros_like(outputs))
  return tf.transpose(outputs, [1, 0, 2])


def build(core, input_size, dtype=tf.float32):
  """Creates the core's variables, if it has none, with one step on a batch
  of one (eager, or traced into the enclosing `tf.function`, where nothing
  uses its result). A core without `built` (`dam.contract.FastUnrollCore`)
  is left alone: the plain loop runs its first step before its loop."""
  if not getattr(core, 'built', True):
    core(tf.zeros([1, input_size], dtype), core.initial_state(1, dtype))
  return core


def compile_unroll(core, input_size, batch_size=None, training=False,
                   jit_compile=False, dtype=tf.float32):
  """A `tf.function` running `unroll` with a fixed or a dynamic batch size.

  Args:
    core: the core to run (built here if it has no variables yet).
    input_size: D.
    batch_size: an int for the fixed-batch mode (static shapes), None for
      the dynamic-batch mode (any batch size, one trace).
    training: clipping and dropout on or off.
    jit_compile: compile with XLA.
    dtype: input dtype.

  Returns:
    fn(inputs [B, T, D], sequence_length [B]) -> (outputs, final state);
    T may differ between calls.
  """
  if batch_size is not None and (int(batch_size) != batch_size or
                                 batch_size < 1):
    raise ValueError(f'batch_size must be a positive int (fixed batch) or '
                     f'None (dynamic batch), got {batch_size!r}.')
  build(core, input_size, dtype)
  signature = [tf.TensorSpec([batch_size, None, input_size], dtype),
               tf.TensorSpec([batch_size], tf.int32)]

  @tf.function(input_signature=signature, jit_compile=jit_compile,
               reduce_retracing=True)
  def run(inputs, sequence_length):
    return unroll(core, inputs, sequence_length, training=training)

  return run
