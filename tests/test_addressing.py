"""Known answers of the addressing kernels, part 1: content addressing,
allocation, usage and write weights (Graves et al. 2016, Methods).

Known answers are worked out by hand (in comments or as small numpy
expressions of the published formulas), never by calling the function under
test a second time. Every tensor is [B, K, ...]. Each test runs on both
kernels, the paper form (`dam.addressing`) and the fast one
(`dam.addressing_fast`); tests/test_kernels.py compares the two directly.
"""

import numpy as np
import tensorflow as tf


EPS = 1e-6  # DeepMind's DNC epsilon (dam.addressing.EPSILON).
GRAD_DELTA = 1e-5  # float64 central differences.


def _f64(x):
  return tf.constant(np.asarray(x, dtype=np.float64))


def _softplus(x):
  return np.log1p(np.exp(x))






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


def test_cosine_similarity_known_answer(kernel):
  sim = kernel.cosine_similarity(_f64(_MEMORY_3), _f64(_KEY_3)).numpy()
  assert sim.shape == (1, 1, 1, 3)
  expected = _hand_similarity_3()
  np.testing.assert_allclose(sim[0, 0, 0], expected, rtol=0, atol=1e-12)
  # The epsilons matter at the 1e-6 level: without them D would be 1 and
  # 1/sqrt(2).
  assert abs(sim[0, 0, 0, 0] - (1. - 2e-6)) < 1e-11
  assert abs(sim[0, 0, 0, 2] - 1. / np.sqrt(2.)) > 1e-7


def test_cosine_similarity_float32_matches_hand_values(kernel):
  sim = kernel.cosine_similarity(
      tf.constant(_MEMORY_3, tf.float32), tf.constant(_KEY_3, tf.float32))
  np.testing.assert_allclose(sim.numpy()[0, 0, 0], _hand_similarity_3(),
                             atol=1e-6)


def test_vector_norms(kernel):
  x = _f64([[3., 4.], [0., 0.]])
  # sqrt(9 + 16 + eps), sqrt(0 + eps) = 1e-3.
  np.testing.assert_allclose(kernel.vector_norms(x).numpy(),
                             [np.sqrt(25. + EPS), 1e-3], rtol=1e-12)


