"""The weight products of a time step, and where their weight gradients go.

Every product of a step with a trained weight matrix that `dam.unroll` runs
inside its time loop (the LSTM controller's x_t W_i and h_{t-1} W_h, the
interface layer's z_t W_xi) goes through `matmul` here. Outside a
`weight_gradients_after_loop` context it is `tf.matmul`. Inside one, a
weight registered with the context gets its gradient summed over the whole
sequence after the loop, as one product:

  dL/dW = sum_t x_t^T dL/dy_t = X^T dY,   X [T B, D_in], dY [T B, D_out],

instead of one [D_in, B] x [B, D_out] product and one [D_in, D_out] sum per
time step inside the backward loop, which is what autodiff of a while loop
gives (the measurements: bench/KERNELS.md, the `dam.dense` rows).

How: inside the loop the step computes y_t = x_t W + p_t, with W held
constant for autodiff (the product's custom gradient gives only
dL/dx_t = dL/dy_t W^T) and p_t the slice t - 1 of a tensor P of zeros
[T - 1, B, D_out] (a row per step of the loop) made before the loop. The
backward loop therefore hands out dL/dP = dY, and P's own custom gradient
turns it into X^T dY, with X the x_t the forward loop pushed onto a list.
(Step 0, which `dam.unroll` runs before its loop, keeps its weight gradient
in place.) Values are those of x_t W (adding zeros), gradients those of
autodiff up to the order of the sum over t.
"""

import contextlib

import tensorflow as tf

_CONTEXTS = []  # The active `_AfterLoop` contexts, innermost last.

# `dam.unroll`'s default: the gradients of weights with at least this many
# entries are summed after the loop, the others' in it (with the stored
# w^T). The bAbI sizes ([256, 1024]) gain from it; at the Copy sizes
# ([128, 512] and smaller) the pushes of x_t and the reads of the zeros cost
# about what they save (bench/KERNELS.md).
MIN_ENTRIES_AFTER_LOOP = 2**17


def matmul(x, w):
  """x [B, D_in] times the weight w [D_in, D_out]: [B, D_out].

  `tf.matmul`, unless an active `weight_gradients_after_loop` context holds
  `w`: then the same values, with the weight gradient summed after the loop.
  """
  for context in reversed(_CONTEXTS):
    if context.holds(w):
      return context.matmul(x, w)
  return tf.matmul(x, w)


def linear(layer, x):
  """A built `snt.Linear` on x [B, D_in] with `matmul` (then + b)."""
  y = matmul(x, layer.w)
  return tf.add(y, layer.b) if layer.with_bias else y


def _product(x, w, w_transposed, weight_gradient):
  """x [B, D_in] w [D_in, D_out], with dL/dx = dL/dy w^T from the stored
  w^T [D_out, D_in] (made before the loop, a constant for autodiff: XLA:CPU
  is slower with the transposed operand autodiff emits, bench/KERNELS.md)
  and dL/dw = x^T dL/dy if `weight_gradient`, else none (the weight's
  gradient is summed after the loop)."""

  @tf.custom_gradient
  def product(x, w):
    def grad(dy):
      d_w = tf.matmul(x, dy, transpose_a=True) if weight_gradient else None
      return tf.matmul(dy, w_transposed), d_w
    return tf.matmul(x, w), grad

  return product(x, w)


