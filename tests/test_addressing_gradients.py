"""Finite-difference gradient checks of both addressing kernels (float64).

The paper kernel (`dam.addressing`) is differentiated by plain autodiff; the
fast kernel (`dam.addressing_fast`) has written-out gradients. Both are
checked against central differences here.
"""

import numpy as np
import pytest
import tensorflow as tf


EPS = 1e-6  # DeepMind's DNC epsilon (dam.addressing.EPSILON).
GRAD_TOL = 1e-6
GRAD_DELTA = 1e-5  # float64 central differences: error ~ delta^2, 1e-16/delta.


def _f64(x):
  return tf.constant(np.asarray(x, dtype=np.float64))


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




def _write_inputs(rng, b=2, k=2, n=5, w=3, wh=2):
  return dict(
      memory=rng.randn(b, k, n, w),
      usage=rng.uniform(size=[b, k, n]),
      write_keys=rng.randn(b, k, wh, w),
      write_strengths=rng.randn(b, k, wh),
  )



# --------------------------------------------------------------------------
# 10. Gradient checks (float64 finite differences).


def test_gradient_content_weights(kernel):
  rng = np.random.RandomState(20)
  memory = rng.randn(1, 2, 3, 4)
  keys = rng.randn(1, 2, 2, 4)
  strengths = rng.randn(1, 2, 2)
  _check_gradients(kernel.content_weights, [memory, keys, strengths])


def test_gradient_allocation_weights(kernel):
  # Distinct usages, gaps >> delta, so the sort order does not change.
  usage = np.array([[[0.4, 0.1, 0.9, 0.65], [0.2, 0.75, 0.05, 0.5]]])
  _check_gradients(kernel.allocation_weights, [usage])


def test_gradient_update_usage(random_weights, kernel):
  rng = np.random.RandomState(21)
  prev_usage = rng.uniform(size=[1, 2, 4])
  prev_write = random_weights(rng, (1, 2, 2, 4))
  for r in (1, 2):
    free = rng.uniform(size=[1, 2, r])
    prev_read = random_weights(rng, (1, 2, r, 4))
    _check_gradients(
        lambda u, f, wr: kernel.update_usage(u, _f64(prev_write), f, wr),
        [prev_usage, free, prev_read])


def test_gradient_write_weights(kernel):
  rng = np.random.RandomState(22)
  for wh in (1, 2):
    x = _write_inputs(rng, b=1, k=2, n=4, w=3, wh=wh)
    x['usage'] = np.array([[[0.3, 0.8, 0.1, 0.55], [0.6, 0.15, 0.9, 0.35]]])
    alloc_gate = rng.uniform(0.2, 0.8, size=[1, 2, wh])
    write_gate = rng.uniform(0.2, 0.8, size=[1, 2, wh])
    _check_gradients(kernel.write_weights,
                     [x['memory'], x['usage'], x['write_keys'],
                      x['write_strengths'], alloc_gate, write_gate])


@pytest.mark.parametrize('num_writes', [1, 2, 3])
def test_gradient_erase_and_write(random_weights, kernel, num_writes):
  rng = np.random.RandomState(23)
  memory = rng.randn(1, 2, 3, 2)
  address = random_weights(rng, (1, 2, num_writes, 3))
  erase = rng.uniform(size=[1, 2, num_writes, 2])
  values = rng.randn(1, 2, num_writes, 2)
  _check_gradients(kernel.erase_and_write,
                   [memory, address, erase, values])


def test_gradient_update_link_and_precedence(random_weights, kernel):
  rng = np.random.RandomState(24)
  prev_link = rng.uniform(0., 0.3, size=[1, 2, 2, 3, 3])
  prev_prec = random_weights(rng, (1, 2, 2, 3))
  ww = random_weights(rng, (1, 2, 2, 3))
  _check_gradients(kernel.update_link, [prev_link, prev_prec, ww])
  _check_gradients(kernel.update_precedence_weights, [prev_prec, ww])


@pytest.mark.parametrize('forward', [True, False])
def test_gradient_directional_read_weights(kernel, forward):
  rng = np.random.RandomState(25)
  link = rng.uniform(size=[1, 2, 2, 3, 3])
  read = rng.uniform(size=[1, 2, 2, 3])
  _check_gradients(
      lambda l, r: kernel.directional_read_weights(l, r, forward),
      [link, read])


def test_gradient_mode_read_weights(kernel):
  rng = np.random.RandomState(26)
  _check_gradients(kernel.mode_read_weights,
                   [rng.uniform(size=[1, 1, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 2, 3]),
                    rng.uniform(size=[1, 1, 2, 5])])


def test_gradient_attentive_gate_and_gated_read_weights(kernel):
  rng = np.random.RandomState(27)
  _check_gradients(kernel.attentive_gate, [rng.randn(2, 3, 2)])
  _check_gradients(kernel.gated_read_weights,
                   [rng.uniform(size=[1, 3, 2]),
                    rng.uniform(size=[1, 3, 2, 4])])


def test_gradients_finite_at_zero_memory_and_usage(kernel):
  memory = tf.zeros([1, 1, 3, 2])
  keys = tf.zeros([1, 1, 2, 2])
  strengths = tf.zeros([1, 1, 2])
  usage = tf.zeros([1, 1, 3])
  full_usage = tf.ones([1, 1, 3])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([memory, keys, strengths, usage, full_usage])
    weights = kernel.content_weights(memory, keys, strengths)
    content_loss = tf.reduce_sum(weights * [[[[1., 2., 3.]]]])
    alloc_loss = tf.reduce_sum(
        kernel.allocation_weights(usage) * [1., 2., 3.])
    full_loss = tf.reduce_sum(
        kernel.allocation_weights(full_usage) * [1., 2., 3.])
  grads = tape.gradient(content_loss, [memory, keys, strengths])
  grads += [tape.gradient(alloc_loss, usage),
            tape.gradient(full_loss, full_usage)]
  for g in grads:
    assert g is not None
    assert np.all(np.isfinite(g.numpy()))
  # Allocation at empty memory does respond to usage: d a0 / d u0 = -(1-eps).
  assert abs(grads[3].numpy()[0, 0, 0] - (-(1. - EPS) * 1. +
                                          (1. - EPS) * (1. - EPS) * 2.)) < 1e-3
