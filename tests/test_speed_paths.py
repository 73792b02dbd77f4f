"""Tests of what the speed work changed: each fast path against the plain one.

Variables read once per unroll, the dropout noise drawn once per sequence,
the rotated loop (`dam.unroll`) and the unfrozen training unroll against
stepping the core by hand (`core(x_t, state)`); the backward pass keeping one
memory per step; the analytic FLOP model by hand. The fast addressing kernel
against the paper-form one: tests/test_kernels.py; the training step in
every execution mode: tests/test_train_step_modes.py.
"""

import numpy as np
import pytest
import tensorflow as tf

import dam
from dam import flops


# -- the unroll's fast paths against stepping by hand ------------------------------


def _tiny_dam(dtype=tf.float64, keep_prob=0.7):
  return dam.DAM(output_size=4, hidden_size=10, memory_size=5, word_size=3,
                 num_reads=2, num_blocks=2, keep_prob=keep_prob, seed=3,
                 dtype=dtype)


def _core(output_size, use_dam=True, num_blocks=2, **kwargs):
  """A DAM (K = num_blocks) or a DNC with Sonnet's float32 defaults."""
  if use_dam:
    return dam.DAM(output_size, num_blocks=num_blocks, **kwargs)
  return dam.DNC(output_size, **kwargs)


def _by_hand(core, x, noise=None, training=False):
  """Steps the core in a Python loop: no while loop, no read-once."""
  state = core.initial_state(x.shape[0], x.dtype)
  outputs = []
  for t in range(x.shape[1]):
    kwargs = {} if noise is None else {'dropout_noise': noise[t]}
    out, state = core(x[:, t], state, training=training, **kwargs)
    outputs.append(out)
  return tf.stack(outputs, axis=1)


@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_unroll_gradients_equal_stepping_by_hand(use_dam):
  core = (_tiny_dam(keep_prob=1.) if use_dam else
          dam.DNC(output_size=4, hidden_size=10, memory_size=5, word_size=3,
                  num_reads=2, num_writes=2, dtype=tf.float64))
  x = tf.constant(np.random.default_rng(5).normal(size=[3, 6, 2]))
  dam.build(core, 2, tf.float64)
  grads = []
  for run in (lambda: dam.unroll(core, x, training=True,
                                 freeze_finished=False)[0],
              lambda: _by_hand(core, x, training=True)):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.sin(run()))
    grads.append(tape.gradient(loss, core.trainable_variables))
  assert len(grads[0]) == len(core.trainable_variables)
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
  # The context restored every variable.
  assert all(isinstance(v, tf.Variable) for v in
             (core._controller._w_i, core._output_linear.w,
              core.access._interface_layer.w))


def test_parameters_read_once_swaps_and_restores():
  core = _tiny_dam(keep_prob=1.)
  dam.build(core, 2, tf.float64)
  w = core._output_linear.w
  with dam.parameters_read_once(core):
    assert not isinstance(core._output_linear.w, tf.Variable)
    np.testing.assert_array_equal(core._output_linear.w, w)
  assert core._output_linear.w is w
  with pytest.raises(RuntimeError):
    with dam.parameters_read_once(core):
      raise RuntimeError('inside')
  assert core._output_linear.w is w  # restored after an error too


def test_unroll_dropout_noise_drawn_once_equals_stepping_with_it():
  core_a, core_b = _tiny_dam(), _tiny_dam()
  x = tf.constant(np.random.default_rng(6).normal(size=[3, 5, 2]))
  dam.build(core_a, 2, tf.float64)
  dam.build(core_b, 2, tf.float64)
  for a, b in zip(core_a.trainable_variables, core_b.trainable_variables):
    b.assign(a)
  unrolled, _ = dam.unroll(core_a, x, training=True)
  noise = core_b.dropout_noise(5, 3)  # the same generator state
  assert noise.shape == (5, 3, 10)
  np.testing.assert_allclose(unrolled, _by_hand(core_b, x, noise, True),
                             rtol=1e-12)
  # Inverted dropout: kept units scaled by 1 / keep_prob, the rest zero.
  z = tf.ones([2, 10], tf.float64)
  u = tf.constant(np.linspace(0., 0.99, 20).reshape(2, 10))
  dropped = core_a._dropout(z, True, u).numpy()
  np.testing.assert_allclose(dropped, np.where(u < 0.7, 1. / 0.7, 0.))


def test_unfrozen_unroll_has_the_same_outputs():
  core = _tiny_dam(keep_prob=1.)
  x = tf.constant(np.random.default_rng(7).normal(size=[3, 6, 2]))
  lengths = tf.constant([6, 2, 4])
  frozen, _ = dam.unroll(core, x, lengths)
  free, _ = dam.unroll(core, x, lengths, freeze_finished=False)
  np.testing.assert_array_equal(frozen, free)


