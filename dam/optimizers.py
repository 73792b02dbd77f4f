"""Optimizers and gradient utilities faithful to the TensorFlow 1 originals.

The original DAM / DNC code (taewonpark/DAM) trained with TF1's
``tf.train.RMSPropOptimizer`` (momentum 0.9, decay 0.9, epsilon 1e-10; TF1's
update rule starts the mean square ``ms`` at ones). Sonnet 2's
``snt.optimizers.RMSProp`` and Keras' ``RMSprop`` initialise the mean-square
accumulator to *zeros*, which makes
the first steps far larger (``g / sqrt((1-decay) g^2)`` ~ ``3.16 * sign(g)`` for
decay 0.9) than TF1's (``g / sqrt(decay + (1-decay) g^2)``). ``TF1RMSProp``
reproduces the TF1 optimizer exactly: dense gradients run the very same kernel
(``ResourceApplyRMSProp``) on slots initialised the TF1 way, and sparse
(embedding) gradients get the arithmetic of TF1's ``ResourceSparseApplyRMSProp``
on the looked-up rows only, in a form that also compiles under XLA.

Public API:
  * ``TF1RMSProp(learning_rate, decay=0.9, momentum=0.9, epsilon=1e-10,
    name=None)`` and ``TF1Adam(learning_rate, beta1=0.9, beta2=0.999,
    epsilon=1e-8, name=None)`` -- ``snt.Optimizer``s; ``create_slots(params)``
    creates their slots without an update.
  * ``clip_by_global_norm(gradients, max_norm) -> (clipped, global_norm)``.
  * ``make_optimizer(name, learning_rate, momentum=0.9, epsilon=1e-10,
    decay=0.9)`` -- ``"rmsprop"`` or ``"adam"``.
"""

from typing import List, Optional, Sequence, Tuple, Union

import sonnet as snt
import tensorflow as tf

_FloatLike = Union[float, tf.Tensor, tf.Variable]

# Adam hyper-parameters of TF1's `tf.train.AdamOptimizer` (identical to the
# defaults of `snt.optimizers.Adam`; passed explicitly so that a change of
# Sonnet's defaults cannot silently change training).
_ADAM_BETA1 = 0.9
_ADAM_BETA2 = 0.999
_ADAM_EPSILON = 1e-8

OPTIMIZER_NAMES = ("rmsprop", "adam")


def _check_updates_parameters(updates, parameters) -> None:
  """Same checks as Sonnet's `optimizer_utils.check_updates_parameters`."""
  if len(updates) != len(parameters):
    raise ValueError("`updates` and `parameters` must be the same length.")
  if not parameters:
    raise ValueError("`parameters` cannot be empty.")
  if all(u is None for u in updates):
    raise ValueError("No updates provided for any parameter.")


def _check_same_dtype(update, parameter) -> None:
  """Same check as Sonnet's `optimizer_utils.check_same_dtype`."""
  if update.dtype != parameter.dtype:
    raise ValueError(
        "DType of update {!r} is not equal to that of parameter {!r}".format(
            update, parameter))


def _slot_like(parameter: tf.Variable, fill: float) -> tf.Variable:
  """A non-trainable slot with the parameter's shape/dtype/device/name."""
  name = getattr(parameter, "name", "Variable").split(":")[0]
  with tf.device(parameter.device):
    initial = tf.fill(parameter.shape, tf.constant(fill, parameter.dtype))
    return tf.Variable(initial, trainable=False, name=name)


def _to_dtype(value: _FloatLike, dtype: tf.DType) -> tf.Tensor:
  """Hyper-parameter as a tensor of `dtype`.

  Python numbers are converted directly (so 0.9 is the float64 0.9 for float64
  parameters rather than float32(0.9) up-cast, as `tf.cast(0.9, tf.float64)`
  would give); tensors and variables are cast.
  """
  if isinstance(value, (int, float)):
    return tf.constant(value, dtype=dtype)
  return tf.cast(value, dtype)


def _dense_rows(update: tf.IndexedSlices,
                parameter: tf.Variable) -> Tuple[tf.Tensor, tf.Tensor]:
  """An `IndexedSlices` gradient as fixed-shape dense rows (XLA-compilable).

  Args:
    update: gradient of `parameter` [V, ...]: values [n, ...], indices [n]
      (rows may repeat).
    parameter: the variable, V rows.

  Returns:
    (grad, touched): grad [V, ...] with the values of repeated indices
    summed (TF1's `_deduplicate_indexed_slices`), zero on rows not looked
    up; touched bool [V, 1, ...] (broadcastable to grad), True on the rows
    that occur in `update.indices`.
  """
  rows = parameter.shape[0]
  indices = tf.cast(update.indices, tf.int32)
  grad = tf.math.unsorted_segment_sum(update.values, indices, rows)
  counts = tf.math.unsorted_segment_sum(tf.ones_like(indices), indices, rows)
  touched = tf.reshape(counts > 0, [rows] + [1] * (parameter.shape.rank - 1))
  return grad, touched


