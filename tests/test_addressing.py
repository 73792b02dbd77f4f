"""Tests of the batched addressing kernel (dam/addressing.py; SPEC 1-2).

Known answers are worked out by hand (in comments or as small numpy
expressions of the published formulas), never by calling the function under
test a second time. Every tensor is [B, K, ...].
"""

import numpy as np
import pytest
import tensorflow as tf

from dam import addressing

EPS = 1e-6  # SPEC 1.7 / 1.8.
GRAD_TOL = 1e-6
GRAD_DELTA = 1e-5  # float64 central differences: error ~ delta^2, 1e-16/delta.


def _f64(x):
  return tf.constant(np.asarray(x, dtype=np.float64))


def _softplus(x):
  return np.log1p(np.exp(x))


def _np_allocation(u):
  """Reference DNC allocation for one row of usage (SPEC 1.7), by a loop."""
  u = EPS + (1. - EPS) * np.asarray(u, dtype=np.float64)
  order = sorted(range(len(u)), key=lambda n: (u[n], n))  # ascending, stable
  a = np.zeros_like(u)
  prod = 1.
  for n in order:
    a[n] = (1. - u[n]) * prod
    prod *= u[n]
  return a


def _check_gradients(f, xs, tol=GRAD_TOL):
  """Theoretical vs numerical Jacobians, float64."""
  xs = [np.asarray(x, dtype=np.float64) for x in xs]
  theoretical, numerical = tf.test.compute_gradient(f, xs, delta=GRAD_DELTA)
  for i, (t, n) in enumerate(zip(theoretical, numerical)):
    assert t.shape == n.shape
    assert np.all(np.isfinite(t)), i
    # A Jacobian that is identically zero would make the check vacuous.
    assert np.max(np.abs(n)) > 1e-3, ('input %d has no effect' % i)
    err = np.max(np.abs(t - n))
    assert err < tol, ('input %d: max |theoretical - numerical| = %g' % (i, err))


def _random_weights(rng, shape, total_max=1.):
  """Non-negative weights over the last axis with sum in [0, total_max]."""
  w = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
  return w * rng.uniform(0., total_max, size=shape[:-1] + (1,))


# --------------------------------------------------------------------------
# 1. Cosine similarity and content weights.

# One batch, one block, three slots [1, 0], [0, 1], [1, 1]; key [1, 0].
_MEMORY_3 = [[[[1., 0.], [0., 1.], [1., 1.]]]]  # [1, 1, 3, 2]
_KEY_3 = [[[[1., 0.]]]]  # [1, 1, 1, 2]


def _hand_similarity_3():
  # |k| = sqrt(1 + eps); |M0| = |M1| = sqrt(1 + eps); |M2| = sqrt(2 + eps).
  # D = k.M / (|k| |M| + eps); k.M = 1, 0, 1.
  nk = np.sqrt(1. + EPS)
  return np.array([
      1. / (nk * np.sqrt(1. + EPS) + EPS),  # = 1 / (1 + 2e-6)
      0.,
      1. / (nk * np.sqrt(2. + EPS) + EPS),  # ~ 1 / sqrt(2)
  ])


def test_cosine_similarity_known_answer():
  sim = addressing.cosine_similarity(_f64(_MEMORY_3), _f64(_KEY_3)).numpy()
  assert sim.shape == (1, 1, 1, 3)
  expected = _hand_similarity_3()
  np.testing.assert_allclose(sim[0, 0, 0], expected, rtol=0, atol=1e-12)
  # The epsilons matter at the 1e-6 level: without them D would be 1 and
  # 1/sqrt(2).
  assert abs(sim[0, 0, 0, 0] - (1. - 2e-6)) < 1e-11
  assert abs(sim[0, 0, 0, 2] - 1. / np.sqrt(2.)) > 1e-7


def test_cosine_similarity_float32_matches_hand_values():
  sim = addressing.cosine_similarity(
      tf.constant(_MEMORY_3, tf.float32), tf.constant(_KEY_3, tf.float32))
  np.testing.assert_allclose(sim.numpy()[0, 0, 0], _hand_similarity_3(),
                             atol=1e-6)


def test_vector_norms():
  x = _f64([[3., 4.], [0., 0.]])
  # sqrt(9 + 16 + eps), sqrt(0 + eps) = 1e-3.
  np.testing.assert_allclose(addressing.vector_norms(x).numpy(),
                             [np.sqrt(25. + EPS), 1e-3], rtol=1e-12)


def test_content_weights_known_answer():
  raw_beta = 0.5
  weights = addressing.content_weights(
      _f64(_MEMORY_3), _f64(_KEY_3), _f64([[[raw_beta]]])).numpy()
  assert weights.shape == (1, 1, 1, 3)
  # softplus(0.5) = log(1 + e^0.5) = 0.974077...
  sharp = np.log(1. + np.exp(0.5))
  assert abs(sharp - 0.9740769841801067) < 1e-12
  logits = sharp * _hand_similarity_3()
  expected = np.exp(logits) / np.sum(np.exp(logits))
  np.testing.assert_allclose(weights[0, 0, 0], expected, rtol=0, atol=1e-12)
  # Slot 0 (parallel to the key) wins, slot 1 (orthogonal) loses.
  assert weights[0, 0, 0, 0] > weights[0, 0, 0, 2] > weights[0, 0, 0, 1]