class _AfterLoop:
  """The state of one `weight_gradients_after_loop` context."""

  def __init__(self, weights, loop_steps, transposed=()):
    self._weights = list(weights)
    self._index = {id(w): i for i, w in enumerate(self._weights)}
    self._transposed = {id(w): None for w in transposed}  # id -> w^T
    self._rows = loop_steps  # Rows of P and of the lists of inputs.
    self._probes = [None] * len(self._weights)  # TensorArrays over P
    self._inputs = [None] * len(self._weights)  # TensorLists of x_t
    self._stacked = [None] * len(self._weights)  # X, once the loop is done
    self._batch = [None] * len(self._weights)  # rows of X and P (static)
    self.step = None  # (property) The time step t the loop body is tracing.

  @property
  def step(self):
    """The time step t being traced: a tensor in the loop body, the Python
    int 0 for the first step, which `dam.unroll` runs before its loop."""
    return self._step

  @step.setter
  def step(self, t):
    if isinstance(t, int) and t != 0:
      raise ValueError(f'step must be a tensor (a step of the loop) or 0 '
                       f'(the step before it), got {t}.')
    self._step = t
    self._row = None if t is None or isinstance(t, int) else t - 1
    self._between_loops = False

  def step_between_loops(self, t):
    """Step t (a tensor >= 1) runs outside a loop, before the next of
    several loops over the steps (`dam.unroll.unroll_packed`): its weight
    gradient stays in place, like step 0's, and its row of the lists of
    inputs is zeros, so the rows of the later steps keep their places."""
    self.step = t
    self._row = None
    self._between_loops = True

  def holds(self, w):
    return id(w) in self._index or id(w) in self._transposed

  def _transpose(self, w):
    """w^T, made at the first product (before the loop: made inside the
    loop body it would be a new tensor per step, kept by the backward loop
    for every step)."""
    key = id(w)
    if self._transposed.get(key) is None:
      self._transposed[key] = tf.transpose(tf.stop_gradient(w))
    return self._transposed[key]

  def matmul(self, x, w):
    if id(w) not in self._index:  # Gradient in the loop.
      return _product(x, w, self._transpose(w), weight_gradient=True)
    if self.step is None:
      raise ValueError('a weight product outside the time loop\'s steps: '
                       'set `step` first.')
    i = self._index[id(w)]
    if self._probes[i] is None:  # Before the loop: its state starts here.
      self._start(i, x, w)
    if self._row is None:
      # The step before the loop: its weight gradient in place. Through the
      # zeros P it would be a second gradient of P, [T, B, D_out], summed
      # with the loop's.
      if self._between_loops:
        self._push(i, tf.zeros_like(x))
      return _product(x, w, self._transpose(w), weight_gradient=True)
    probe = self._probes[i].read(self._row)
    if x.shape[0] != self._batch[i]:  # A loop over the first rows only.
      probe = probe[:x.shape[0]]
    self._push(i, x)
    return (_product(x, w, self._transpose(w), weight_gradient=False) +
            probe)

  def _push(self, i, x):
    """Appends x_t to the list of weight i's inputs; a loop over the first
    rows only (`dam.unroll.unroll_packed`) pushes zeros for the others, so
    X^T dY sums over the rows that ran."""
    rows, full = x.shape[0], self._batch[i]
    if rows is not None and full is not None and rows < full:
      x = tf.pad(x, [[0, full - rows], [0, 0]])
    self._inputs[i] = tf.raw_ops.TensorListPushBack(
        input_handle=self._inputs[i], tensor=x)

  def _start(self, i, x, w):
    """The zeros P of weight i and the list of its inputs, at first use."""
    self._batch[i] = x.shape[0]
    batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    out = w.shape[1]
    self._inputs[i] = tf.raw_ops.EmptyTensorList(
        element_shape=[-1 if x.shape[0] is None else x.shape[0], x.shape[1]],
        max_num_elements=self._rows, element_dtype=x.dtype)
    stacked = self._stacked

    # Steps 1 .. T - 1, those of the loop.
    @tf.custom_gradient
    def zeros(w):
      def grad(d_probe):  # dY [loop_steps, B, D_out] -> X^T dY [D_in, D_out]
        inputs = stacked[i]
        # As many rows as the loop ran steps (under XLA, all `loop_steps`).
        d_probe = d_probe[:tf.shape(inputs)[0]]
        return tf.matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]),
                         tf.reshape(d_probe, [-1, out]), transpose_a=True)
      return tf.zeros([self._rows, batch, out], w.dtype), grad

    probe = zeros(w)
    self._probes[i] = tf.TensorArray(
        w.dtype, size=self._rows,
        element_shape=probe.shape[1:]).unstack(probe)

  # The lists of inputs (of the weights used so far) are loop state: the
  # loop passes them in and out.
  @property
  def lists(self):
    return tuple(h for h in self._inputs if h is not None)

  @lists.setter
  def lists(self, lists):
    lists = list(lists)
    self._inputs = [None if h is None else lists.pop(0)
                    for h in self._inputs]

  def finish(self):
    """Stacks the inputs X once the loop has run (before any gradient)."""
    for i, handle in enumerate(self._inputs):
      if handle is not None:
        self._stacked[i] = tf.raw_ops.TensorListStack(
            input_handle=handle, element_shape=[-1, self._weights[i].shape[0]],
            element_dtype=self._weights[i].dtype, num_elements=-1)


@contextlib.contextmanager
def weight_gradients_after_loop(weights, loop_steps, transposed=()):
  """Within it, `matmul` with one of `weights` sums its gradient after the
  loop (module docstring); with one of `transposed`, the gradient stays in
  the loop (autodiff's) and dL/dx uses w^T stored before the loop.

  The caller (`dam.unroll`) sets `context.step` to the time step being
  traced before each step's products, carries `context.lists` through its
  loop, and calls `context.finish()` after the loop.

  Args:
    weights: the weight tensors [D_in, D_out] (read once, outside the loop).
    loop_steps: the most steps the loop runs, its `maximum_iterations`
      (int or scalar tensor): the rows of the zeros P and of the lists of
      inputs (steps 1 .. T - 1; the step before the loop keeps its weight
      gradient in place).
    transposed: other weight tensors, used with a stored transpose.

  Yields:
    the context.
  """
  context = _AfterLoop(weights, loop_steps, transposed)
  _CONTEXTS.append(context)
  try:
    yield context
  finally:
    _CONTEXTS.remove(context)