def _updates_to_apply(optimizer, updates, parameters, slots):
  """The checks every `apply` makes; yields (i, update, parameter) to apply.

  Checks `updates` against `parameters` (as Sonnet's optimizers), creates the
  slots on the first call, checks they were made for as many parameters,
  counts the step, and skips `None` updates.

  Args:
    optimizer: the optimizer (its `_initialize` and `step`).
    updates, parameters: as given to `apply`.
    slots: one of the optimizer's slot lists (filled by `_initialize`).
  """
  updates = list(updates)
  parameters = list(parameters)
  _check_updates_parameters(updates, parameters)
  optimizer._initialize(parameters)  # pylint: disable=protected-access
  if len(slots) != len(parameters):
    raise ValueError(
        "{} was initialised for {} parameters but got {}.".format(
            type(optimizer).__name__, len(slots), len(parameters)))
  optimizer.step.assign_add(1)
  for i, (update, parameter) in enumerate(zip(updates, parameters)):
    if update is None:
      continue
    _check_same_dtype(update, parameter)
    yield i, update, parameter


class TF1RMSProp(snt.Optimizer):
  """RMSProp exactly as TensorFlow 1's `tf.train.RMSPropOptimizer` (non-centered).

  For every parameter ``var`` with gradient ``g``:

      ms  <- decay * ms + (1 - decay) * g^2
      mom <- momentum * mom + learning_rate * g / sqrt(ms + epsilon)
      var <- var - mom

  with the slots initialised as in TF1: ``ms`` to ONES and ``mom`` to zeros.
  (Sonnet 2 / Keras start ``ms`` at zeros, which gives a much larger first
  step; the authors' DAM/DNC hyper-parameters -- momentum 0.9, decay 0.9,
  epsilon 1e-10, ms starting at ones -- were tuned for the TF1 rule.)

  Dense updates run `tf.raw_ops.ResourceApplyRMSProp`, the kernel TF1 used
  (CPU, GPU and XLA kernels exist, so `tf.function(jit_compile=True)` works).
  Its arithmetic is ``ms += (g^2 - ms) * (1 - decay)``, algebraically identical
  to the equation above.

  Sparse updates (`tf.IndexedSlices`, e.g. the bAbI embedding's gradient)
  follow TF1's `ResourceSparseApplyRMSProp`: duplicate indices are summed
  first (as TF1's `_apply_sparse_duplicate_indices`), then only the rows
  that were looked up change, with the sparse kernel's arithmetic

      ms  <- ms * decay + g^2 * (1 - decay)
      mom <- mom * momentum + rsqrt(ms + epsilon) * lr * g
      var <- var - mom

  while every other row keeps its ``var``, ``ms`` AND ``mom`` (a dense zero
  gradient would instead decay ``ms`` and move ``var`` by its momentum). The
  update is written with fixed shapes (`_dense_rows`: a segment sum and a
  row mask, no `tf.unique`), so the same code runs eagerly, in
  `tf.function` and under XLA (`jit_compile=True`), where TF1's sparse
  kernel does not compile; it equals that kernel to float rounding
  (tested).

  Python-number hyper-parameters are converted straight to the parameter dtype
  (TF1 went through float32 first, which only differs for float64 parameters,
  by float32 rounding of e.g. 0.9; float32 training is bit-identical).

  ``None`` updates are skipped (their slots are still created and left
  untouched). Slots are created lazily, once, on the first `apply`, so the
  optimizer must always be applied to the same parameter list.

  Attributes:
    learning_rate: Float or `tf.Variable`; may be reassigned (or, if a
      variable, `.assign`-ed) between steps, e.g. for fine-tuning.
    decay: Discount of the mean-square accumulator (TF1 ``decay``/``rho``).
    momentum: Momentum coefficient.
    epsilon: Added to ``ms`` inside the square root.
    step: int64 `tf.Variable` counting `apply` calls.
    ms: List of mean-square slots (one per parameter, initialised to ones).
    mom: List of momentum slots (one per parameter, initialised to zeros).
  """

  def __init__(self,
               learning_rate: _FloatLike,
               decay: _FloatLike = 0.9,
               momentum: _FloatLike = 0.9,
               epsilon: _FloatLike = 1e-10,
               name: Optional[str] = None):
    """Constructs a `TF1RMSProp`.

    Args:
      learning_rate: Learning rate (float, tensor or `tf.Variable`).
      decay: Discount factor of the mean-square accumulator.
      momentum: Momentum coefficient.
      epsilon: Small value added to ``ms`` to avoid division by zero.
      name: Module name.
    """
    super().__init__(name=name)
    self.learning_rate = learning_rate
    self.decay = decay
    self.momentum = momentum
    self.epsilon = epsilon
    self.step = tf.Variable(0, trainable=False, name="step", dtype=tf.int64)
    self.ms = []
    self.mom = []

  def create_slots(self, parameters: Sequence[tf.Variable]):
    """Creates the slots for `parameters` without updating them (once)."""
    self._initialize(parameters)

  @snt.once
  def _initialize(self, parameters: Sequence[tf.Variable]):
    """Creates the slots: ``ms`` at ones (TF1), ``mom`` at zeros."""
    with tf.name_scope("rms"):
      self.ms.extend(_slot_like(p, 1.0) for p in parameters)
    with tf.name_scope("momentum"):
      self.mom.extend(_slot_like(p, 0.0) for p in parameters)

  def apply(self, updates: Sequence[Optional[Union[tf.Tensor,
                                                   tf.IndexedSlices]]],
            parameters: Sequence[tf.Variable]):
    """Applies one TF1 RMSProp step of `updates` (gradients) to `parameters`.

    Args:
      updates: Gradients, one per parameter (`tf.Tensor`, `tf.IndexedSlices`
        or `None` to skip the parameter).
      parameters: The `tf.Variable`s to update (the same list every call).

    Raises:
      ValueError: If `updates` and `parameters` are empty, have different
        lengths, all updates are `None`, or dtypes are inconsistent.
    """
    for i, update, parameter in _updates_to_apply(self, updates, parameters,
                                                  self.ms):
      ms_var, mom_var = self.ms[i], self.mom[i]
      dtype = update.dtype
      lr = _to_dtype(self.learning_rate, dtype)
      rho = _to_dtype(self.decay, dtype)
      momentum = _to_dtype(self.momentum, dtype)
      epsilon = _to_dtype(self.epsilon, dtype)

      if isinstance(update, tf.IndexedSlices):
        grad, touched = _dense_rows(update, parameter)
        ms_new = ms_var * rho + tf.square(grad) * (1. - rho)
        mom_new = (mom_var * momentum +
                   tf.math.rsqrt(ms_new + epsilon) * lr * grad)
        ms_var.assign(tf.where(touched, ms_new, ms_var))
        mom_var.assign(tf.where(touched, mom_new, mom_var))
        parameter.assign(tf.where(touched, parameter - mom_new, parameter))
      else:
        tf.raw_ops.ResourceApplyRMSProp(
            var=parameter.handle, ms=ms_var.handle, mom=mom_var.handle,
            lr=lr, rho=rho, momentum=momentum, epsilon=epsilon,
            grad=tf.convert_to_tensor(update), use_locking=False)