def test_content_weights_rows_sum_to_one_and_sharpen():
  rng = np.random.RandomState(0)
  memory = _f64(rng.randn(2, 3, 5, 4))
  keys = _f64(rng.randn(2, 3, 2, 4))
  weak = addressing.content_weights(memory, keys, _f64(np.full([2, 3, 2], -5.)))
  strong = addressing.content_weights(memory, keys, _f64(np.full([2, 3, 2], 20.)))
  assert weak.shape == (2, 3, 2, 5)
  np.testing.assert_allclose(np.sum(weak.numpy(), -1), 1., atol=1e-12)
  np.testing.assert_allclose(np.sum(strong.numpy(), -1), 1., atol=1e-12)
  # Larger strength -> sharper (max weight larger); the argmax is the
  # most similar slot either way.
  assert np.all(np.max(strong.numpy(), -1) > np.max(weak.numpy(), -1))
  sim = addressing.cosine_similarity(memory, keys).numpy()
  np.testing.assert_array_equal(np.argmax(strong.numpy(), -1),
                                np.argmax(sim, -1))


def test_content_weights_blocks_are_independent():
  rng = np.random.RandomState(1)
  memory = rng.randn(1, 2, 4, 3)
  keys = rng.randn(1, 2, 1, 3)
  beta = rng.randn(1, 2, 1)
  out = addressing.content_weights(_f64(memory), _f64(keys), _f64(beta)).numpy()
  for k in range(2):
    m, key = memory[0, k], keys[0, k, 0]
    nm = np.sqrt(np.sum(m * m, -1) + EPS)
    nk = np.sqrt(np.sum(key * key) + EPS)
    logits = _softplus(beta[0, k, 0]) * (m @ key) / (nk * nm + EPS)
    expected = np.exp(logits - logits.max())
    np.testing.assert_allclose(out[0, k, 0], expected / expected.sum(),
                               atol=1e-12)


def test_content_weights_zero_memory_uniform_and_finite():
  memory = tf.zeros([1, 1, 3, 2], tf.float32)
  keys = tf.constant([[[[1., 0.], [0., 0.]]]])
  weights = addressing.content_weights(memory, keys, tf.constant([[[3., 3.]]]))
  assert np.all(np.isfinite(weights.numpy()))
  np.testing.assert_allclose(weights.numpy(), np.full([1, 1, 2, 3], 1. / 3.),
                             atol=1e-7)


# --------------------------------------------------------------------------
# 2. Allocation weights.


def test_allocation_weights_known_answer():
  usage = [0.4, 0.1, 0.9]
  alloc = addressing.allocation_weights(_f64([[usage]])).numpy()[0, 0]
  # u' = eps + (1 - eps) u.
  u = [EPS + (1. - EPS) * x for x in usage]
  # Ascending order phi = (slot 1, slot 0, slot 2).
  expected = np.array([
      (1. - u[0]) * u[1],  # second: (1 - 0.4) * 0.1 ~ 0.06
      1. - u[1],  # first: ~ 0.9
      (1. - u[2]) * u[1] * u[0],  # third: 0.1 * 0.1 * 0.4 ~ 0.004
  ])
  np.testing.assert_allclose(alloc, expected, rtol=0, atol=1e-12)
  np.testing.assert_allclose(alloc, [0.06, 0.9, 0.004], atol=2e-6)
  assert np.argmax(alloc) == 1  # the least used slot
  assert np.sum(alloc) <= 1.


def test_allocation_weights_full_memory_allocates_nothing():
  alloc = addressing.allocation_weights(tf.ones([2, 1, 5])).numpy()
  assert np.all(alloc >= 0.)
  assert np.all(np.sum(alloc, -1) < 1e-5)


def test_allocation_weights_empty_memory_prefers_slot_zero():
  alloc = addressing.allocation_weights(_f64(np.zeros([1, 1, 4]))).numpy()[0, 0]
  # All u' = eps; ties keep the lower index first: a = (1 - eps) eps^n.
  expected = (1. - EPS) * EPS ** np.arange(4)
  np.testing.assert_allclose(alloc, expected, rtol=1e-9, atol=0)
  assert alloc[0] > 1. - 1e-5


def test_allocation_weights_ties_keep_lower_index_first():
  # Slots 1 and 3 tie at the lowest usage: slot 1 comes first.
  usage = [0.5, 0.2, 0.7, 0.2]
  alloc = addressing.allocation_weights(_f64([[usage]])).numpy()[0, 0]
  u = [EPS + (1. - EPS) * x for x in usage]
  # phi = (1, 3, 0, 2).
  expected = np.array([
      (1. - u[0]) * u[1] * u[3],
      1. - u[1],
      (1. - u[2]) * u[1] * u[3] * u[0],
      (1. - u[3]) * u[1],
  ])
  np.testing.assert_allclose(alloc, expected, atol=1e-12)


