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
`dam.core.MemoryCore` of `dam.DAM` and `dam.DNC`) runs the fast loop below,
rotated, with the output layer after it; any other Sonnet RNN core, of
which `unroll` uses only `core(x_t, state)` and `core.initial_state`, runs
the plain loop of `dam.plain_unroll`, with the same results.
"""

import contextlib

import tensorflow as tf

from dam import contract
from dam import core as core_lib
from dam import dense
from dam import plain_unroll


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
      of at least `dense.MIN_ENTRIES_AFTER_LOOP` entries (below that the
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


def _rows(x, rows):
  """The first `rows` rows of every tensor of a structure (None: all)."""
  if rows is None:
    return x
  return tf.nest.map_structure(lambda t: t[:rows], x)


def _run_windows(core, time_major, initial_state, windows, training,
                 sequence_length, weight_gradients_after_loop):
  """The time loop: runs `core` over windows of steps and rows.

  Args:
    core: the core, a `dam.contract.FastUnrollCore`.
    time_major: the inputs [T, B, D].
    initial_state: the state before step 0, B rows.
    windows: [(rows, begin, end)]: steps begin .. end - 1 (end > begin; the
      first window begins at the int 0, each next one where the last ended)
      on the first `rows` rows (a static int <= B, not increasing; None: all
      B), each window starting from the first `rows` rows of the state the
      last one left.
    training: clipping and dropout on or off.
    sequence_length: int [B] to keep each row's state unchanged past its
      end (`unroll`'s freeze_finished), or None.
    weight_gradients_after_loop: as `unroll`.

  Returns:
    (z [S, B, H], r [S, B, R, W], state): z_t and r_t of steps 0 .. S - 1
    (S: the last window's end; under XLA the list's whole capacity T, zero
    past S), zero in the rows a window left out; the state after the last
    window (its rows).
  """
  access = core.access
  num_steps = tf.shape(time_major)[0]
  batch = time_major.shape[1]
  input_ta = tf.TensorArray(time_major.dtype, size=num_steps,
                            element_shape=time_major.shape[1:]).unstack(
                                time_major)

  def start(t, prev_state, rows):
    """First half of step t: controller and the whole write, memory and
    (DNC) links (`ControllerResult`, `WriteResult` of `access.write`), from
    the state after step t - 1."""
    controller = core.control(_rows(input_ta.read(t), rows), prev_state,
                              training)
    written = access.write(controller.interface, prev_state.access_state)
    # Only the read side of the interface goes on to `finish`.
    return controller._replace(
        interface=access.read_interface(controller.interface)), written

  def finish(t, controller, written, handover, prev_state, rows):
    """Second half of step t: memory read and the state after step t
    (frozen past the end). Returns z_t [b, H] and r_t [b, R, W], from which
    the output y_t is computed after the loop, and the state. `handover` is
    `access.handover` of the access state after step t - 1, `prev_state`
    that whole state (only used to freeze, else None)."""
    read = access.read(contract.ReadInterface(controller.interface), written,
                       handover.read_weights)
    state = core_lib.CoreState(access_output=read.words,
                               access_state=access.state(written, read),
                               controller_state=controller.state)
    if prev_state is not None:
      alive = t < _rows(sequence_length, rows)
      state = tf.nest.map_structure(
          lambda n, o: plain_unroll.select(alive, n, o), state, prev_state)
    return (controller.output, read.words), state

  # The rotation. The loop body at t finishes step t - 1 and starts step t:
  #
  #   finish(t - 1): read, state_{t-1} (y_{t-1} after the loop, from the
  #                  z_{t-1} and r_{t-1} it pushes)
  #   start(t):      controller, memory write M_t, DNC link update L_t
  #
  # so the loop carries what a step's first half hands to its second half:
  # its `ControllerResult` (with the read side of the interface only,
  # `MemoryAccess.read_interface`), its `WriteResult` and the part of the state
  # before it that the second half reads (`MemoryAccess.handover`; the whole
  # state too when finished sequences are frozen). Both
  # halves use the memory M_{t-1} that enters the body, and the M_t the body
  # writes leaves it untouched: the backward pass keeps one memory per step
  # where a body running whole steps keeps M_{t-1} and M_t, and XLA computes
  # the norms of M_{t-1}, which the read of step t - 1 and the write lookup
  # of step t both need, once (bench/KERNELS.md). Likewise the DNC's link
  # matrix: the L_{t-1} entering the body is both what the read of step
  # t - 1 follows and what the link update of step t starts from, so the
  # backward pass keeps one [N, N] matrix per step, not two.
  # Variables are created outside the loop body (never inside one).
  build(core, time_major.shape[-1], time_major.dtype)
  # What the output layer needs of each step, z_t and r_t, goes to two
  # TensorLists by push-back (not to TensorArrays by index: the gradient of
  # an indexed write, TensorListSetItem, zeroes its slot in a copy of the
  # whole [T, B, ...] gradient list at every step under XLA, where a
  # push-back's gradient pops in place), B rows each (a window over fewer
  # rows pushes zeros in the others). The output layer runs after the loop
  # on all T B rows at once (`_outputs`).
  static_batch = -1 if batch is None else batch
  element_shapes = ([static_batch,
                     initial_state.controller_state.hidden.shape[-1]],
                    [static_batch] + list(access.output_size))
  step_outputs = tuple(
      tf.raw_ops.EmptyTensorList(element_shape=shape,
                                 max_num_elements=num_steps,
                                 element_dtype=time_major.dtype)
      for shape in element_shapes)

  def push(lists, tensors, rows):
    if rows is not None and rows != batch:
      tensors = [tf.pad(x, [[0, batch - rows]] + [[0, 0]] * (x.shape.rank - 1))
                 for x in tensors]
    return tuple(tf.raw_ops.TensorListPushBack(input_handle=h, tensor=x)
                 for h, x in zip(lists, tensors))

  def sum_after_loop(w):
    """Whether the gradient of loop weight w is summed after the loop."""
    if weight_gradients_after_loop is None:
      return (training and
              w.shape.num_elements() >= dense.MIN_ENTRIES_AFTER_LOOP)
    return weight_gradients_after_loop

  freeze = sequence_length is not None
  # The loops run steps 1 .. T - 1 at most; their lists for the backward
  # pass (and `dense`'s) hold this many, at least 1: XLA cannot compile a
  # store into a list of none (T = 1, where the loop runs no step).
  loop_steps = tf.maximum(num_steps - 1, 1)
  state = initial_state
  with parameters_read_once(core):
    # The weights as read once: the tensors the step multiplies by.
    weights = core.loop_weights()
    with dense.weight_gradients_after_loop(
        [w for w in weights if sum_after_loop(w)], loop_steps,
        transposed=[w for w in weights if not sum_after_loop(w)]
    ) as after_loop:
      for rows, begin, end in windows:

        def body(t, controller, written, handover, outputs, weight_inputs,
                 *prev_state, rows=rows):
          after_loop.lists = weight_inputs
          output, state = finish(t - 1, controller, written, handover,
                                 prev_state[0] if freeze else None, rows)
          outputs = push(outputs, output, rows)
          after_loop.step = t
          controller, written = start(t, state, rows)
          return ((t + 1, controller, written,
                   access.handover(state.access_state), outputs,
                   after_loop.lists) + ((state,) if freeze else ()))

        state = _rows(state, rows)
        if isinstance(begin, int):
          after_loop.step = begin
        else:
          after_loop.step_between_loops(begin)
        controller, written = start(begin, state, rows)
        (_, controller, written, handover, step_outputs, after_loop.lists,
         *prev_state) = tf.while_loop(
             lambda t, *_, end=end: t < end, body,
             (tf.convert_to_tensor(begin + 1), controller, written,
              access.handover(state.access_state), step_outputs,
              after_loop.lists) + ((state,) if freeze else ()),
             maximum_iterations=loop_steps)
        output, state = finish(end - 1, controller, written, handover,
                               prev_state[0] if freeze else None, rows)
        step_outputs = push(step_outputs, output, rows)
      after_loop.finish()
  controller_outputs, read_words = [
      tf.raw_ops.TensorListStack(input_handle=h, element_shape=shape,
                                 element_dtype=time_major.dtype,
                                 num_elements=-1)
      for h, shape in zip(step_outputs, element_shapes)]
  return controller_outputs, read_words, state


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
