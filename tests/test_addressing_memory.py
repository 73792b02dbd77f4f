"""Known answers of the addressing kernels, part 2: erase and write, read,
temporal linkage and read modes (Graves et al. 2016, Methods), and batch-size
agnosticism.

Known answers are worked out by hand, never by calling the function under
test a second time. Every tensor is [B, K, ...]. Each test runs on both
kernels, the paper form (`dam.addressing`) and the fast one
(`dam.addressing_fast`).
"""

import numpy as np
import pytest
import tensorflow as tf


EPS = 1e-6  # DeepMind's DNC epsilon (dam.addressing.EPSILON).


def _f64(x):
  return tf.constant(np.asarray(x, dtype=np.float64))






# --------------------------------------------------------------------------
# 6. Erase and write.


def test_erase_and_write_one_head_known_answer(kernel):
  memory = [[[[1., 2., 3.], [4., 5., 6.]]]]  # N = 2, W = 3
  address = [[[[0.5, 1.0]]]]
  erase = [[[[1.0, 0.5, 0.0]]]]
  values = [[[[10., 20., 30.]]]]
  out = kernel.erase_and_write(_f64(memory), _f64(address), _f64(erase),
                                   _f64(values)).numpy()
  # keep = 1 - w^T e = [[1 - .5, 1 - .25, 1], [1 - 1, 1 - .5, 1]]
  #      = [[.5, .75, 1], [0, .5, 1]]
  # M * keep = [[.5, 1.5, 3], [0, 2.5, 6]]
  # w^T v = [[5, 10, 15], [10, 20, 30]]
  expected = [[[[5.5, 11.5, 18.], [10., 22.5, 36.]]]]
  np.testing.assert_allclose(out, expected, atol=1e-12)


