"""Tests for dam/optimizers.py (TF1-faithful RMSProp, clipping, factory)."""

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from dam import optimizers

LR = 0.1
DECAY = 0.9
MOMENTUM = 0.9
EPS = 1e-10

X0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.25, 3.0, 0.0])


def _expected_two_steps(ms_init):
  """TF1 RMSProp by hand: returns [(ms, mom, var) after step 1, after step 2]."""
  out = []
  ms = np.full_like(X0, ms_init)
  mom = np.zeros_like(X0)
  var = X0.copy()
  for g in (G1, G2):
    ms = 0.9 * ms + (1.0 - 0.9) * g * g
    mom = 0.9 * mom + 0.1 * g / np.sqrt(ms + 1e-10)
    var = var - mom
    out.append((ms.copy(), mom.copy(), var.copy()))
  return out


def test_hand_computed_step1_explicit():
  # Step 1 written out for the first element: g=0.5, ms0=1, mom0=0, x0=1.
  ms1 = 0.9 * 1.0 + 0.1 * 0.25  # 0.925
  mom1 = 0.9 * 0.0 + 0.1 * 0.5 / np.sqrt(0.925 + 1e-10)
  x1 = 1.0 - mom1
  exp = _expected_two_steps(1.0)
  np.testing.assert_allclose(exp[0][0][0], 0.925, rtol=1e-15)
  np.testing.assert_allclose(exp[0][1][0], mom1, rtol=1e-15)
  np.testing.assert_allclose(exp[0][2][0], x1, rtol=1e-15)
  np.testing.assert_allclose(mom1, 0.05 / np.sqrt(0.925), rtol=1e-9)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12),
                                        (np.float32, 1e-6)])
def test_two_dense_steps_match_hand_computation(dtype, rtol):
  var = tf.Variable(X0.astype(dtype))
  opt = optimizers.TF1RMSProp(LR, decay=DECAY, momentum=MOMENTUM, epsilon=EPS)
  expected = _expected_two_steps(1.0)
  for step, g in enumerate((G1, G2)):
    opt.apply([tf.constant(g.astype(dtype))], [var])
    ms, mom, x = expected[step]
    assert opt.ms[0].dtype == dtype and opt.mom[0].dtype == dtype
    np.testing.assert_allclose(opt.ms[0].numpy(), ms, rtol=rtol)
    np.testing.assert_allclose(opt.mom[0].numpy(), mom, rtol=rtol, atol=1e-7)
    np.testing.assert_allclose(var.numpy(), x, rtol=rtol, atol=1e-7)
    assert int(opt.step.numpy()) == step + 1

  # The ones-initialisation matters: a zero-initialised accumulator (Sonnet 2 /
  # Keras) gives clearly different values.
  zero_init = _expected_two_steps(0.0)
  assert not np.allclose(zero_init[1][2], var.numpy(), rtol=1e-3)
  assert not np.allclose(zero_init[1][0], opt.ms[0].numpy(), rtol=1e-3)
  sonnet_var = tf.Variable(X0.astype(dtype))
  sonnet_opt = snt.optimizers.RMSProp(LR, decay=DECAY, momentum=MOMENTUM,
                                      epsilon=EPS)
  for g in (G1, G2):
    sonnet_opt.apply([tf.constant(g.astype(dtype))], [sonnet_var])
  np.testing.assert_allclose(sonnet_var.numpy(), zero_init[1][2], rtol=1e-5)
  assert not np.allclose(sonnet_var.numpy(), var.numpy(), rtol=1e-3)


def test_slots_initialised_ones_and_zeros_and_named():
  var = tf.Variable(np.zeros((2, 3), np.float32), name="weights")
  opt = optimizers.TF1RMSProp(LR)
  opt.apply([None, tf.ones((4,))],
            [var, tf.Variable(tf.zeros((4,)), name="other")])
  # var received no update, so its slots keep their initial values.
  np.testing.assert_array_equal(opt.ms[0].numpy(), np.ones((2, 3)))
  np.testing.assert_array_equal(opt.mom[0].numpy(), np.zeros((2, 3)))
  assert "weights" in opt.ms[0].name and "weights" in opt.mom[0].name
  assert not opt.ms[0].trainable and not opt.mom[0].trainable
  assert opt.step.dtype == tf.int64
  assert opt.variables and not any(v.trainable for v in opt.variables)