class TF1Adam(snt.Optimizer):
  """Adam exactly as TensorFlow 1's `tf.train.AdamOptimizer`.

  For every parameter ``var`` with gradient ``g``, at step t = 1, 2, ...:

      m   <- beta1 * m + (1 - beta1) * g
      v   <- beta2 * v + (1 - beta2) * g^2
      var <- var - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)

  i.e. epsilon is added to the UNcorrected sqrt(v) (TF1, the Adam paper's
  "epsilon hat"), while `snt.optimizers.Adam` / Keras add it to the
  bias-corrected sqrt(v_hat): TF1's effective epsilon is eps / sqrt(1 -
  beta2^t), 31.6 eps at t = 1. That matters with a large epsilon (the
  KV-MemNN baseline trains with eps = 0.1). Runs TF1's own
  `ResourceApplyAdam` kernel (CPU, GPU, XLA). Sparse gradients are applied
  densely (duplicates summed): TF1's sparse Adam (`_apply_sparse_shared`)
  also decays EVERY row of m and v (`m * beta1`, then a scatter-add of the
  looked-up rows) and moves every row of var, so a row looked up at one step
  and absent at the next still moves with its first moment, unlike TF1's
  sparse RMSProp (tested on a hand-worked case).

  Attributes:
    learning_rate: float or `tf.Variable` (assign it for a schedule).
    beta1, beta2, epsilon: as in TF1 (defaults 0.9, 0.999, 1e-8).
    step: int64 `tf.Variable`, the number of `apply` calls (t).
    m, v: the moment slots (zeros at the start).
  """

  def __init__(self, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8,
               name=None):
    super().__init__(name=name)
    self.learning_rate = learning_rate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.step = tf.Variable(0, trainable=False, name="step", dtype=tf.int64)
    self.m = []
    self.v = []

  def create_slots(self, parameters: Sequence[tf.Variable]):
    """Creates the slots for `parameters` without updating them (once)."""
    self._initialize(parameters)

  @snt.once
  def _initialize(self, parameters: Sequence[tf.Variable]):
    """Creates the slots ``m`` and ``v`` at zeros."""
    with tf.name_scope("m"):
      self.m.extend(_slot_like(p, 0.0) for p in parameters)
    with tf.name_scope("v"):
      self.v.extend(_slot_like(p, 0.0) for p in parameters)

  def apply(self, updates, parameters):
    """Applies one TF1 Adam step of `updates` (gradients) to `parameters`.

    Raises:
      ValueError: as `TF1RMSProp.apply`.
    """
    for i, update, parameter in _updates_to_apply(self, updates, parameters,
                                                  self.m):
      m_var, v_var = self.m[i], self.v[i]
      dtype = update.dtype
      t = tf.cast(self.step, dtype)
      beta1 = _to_dtype(self.beta1, dtype)
      beta2 = _to_dtype(self.beta2, dtype)
      tf.raw_ops.ResourceApplyAdam(
          var=parameter.handle, m=m_var.handle, v=v_var.handle,
          beta1_power=tf.pow(beta1, t), beta2_power=tf.pow(beta2, t),
          lr=_to_dtype(self.learning_rate, dtype), beta1=beta1, beta2=beta2,
          epsilon=_to_dtype(self.epsilon, dtype),
          grad=tf.convert_to_tensor(update), use_locking=False,
          use_nesterov=False)