def test_erase_and_write_two_heads_erase_by_product(kernel):
  memory = np.array([[1., 2., 3.], [4., 5., 6.]])
  address = np.array([[0.5, 1.0], [0.8, 0.4]])
  erase = np.array([[1.0, 0.5, 0.0], [0.5, 0.5, 1.0]])
  values = np.array([[10., 20., 30.], [-1., 0., 2.]])
  out = kernel.erase_and_write(
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


def test_erase_and_write_one_head_equals_multi_head_path(random_weights, kernel):
  rng = np.random.RandomState(10)
  memory = rng.randn(2, 3, 4, 5)
  address = random_weights(rng, (2, 3, 1, 4))
  erase = rng.uniform(size=[2, 3, 1, 5])
  values = rng.randn(2, 3, 1, 5)
  one = kernel.erase_and_write(_f64(memory), _f64(address), _f64(erase),
                                   _f64(values)).numpy()
  # Second head with zero address but arbitrary erase/values: no effect.
  address2 = np.concatenate([address, np.zeros_like(address)], axis=2)
  erase2 = np.concatenate([erase, rng.uniform(size=erase.shape)], axis=2)
  values2 = np.concatenate([values, rng.randn(*values.shape)], axis=2)
  two = kernel.erase_and_write(_f64(memory), _f64(address2), _f64(erase2),
                                   _f64(values2)).numpy()
  np.testing.assert_allclose(one, two, atol=1e-12)
  expected = (memory * (1. - np.einsum('bkhn,bkhw->bknw', address, erase)) +
              np.einsum('bkhn,bkhw->bknw', address, values))
  np.testing.assert_allclose(one, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 7. Read.


def test_read_known_answer(kernel):
  memory = [[[[1., 2., 3.], [4., 5., 6.]]]]
  weights = [[[[0.5, 0.5], [1.0, 0.0], [0.0, 0.25]]]]  # H = 3
  out = kernel.read(_f64(memory), _f64(weights)).numpy()
  # [.5*1 + .5*4, ...] = [2.5, 3.5, 4.5]; row 0 = [1, 2, 3]; .25 * row 1.
  expected = [[[[2.5, 3.5, 4.5], [1., 2., 3.], [1., 1.25, 1.5]]]]
  np.testing.assert_allclose(out, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 8. Temporal linkage.


def test_update_link_known_answer_single_step(kernel):
  # N = 3, Wh = 1. L_prev, p_prev and ww chosen by hand.
  prev_link = np.array([[0., 0.2, 0.4], [0.3, 0., 0.1], [0.5, 0.2, 0.]])
  prev_prec = np.array([0.1, 0.6, 0.3])
  ww = np.array([0.5, 0.25, 0.])
  link = kernel.update_link(
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
  prec = kernel.update_precedence_weights(
      _f64(prev_prec[None, None, None]), _f64(ww[None, None, None])).numpy()
  # p = (1 - .75) p_prev + ww = [.025 + .5, .15 + .25, .075]
  np.testing.assert_allclose(prec[0, 0, 0], [.525, .4, .075], atol=1e-12)


def test_linkage_invariants_random_writes(random_weights, kernel):
  rng = np.random.RandomState(11)
  b, k, wh, n = 2, 2, 2, 5
  state = kernel.TemporalLinkageState(
      link=_f64(np.zeros([b, k, wh, n, n])),
      precedence_weights=_f64(np.zeros([b, k, wh, n])))
  for _ in range(12):
    ww = random_weights(rng, (b, k, wh, n))
    state = kernel.update_linkage(state, _f64(ww))
    link = state.link.numpy()
    prec = state.precedence_weights.numpy()
    assert link.shape == (b, k, wh, n, n)
    np.testing.assert_array_equal(np.diagonal(link, axis1=-2, axis2=-1), 0.)
    assert np.all(link >= 0.) and np.all(link <= 1.)
    assert np.all(np.sum(link, -1) <= 1. + 1e-6)  # rows
    assert np.all(np.sum(link, -2) <= 1. + 1e-6)  # columns
    assert np.all(prec >= 0.) and np.all(np.sum(prec, -1) <= 1. + 1e-6)
  assert np.max(link) > 1e-2  # the invariants were not checked on zeros


def test_linkage_planted_write_order(kernel):
  n = 4
  state = kernel.TemporalLinkageState(
      link=_f64(np.zeros([1, 1, 1, n, n])),
      precedence_weights=_f64(np.zeros([1, 1, 1, n])))
  for slot in (2, 0, 3, 1):
    state = kernel.update_linkage(state, _f64(np.eye(n)[slot][None, None,
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
  fwd = kernel.directional_read_weights(state.link, _f64(read),
                                            forward=True).numpy()
  bwd = kernel.directional_read_weights(state.link, _f64(read),
                                            forward=False).numpy()
  assert fwd.shape == bwd.shape == (1, 1, 3, 1, n)
  np.testing.assert_allclose(fwd[0, 0, 0, 0], np.eye(n)[0], atol=1e-12)
  np.testing.assert_allclose(bwd[0, 0, 1, 0], np.eye(n)[2], atol=1e-12)
  np.testing.assert_allclose(fwd[0, 0, 2, 0], 0., atol=1e-12)  # 1: last
  np.testing.assert_allclose(bwd[0, 0, 0, 0], 0., atol=1e-12)  # 2: first
  np.testing.assert_allclose(fwd[0, 0, 1, 0], np.eye(n)[3], atol=1e-12)


def test_directional_read_weights_shape_and_formula(kernel):
  rng = np.random.RandomState(12)
  b, k, r, wh, n = 2, 3, 2, 2, 4
  link = rng.uniform(size=[b, k, wh, n, n])
  read = rng.uniform(size=[b, k, r, n])
  fwd = kernel.directional_read_weights(_f64(link), _f64(read), True)
  bwd = kernel.directional_read_weights(_f64(link), _f64(read), False)
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
def test_mode_read_weights_one_hot_modes(kernel, num_writes):
  rng = np.random.RandomState(13)
  b, k, r, n = 1, 2, 2, 3
  content = rng.uniform(size=[b, k, r, n])
  forward = rng.uniform(size=[b, k, r, num_writes, n])
  backward = rng.uniform(size=[b, k, r, num_writes, n])
  num_modes = 1 + 2 * num_writes

  def run(mode_index):
    mode = np.zeros([b, k, r, num_modes])
    mode[..., mode_index] = 1.
    return kernel.mode_read_weights(_f64(content), _f64(forward),
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
  out = kernel.mode_read_weights(_f64(content), _f64(forward),
                                     _f64(backward), _f64(mode)).numpy()
  expected = mode[..., -1:] * content
  for w in range(num_writes):
    expected = (expected + mode[..., w:w + 1] * backward[..., w, :] +
                mode[..., num_writes + w:num_writes + w + 1] * forward[..., w, :])
  np.testing.assert_allclose(out, expected, atol=1e-12)


# --------------------------------------------------------------------------
# 10. The DAM's attentive gate and gated read weights (Park et al. 2021,
# Sec. 3).


def test_attentive_gate_is_a_softmax_over_blocks(kernel):
  # K = 3 blocks, R = 2 heads; head 0 logits (0, log 2, log 5) -> 1/8, 2/8,
  # 5/8; head 1 equal logits -> 1/3 each, shifted by a large constant.
  logits = np.array([[[0., 1000.], [np.log(2.), 1000.], [np.log(5.), 1000.]]])
  gate = kernel.attentive_gate(_f64(logits)).numpy()
  np.testing.assert_allclose(gate[0, :, 0], [1. / 8., 2. / 8., 5. / 8.],
                             atol=1e-12)
  np.testing.assert_allclose(gate[0, :, 1], 1. / 3., atol=1e-12)


def test_gated_read_weights_known_answer(kernel):
  gate = [[[0.25], [0.75]]]  # [1, K=2, R=1]
  content = [[[[0.5, 0.5, 0.]], [[0., 0.2, 0.8]]]]  # [1, 2, 1, 3]
  weights = kernel.gated_read_weights(_f64(gate), _f64(content)).numpy()
  expected = [[[[0.125, 0.125, 0.]], [[0., 0.15, 0.6]]]]
  np.testing.assert_allclose(weights, expected, atol=1e-12)
  # A head's gated weights sum to 1 over blocks and slots.
  assert abs(weights.sum() - 1.) < 1e-12


# --------------------------------------------------------------------------
# 11. Batch-size agnosticism under tf.function.


def test_batch_size_agnostic_tf_function(np_allocation, kernel):
  traces = []

  @tf.function(input_signature=[tf.TensorSpec([None, 2, 4], tf.float32)])
  def alloc_fn(usage):
    traces.append('alloc')
    return kernel.allocation_weights(usage)

  @tf.function(input_signature=[tf.TensorSpec([None, 2, 4, 3], tf.float32),
                                tf.TensorSpec([None, 2, 1, 3], tf.float32),
                                tf.TensorSpec([None, 2, 1], tf.float32)])
  def content_fn(memory, keys, strengths):
    traces.append('content')
    return kernel.content_weights(memory, keys, strengths)

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
        graph_alloc, kernel.allocation_weights(tf.constant(usage)).numpy(),
        atol=1e-6)
    np.testing.assert_allclose(
        graph_content,
        kernel.content_weights(tf.constant(memory), tf.constant(keys),
                                   tf.constant(strengths)).numpy(),
        atol=1e-6)
    for b in range(batch):
      for k in range(2):
        np.testing.assert_allclose(graph_alloc[b, k], np_allocation(usage[b, k]),
                                   atol=1e-6)
  assert sorted(traces) == ['alloc', 'content']  # one trace each