def _run_two_steps(mode, dtype=np.float32):
  var = tf.Variable(X0.astype(dtype))
  opt = optimizers.TF1RMSProp(LR, decay=DECAY, momentum=MOMENTUM, epsilon=EPS)

  def step(g):
    opt.apply([g], [var])

  if mode == "function":
    step = tf.function(step)
  elif mode == "jit":
    step = tf.function(step, jit_compile=True)
  for g in (G1, G2):
    step(tf.constant(g.astype(dtype)))
  return var.numpy(), opt.ms[0].numpy(), opt.mom[0].numpy(), opt.step.numpy()


@pytest.mark.parametrize("mode", ["function", "jit"])
def test_eager_function_and_jit_agree(mode):
  eager = _run_two_steps("eager")
  other = _run_two_steps(mode)
  for a, b in zip(eager, other):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(eager[0], _expected_two_steps(1.0)[1][2],
                             rtol=1e-6)


def _sparse_case(use_function):
  x0 = np.arange(12, dtype=np.float64).reshape(4, 3) / 10.0
  var = tf.Variable(x0)
  opt = optimizers.TF1RMSProp(LR, decay=DECAY, momentum=MOMENTUM, epsilon=EPS)
  values = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.25], [-2.0, 0.0, 1.0]])
  indices = np.array([2, 0, 2], np.int64)  # row 2 is duplicated.

  def step():
    opt.apply([tf.IndexedSlices(tf.constant(values), tf.constant(indices),
                                tf.constant([4, 3], tf.int64))], [var])

  if use_function:
    step = tf.function(step)
  step()
  step()
  return x0, values, var, opt


@pytest.mark.parametrize("use_function", [False, True])
def test_sparse_updates_only_touched_rows_and_sum_duplicates(use_function):
  x0, values, var, opt = _sparse_case(use_function)
  # Dense equivalent: duplicates summed into one dense gradient.
  dense_g = np.zeros_like(x0)
  dense_g[0] = values[1]
  dense_g[2] = values[0] + values[2]
  ms = np.ones_like(x0)
  mom = np.zeros_like(x0)
  x = x0.copy()
  for _ in range(2):
    ms = 0.9 * ms + 0.1 * dense_g ** 2
    mom = 0.9 * mom + 0.1 * dense_g / np.sqrt(ms + 1e-10)
    x = x - mom
  touched = [0, 2]
  untouched = [1, 3]
  np.testing.assert_allclose(var.numpy()[touched], x[touched], rtol=1e-12)
  np.testing.assert_allclose(opt.ms[0].numpy()[touched], ms[touched],
                             rtol=1e-12)
  np.testing.assert_allclose(opt.mom[0].numpy()[touched], mom[touched],
                             rtol=1e-12)
  # Untouched rows are exactly as initialised (TF1 sparse semantics; note a
  # dense zero gradient would still decay ms and apply momentum).
  np.testing.assert_array_equal(var.numpy()[untouched], x0[untouched])
  np.testing.assert_array_equal(opt.ms[0].numpy()[untouched], 1.0)
  np.testing.assert_array_equal(opt.mom[0].numpy()[untouched], 0.0)


def test_sparse_matches_dense_optimizer_on_touched_rows():
  x0, values, var, _ = _sparse_case(False)
  dense_var = tf.Variable(x0)
  dense_opt = optimizers.TF1RMSProp(LR)
  g = np.zeros_like(x0)
  g[0] = values[1]
  g[2] = values[0] + values[2]
  for _ in range(2):
    dense_opt.apply([tf.constant(g)], [dense_var])
  np.testing.assert_allclose(var.numpy()[[0, 2]], dense_var.numpy()[[0, 2]],
                             rtol=1e-12)


def test_embedding_gradient_is_indexed_slices():
  table = tf.Variable(np.ones((5, 2), np.float32))
  opt = optimizers.TF1RMSProp(LR)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.gather(table, [1, 1, 3]))
  grad = tape.gradient(loss, table)
  assert isinstance(grad, tf.IndexedSlices)
  opt.apply([grad], [table])
  changed = np.any(table.numpy() != 1.0, axis=1)
  np.testing.assert_array_equal(changed, [False, True, False, True, False])
  # Row 1 saw the summed gradient 2, row 3 gradient 1.
  for row, g in ((1, 2.0), (3, 1.0)):
    expected = 1.0 - 0.1 * g / np.sqrt(0.9 + 0.1 * g * g + 1e-10)
    np.testing.assert_allclose(table.numpy()[row], expected, rtol=1e-6)


def test_none_gradients_are_skipped():
  a = tf.Variable([1.0, 2.0])
  b = tf.Variable([3.0])
  opt = optimizers.TF1RMSProp(LR)
  opt.apply([None, tf.constant([1.0])], [a, b])
  np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
  assert b.numpy()[0] != 3.0
  with pytest.raises(ValueError):
    opt.apply([None, None], [a, b])