def _training_loop_body(core, x, after_loop=None):
  """The forward while-loop body of a training unroll's gradient, with the
  accumulators the gradient added to it."""

  @tf.function
  def gradient(x):
    with tf.GradientTape() as tape:
      outputs, _ = dam.unroll(core, x, training=True, freeze_finished=False,
                              weight_gradients_after_loop=after_loop)
      loss = tf.reduce_sum(tf.square(outputs))
    return tape.gradient(loss, core.trainable_variables)

  graph = gradient.get_concrete_function(x).graph
  (loop,) = [op for op in graph.get_operations()
             if op.type in ('While', 'StatelessWhile') and
             not op.name.startswith('gradient_tape/')]
  return graph._get_function(loop.get_attr('body').name).graph


@pytest.mark.parametrize('after_loop', [None, True],
                         ids=['default', 'weight_gradients_after_loop'])
@pytest.mark.parametrize('use_dam', [True, False])
def test_training_unroll_keeps_one_memory_per_step(use_dam, after_loop):
  """The backward pass keeps one memory (and for the DNC one link matrix)
  per step and nothing else of its size: the loop body reads and writes the same M_{t-1} (not M_{t-1} and
  M_t), the erase factor and the squared memory of the norms are recomputed
  from small tensors. What the output layer needs (z_t, r_t) is pushed
  back, not written by index (an indexed write's gradient copies the whole
  list every step), and no weight matrix is kept per step (the weight
  gradients are summed after the loop, `dam.dense`)."""
  batch, blocks, slots, width = 2, (2 if use_dam else 1), 5, 4
  core = _core(3, use_dam=use_dam, hidden_size=8, memory_size=slots,
               word_size=width, num_reads=2)
  x = tf.random.stateless_normal([batch, 6, 3], seed=[1, 2])
  dam.build(core, 3)
  body = _training_loop_body(core, x, after_loop)
  kept = [op.inputs[1].shape for op in body.get_operations()
          if op.type == 'TensorListPushBack']
  memory_sized = [s for s in kept
                  if s.num_elements() == batch * blocks * slots * width]
  assert memory_sized == [(batch, blocks, slots, width)], kept
  if not use_dam:  # and one link matrix L_{t-1} (the read's and the update's)
    link_sized = [s for s in kept if s.num_elements() == batch * slots**2]
    assert len(link_sized) == 1, kept
  assert (batch, 8) in kept and (batch, 2, width) in kept  # z_t and r_t
  assert (batch, 3) not in kept  # no outputs: the output layer runs after
  weight_shapes = {shape for v in core.trainable_variables
                   if v.shape.rank == 2
                   for shape in (tuple(v.shape), tuple(v.shape)[::-1])}
  assert not weight_shapes & {tuple(s) for s in kept}, kept
  assert 'TensorListSetItem' not in {op.type for op in body.get_operations()}


# -- the FLOP model ------------------------------------------------------------------


def test_flops_by_hand_tiny_dam():
  # D 2, O 3, H 4, N 5, W 6, R 1, Wh 1, K 2, interface I = 2 (21 + 1 + 8)
  # = 60. controller 2 (2 + 6 + 4) 16 = 384; interface 2 * 4 * 60 = 480;
  # output 2 (4 + 6) 3 = 60; per block 2*2*30 + 4*30 + 6*30 + 2*30 + 2*25
  # = 120 + 120 + 180 + 60 + 50 = 530, two blocks 1060. Total 1984.
  got = flops.forward_flops_per_step(2, 3, 4, 5, 6, 1, num_blocks=2)
  assert got == 1984.
  assert flops.train_step_flops(7, 11, input_size=2, output_size=3,
                                hidden_size=4, memory_size=5, word_size=6,
                                num_reads=1) == 3 * 7 * 11 * 1984.


@pytest.mark.parametrize('use_dam,reads,writes,blocks',
                         [(True, 1, 1, 2), (True, 4, 1, 6), (True, 2, 2, 3),
                          (False, 1, 1, 1), (False, 4, 2, 1)])
def test_flops_interface_width_matches_the_model(use_dam, reads, writes,
                                                 blocks):
  core = _core(5, use_dam=use_dam, hidden_size=8, memory_size=6,
               word_size=7, num_reads=reads, num_writes=writes,
               num_blocks=blocks)
  config = dict(input_size=3, output_size=5, hidden_size=8, memory_size=6,
                word_size=7, num_reads=reads, num_writes=writes,
                num_blocks=blocks, use_dam=use_dam)
  assert flops.forward_flops_per_step(**config) == (
      flops.forward_flops_per_step(
          interface_size=core.access.interface_size, **config))


def test_flops_at_the_copy_configuration():
  config = dict(input_size=10, output_size=10, hidden_size=128,
                memory_size=64, word_size=36, num_reads=1)
  assert flops.train_step_flops(16, 66, **config) == pytest.approx(1.1036e9,
                                                                   rel=1e-4)
