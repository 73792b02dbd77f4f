"""Tests of `dam.dense`: weight gradients summed after the time loop.

A planted known answer (dL/dW = X^T C for L = sum_t <x_t W, c_t>), the
unroll's gradients with the sums after the loop against the sums in the
loop (DAM and DNC, float64, eagerly, in `tf.function` and under XLA), and
the controller's LSTM step against Sonnet's.
"""

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dam
from dam import dense


def test_matmul_outside_a_context_is_tf_matmul():
  x = tf.constant(np.random.default_rng(0).normal(size=[3, 4]))
  w = tf.constant(np.random.default_rng(1).normal(size=[4, 5]))
  np.testing.assert_array_equal(dense.matmul(x, w), tf.matmul(x, w))


def test_known_answer_gradient_summed_after_the_steps():
  """L = sum_t sum(x_t W * c_t): dL/dW = sum_t x_t^T c_t, dL/dx_t = c_t W^T,
  with the products taken step by step as a loop body takes them."""
  rng = np.random.default_rng(2)
  steps, batch = 4, 3
  x = tf.constant(rng.normal(size=[steps, batch, 5]))
  c = tf.constant(rng.normal(size=[steps, batch, 2]))
  w = tf.constant(rng.normal(size=[5, 2]))
  other = tf.constant(rng.normal(size=[5, 2]))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([w, x, other])
    # Steps 1 .. 3 as a loop's.
    with dense.weight_gradients_after_loop([w], steps - 1) as context:
      total = 0.
      for t in range(steps):
        # As `dam.unroll`: the int 0 for the step before the loop (weight
        # gradient in place), a tensor for those of the loop (after it).
        context.step = t if t == 0 else tf.constant(t)
        y = dense.matmul(x[t], w) + dense.matmul(x[t], other)
        total += tf.reduce_sum(y * c[t])
      context.finish()
  dw, dx, dother = tape.gradient(total, [w, x, other])
  expected = np.einsum('tbi,tbo->io', x.numpy(), c.numpy())
  np.testing.assert_allclose(dw, expected, rtol=1e-12)
  np.testing.assert_allclose(dother, expected, rtol=1e-12)  # plain matmul
  np.testing.assert_allclose(
      dx, np.einsum('tbo,io->tbi', c.numpy(), w.numpy() + other.numpy()),
      rtol=1e-12)


def test_a_product_before_the_step_is_set_is_refused():
  w = tf.ones([2, 2])
  with dense.weight_gradients_after_loop([w], 3) as context:
    with pytest.raises(ValueError, match='step'):
      dense.matmul(tf.ones([1, 2]), w)
    with pytest.raises(ValueError, match='step must be a tensor.*or 0'):
      context.step = 2


def _core(use_dam):
  if use_dam:
    return dam.DAM(output_size=3, hidden_size=6, memory_size=5, word_size=3,
                   num_reads=2, num_blocks=2, keep_prob=1., dtype=tf.float64)
  return dam.DNC(output_size=3, hidden_size=6, memory_size=5, word_size=3,
                 num_reads=2, num_writes=2, dtype=tf.float64)


@pytest.mark.parametrize('time', [7, 1])  # 1: the loop runs no step.
@pytest.mark.parametrize('mode', ['eager', 'function', 'xla'])
@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_unroll_gradients_after_the_loop_equal_those_in_it(use_dam, mode,
                                                           time):
  """Step 0 (before the loop) keeps its weight gradient in place, steps 1 ..
  T - 1 have theirs summed after the loop."""
  core = _core(use_dam)
  dam.build(core, 2, tf.float64)
  x = tf.constant(np.random.default_rng(3).normal(size=[3, time, 2]))
  lengths = tf.constant([time, min(4, time), 1])
  scale = tf.constant(np.random.default_rng(4).normal(size=[3]))

  def gradients(after_loop):
    def run():
      with tf.GradientTape() as tape:
        outputs, state = dam.unroll(core, x, lengths, training=True,
                                    weight_gradients_after_loop=after_loop)
        loss = (tf.reduce_sum(tf.sin(outputs) * scale) +
                tf.reduce_sum(tf.square(state.controller_state.cell)))
      return outputs, tape.gradient(loss, core.trainable_variables)
    if mode == 'eager':
      return run()
    return tf.function(run, jit_compile=mode == 'xla')()

  out_in, grads_in = gradients(False)
  out_after, grads_after = gradients(True)
  np.testing.assert_allclose(out_after, out_in, rtol=0, atol=1e-14)
  assert all(g is not None for g in grads_after)
  for v, a, b in zip(core.trainable_variables, grads_after, grads_in):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=v.name)


def test_controller_step_is_sonnets_lstm_step():
  core = _core(True)
  dam.build(core, 2, tf.float64)
  rng = np.random.default_rng(5)
  lstm = core._controller  # pylint: disable=protected-access
  inputs = tf.constant(rng.normal(size=[4, lstm.input_to_hidden.shape[0]]))
  state = snt.LSTMState(hidden=tf.constant(rng.normal(size=[4, 6])),
                        cell=tf.constant(rng.normal(size=[4, 6])))
  ours = core._lstm(inputs, state)  # pylint: disable=protected-access
  theirs = lstm(inputs, state)
  for a, b in zip(tf.nest.flatten(ours), tf.nest.flatten(theirs)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('after_loop', [False, True], ids=['in', 'after'])
@pytest.mark.parametrize('mode', ['eager', 'function', 'xla'])
@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
@pytest.mark.parametrize('time', [5, 1])
def test_unroll_gradients_equal_plain_stepping(use_dam, mode, after_loop,
                                               time):
  """Both ways (the sums after the loop; in it, with the stored w^T) against
  `core(x_t, state)` stepped in a Python loop with plain `tf.matmul`."""
  core = _core(use_dam)
  dam.build(core, 2, tf.float64)
  x = tf.constant(np.random.default_rng(6).normal(size=[2, time, 2]))

  def by_hand():
    state = core.initial_state(2, tf.float64)
    outputs = []
    for t in range(time):
      out, state = core(x[:, t], state, training=True)
      outputs.append(out)
    return tf.stack(outputs, axis=1)

  def unrolled():
    return dam.unroll(core, x, training=True, freeze_finished=False,
                      weight_gradients_after_loop=after_loop)[0]

  def gradients(run):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.sin(run()))
    return tape.gradient(loss, core.trainable_variables)

  expected = gradients(by_hand)
  if mode == 'eager':
    got = gradients(unrolled)
  else:
    got = tf.function(lambda: gradients(unrolled),
                      jit_compile=mode == 'xla')()
  for v, a, b in zip(core.trainable_variables, got, expected):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=v.name)