def test_allocation_weights_leading_axes_rows_independent():
  rng = np.random.RandomState(2)
  usage = rng.uniform(size=[3, 2, 6])
  usage[1, 0] = 0.  # ties within a row
  usage[2, 1, :3] = 1.
  alloc = addressing.allocation_weights(_f64(usage)).numpy()
  assert alloc.shape == (3, 2, 6)
  for b in range(3):
    for k in range(2):
      np.testing.assert_allclose(alloc[b, k], _np_allocation(usage[b, k]),
                                 atol=1e-12)
  assert np.all(alloc >= 0.)
  assert np.all(np.sum(alloc, -1) <= 1. + 1e-12)
  # Extra leading axes, too ([2, B, K, N]).
  usage4 = rng.uniform(size=[2, 1, 2, 5])
  alloc4 = addressing.allocation_weights(_f64(usage4)).numpy()
  for idx in np.ndindex(2, 1, 2):
    np.testing.assert_allclose(alloc4[idx], _np_allocation(usage4[idx]),
                               atol=1e-12)


# --------------------------------------------------------------------------
# 3. Usage.


def test_update_usage_known_answer_two_read_heads():
  prev_usage = [[[0.5, 0.2, 0.5]]]
  prev_write = [[[[0.3, 0.5, 0.2]]]]  # Wh = 1
  free = [[[0.5, 1.0]]]  # R = 2
  prev_read = [[[[0.2, 0.0, 0.4], [0.0, 0.6, 0.1]]]]
  usage = addressing.update_usage(_f64(prev_usage), _f64(prev_write),
                                  _f64(free), _f64(prev_read)).numpy()
  # written:  u = u_prev + (1 - u_prev) ww
  #   = [0.5 + 0.5*0.3, 0.2 + 0.8*0.5, 0.5 + 0.5*0.2] = [0.65, 0.6, 0.6]
  # retention = (1 - 0.5 wr0) (1 - 1.0 wr1)
  #   = [0.9 * 1.0, 1.0 * 0.4, 0.8 * 0.9] = [0.9, 0.4, 0.72]
  # u = [0.585, 0.24, 0.432]
  np.testing.assert_allclose(usage, [[[0.585, 0.24, 0.432]]], atol=1e-12)


def test_update_usage_known_answer_two_write_heads_one_read_head():
  prev_usage = [[[0.0, 0.5]]]
  prev_write = [[[[0.5, 0.2], [0.5, 0.4]]]]  # Wh = 2
  free = [[[0.5]]]  # R = 1
  prev_read = [[[[1.0, 0.5]]]]
  usage = addressing.update_usage(_f64(prev_usage), _f64(prev_write),
                                  _f64(free), _f64(prev_read)).numpy()
  # written = 1 - (1 - w0)(1 - w1) = [1 - 0.25, 1 - 0.8*0.6] = [0.75, 0.52]
  # u = [0 + 1*0.75, 0.5 + 0.5*0.52] = [0.75, 0.76]
  # retention = 1 - 0.5 wr = [0.5, 0.75] -> u = [0.375, 0.57]
  np.testing.assert_allclose(usage, [[[0.375, 0.57]]], atol=1e-12)


def test_update_usage_stays_in_unit_interval():
  rng = np.random.RandomState(3)
  b, k, n, wh, r = 3, 2, 7, 2, 3
  for _ in range(5):
    prev_usage = rng.uniform(size=[b, k, n])
    prev_usage[0, 0, :2] = [0., 1.]  # boundary values
    prev_write = _random_weights(rng, (b, k, wh, n))
    free = rng.uniform(size=[b, k, r])
    prev_read = _random_weights(rng, (b, k, r, n))
    usage = addressing.update_usage(_f64(prev_usage), _f64(prev_write),
                                    _f64(free), _f64(prev_read)).numpy()
    assert usage.shape == (b, k, n)
    assert np.all(usage >= 0.) and np.all(usage <= 1.)
    # Explicit formula.
    written = 1. - np.prod(1. - prev_write, axis=-2)
    expected = prev_usage + (1. - prev_usage) * written
    expected *= np.prod(1. - free[..., None] * prev_read, axis=-2)
    np.testing.assert_allclose(usage, expected, atol=1e-12)