def test_content_weights_known_answer(kernel):
  raw_beta = 0.5
  weights = kernel.content_weights(
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


def test_content_weights_rows_sum_to_one_and_sharpen(kernel):
  rng = np.random.RandomState(0)
  memory = _f64(rng.randn(2, 3, 5, 4))
  keys = _f64(rng.randn(2, 3, 2, 4))
  weak = kernel.content_weights(memory, keys, _f64(np.full([2, 3, 2], -5.)))
  strong = kernel.content_weights(memory, keys, _f64(np.full([2, 3, 2], 20.)))
  assert weak.shape == (2, 3, 2, 5)
  np.testing.assert_allclose(np.sum(weak.numpy(), -1), 1., atol=1e-12)
  np.testing.assert_allclose(np.sum(strong.numpy(), -1), 1., atol=1e-12)
  # Larger strength -> sharper (max weight larger); the argmax is the
  # most similar slot either way.
  assert np.all(np.max(strong.numpy(), -1) > np.max(weak.numpy(), -1))
  sim = kernel.cosine_similarity(memory, keys).numpy()
  np.testing.assert_array_equal(np.argmax(strong.numpy(), -1),
                                np.argmax(sim, -1))


def test_content_weights_blocks_are_independent(kernel):
  rng = np.random.RandomState(1)
  memory = rng.randn(1, 2, 4, 3)
  keys = rng.randn(1, 2, 1, 3)
  beta = rng.randn(1, 2, 1)
  out = kernel.content_weights(_f64(memory), _f64(keys), _f64(beta)).numpy()
  for k in range(2):
    m, key = memory[0, k], keys[0, k, 0]
    nm = np.sqrt(np.sum(m * m, -1) + EPS)
    nk = np.sqrt(np.sum(key * key) + EPS)
    logits = _softplus(beta[0, k, 0]) * (m @ key) / (nk * nm + EPS)
    expected = np.exp(logits - logits.max())
    np.testing.assert_allclose(out[0, k, 0], expected / expected.sum(),
                               atol=1e-12)


def test_content_weights_zero_memory_uniform_and_finite(kernel):
  memory = tf.zeros([1, 1, 3, 2], tf.float32)
  keys = tf.constant([[[[1., 0.], [0., 0.]]]])
  weights = kernel.content_weights(memory, keys, tf.constant([[[3., 3.]]]))
  assert np.all(np.isfinite(weights.numpy()))
  np.testing.assert_allclose(weights.numpy(), np.full([1, 1, 2, 3], 1. / 3.),
                             atol=1e-7)


# --------------------------------------------------------------------------
# 2. Allocation weights.


def test_allocation_weights_known_answer(kernel):
  usage = [0.4, 0.1, 0.9]
  alloc = kernel.allocation_weights(_f64([[usage]])).numpy()[0, 0]
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


def test_allocation_weights_full_memory_allocates_nothing(kernel):
  alloc = kernel.allocation_weights(tf.ones([2, 1, 5])).numpy()
  assert np.all(alloc >= 0.)
  assert np.all(np.sum(alloc, -1) < 1e-5)


def test_allocation_weights_empty_memory_prefers_slot_zero(kernel):
  alloc = kernel.allocation_weights(_f64(np.zeros([1, 1, 4]))).numpy()[0, 0]
  # All u' = eps; ties keep the lower index first: a = (1 - eps) eps^n.
  expected = (1. - EPS) * EPS ** np.arange(4)
  np.testing.assert_allclose(alloc, expected, rtol=1e-9, atol=0)
  assert alloc[0] > 1. - 1e-5


def test_allocation_weights_ties_keep_lower_index_first(kernel):
  # Slots 1 and 3 tie at the lowest usage: slot 1 comes first.
  usage = [0.5, 0.2, 0.7, 0.2]
  alloc = kernel.allocation_weights(_f64([[usage]])).numpy()[0, 0]
  u = [EPS + (1. - EPS) * x for x in usage]
  # phi = (1, 3, 0, 2).
  expected = np.array([
      (1. - u[0]) * u[1] * u[3],
      1. - u[1],
      (1. - u[2]) * u[1] * u[3] * u[0],
      (1. - u[3]) * u[1],
  ])
  np.testing.assert_allclose(alloc, expected, atol=1e-12)


def test_allocation_weights_leading_axes_rows_independent(np_allocation, kernel):
  rng = np.random.RandomState(2)
  usage = rng.uniform(size=[3, 2, 6])
  usage[1, 0] = 0.  # ties within a row
  usage[2, 1, :3] = 1.
  alloc = kernel.allocation_weights(_f64(usage)).numpy()
  assert alloc.shape == (3, 2, 6)
  for b in range(3):
    for k in range(2):
      np.testing.assert_allclose(alloc[b, k], np_allocation(usage[b, k]),
                                 atol=1e-12)
  assert np.all(alloc >= 0.)
  assert np.all(np.sum(alloc, -1) <= 1. + 1e-12)
  # Extra leading axes, too ([2, B, K, N]).
  usage4 = rng.uniform(size=[2, 1, 2, 5])
  alloc4 = kernel.allocation_weights(_f64(usage4)).numpy()
  for idx in np.ndindex(2, 1, 2):
    np.testing.assert_allclose(alloc4[idx], np_allocation(usage4[idx]),
                               atol=1e-12)


# --------------------------------------------------------------------------
# 3. Usage.


def test_update_usage_known_answer_two_read_heads(kernel):
  prev_usage = [[[0.5, 0.2, 0.5]]]
  prev_write = [[[[0.3, 0.5, 0.2]]]]  # Wh = 1
  free = [[[0.5, 1.0]]]  # R = 2
  prev_read = [[[[0.2, 0.0, 0.4], [0.0, 0.6, 0.1]]]]
  usage = kernel.update_usage(_f64(prev_usage), _f64(prev_write),
                                  _f64(free), _f64(prev_read)).numpy()
  # written:  u = u_prev + (1 - u_prev) ww
  #   = [0.5 + 0.5*0.3, 0.2 + 0.8*0.5, 0.5 + 0.5*0.2] = [0.65, 0.6, 0.6]
  # retention = (1 - 0.5 wr0) (1 - 1.0 wr1)
  #   = [0.9 * 1.0, 1.0 * 0.4, 0.8 * 0.9] = [0.9, 0.4, 0.72]
  # u = [0.585, 0.24, 0.432]
  np.testing.assert_allclose(usage, [[[0.585, 0.24, 0.432]]], atol=1e-12)


def test_update_usage_known_answer_two_write_heads_one_read_head(kernel):
  prev_usage = [[[0.0, 0.5]]]
  prev_write = [[[[0.5, 0.2], [0.5, 0.4]]]]  # Wh = 2
  free = [[[0.5]]]  # R = 1
  prev_read = [[[[1.0, 0.5]]]]
  usage = kernel.update_usage(_f64(prev_usage), _f64(prev_write),
                                  _f64(free), _f64(prev_read)).numpy()
  # written = 1 - (1 - w0)(1 - w1) = [1 - 0.25, 1 - 0.8*0.6] = [0.75, 0.52]
  # u = [0 + 1*0.75, 0.5 + 0.5*0.52] = [0.75, 0.76]
  # retention = 1 - 0.5 wr = [0.5, 0.75] -> u = [0.375, 0.57]
  np.testing.assert_allclose(usage, [[[0.375, 0.57]]], atol=1e-12)


def test_update_usage_stays_in_unit_interval(random_weights, kernel):
  rng = np.random.RandomState(3)
  b, k, n, wh, r = 3, 2, 7, 2, 3
  for _ in range(5):
    prev_usage = rng.uniform(size=[b, k, n])
    prev_usage[0, 0, :2] = [0., 1.]  # boundary values
    prev_write = random_weights(rng, (b, k, wh, n))
    free = rng.uniform(size=[b, k, r])
    prev_read = random_weights(rng, (b, k, r, n))
    usage = kernel.update_usage(_f64(prev_usage), _f64(prev_write),
                                    _f64(free), _f64(prev_read)).numpy()
    assert usage.shape == (b, k, n)
    assert np.all(usage >= 0.) and np.all(usage <= 1.)
    # Explicit formula.
    written = 1. - np.prod(1. - prev_write, axis=-2)
    expected = prev_usage + (1. - prev_usage) * written
    expected *= np.prod(1. - free[..., None] * prev_read, axis=-2)
    np.testing.assert_allclose(usage, expected, atol=1e-12)


def test_update_usage_write_weights_are_stop_gradient(random_weights, kernel):
  rng = np.random.RandomState(4)
  prev_usage = _f64(rng.uniform(size=[1, 2, 4]))
  prev_write = _f64(random_weights(rng, (1, 2, 1, 4)))
  free = _f64(rng.uniform(size=[1, 2, 2]))
  prev_read = _f64(random_weights(rng, (1, 2, 2, 4)))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([prev_write, free])
    loss = tf.reduce_sum(kernel.update_usage(prev_usage, prev_write, free,
                                                 prev_read) * [1., 2., 3., 4.])
  g_write = tape.gradient(loss, prev_write,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
  g_free = tape.gradient(loss, free)
  np.testing.assert_array_equal(g_write.numpy(), 0.)
  assert g_free is not None and np.max(np.abs(g_free.numpy())) > 1e-3
  # ... although usage does depend on the write weights numerically.
  _, numerical = tf.test.compute_gradient(
      lambda w: kernel.update_usage(prev_usage, w, free, prev_read),
      [prev_write.numpy()], delta=GRAD_DELTA)
  assert np.max(np.abs(numerical[0])) > 1e-2


# --------------------------------------------------------------------------
# 4. Several write heads allocate in turn.


def test_write_allocation_weights_second_head_goes_elsewhere(kernel):
  usage = np.array([1.0, 0.0, 0.5, 1.0])
  alloc = kernel.write_allocation_weights(
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


def test_write_allocation_weights_zero_gate_repeats_allocation(np_allocation, kernel):
  rng = np.random.RandomState(5)
  usage = rng.uniform(size=[2, 1, 5])
  alloc = kernel.write_allocation_weights(
      _f64(usage), _f64(np.zeros([2, 1, 3])), 3).numpy()
  for b in range(2):
    for w in range(3):
      np.testing.assert_allclose(alloc[b, 0, w], np_allocation(usage[b, 0]),
                                 atol=1e-12)


def test_write_allocation_weights_partial_gates_reference(np_allocation, kernel):
  rng = np.random.RandomState(6)
  usage = rng.uniform(size=[1, 2, 5])
  gates = rng.uniform(size=[1, 2, 3])
  alloc = kernel.write_allocation_weights(_f64(usage), _f64(gates),
                                              3).numpy()
  for k in range(2):
    u = usage[0, k].copy()
    for w in range(3):
      a = np_allocation(u)
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


def test_write_weights_gate_extremes(np_allocation, kernel):
  rng = np.random.RandomState(7)
  x = _write_inputs(rng)
  ones, zeros = np.ones([2, 2, 2]), np.zeros([2, 2, 2])
  args = [_f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
          _f64(x['write_strengths'])]
  alloc_only = kernel.write_weights(*args, _f64(ones), _f64(ones)).numpy()
  content_only = kernel.write_weights(*args, _f64(zeros), _f64(ones)).numpy()
  nothing = kernel.write_weights(*args, _f64(ones), _f64(zeros)).numpy()
  # g_w = g_a = 1: the allocation of each head in turn (simulated usage).
  for b in range(2):
    for k in range(2):
      u = x['usage'][b, k].copy()
      for h in range(2):
        a = np_allocation(u)
        np.testing.assert_allclose(alloc_only[b, k, h], a, atol=1e-12)
        u = u + (1. - u) * a
  # g_a = 0: pure content lookup on the memory.
  np.testing.assert_allclose(
      content_only,
      kernel.content_weights(*[args[0], args[2], args[3]]).numpy(),
      atol=1e-12)
  # g_w = 0: no write.
  np.testing.assert_array_equal(nothing, 0.)


def test_write_weights_half_gates_mix(np_allocation, kernel):
  rng = np.random.RandomState(8)
  x = _write_inputs(rng, b=1, k=1, wh=1)
  half = np.full([1, 1, 1], 0.5)
  ww = kernel.write_weights(
      _f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
      _f64(x['write_strengths']), _f64(half), _f64(half)).numpy()[0, 0, 0]
  m, key = x['memory'][0, 0], x['write_keys'][0, 0, 0]
  sim = (m @ key) / (np.sqrt(key @ key + EPS) *
                     np.sqrt(np.sum(m * m, -1) + EPS) + EPS)
  logits = _softplus(x['write_strengths'][0, 0, 0]) * sim
  content = np.exp(logits) / np.sum(np.exp(logits))
  # ww = 0.5 * (0.5 a + 0.5 c).
  expected = 0.5 * (0.5 * np_allocation(x['usage'][0, 0]) + 0.5 * content)
  np.testing.assert_allclose(ww, expected, atol=1e-12)


def test_write_weights_sum_at_most_one(kernel):
  rng = np.random.RandomState(9)
  for _ in range(5):
    x = _write_inputs(rng, b=3, k=2, n=6, w=4, wh=2)
    x['usage'][0, 0] = 0.
    ww = kernel.write_weights(
        _f64(x['memory']), _f64(x['usage']), _f64(x['write_keys']),
        _f64(x['write_strengths']), _f64(rng.uniform(size=[3, 2, 2])),
        _f64(rng.uniform(size=[3, 2, 2]))).numpy()
    assert ww.shape == (3, 2, 2, 6)
    assert np.all(ww >= 0.)
    assert np.all(np.sum(ww, -1) <= 1. + 1e-12)