def test_learning_rate_variable_change_takes_effect():
  lr = tf.Variable(0.1, dtype=tf.float64, trainable=False)
  var = tf.Variable(X0.copy())
  opt = optimizers.TF1RMSProp(lr)
  step = tf.function(lambda g: opt.apply([g], [var]))
  step(tf.constant(G1))
  lr.assign(0.0)
  # With lr 0, mom <- 0.9 * mom, so the variable still moves by momentum only.
  mom1 = opt.mom[0].numpy().copy()
  x1 = var.numpy().copy()
  step(tf.constant(G2))
  np.testing.assert_allclose(opt.mom[0].numpy(), 0.9 * mom1, rtol=1e-12)
  np.testing.assert_allclose(var.numpy(), x1 - 0.9 * mom1, rtol=1e-12)
  # A Python-float attribute can be reassigned too (eager).
  opt2 = optimizers.TF1RMSProp(0.1)
  v2 = tf.Variable([1.0])
  opt2.apply([tf.constant([1.0])], [v2])
  opt2.learning_rate = 0.0
  opt2.momentum = 0.0
  before = v2.numpy().copy()
  opt2.apply([tf.constant([1.0])], [v2])
  np.testing.assert_array_equal(v2.numpy(), before)


def test_dtype_mismatch_raises():
  opt = optimizers.TF1RMSProp(LR)
  with pytest.raises(ValueError):
    opt.apply([tf.constant([1.0], tf.float64)], [tf.Variable([1.0])])


def test_clip_by_global_norm_known_answer():
  grads = [tf.constant([3.0, 4.0]), tf.constant([12.0])]
  clipped, norm = optimizers.clip_by_global_norm(grads, 6.5)
  np.testing.assert_allclose(norm.numpy(), 13.0, rtol=1e-6)
  np.testing.assert_allclose(clipped[0].numpy(), [1.5, 2.0], rtol=1e-6)
  np.testing.assert_allclose(clipped[1].numpy(), [6.0], rtol=1e-6)