def clip_by_global_norm(
    gradients: Sequence[Optional[Union[tf.Tensor, tf.IndexedSlices]]],
    max_norm: Optional[_FloatLike],
) -> Tuple[List[Optional[Union[tf.Tensor, tf.IndexedSlices]]], tf.Tensor]:
  """Clips gradients by their global L2 norm (`tf.clip_by_global_norm`).

  If ``global_norm = sqrt(sum_i ||g_i||^2) > max_norm`` every gradient is
  scaled by ``max_norm / global_norm``; otherwise they are returned unchanged.
  `None` entries are kept as `None`; `tf.IndexedSlices` stay `IndexedSlices`.

  Args:
    gradients: Sequence of gradients (tensors, `IndexedSlices` or `None`).
    max_norm: Clipping threshold. `None` or a Python number `<= 0` disables
      clipping (the norm is still computed and returned). A tensor value is
      always used as the threshold.

  Returns:
    `(clipped_gradients, global_norm)`: a list the same length as `gradients`
    and the scalar global norm of the *unclipped* gradients.
  """
  gradients = list(gradients)
  disabled = max_norm is None or (
      isinstance(max_norm, (int, float)) and max_norm <= 0)
  if disabled:
    return gradients, tf.linalg.global_norm(gradients)
  clipped, global_norm = tf.clip_by_global_norm(gradients, max_norm)
  return list(clipped), global_norm


def make_optimizer(name: str,
                   learning_rate: _FloatLike,
                   momentum: _FloatLike = 0.9,
                   epsilon: _FloatLike = 1e-10,
                   decay: _FloatLike = 0.9) -> snt.Optimizer:
  """Builds an optimizer by name.

  Args:
    name: ``"rmsprop"`` -> `TF1RMSProp(learning_rate, decay, momentum,
      epsilon)`; ``"adam"`` -> `TF1Adam` with TF1's `tf.train.AdamOptimizer`
      defaults (beta1 0.9, beta2 0.999, epsilon 1e-8; `momentum`, `epsilon`
      and `decay` are RMSProp-only and ignored).
    learning_rate: Float or `tf.Variable`.
    momentum: RMSProp momentum.
    epsilon: RMSProp epsilon.
    decay: RMSProp mean-square decay.

  Returns:
    A `snt.Optimizer`.

  Raises:
    ValueError: If `name` is not one of ``"rmsprop"``, ``"adam"``.
  """
  if name == "rmsprop":
    return TF1RMSProp(learning_rate, decay=decay, momentum=momentum,
                      epsilon=epsilon)
  if name == "adam":
    return TF1Adam(learning_rate, beta1=_ADAM_BETA1, beta2=_ADAM_BETA2,
                   epsilon=_ADAM_EPSILON)
  raise ValueError("Unknown optimizer {!r}; expected one of {}.".format(
      name, ", ".join(repr(n) for n in OPTIMIZER_NAMES)))
