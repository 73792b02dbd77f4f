"""The fast time loop of `dam.unroll`: a core's steps, rotated, over windows.

A core that provides the pieces of a step (`dam.contract.FastUnrollCore`)
has each step t split in two halves (`_StepHalves`):

  start(t):   controller, memory write M_t, DNC link update L_t
  finish(t):  read r_t, state_t (the output y_t comes after the loop, from
              the z_t and r_t that `finish` hands over)

and the loop is rotated: its body at t finishes step t - 1 and starts step
t, so it carries what a step's first half hands to its second half: the
`ControllerResult` (with the read side of the interface only,
`MemoryAccess.read_interface`), the `WriteResult` and the part of the state
before it that the second half reads (`MemoryAccess.handover`; the whole
state too when finished sequences are frozen). Both halves use the memory
M_{t-1} that enters the body, and the M_t the body writes leaves it
untouched: the backward pass keeps one memory per step where a body running
whole steps keeps M_{t-1} and M_t, and XLA computes the norms of M_{t-1},
which the read of step t - 1 and the write lookup of step t both need, once
(bench/KERNELS.md). Likewise the DNC's link matrix: the L_{t-1} entering the
body is both what the read of step t - 1 follows and what the link update
of step t starts from, so the backward pass keeps one [N, N] matrix per
step, not two.

Windows (`dam.unroll_packed`): the loop runs steps begin .. end - 1 on the
first `rows` rows, window after window, so rows whose sequences have ended
drop out of the computation.
"""

import tensorflow as tf

from dam import contract
from dam import core as core_lib
from dam import dense
from dam import plain_unroll


def rows_of(x, rows):
  """The first `rows` rows of every tensor of a structure (None: all)."""
  if rows is None:
    return x
  return tf.nest.map_structure(lambda t: t[:rows], x)


class _StepHalves:
  """The two halves of a step of `core` (see the module docstring)."""

  def __init__(self, core, input_ta, training, sequence_length):
    self._core = core
    self.access = core.access
    self._input_ta = input_ta
    self._training = training
    self._sequence_length = sequence_length

  def start(self, t, prev_state, rows):
    """First half of step t: controller and the whole write, memory and
    (DNC) links (`ControllerResult`, `WriteResult` of `access.write`), from
    the state after step t - 1."""
    controller = self._core.control(
        rows_of(self._input_ta.read(t), rows), prev_state, self._training)
    written = self.access.write(controller.interface,
                                 prev_state.access_state)
    # Only the read side of the interface goes on to `finish`.
    return controller._replace(
        interface=self.access.read_interface(controller.interface)), written

  def finish(self, t, controller, written, handover, prev_state, rows):
    """Second half of step t: memory read and the state after step t
    (frozen past the end). Returns z_t [b, H] and r_t [b, R, W], from which
    the output y_t is computed after the loop, and the state. `handover` is
    `access.handover` of the access state after step t - 1, `prev_state`
    that whole state (only used to freeze, else None)."""
    read = self.access.read(contract.ReadInterface(controller.interface),
                             written, handover.read_weights)
    state = core_lib.CoreState(
        access_output=read.words,
        access_state=self.access.state(written, read),
        controller_state=controller.state)
    if prev_state is not None:
      alive = t < rows_of(self._sequence_length, rows)
      state = tf.nest.map_structure(
          lambda n, o: plain_unroll.select(alive, n, o), state, prev_state)
    return (controller.output, read.words), state


class _StepOutputs:
  """z_t [B, H] and r_t [B, R, W] of every step, in two TensorLists.

  Pushed back (not written by index into TensorArrays: the gradient of an
  indexed write, TensorListSetItem, zeroes its slot in a copy of the whole
  [T, B, ...] gradient list at every step under XLA, where a push-back's
  gradient pops in place), B rows each: a window over fewer rows pushes
  zeros in the others. The output layer runs after the loop on all T B
  rows at once (`dam.unroll`).
  """

  def __init__(self, core, time_major, initial_state):
    self._batch = time_major.shape[1]
    self._dtype = time_major.dtype
    batch = -1 if self._batch is None else self._batch
    self._shapes = ([batch, initial_state.controller_state.hidden.shape[-1]],
                    [batch] + list(core.access.output_size))
    self.lists = tuple(
        tf.raw_ops.EmptyTensorList(element_shape=shape,
                                   max_num_elements=tf.shape(time_major)[0],
                                   element_dtype=self._dtype)
        for shape in self._shapes)

  def push(self, lists, tensors, rows):
    """`lists` with the step's (z_t, r_t) of `rows` rows pushed back."""
    if rows is not None and rows != self._batch:
      tensors = [
          tf.pad(x, [[0, self._batch - rows]] + [[0, 0]] * (x.shape.rank - 1))
          for x in tensors]
    return tuple(tf.raw_ops.TensorListPushBack(input_handle=h, tensor=x)
                 for h, x in zip(lists, tensors))

  def stack(self):
    """(z [S, B, H], r [S, B, R, W]) of the steps pushed."""
    return [tf.raw_ops.TensorListStack(input_handle=h, element_shape=shape,
                                       element_dtype=self._dtype,
                                       num_elements=-1)
            for h, shape in zip(self.lists, self._shapes)]