def test_clip_by_global_norm_no_clip_below_max_and_disabled():
  grads = [tf.constant([3.0, 4.0]), None, tf.constant([12.0])]
  clipped, norm = optimizers.clip_by_global_norm(grads, 100.0)
  np.testing.assert_allclose(norm.numpy(), 13.0, rtol=1e-6)
  assert clipped[1] is None
  np.testing.assert_allclose(clipped[0].numpy(), [3.0, 4.0], rtol=1e-6)
  for max_norm in (0, 0.0, -1.0, None):
    clipped, norm = optimizers.clip_by_global_norm(grads, max_norm)
    np.testing.assert_allclose(norm.numpy(), 13.0, rtol=1e-6)
    np.testing.assert_array_equal(clipped[0].numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(clipped[2].numpy(), [12.0])
    assert clipped[1] is None


def test_clip_by_global_norm_indexed_slices():
  slices = tf.IndexedSlices(tf.constant([[3.0, 4.0]]), tf.constant([1]),
                            tf.constant([3, 2]))
  clipped, norm = optimizers.clip_by_global_norm(
      [slices, tf.constant([12.0])], 6.5)
  np.testing.assert_allclose(norm.numpy(), 13.0, rtol=1e-6)
  assert isinstance(clipped[0], tf.IndexedSlices)
  np.testing.assert_allclose(clipped[0].values.numpy(), [[1.5, 2.0]],
                             rtol=1e-6)


def test_make_optimizer():
  rms = optimizers.make_optimizer("rmsprop", 1e-4)
  assert isinstance(rms, optimizers.TF1RMSProp)
  assert (rms.learning_rate, rms.momentum, rms.decay, rms.epsilon) == (
      1e-4, 0.9, 0.9, 1e-10)
  rms2 = optimizers.make_optimizer("rmsprop", 1e-3, momentum=0.5,
                                   epsilon=1e-6, decay=0.95)
  assert (rms2.momentum, rms2.epsilon, rms2.decay) == (0.5, 1e-6, 0.95)
  adam = optimizers.make_optimizer("adam", 1e-3)
  assert isinstance(adam, optimizers.TF1Adam)
  assert (adam.learning_rate, adam.beta1, adam.beta2, adam.epsilon) == (
      1e-3, 0.9, 0.999, 1e-8)


def test_make_optimizer_unknown_name():
  with pytest.raises(ValueError) as info:
    optimizers.make_optimizer("sgd", 0.1)
  message = str(info.value)
  assert "rmsprop" in message and "adam" in message and "sgd" in message


def test_checkpoint_round_trip(tmp_path):
  var = tf.Variable(X0.copy())
  opt = optimizers.TF1RMSProp(LR)
  opt.apply([tf.constant(G1)], [var])
  path = tf.train.Checkpoint(opt=opt, var=var).save(str(tmp_path / "ckpt"))

  var2 = tf.Variable(np.zeros_like(X0))
  opt2 = optimizers.TF1RMSProp(LR)
  status = tf.train.Checkpoint(opt=opt2, var=var2).restore(path)
  np.testing.assert_array_equal(var2.numpy(), var.numpy())
  assert int(opt2.step.numpy()) == 1
  # Slots are created lazily on the first apply and restored on creation.
  opt.apply([tf.constant(G2)], [var])
  opt2.apply([tf.constant(G2)], [var2])
  status.assert_consumed()
  np.testing.assert_array_equal(var2.numpy(), var.numpy())
  np.testing.assert_array_equal(opt2.ms[0].numpy(), opt.ms[0].numpy())
  np.testing.assert_array_equal(opt2.mom[0].numpy(), opt.mom[0].numpy())
  assert int(opt2.step.numpy()) == 2
  np.testing.assert_allclose(var.numpy(), _expected_two_steps(1.0)[1][2],
                             rtol=1e-12)


def test_tf1_adam_two_steps_by_hand():
  # TF1 rule: eps is added to the UNcorrected sqrt(v).
  lr, b1, b2, eps = 0.1, 0.9, 0.999, 0.1
  x0, g1, g2 = np.array([1., -2.]), np.array([0.5, -1.]), np.array([2., 3.])
  var = tf.Variable(x0)
  opt = optimizers.TF1Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
  opt.apply([tf.constant(g1)], [var])
  opt.apply([tf.constant(g2)], [var])
  x, m, v = x0.copy(), np.zeros(2), np.zeros(2)
  for t, g in ((1, g1), (2, g2)):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    x = x - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
  np.testing.assert_allclose(var.numpy(), x, rtol=1e-12)
  np.testing.assert_allclose(opt.m[0].numpy(), m, rtol=1e-12)
  np.testing.assert_allclose(opt.v[0].numpy(), v, rtol=1e-12)
  # Sonnet's Adam (eps after the bias correction) lands elsewhere.
  other = tf.Variable(x0)
  snt_adam = snt.optimizers.Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
  snt_adam.apply([tf.constant(g1)], [other])
  snt_adam.apply([tf.constant(g2)], [other])
  assert np.abs(other.numpy() - x).max() > 1e-3


def test_tf1_adam_sparse_equals_dense_and_compiles():
  def run(sparse, jit):
    var = tf.Variable(np.arange(6.).reshape(3, 2))
    opt = optimizers.TF1Adam(0.01)

    @tf.function(jit_compile=jit)
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(var, [0, 2, 0]) ** 2)
      grad = tape.gradient(loss, var)
      if not sparse:
        grad = tf.convert_to_tensor(grad)
      opt.apply([grad], [var])
    for _ in range(3):
      step()
    return var.numpy()
  dense = run(False, False)
  np.testing.assert_allclose(run(True, False), dense, rtol=1e-12)
  np.testing.assert_allclose(run(False, True), dense, rtol=1e-6)
  assert dense[1].tolist() == [2., 3.]  # an untouched row: g = 0, m = 0


# -- TF1's sparse rules under every execution mode ------------------------------
#
# A table of 4 rows (one column). Step 1 looks up rows 0, 2, 2 (row 2 twice,
# gradients 0.5 + 0.25 summed); step 2 looks up row 2 only: row 0 is present
# at step 1 and ABSENT at step 2; rows 1 and 3 are never looked up.
_IDS = ([0, 2, 2], [2])
_GRADS = ([1.0, 0.5, 0.25], [-1.0])
_X0 = [1.0, 2.0, 3.0, 4.0]


def _embedding_steps(opt, mode):
  """Two steps of `opt` on gradients of a real lookup (IndexedSlices)."""
  table = tf.Variable(np.array(_X0)[:, None])

  def step(ids, coefficients):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.gather(table, ids)[:, 0] * coefficients)
    grad = tape.gradient(loss, table)
    assert isinstance(grad, tf.IndexedSlices)
    opt.apply([grad], [table])

  if mode != "eager":
    step = tf.function(step, jit_compile=(mode == "jit"))
  values = []
  for ids, grads in zip(_IDS, _GRADS):
    step(tf.constant(ids), tf.constant(grads, tf.float64))
    values.append(table.numpy()[:, 0].copy())
  return values


