"""The fast addressing kernel against the paper-form kernel.

`dam.addressing` (the papers' equations, sort-based allocation, plain
autodiff) and `dam.addressing_fast` (the default: sort-free allocation,
written-out gradients, XLA:CPU rewrites) must have the same functions with
the same signatures and agree in value and gradient: function by function in
float64, eagerly, in `tf.function` and under XLA, and for whole DAM and DNC
cores chosen with `kernel='paper'` or `kernel='fast'`.
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf

import dam
from dam import access
from dam import addressing
from dam import addressing_fast

MODES = ('eager', 'function', 'xla')


def _run(fn, mode):
  if mode == 'eager':
    return fn
  return tf.function(fn, jit_compile=(mode == 'xla'))


def _public(module):
  return {name for name, value in vars(module).items()
          if not name.startswith('_') and
          (callable(value) or name == 'EPSILON') and
          getattr(value, '__module__', 'dam.addressing') in (
              'dam.addressing', 'dam.addressing_fast')}


def test_kernels_have_the_same_functions_and_signatures():
  paper, fast = _public(addressing), _public(addressing_fast)
  assert paper == fast - {'sum_last'}, (paper ^ fast)
  for name in sorted(paper - {'EPSILON', 'TemporalLinkageState'}):
    assert (inspect.signature(getattr(addressing, name)) ==
            inspect.signature(getattr(addressing_fast, name))), name
  assert addressing_fast.EPSILON == addressing.EPSILON == 1e-6


def test_addressing_kernel_switch():
  assert access.addressing_kernel('paper') is addressing
  assert access.addressing_kernel('fast') is addressing_fast
  with pytest.raises(ValueError, match="kernel must be one of.*'nope'"):
    access.addressing_kernel('nope')
  with pytest.raises(ValueError, match='kernel'):
    dam.DAM(4, kernel='sorted')
  assert dam.DAM(4).access.kernel == 'fast'  # the default
  assert dam.DNC(4, kernel='paper').access.kernel == 'paper'


def _usages(rng, shape=(3, 2, 7)):
  """Random usages with ties, zeros and ones planted."""
  usage = rng.uniform(0., 1., size=shape)
  usage[0, 0, [1, 4]] = 0.3  # a tie
  usage[0, 1, [0, 2, 5]] = 0.  # tied empty slots
  usage[1, 0, 3] = 1.  # a full slot
  usage[-1, -1] = 0.5  # all tied
  return usage


def _weights(rng, shape):
  w = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
  return w * rng.uniform(0., 1., size=shape[:-1] + (1,))


def _cases(rng):
  """name -> (function name, float64 inputs, extra Python arguments)."""
  b, k, n, w, r = 2, 3, 6, 4, 2
  cases = {
      'vector_norms': ('vector_norms', [rng.normal(size=[b, k, n, w])], ()),
      'cosine_similarity': ('cosine_similarity', [
          rng.normal(size=[b, k, n, w]), rng.normal(size=[b, k, r, w])], ()),
      'content_weights': ('content_weights', [
          rng.normal(size=[b, k, n, w]), rng.normal(size=[b, k, r, w]),
          rng.normal(size=[b, k, r])], ()),
      'allocation_weights': ('allocation_weights', [_usages(rng)], ()),
      'attentive_gate': ('attentive_gate', [rng.normal(size=[b, k, r])], ()),
      'gated_read_weights': ('gated_read_weights', [
          rng.uniform(size=[b, k, r]), _weights(rng, (b, k, r, n))], ()),
      'read': ('read', [rng.normal(size=[b, k, n, w]),
                        _weights(rng, (b, k, r, n))], ()),
  }
  for wh in (1, 2, 3):
    cases[f'update_usage_wh{wh}'] = ('update_usage', [
        rng.uniform(size=[b, k, n]), _weights(rng, (b, k, wh, n)),
        rng.uniform(size=[b, k, r]), _weights(rng, (b, k, r, n))], ())
    cases[f'write_allocation_weights_wh{wh}'] = (
        'write_allocation_weights',
        [_usages(rng, (b, k, n)), rng.uniform(size=[b, k, wh])], (wh,))
    cases[f'write_weights_wh{wh}'] = ('write_weights', [
        rng.normal(size=[b, k, n, w]), _usages(rng, (b, k, n)),
        rng.normal(size=[b, k, wh, w]), rng.normal(size=[b, k, wh]),
        rng.uniform(size=[b, k, wh]), rng.uniform(size=[b, k, wh])], ())
    cases[f'erase_and_write_wh{wh}'] = ('erase_and_write', [
        rng.normal(size=[b, k, n, w]), _weights(rng, (b, k, wh, n)),
        rng.uniform(size=[b, k, wh, w]), rng.normal(size=[b, k, wh, w])], ())
    cases[f'update_link_wh{wh}'] = ('update_link', [
        rng.uniform(0., 0.3, size=[b, 1, wh, n, n]),
        _weights(rng, (b, 1, wh, n)), _weights(rng, (b, 1, wh, n))], ())
    cases[f'update_precedence_weights_wh{wh}'] = (
        'update_precedence_weights',
        [_weights(rng, (b, 1, wh, n)), _weights(rng, (b, 1, wh, n))], ())
    for forward in (True, False):
      cases[f'directional_read_weights_wh{wh}_{forward}'] = (
          'directional_read_weights', [
              rng.uniform(size=[b, 1, wh, n, n]),
              _weights(rng, (b, 1, r, n))], (forward,))
    modes = rng.normal(size=[b, 1, r, 1 + 2 * wh])
    cases[f'mode_read_weights_wh{wh}'] = ('mode_read_weights', [
        _weights(rng, (b, 1, r, n)), rng.uniform(size=[b, 1, r, wh, n]),
        rng.uniform(size=[b, 1, r, wh, n]),
        np.exp(modes) / np.exp(modes).sum(-1, keepdims=True)], ())
  return cases


_CASES = _cases(np.random.default_rng(0))


def _value_and_gradients(kernel, name, inputs, extra, mode):
  fn = getattr(kernel, name)
  upstream_rng = np.random.default_rng(1)

  def run(*xs):
    with tf.GradientTape() as tape:
      tape.watch(xs)
      value = fn(*xs, *extra)
      upstream = tf.constant(upstream_rng.normal(size=value.shape))
      loss = tf.reduce_sum(value * upstream)
    return value, tape.gradient(
        loss, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)

  return _run(run, mode)(*[tf.constant(x) for x in inputs])


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('case', sorted(_CASES))
def test_fast_kernel_equals_paper_kernel_values_and_gradients(case, mode):
  name, inputs, extra = _CASES[case]
  paper = _value_and_gradients(addressing, name, inputs, extra, mode)
  fast = _value_and_gradients(addressing_fast, name, inputs, extra, mode)
  np.testing.assert_allclose(fast[0], paper[0], rtol=1e-12, atol=1e-14)
  assert len(fast[1]) == len(paper[1]) == len(inputs)
  for i, (f, p) in enumerate(zip(fast[1], paper[1])):
    np.testing.assert_allclose(f, p, rtol=1e-10, atol=1e-12,
                               err_msg=f'gradient {i}')
  # Not vacuous: the value and some gradient are not zero.
  assert np.max(np.abs(paper[0])) > 1e-3
  assert max(np.max(np.abs(g)) for g in paper[1]) > 1e-3


def test_fast_linkage_equals_paper_linkage():
  rng = np.random.default_rng(2)
  state = addressing.TemporalLinkageState(
      link=tf.zeros([2, 1, 2, 5, 5], tf.float64),
      precedence_weights=tf.zeros([2, 1, 2, 5], tf.float64))
  paper = fast = state
  for _ in range(6):
    ww = tf.constant(_weights(rng, (2, 1, 2, 5)))
    paper = addressing.update_linkage(paper, ww)
    fast = addressing_fast.update_linkage(fast, ww)
  assert np.max(paper.link) > 1e-2
  for p, f in zip(paper, fast):
    np.testing.assert_allclose(f, p, rtol=1e-12, atol=1e-15)


def test_allocation_gradient_recomputed_in_a_compiled_loop():
  """The fast allocation's gradient compares again (no stored comparison
  matrix): through a while loop, its tf.function and XLA gradients equal the
  sort-based allocation's stepped by hand in float64."""
  rng = np.random.default_rng(5)
  usages = tf.constant(rng.uniform(size=[4, 3, 2, 16]), tf.float64)
  usages = tf.tensor_scatter_nd_update(  # ties and a full slot
      usages, [[1, 0, 0, 3], [1, 0, 0, 4], [2, 1, 1, 0]], [0.5, 0.5, 1.])
  upstream = tf.constant(rng.normal(size=[3, 2, 16]))

  def loss_of(allocation_fn):
    def loss(usages):
      def body(t, total):
        return t + 1, total + tf.reduce_sum(
            allocation_fn(usages[t] * (1. + total * 1e-3)) * upstream)
      return tf.while_loop(lambda t, _: t < 4, body,
                           (0, tf.constant(0., tf.float64)),
                           maximum_iterations=4)[1]
    return loss

  def gradient(fn):
    with tf.GradientTape() as tape:
      tape.watch(usages)
      value = fn(usages)
    return tape.gradient(value, usages)

  expected = gradient(loss_of(addressing.allocation_weights))
  for jit in (False, True):
    got = tf.function(lambda u: gradient(loss_of(
        addressing_fast.allocation_weights)), jit_compile=jit)(usages)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_fast_allocation_float32_close_to_paper():
  usage = tf.constant(np.random.default_rng(3).uniform(size=[16, 2, 64]),
                      tf.float32)
  np.testing.assert_allclose(addressing_fast.allocation_weights(usage),
                             addressing.allocation_weights(usage), rtol=1e-4,
                             atol=1e-6)