def run(core, weights, time_major, initial_state, windows, training,
        sequence_length, weight_gradients_after_loop):
  """The time loop: runs `core` over windows of steps and rows.

  Args:
    core: the core, a `dam.contract.FastUnrollCore`, built, under
      `dam.unroll.parameters_read_once`.
    weights: `core.loop_weights()`, the tensors the step multiplies by.
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
    weight_gradients_after_loop: as `dam.unroll`.

  Returns:
    (z [S, B, H], r [S, B, R, W], state): z_t and r_t of steps 0 .. S - 1
    (S: the last window's end; under XLA the list's whole capacity T, zero
    past S), zero in the rows a window left out; the state after the last
    window (its rows).
  """
  input_ta = tf.TensorArray(time_major.dtype, size=tf.shape(time_major)[0],
                            element_shape=time_major.shape[1:]).unstack(
                                time_major)
  halves = _StepHalves(core, input_ta, training, sequence_length)
  outputs = _StepOutputs(core, time_major, initial_state)

  def after(w):
    """Whether the gradient of loop weight w is summed after the loop."""
    if weight_gradients_after_loop is None:
      return (training and
              w.shape.num_elements() >= dense.MIN_ENTRIES_AFTER_LOOP)
    return weight_gradients_after_loop

  # The loops run steps 1 .. T - 1 at most; their lists for the backward
  # pass (and `dense`'s) hold this many, at least 1: XLA cannot compile a
  # store into a list of none (T = 1, where the loop runs no step).
  loop_steps = tf.maximum(tf.shape(time_major)[0] - 1, 1)
  state = initial_state
  with dense.weight_gradients_after_loop(
      [w for w in weights if after(w)], loop_steps,
      transposed=[w for w in weights if not after(w)]) as after_loop:
    for window in windows:
      state = _run_window(halves, outputs, after_loop, loop_steps, window,
                          rows_of(state, window[0]),
                          freeze=sequence_length is not None)
    after_loop.finish()
  return outputs.stack() + [state]


def _run_window(halves, outputs, after_loop, loop_steps, window, state,
                freeze):
  """Steps begin .. end - 1 of `window` = (rows, begin, end) from `state`
  (its `rows` rows): the first half of step `begin`, the rotated loop, the
  second half of step end - 1. Pushes each step's outputs onto
  `outputs.lists`; returns the state after step end - 1."""
  rows, begin, end = window
  access = halves.access

  def body(t, controller, written, handover, lists, weight_inputs,
           *prev_state):
    after_loop.lists = weight_inputs
    output, state = halves.finish(t - 1, controller, written, handover,
                                  prev_state[0] if freeze else None, rows)
    lists = outputs.push(lists, output, rows)
    after_loop.step = t
    controller, written = halves.start(t, state, rows)
    return ((t + 1, controller, written, access.handover(state.access_state),
             lists, after_loop.lists) + ((state,) if freeze else ()))

  if isinstance(begin, int):
    after_loop.step = begin
  else:
    after_loop.step_between_loops(begin)
  controller, written = halves.start(begin, state, rows)
  (_, controller, written, handover, outputs.lists, after_loop.lists,
   *prev_state) = tf.while_loop(
       lambda t, *_: t < end, body,
       (tf.convert_to_tensor(begin + 1), controller, written,
        access.handover(state.access_state), outputs.lists,
        after_loop.lists) + ((state,) if freeze else ()),
       maximum_iterations=loop_steps)
  output, state = halves.finish(end - 1, controller, written, handover,
                                prev_state[0] if freeze else None, rows)
  outputs.lists = outputs.push(outputs.lists, output, rows)
  return state