@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
def test_rmsprop_sparse_rule_by_hand_in_every_mode(mode):
  # lr 0.1, decay 0.9, momentum 0.9, epsilon 0; ms starts at 1, mom at 0.
  opt = optimizers.TF1RMSProp(0.1, decay=0.9, momentum=0.9, epsilon=0.0)
  step1, step2 = _embedding_steps(opt, mode)
  # Step 1. Row 0: g = 1, ms = 0.9 + 0.1 = 1, mom = 0.1 * 1 / 1 = 0.1.
  # Row 2: g = 0.75, ms = 0.9 + 0.1 * 0.5625 = 0.95625,
  # mom1 = 0.075 / sqrt(0.95625).
  mom1 = 0.075 / np.sqrt(0.95625)
  np.testing.assert_allclose(step1, [0.9, 2.0, 3.0 - mom1, 4.0], rtol=1e-12)
  # Step 2. Row 2: g = -1, ms = 0.9 * 0.95625 + 0.1 = 0.960625,
  # mom = 0.9 mom1 - 0.1 / sqrt(0.960625). Row 0 is absent: TF1's sparse
  # kernel leaves its value, ms and momentum alone (a dense zero gradient
  # would move it by 0.9 * 0.1 to 0.81).
  mom2 = 0.9 * mom1 - 0.1 / np.sqrt(0.960625)
  np.testing.assert_allclose(step2, [0.9, 2.0, 3.0 - mom1 - mom2, 4.0],
                             rtol=1e-12)
  np.testing.assert_allclose(opt.ms[0].numpy()[:, 0],
                             [1.0, 1.0, 0.960625, 1.0], rtol=1e-12)
  np.testing.assert_allclose(opt.mom[0].numpy()[:, 0],
                             [0.1, 0.0, mom2, 0.0], rtol=1e-12)


def test_rmsprop_sparse_rule_equals_tf1_sparse_kernel():
  # The fixed-shape update against TF1's own ResourceSparseApplyRMSProp
  # (duplicates summed first, as TF1's optimizer did).
  table = tf.Variable(np.array(_X0)[:, None])
  ms = tf.Variable(np.ones([4, 1]))
  mom = tf.Variable(np.zeros([4, 1]))
  for ids, grads in zip(_IDS, _GRADS):
    unique, position = tf.unique(tf.constant(ids))
    summed = tf.math.unsorted_segment_sum(
        tf.constant(grads, tf.float64)[:, None], position, tf.size(unique))
    tf.raw_ops.ResourceSparseApplyRMSProp(
        var=table.handle, ms=ms.handle, mom=mom.handle,
        lr=tf.constant(0.1, tf.float64), rho=tf.constant(0.9, tf.float64),
        momentum=tf.constant(0.9, tf.float64),
        epsilon=tf.constant(1e-10, tf.float64), grad=summed, indices=unique)
  opt = optimizers.TF1RMSProp(0.1)
  ours = _embedding_steps(opt, "jit")[-1]
  np.testing.assert_allclose(ours, table.numpy()[:, 0], rtol=1e-15)
  np.testing.assert_allclose(opt.ms[0].numpy(), ms.numpy(), rtol=1e-15)
  np.testing.assert_allclose(opt.mom[0].numpy(), mom.numpy(), rtol=1e-15)


@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
def test_adam_sparse_rule_by_hand_in_every_mode(mode):
  # TF1's sparse Adam decays m and v of EVERY row, so row 0, absent at step
  # 2, still moves with its first moment (unlike sparse RMSProp).
  lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
  opt = optimizers.TF1Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
  step1, step2 = _embedding_steps(opt, mode)
  lr1 = lr * np.sqrt(1 - b2) / (1 - b1)  # step size at t = 1
  lr2 = lr * np.sqrt(1 - b2 ** 2) / (1 - b1 ** 2)  # at t = 2

  def moved(g1, g2):
    m1, v1 = 0.1 * g1, 0.001 * g1 ** 2
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2 ** 2
    d1 = lr1 * m1 / (np.sqrt(v1) + eps)
    d2 = lr2 * m2 / (np.sqrt(v2) + eps)
    return d1, d1 + d2

  row0 = moved(1.0, 0.0)  # present, then absent
  row2 = moved(0.75, -1.0)
  np.testing.assert_allclose(step1, [1.0 - row0[0], 2.0, 3.0 - row2[0], 4.0],
                             rtol=1e-7)
  np.testing.assert_allclose(step2, [1.0 - row0[1], 2.0, 3.0 - row2[1], 4.0],
                             rtol=1e-7)
  assert step2[0] < step1[0] - 0.05  # row 0 moved at step 2 (by ~0.07)