def test_sum_last_equals_reduce_sum_any_rank():
  x = tf.constant(np.random.default_rng(4).normal(size=[2, 3, 5, 7]))
  np.testing.assert_allclose(addressing_fast.sum_last(x),
                             tf.reduce_sum(x, axis=-1), rtol=1e-12)
  np.testing.assert_allclose(addressing_fast.sum_last(x[0, 0, 0]),
                             tf.reduce_sum(x[0, 0, 0]), rtol=1e-12)


# -- whole cores: kernel='paper' against kernel='fast' ------------------------


def _core_pair(use_dam):
  def make(kernel):
    if use_dam:
      return dam.DAM(output_size=4, hidden_size=10, memory_size=6,
                     word_size=3, num_reads=2, num_blocks=2, keep_prob=1.,
                     dtype=tf.float64, kernel=kernel)
    return dam.DNC(output_size=4, hidden_size=10, memory_size=6, word_size=3,
                   num_reads=2, num_writes=2, dtype=tf.float64,
                   kernel=kernel)
  paper, fast = make('paper'), make('fast')
  dam.build(paper, 3, tf.float64)
  dam.build(fast, 3, tf.float64)
  for p, f in zip(paper.trainable_variables, fast.trainable_variables):
    assert p.name == f.name
    p.assign(f)
  return paper, fast


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
@pytest.mark.slow
def test_paper_and_fast_cores_agree(use_dam, mode):
  x = tf.random.stateless_normal([3, 7, 3], seed=[1, 2], dtype=tf.float64)
  lengths = tf.constant([7, 4, 6])
  results = []
  for core in _core_pair(use_dam):

    def run(x, lengths, core=core):
      with tf.GradientTape() as tape:
        outputs, state = dam.unroll(core, x, lengths, training=True)
        loss = tf.reduce_sum(tf.sin(outputs))
      return outputs, state, tape.gradient(loss, core.trainable_variables)

    results.append(_run(run, mode)(x, lengths))
  paper, flat = results[0], [tf.nest.flatten(r) for r in results]
  assert len(flat[0]) == len(flat[1])
  for p, f in zip(*flat):
    np.testing.assert_allclose(f, p, rtol=1e-9, atol=1e-12)
  assert np.max(np.abs(paper[0])) > 1e-2
  assert all(np.max(np.abs(g)) > 0. for g in paper[2])