def test_update_usage_write_weights_are_stop_gradient():
  rng = np.random.RandomState(4)
  prev_usage = _f64(rng.uniform(size=[1, 2, 4]))
  prev_write = _f64(_random_weights(rng, (1, 2, 1, 4)))
  free = _f64(rng.uniform(size=[1, 2, 2]))
  prev_read = _f64(_random_weights(rng, (1, 2, 2, 4)))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([prev_write, free])
    loss = tf.reduce_sum(addressing.update_usage(prev_usage, prev_write, free,
                                                 prev_read) * [1., 2., 3., 4.])
  g_write = tape.gradient(loss, prev_write,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
  g_free = tape.gradient(loss, free)
  np.testing.assert_array_equal(g_write.numpy(), 0.)
  assert g_free is not None and np.max(np.abs(g_free.numpy())) > 1e-3
  # ... although usage does depend on the write weights numerically.
  _, numerical = tf.test.compute_gradient(
      lambda w: addressing.update_usage(prev_usage, w, free, prev_read),
      [prev_write.numpy()], delta=GRAD_DELTA)
  assert np.max(np.abs(numerical[0])) > 1e-2


# --------------------------------------------------------------------------
# 4. Several write heads allocate in turn.


def test_write_allocation_weights_second_head_goes_elsewhere():
  usage = np.array([1.0, 0.0, 0.5, 1.0])
  alloc = addressing.write_allocation_weights(
      _f64([[usage]]), _f64([[[1., 1.]]]), 2).numpy()[0, 0]
  assert alloc.shape == (2, 4)
  # Head 0: u' = [1, eps, 0.5 + 0.5 eps, 1]; phi = (1, 2, 0, 3).
  u = EPS + (1. - EPS) * usage
  a0 = np.array([0., 1. - u[1], (1. - u[2]) * u[1], 0.])  # ~ [0, 1, 5e-7, 0]
  # Simulated write with gate 1: usage <- usage + (1 - usage) * a0
  #   = [1, 1 - eps, 0.5 + 2.5e-7, 1].
  usage1 = usage + (1. - usage) * a0
  u1 = EPS + (1. - EPS) * usage1
  # Head 1: phi = (2, 1, 0, 3): slot 2 (~0.5 used) is now the freest.
  a1 = np.array([0., (1. - u1[1]) * u1[2], 1. - u1[2], 0.])  # ~ [0, 5e-7, .5, 0]
  np.testing.assert_allclose(alloc[0], a0, atol=1e-12)
  np.testing.assert_allclose(alloc[1], a1, atol=1e-12)
  assert np.argmax(alloc[0]) == 1 and np.argmax(alloc[1]) == 2
  assert abs(alloc[0, 1] - 1.) < 1e-5 and abs(alloc[1, 2] - 0.5) < 1e-5


def test_write_allocation_weights_zero_gate_repeats_allocation():
  rng = np.random.RandomState(5)
  usage = rng.uniform(size=[2, 1, 5])
  alloc = addressing.write_allocation_weights(
      _f64(usage), _f64(np.zeros([2, 1, 3])), 3).numpy()
  for b in range(2):
    for w in range(3):
      np.testing.assert_allclose(alloc[b, 0, w], _np_allocation(usage[b, 0]),
                                 atol=1e-12)


def test_write_allocation_weights_partial_gates_reference():
  rng = np.random.RandomState(6)
  usage = rng.uniform(size=[1, 2, 5])
  gates = rng.uniform(size=[1, 2, 3])
  alloc = addressing.write_allocation_weights(_f64(usage), _f64(gates),
                                              3).numpy()
  for k in range(2):
    u = usage[0, k].copy()
    for w in range(3):
      a = _np_allocation(u)
      np.testing.assert_allclose(alloc[0, k, w], a, atol=1e-12)
      u = u + (1. - u) * gates[0, k, w] * a


# --------------------------------------------------------------------------
# 5. Write weights.


def _write_inputs(rng, b=2, k=2, n=5, w=3, wh=2):
  return dict(
      memory=rng.randn(b, k, n, w),
      usage=rng.uniform(size=[b, k, n]),
      write_keys=rng.randn(b, k, wh, w),
      write_strengths=rng.randn(b, k, wh),
  )


def test_write_weights_gate_extremes():
  rng = np.random.RandomState(7)
  x = _write_inputs(rng)
  ones, zeros = np.ones([2, 2, 2]), np.zeros([2, 2, 2])
  args = [_f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
          _f64(x['write_strengths'])]
  alloc_only = addressing.write_weights(*args, _f64(ones), _f64(ones)).numpy()
  content_only = addressing.write_weights(*args, _f64(zeros), _f64(ones)).numpy()
  nothing = addressing.write_weights(*args, _f64(ones), _f64(zeros)).numpy()
  # g_w = g_a = 1: the allocation of each head in turn (simulated usage).
  for b in range(2):
    for k in range(2):
      u = x['usage'][b, k].copy()
      for h in range(2):
        a = _np_allocation(u)
        np.testing.assert_allclose(alloc_only[b, k, h], a, atol=1e-12)
        u = u + (1. - u) * a
  # g_a = 0: pure content lookup on the memory.
  np.testing.assert_allclose(
      content_only,
      addressing.content_weights(*[args[0], args[2], args[3]]).numpy(),
      atol=1e-12)
  # g_w = 0: no write.
  np.testing.assert_array_equal(nothing, 0.)


def test_write_weights_half_gates_mix():
  rng = np.random.RandomState(8)
  x = _write_inputs(rng, b=1, k=1, wh=1)
  half = np.full([1, 1, 1], 0.5)
  ww = addressing.write_weights(
      _f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
      _f64(x['write_strengths']), _f64(half), _f64(half)).numpy()[0, 0, 0]
  m, key = x['memory'][0, 0], x['write_keys'][0, 0, 0]
  sim = (m @ key) / (np.sqrt(key @ key + EPS) *
                     np.sqrt(np.sum(m * m, -1) + EPS) + EPS)
  logits = _softplus(x['write_strengths'][0, 0, 0]) * sim
  content = np.exp(logits) / np.sum(np.exp(logits))
  # ww = 0.5 * (0.5 a + 0.5 c).
  expected = 0.5 * (0.5 * _np_allocation(x['usage'][0, 0]) + 0.5 * content)
  np.testing.assert_allclose(ww, expected, atol=1e-12)


def test_write_weights_sum_at_most_one():
  rng = np.random.RandomState(9)
  for _ in range(5):
    x = _write_inputs(rng, b=3, k=2, n=6, w=4, wh=2)
    x['usage'][0, 0] = 0.
    ww = addressing.write_weights(
        _f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
        _f64(x['write_strengths']), _f64(rng.uniform(size=[3, 2, 2])),
        _f64(rng.uniform(size=[3, 2, 2]))).numpy()
    assert ww.shape == (3, 2, 2, 6)
    assert np.all(ww >= 0.)
    assert np.all(np.sum(ww, -1) <= 1. + 1e-12)


# --------------------------------------------------------------------------
# 6. Erase and write.


def test_erase_and_write_one_head_known_answer():
  memory = [[[[1., 2., 3.], [4., 5., 6.]]]]  # N = 2, W = 3
  address = [[[[0.5, 1.0]]]]
  erase = [[[[1.0, 0.5, 0.0]]]]
  values = [[[[10., 20., 30.]]]]
  out = addressing.erase_and_write(_f64(memory), _f64(address), _f64(erase),
                                   _f64(values)).numpy()
  # keep = 1 - w^T e = [[1 - .5, 1 - .25, 1], [1 - 1, 1 - .5, 1]]
  #      = [[.5, .75, 1], [0, .5, 1]]
  # M * keep = [[.5, 1.5, 3], [0, 2.5, 6]]
  # w^T v = [[5, 10, 15], [10, 20, 30]]
  expected = [[[[5.5, 11.5, 18.], [10., 22.5, 36.]]]]
  np.testing.assert_allclose(out, expected, atol=1e-12)


def test_erase_and_write_two_heads_erase_by_product():
  memory = np.array([[1., 2., 3.], [4., 5., 6.]])
  address = np.array([[0.5, 1.0], [0.8, 0.4]])
  erase = np.array([[1.0, 0.5, 0.0], [0.5, 0.5, 1.0]])
  values = np.array([[10., 20., 30.], [-1., 0., 2.]])
  out = addressing.erase_and_write(
      _f64(memory[None, None]), _f64(address[None, None]),
      _f64(erase[None, None]), _f64(values[None, None])).numpy()[0, 0]
  keep = ((1. - np.outer(address[0], erase[0])) *
          (1. - np.outer(address[1], erase[1])))
  expected = memory * keep + address.T @ values
  np.testing.assert_allclose(out, expected, atol=1e-12)
  # By hand, slot 0, word 0: keep = (1 - .5*1)(1 - .8*.5) = .5 * .6 = .3;
  # add = .5*10 + .8*(-1) = 4.2; 1 * .3 + 4.2 = 4.5.
  assert abs(out[0, 0] - 4.5) < 1e-12
  # A summed erase (1 - sum_w w^T e) would give a different answer here.
  summed_keep = 1. - address.T @ erase
  assert np.max(np.abs(memory * summed_keep + address.T @ values - out)) > 0.1


def test_erase_and_write_one_head_equals_multi_head_path():
  rng = np.random.RandomState(10)
  memory = rng.randn(2, 3, 4, 5)
  address = _random_weights(rng, (2, 3, 1, 4))
  erase = rng.uniform(size=[2, 3, 1, 5])
  values = rng.randn(2, 3, 1, 5)
  one = addressing.erase_and_write(_f64(memory), _f64(address), _f64(erase),
                                   _f64(values)).numpy()
  # Second head with zero address but arbitrary erase/values: no effect.
  address2 = np.concatenate([address, np.zeros_like(address)], axis=2)
  erase2 = np.concatenate([erase, rng.uniform(size=erase.shape)], axis=2)
  values2 = np.concatenate([values, rng.randn(*values.shape)], axis=2)
  two = addressing.erase_and_write(_f64(memory), _f64(address2), _f64(erase2),
                                   _f64(values2)).numpy()
  np.testing.assert_allclose(one, two, atol=1e-12)
  expected = (memory * (1. - np.einsum('bkhn,bkhw->bknw', address, erase)) +
              np.einsum('bkhn,bkhw->bknw', address, values))
  np.testing.assert_allclose(one, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 7. Read.


def test_read_known_answer():
  memory = [[[[1., 2., 3.], [4., 5., 6.]]]]
  weights = [[[[0.5, 0.5], [1.0, 0.0], [0.0, 0.25]]]]  # H = 3
  out = addressing.read(_f64(memory), _f64(weights)).numpy()
  # [.5*1 + .5*4, ...] = [2.5, 3.5, 4.5]; row 0 = [1, 2, 3]; .25 * row 1.
  expected = [[[[2.5, 3.5, 4.5], [1., 2., 3.], [1., 1.25, 1.5]]]]
  np.testing.assert_allclose(out, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 8. Temporal linkage.


def test_update_link_known_answer_single_step():
  # N = 3, Wh = 1. L_prev, p_prev and ww chosen by hand.
  prev_link = np.array([[0., 0.2, 0.4], [0.3, 0., 0.1], [0.5, 0.2, 0.]])
  prev_prec = np.array([0.1, 0.6, 0.3])
  ww = np.array([0.5, 0.25, 0.])
  link = addressing.update_link(
      _f64(prev_link[None, None, None]), _f64(prev_prec[None, None, None]),
      _f64(ww[None, None, None])).numpy()[0, 0, 0]
  # L[i, j] = (1 - ww[i] - ww[j]) L_prev[i, j] + ww[i] p_prev[j]; L[i, i] = 0.
  # L[0,1] = (1 - .5 - .25) .2 + .5 * .6 = .05 + .3 = .35
  # L[0,2] = (1 - .5 - 0) .4 + .5 * .3 = .2 + .15 = .35
  # L[1,0] = (1 - .25 - .5) .3 + .25 * .1 = .075 + .025 = .1
  # L[1,2] = (1 - .25) .1 + .25 * .3 = .075 + .075 = .15
  # L[2,0] = (1 - .5) .5 + 0 = .25
  # L[2,1] = (1 - .25) .2 + 0 = .15
  expected = [[0., .35, .35], [.1, 0., .15], [.25, .15, 0.]]
  np.testing.assert_allclose(link, expected, atol=1e-12)
  prec = addressing.update_precedence_weights(
      _f64(prev_prec[None, None, None]), _f64(ww[None, None, None])).numpy()
  # p = (1 - .75) p_prev + ww = [.025 + .5, .15 + .25, .075]
  np.testing.assert_allclose(prec[0, 0, 0], [.525, .4, .075], atol=1e-12)


def test_linkage_invariants_random_writes():
  rng = np.random.RandomState(11)
  b, k, wh, n = 2, 2, 2, 5
  state = addressing.TemporalLinkageState(
      link=_f64(np.zeros([b, k, wh, n, n])),
      precedence_weights=_f64(np.zeros([b, k, wh, n])))
  for _ in range(12):
    ww = _random_weights(rng, (b, k, wh, n))
    state = addressing.update_linkage(state, _f64(ww))
    link = state.link.numpy()
    prec = state.precedence_weights.numpy()
    assert link.shape == (b, k, wh, n, n)
    np.testing.assert_array_equal(np.diagonal(link, axis1=-2, axis2=-1), 0.)
    assert np.all(link >= 0.) and np.all(link <= 1.)
    assert np.all(np.sum(link, -1) <= 1. + 1e-6)  # rows
    assert np.all(np.sum(link, -2) <= 1. + 1e-6)  # columns
    assert np.all(prec >= 0.) and np.all(np.sum(prec, -1) <= 1. + 1e-6)
  assert np.max(link) > 1e-2  # the invariants were not checked on zeros


def test_linkage_planted_write_order():
  n = 4
  state = addressing.TemporalLinkageState(
      link=_f64(np.zeros([1, 1, 1, n, n])),
      precedence_weights=_f64(np.zeros([1, 1, 1, n])))
  for slot in (2, 0, 3, 1):
    state = addressing.update_linkage(state, _f64(np.eye(n)[slot][None, None,
                                                                    None]))
  # L[i, j] = 1 iff slot i was written right after slot j:
  # 0 after 2, 3 after 0, 1 after 3.
  expected_link = np.zeros([n, n])
  expected_link[0, 2] = expected_link[3, 0] = expected_link[1, 3] = 1.
  np.testing.assert_allclose(state.link.numpy()[0, 0, 0], expected_link,
                             atol=1e-12)
  np.testing.assert_allclose(state.precedence_weights.numpy()[0, 0, 0],
                             np.eye(n)[1], atol=1e-12)  # last written
  read = np.eye(n)[[2, 0, 1]][None, None]  # R = 3: on slots 2, 0, 1
  fwd = addressing.directional_read_weights(state.link, _f64(read),
                                            forward=True).numpy()
  bwd = addressing.directional_read_weights(state.link, _f64(read),
                                            forward=False).numpy()
  assert fwd.shape == bwd.shape == (1, 1, 3, 1, n)
  np.testing.assert_allclose(fwd[0, 0, 0, 0], np.eye(n)[0], atol=1e-12)
  np.testing.assert_allclose(bwd[0, 0, 1, 0], np.eye(n)[2], atol=1e-12)
  np.testing.assert_allclose(fwd[0, 0, 2, 0], 0., atol=1e-12)  # 1: last
  np.testing.assert_allclose(bwd[0, 0, 0, 0], 0., atol=1e-12)  # 2: first
  np.testing.assert_allclose(fwd[0, 0, 1, 0], np.eye(n)[3], atol=1e-12)


def test_directional_read_weights_shape_and_formula():
  rng = np.random.RandomState(12)
  b, k, r, wh, n = 2, 3, 2, 2, 4
  link = rng.uniform(size=[b, k, wh, n, n])
  read = rng.uniform(size=[b, k, r, n])
  fwd = addressing.directional_read_weights(_f64(link), _f64(read), True)
  bwd = addressing.directional_read_weights(_f64(link), _f64(read), False)
  assert fwd.shape == bwd.shape == (b, k, r, wh, n)
  for idx in np.ndindex(b, k, r, wh):
    bb, kk, rr, ww = idx
    np.testing.assert_allclose(fwd.numpy()[idx], link[bb, kk, ww] @ read[bb, kk, rr],
                               atol=1e-12)
    np.testing.assert_allclose(bwd.numpy()[idx],
                               link[bb, kk, ww].T @ read[bb, kk, rr], atol=1e-12)


# --------------------------------------------------------------------------
# 9. Read modes.


@pytest.mark.parametrize('num_writes', [1, 2])
def test_mode_read_weights_one_hot_modes(num_writes):
  rng = np.random.RandomState(13)
  b, k, r, n = 1, 2, 2, 3
  content = rng.uniform(size=[b, k, r, n])
  forward = rng.uniform(size=[b, k, r, num_writes, n])
  backward = rng.uniform(size=[b, k, r, num_writes, n])
  num_modes = 1 + 2 * num_writes

  def run(mode_index):
    mode = np.zeros([b, k, r, num_modes])
    mode[..., mode_index] = 1.
    return addressing.mode_read_weights(_f64(content), _f64(forward),
                                        _f64(backward), _f64(mode)).numpy()

  # Layout: backward x Wh, forward x Wh, content.
  np.testing.assert_allclose(run(num_modes - 1), content, atol=1e-12)
  for w in range(num_writes):
    np.testing.assert_allclose(run(w), backward[..., w, :], atol=1e-12)
    np.testing.assert_allclose(run(num_writes + w), forward[..., w, :],
                               atol=1e-12)
  # A mixture: explicit weighted sum.
  logits = rng.randn(b, k, r, num_modes)
  mode = np.exp(logits) / np.sum(np.exp(logits), -1, keepdims=True)
  out = addressing.mode_read_weights(_f64(content), _f64(forward),
                                     _f64(backward), _f64(mode)).numpy()
  expected = mode[..., -1:] * content
  for w in range(num_writes):
    expected = (expected + mode[..., w:w + 1] * backward[..., w, :] +
                mode[..., num_writes + w:num_writes + w + 1] * forward[..., w, :])
  np.testing.assert_allclose(out, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 10. Gradient checks (float64 finite differences).


def test_gradient_content_weights():
  rng = np.random.RandomState(20)
  memory = rng.randn(1, 2, 3, 4)
  keys = rng.randn(1, 2, 2, 4)
  strengths = rng.randn(1, 2, 2)
  _check_gradients(addressing.content_weights, [memory, keys, strengths])


def test_gradient_allocation_weights():
  # Distinct usages, gaps >> delta, so the sort order does not change.
  usage = np.array([[[0.4, 0.1, 0.9, 0.65], [0.2, 0.75, 0.05, 0.5]]])
  _check_gradients(addressing.allocation_weights, [usage])


def test_gradient_update_usage():
  rng = np.random.RandomState(21)
  prev_usage = rng.uniform(size=[1, 2, 4])
  prev_write = _random_weights(rng, (1, 2, 2, 4))
  for r in (1, 2):
    free = rng.uniform(size=[1, 2, r])
    prev_read = _random_weights(rng, (1, 2, r, 4))
    _check_gradients(
        lambda u, f, wr: addressing.update_usage(u, _f64(prev_write), f, wr),
        [prev_usage, free, prev_read])


def test_gradient_write_weights():
  rng = np.random.RandomState(22)
  for wh in (1, 2):
    x = _write_inputs(rng, b=1, k=2, n=4, w=3, wh=wh)
    x['usage'] = np.array([[[0.3, 0.8, 0.1, 0.55], [0.6, 0.15, 0.9, 0.35]]])
    alloc_gate = rng.uniform(0.2, 0.8, size=[1, 2, wh])
    write_gate = rng.uniform(0.2, 0.8, size=[1, 2, wh])
    _check_gradients(addressing.write_weights,
                     [x['memory'], x['usage'], x['write_keys'],
                      x['write_strengths'], alloc_gate, write_gate])


@pytest.mark.parametrize('num_writes', [1, 2, 3])
def test_gradient_erase_and_write(num_writes):
  rng = np.random.RandomState(23)
  memory = rng.randn(1, 2, 3, 2)
  address = _random_weights(rng, (1, 2, num_writes, 3))
  erase = rng.uniform(size=[1, 2, num_writes, 2])
  values = rng.randn(1, 2, num_writes, 2)
  _check_gradients(addressing.erase_and_write,
                   [memory, address, erase, values])


def test_gradient_update_link_and_precedence():
  rng = np.random.RandomState(24)
  prev_link = rng.uniform(0., 0.3, size=[1, 2, 2, 3, 3])
  prev_prec = _random_weights(rng, (1, 2, 2, 3))
  ww = _random_weights(rng, (1, 2, 2, 3))
  _check_gradients(addressing.update_link, [prev_link, prev_prec, ww])
  _check_gradients(addressing.update_precedence_weights, [prev_prec, ww])


@pytest.mark.parametrize('forward', [True, False])
def test_gradient_directional_read_weights(forward):
  rng = np.random.RandomState(25)
  link = rng.uniform(size=[1, 2, 2, 3, 3])
  read = rng.uniform(size=[1, 2, 2, 3])
  _check_gradients(
      lambda l, r: addressing.directional_read_weights(l, r, forward),
      [link, read])


def test_gradient_mode_read_weights():
  rng = np.random.RandomState(26)
  _check_gradients(addressing.mode_read_weights,
                   [rng.uniform(size=[1, 1, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 5])])


def test_gradients_finite_at_zero_memory_and_usage():
  memory = tf.zeros([1, 1, 3, 2])
  keys = tf.zeros([1, 1, 2, 2])
  strengths = tf.zeros([1, 1, 2])
  usage = tf.zeros([1, 1, 3])
  full_usage = tf.ones([1, 1, 3])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([memory, keys, strengths, usage, full_usage])
    weights = addressing.content_weights(memory, keys, strengths)
    content_loss = tf.reduce_sum(weights * [[[[1., 2., 3.]]]])
    alloc_loss = tf.reduce_sum(
        addressing.allocation_weights(usage) * [1., 2., 3.])
    full_loss = tf.reduce_sum(
        addressing.allocation_weights(full_usage) * [1., 2., 3.])
  grads = tape.gradient(content_loss, [memory, keys, strengths])
  grads += [tape.gradient(alloc_loss, usage),
            tape.gradient(full_loss, full_usage)]
  for g in grads:
    assert g is not None
    assert np.all(np.isfinite(g.numpy()))
  # Allocation at empty memory does respond to usage: d a0 / d u0 = -(1-eps).
  assert abs(grads[3].numpy()[0, 0, 0] - (-(1. - EPS) * 1. +
                                          (1. - EPS) * (1. - EPS) * 2.)) < 1e-3


# --------------------------------------------------------------------------
# 11. Batch-size agnosticism under tf.function.


def test_batch_size_agnostic_tf_function():
  traces = []

  @tf.function(input_signature=[tf.TensorSpec([None, 2, 4], tf.float32)])
  def alloc_fn(usage):
    traces.append('alloc')
    return addressing.allocation_weights(usage)

  @tf.function(input_signature=[tf.TensorSpec([None, 2, 4, 3], tf.float32),
                                tf.TensorSpec([None, 2, 1, 3], tf.float32),
                                tf.TensorSpec([None, 2, 1], tf.float32)])
  def content_fn(memory, keys, strengths):
    traces.append('content')
    return addressing.content_weights(memory, keys, strengths)

  rng = np.random.RandomState(30)
  for batch in (1, 3):
    usage = rng.uniform(size=[batch, 2, 4]).astype(np.float32)
    memory = rng.randn(batch, 2, 4, 3).astype(np.float32)
    keys = rng.randn(batch, 2, 1, 3).astype(np.float32)
    strengths = rng.randn(batch, 2, 1).astype(np.float32)
    graph_alloc = alloc_fn(tf.constant(usage)).numpy()
    graph_content = content_fn(tf.constant(memory), tf.constant(keys),
                               tf.constant(strengths)).numpy()
    assert graph_alloc.shape == (batch, 2, 4)
    assert graph_content.shape == (batch, 2, 1, 4)
    np.testing.assert_allclose(
        graph_alloc, addressing.allocation_weights(tf.constant(usage)).numpy(),
        atol=1e-6)
    np.testing.assert_allclose(
        graph_content,
        addressing.content_weights(tf.constant(memory), tf.constant(keys),
                                   tf.constant(strengths)).numpy(),
        atol=1e-6)
    for b in range(batch):
      for k in range(2):
        np.testing.assert_allclose(graph_alloc[b, k], _np_allocation(usage[b, k]),
                                   atol=1e-6)
  assert sorted(traces) == ['alloc', 'content']  # one trace each
