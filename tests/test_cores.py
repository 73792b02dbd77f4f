"""Tests of the DAM and DNC cores and of the unroll helpers.

A core step (dam/core.py) is the controller (`MemoryCore.control`), the
access's write and read (dam/access.py), and the output (`MemoryCore.output`);
Graves et al. 2016, Methods, and Park et al. 2021, Sec. 3.
"""

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dam
from dam import access as access_lib
from dam import core as core_lib


def _count(module):
  return sum(int(np.prod(v.shape)) for v in module.trainable_variables)


def _tiny_dam(**kwargs):
  config = dict(output_size=5, hidden_size=12, memory_size=6, word_size=4,
                num_reads=2, num_writes=1, num_blocks=3, seed=7)
  config.update(kwargs)
  return dam.DAM(**config)


def _tiny_dnc(**kwargs):
  config = dict(output_size=5, hidden_size=12, memory_size=6, word_size=4,
                num_reads=2, num_writes=2)
  config.update(kwargs)
  return dam.DNC(**config)


# -- parameter counts (the authors' sizes) -------------------------------------


def test_dam_parameter_count_at_copy_size():
  # H=128, N=64, W=36, R=1, K=2, 8 bits + 2 flags in and out.
  core = dam.build(dam.DAM(10, 128, 64, 36, 1, 1, 2), 10)
  lstm = 4 * 128 * (10 + 36 + 128) + 4 * 128     # 89,600
  layer_norm = 2 * 128                            # 256
  interface = (128 + 1) * 2 * (3 * 36 + 3 + 36 + 3)  # 38,700
  output = (128 + 36 + 1) * 10                    # 1,650
  assert _count(core) == lstm + layer_norm + interface + output == 130206


@pytest.mark.parametrize('vocab', [10, 159])
def test_dam_parameter_count_at_babi_size(vocab):
  # Embedding 64 + core (K=2, N=128, W=48, R=4, H=256) + softmax over V.
  embed = snt.Embed(vocab, 64)
  core = dam.DAM(vocab, 256, 128, 48, 4, 1, 2)
  core(embed(tf.constant([0])), core.initial_state(1))
  total = _count(core) + _count(embed)
  assert total == 525312 + 512 + 180414 + 513 * vocab


def test_dnc_parameter_count_at_copy_size():
  core = dam.build(dam.DNC(10, 128, 64, 36, 1, 1), 10)
  lstm = 4 * 128 * (10 + 36 + 128) + 4 * 128
  # write vectors, erase, free gate, alloc gate, write gate, read modes (3),
  # write key, write strength, read key, read strength.
  interface = (128 + 1) * (36 + 36 + 1 + 1 + 1 + 3 + 36 + 1 + 36 + 1)
  output = (128 + 36 + 1) * 10
  assert _count(core) == lstm + interface + output


# -- one step ------------------------------------------------------------------


def _warm_state(core, batch, dtype, steps=2, seed=0):
  rng = np.random.default_rng(seed)
  state = core.initial_state(batch, dtype)
  for _ in range(steps):
    x = tf.constant(rng.normal(size=[batch, 3]), dtype)
    _, state = core(x, state, training=True)
  return state


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_full_step_gradients_match_finite_differences(make_core):
  kwargs = dict(keep_prob=1.) if make_core is _tiny_dam else {}
  core = make_core(hidden_size=6, memory_size=4, word_size=3,
                   dtype=tf.float64, **kwargs)
  batch = 2
  state = _warm_state(core, batch, tf.float64)
  rng = np.random.default_rng(3)
  x0 = tf.constant(rng.normal(size=[batch, 3]))
  memory0 = state.access_state.memory
  reads0 = state.access_output

  def step(x, memory, reads):
    prev = state._replace(access_output=reads,
                          access_state=state.access_state._replace(
                              memory=memory))
    output, new_state = core(x, prev, training=True)
    return tf.concat([tf.reshape(output, [-1]),
                      tf.reshape(new_state.access_output, [-1])], 0)

  theoretical, numerical = tf.test.compute_gradient(
      step, [x0, memory0, reads0], delta=1e-6)
  for t, n in zip(theoretical, numerical):
    assert np.abs(t).max() > 0.
    np.testing.assert_allclose(t, n, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_no_nan_gradients_from_all_zero_memory(make_core):
  core = make_core()
  inputs = tf.zeros([2, 4, 3])
  dam.build(core, 3)
  with tf.GradientTape() as tape:
    outputs, _ = dam.unroll(core, inputs, training=True)
    loss = tf.reduce_sum(tf.square(outputs - 1.))
  grads = tape.gradient(loss, core.trainable_variables)
  assert all(g is not None for g in grads)
  for g in grads:
    assert np.isfinite(tf.convert_to_tensor(g).numpy()).all()
  assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0.


# -- training switch -------------------------------------------------------------


def test_clipping_only_in_training():
  core = _tiny_dam(clip_value=1e-3, keep_prob=1.)
  x = tf.random.stateless_normal([3, 4, 3], seed=[1, 2]) * 10.
  train_out, train_state = dam.unroll(core, x, training=True)
  eval_out, _ = dam.unroll(core, x, training=False)
  assert np.abs(train_out).max() <= 1e-3 + 1e-9
  assert np.abs(train_state.controller_state.cell).max() <= 1e-3 + 1e-9
  assert np.abs(eval_out).max() > 1e-3


def test_dropout_only_in_training_and_seeded():
  x = tf.random.stateless_normal([3, 5, 3], seed=[4, 5])
  core_a = _tiny_dam(keep_prob=0.5, seed=11)
  core_b = _tiny_dam(keep_prob=0.5, seed=11)
  dam.build(core_a, 3)
  dam.build(core_b, 3)
  for a, b in zip(core_a.trainable_variables, core_b.trainable_variables):
    b.assign(a)
  eval_1, _ = dam.unroll(core_a, x)
  eval_2, _ = dam.unroll(core_a, x)
  np.testing.assert_array_equal(eval_1, eval_2)
  train_a1, _ = dam.unroll(core_a, x, training=True)
  train_a2, _ = dam.unroll(core_a, x, training=True)
  train_b1, _ = dam.unroll(core_b, x, training=True)
  assert np.abs(train_a1 - eval_1).max() > 1e-3  # dropout is on
  assert np.abs(train_a1 - train_a2).max() > 1e-3  # fresh masks each call
  np.testing.assert_array_equal(train_a1, train_b1)  # same seed, same masks


def test_layer_norm_dropout_only_in_dam():
  assert dam.DNC(4)._layer_norm is None and dam.DNC(4)._dropout_rng is None
  assert dam.DAM(4)._layer_norm is not None
  with pytest.raises(ValueError, match='keep_prob'):
    dam.DAM(4, keep_prob=0.)
  with pytest.raises(ValueError, match='output_size'):
    dam.DNC(0)


def test_mlp_before_output_layer():
  core = _tiny_dam(mlp_sizes=(7, 9))
  dam.build(core, 3)
  shapes = sorted(tuple(v.shape) for v in core._mlp.trainable_variables)
  read_width = 2 * 4
  assert shapes == sorted([(12 + read_width, 7), (7,), (7, 9), (9,)])
  assert core._output_linear.w.shape == (9, 5)


# -- unroll ----------------------------------------------------------------------


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_unroll_masks_outputs_and_freezes_state_past_the_end(make_core):
  # float64: comparing a batch with single examples changes the rounding;
  # in float32 that can flip a near-tie in the allocation sort.
  core = make_core(dtype=tf.float64)
  x = tf.random.stateless_normal([3, 6, 3], seed=[7, 8], dtype=tf.float64)
  lengths = tf.constant([6, 2, 4])
  outputs, final = dam.unroll(core, x, lengths)
  np.testing.assert_array_equal(outputs[1, 2:], 0.)
  np.testing.assert_array_equal(outputs[2, 4:], 0.)
  assert np.abs(outputs[0, 5]).max() > 0.
  for i, length in enumerate([6, 2, 4]):
    alone_out, alone_final = dam.unroll(core, x[i:i + 1, :length])
    np.testing.assert_allclose(outputs[i:i + 1, :length], alone_out,
                               rtol=1e-10, atol=1e-12)
    for got, want in zip(tf.nest.flatten(final), tf.nest.flatten(alone_final)):
      np.testing.assert_allclose(got[i:i + 1], want, rtol=1e-10, atol=1e-12)
  full_out, _ = dam.unroll(core, x)
  np.testing.assert_allclose(full_out[0], outputs[0], rtol=1e-12)


def test_unroll_rejects_bad_inputs():
  core = _tiny_dam()
  with pytest.raises(ValueError, match=r'\[batch, time, features\]'):
    dam.unroll(core, tf.zeros([2, 3]))
  with pytest.raises(ValueError, match='at least one time step'):
    dam.unroll(core, tf.zeros([2, 0, 3]))
  with pytest.raises(ValueError, match='batch_size'):
    dam.compile_unroll(core, 3, batch_size=0)


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
@pytest.mark.slow
def test_eager_function_and_xla_agree_forward_and_backward(make_core):
  core = make_core(keep_prob=1.) if make_core is _tiny_dam else make_core()
  x = tf.random.stateless_normal([2, 4, 3], seed=[9, 9])
  lengths = tf.constant([4, 3])
  dam.build(core, 3)

  def loss_and_grads(inputs, sequence_length):
    with tf.GradientTape() as tape:
      outputs, _ = dam.unroll(core, inputs, sequence_length, training=True)
      loss = tf.reduce_mean(tf.square(outputs))
    return outputs, tape.gradient(loss, core.trainable_variables)

  eager = loss_and_grads(x, lengths)
  graph = tf.function(loss_and_grads)(x, lengths)
  xla = tf.function(loss_and_grads, jit_compile=True)(x, lengths)
  for other in (graph, xla):
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(other)):
      np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_fixed_and_dynamic_batch_give_identical_outputs(make_core):
  core = make_core()
  fixed = dam.compile_unroll(core, 3, batch_size=4)
  dynamic = dam.compile_unroll(core, 3, batch_size=None)
  x = tf.random.stateless_normal([4, 5, 3], seed=[3, 1])
  lengths = tf.constant([5, 1, 3, 4])
  fixed_out, fixed_state = fixed(x, lengths)
  dynamic_out, dynamic_state = dynamic(x, lengths)
  np.testing.assert_allclose(fixed_out, dynamic_out, rtol=1e-6, atol=1e-7)
  for a, b in zip(tf.nest.flatten(fixed_state), tf.nest.flatten(dynamic_state)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # A ragged last batch (3 examples) through the same trace.
  ragged_out, _ = dynamic(x[1:], lengths[1:])
  np.testing.assert_allclose(ragged_out, fixed_out[1:], rtol=1e-4, atol=1e-5)
  dynamic(x[:2, :3], lengths[:2] - 2)  # another batch size and length
  assert dynamic.experimental_get_tracing_count() == 1
  with pytest.raises((ValueError, TypeError)):
    fixed(x[1:], lengths[1:])  # the fixed-batch function rejects 3 examples


def test_checkpoint_round_trip():
  x = tf.random.stateless_normal([2, 4, 3], seed=[5, 6])
  core = _tiny_dam()
  dam.build(core, 3)
  before, _ = dam.unroll(core, x)
  import tempfile
  with tempfile.TemporaryDirectory() as directory:
    path = tf.train.Checkpoint(model=core).save(directory + '/ckpt')
    fresh = _tiny_dam()
    dam.build(fresh, 3)
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
  after, _ = dam.unroll(fresh, x)
  np.testing.assert_array_equal(before, after)


def _state_shapes(core):
  """Per-example shapes (no batch axis) of the state the unroll builds."""
  return tf.nest.map_structure(lambda t: t.shape[1:], core.initial_state(1))


def test_state_shapes_and_blocks():
  core = _tiny_dam()
  sizes = _state_shapes(core)
  assert sizes.access_state.memory == (3, 6, 4)
  assert sizes.access_output == (2, 4)
  assert core.access.num_blocks == 3
  dnc_sizes = _state_shapes(_tiny_dnc())
  assert dnc_sizes.access_state.linkage.link == (1, 2, 6, 6)


@pytest.mark.parametrize('make', [
    lambda hidden: dam.DAM(5, hidden_size=hidden, memory_size=8, word_size=6,
                           num_reads=2, num_blocks=2),
    lambda hidden: dam.DNC(5, hidden_size=hidden, memory_size=8, word_size=6,
                           num_reads=2)], ids=['dam', 'dnc'])
def test_controller_initialised_as_sonnet1_lstm(make):
  # Sonnet 1.34 (the authors' and DeepMind's library): weights AND gate
  # biases from one truncated normal, stddev 1/sqrt(D + H); the forget bias
  # +1 on top (added at run time in Sonnet 1, stored in the variable here).
  input_size, hidden = 40, 128
  tf.random.set_seed(4)
  core = make(hidden)
  dam.build(core, input_size)
  lstm = core._controller
  stddev = 1. / np.sqrt(input_size + 2 * 6 + hidden)
  bias = lstm.b.numpy().reshape(4, hidden)  # gates (i, f, g, o)
  centred = bias - np.array([0., 1., 0., 0.])[:, None]
  for values in (lstm.input_to_hidden.numpy().ravel(),
                 lstm.hidden_to_hidden.numpy().ravel(), centred.ravel()):
    assert np.abs(values).max() <= 2. * stddev + 1e-6  # truncated at 2 sd
    # A truncated normal at 2 sd has std 0.880 sd and mean 0.
    assert abs(values.std() / stddev - 0.880) < 0.06
    assert abs(values.mean()) < 4 * 0.88 * stddev / np.sqrt(values.size)
  # Every gate's biases vary (Sonnet 2's default starts them at 0 / 1).
  assert np.all(centred.std(axis=1) > 0.7 * stddev)
  assert abs(bias[1].mean() - 1.) < 0.25 * stddev  # forget gate around +1


# -- one explicit step, the injected access, unchanged checkpoint keys ---------


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_step_is_control_write_read_output(make_core):
  core = make_core(dtype=tf.float64) if make_core is _tiny_dnc else make_core(
      dtype=tf.float64, keep_prob=1.)
  state = _warm_state(core, 2, tf.float64)
  x = tf.constant(np.random.default_rng(5).normal(size=[2, 3]))
  output, new_state = core(x, state, training=True)
  controller = core.control(x, state, training=True)
  assert isinstance(controller, core_lib.ControllerResult)
  assert controller.output.shape == (2, 12)
  written = core.access.write(controller.interface, state.access_state)
  read = core.access.read(controller.interface, written,
                          state.access_state.read_weights)
  np.testing.assert_array_equal(
      core.output(controller.output, read.words, training=True), output)
  expected = core_lib.CoreState(
      access_output=read.words,
      access_state=core.access.state(written, read),
      controller_state=controller.state)
  for a, b in zip(tf.nest.flatten(new_state), tf.nest.flatten(expected)):
    np.testing.assert_array_equal(a, b)


def test_access_is_injected_into_the_core():
  access = access_lib.DAMAccess(memory_size=6, word_size=4, num_reads=2,
                                num_blocks=3)
  core = core_lib.MemoryCore(access, output_size=5, hidden_size=12,
                             clip_value=20., layer_norm=True, keep_prob=1.,
                             mlp_sizes=(), seed=None, dtype=tf.float32,
                             name='custom')
  assert core.access is access
  outputs, state = dam.unroll(core, tf.zeros([2, 3, 3]))
  assert outputs.shape == (2, 3, 5)
  assert state.access_state.memory.shape == (2, 3, 6, 4)
  assert any(v is access._interface_layer.w for v in core.trainable_variables)


def test_checkpoint_keys_and_variable_names_unchanged():
  """Users' checkpoints must restore: the object paths and variable names
  are those of the cores before the access was injected."""
  cores = [_tiny_dam(mlp_sizes=(7,)), _tiny_dnc()]
  expected_keys = [
      ['_access/_interface_layer/b', '_access/_interface_layer/w',
       '_controller/_w_h', '_controller/_w_i', '_controller/b',
       '_dropout_rng/_state_var', '_layer_norm/offset', '_layer_norm/scale',
       '_mlp/_layers/0/b', '_mlp/_layers/0/w', '_output_linear/b',
       '_output_linear/w'],
      ['_access/_interface_layer/b', '_access/_interface_layer/w',
       '_controller/_w_h', '_controller/_w_i', '_controller/b',
       '_output_linear/b', '_output_linear/w']]
  expected_names = [
      ['dam/controller/b:0', 'dam/controller/w_h:0', 'dam/controller/w_i:0',
       'dam/dam_access/interface/b:0', 'dam/dam_access/interface/w:0',
       'dam/layer_norm/offset:0', 'dam/layer_norm/scale:0',
       'dam/mlp/linear_0/b:0', 'dam/mlp/linear_0/w:0',
       'dam/output_linear/b:0', 'dam/output_linear/w:0'],
      ['dnc/controller/b:0', 'dnc/controller/w_h:0', 'dnc/controller/w_i:0',
       'dnc/dnc_access/interface/b:0', 'dnc/dnc_access/interface/w:0',
       'dnc/output_linear/b:0', 'dnc/output_linear/w:0']]
  import tempfile
  for core, keys, names in zip(cores, expected_keys, expected_names):
    dam.build(core, 3)
    with tempfile.TemporaryDirectory() as directory:
      path = tf.train.Checkpoint(model=core).save(directory + '/ckpt')
      saved = sorted(name for name, _ in tf.train.list_variables(path)
                     if name.startswith('model/'))
    assert saved == [f'model/{k}/.ATTRIBUTES/VARIABLE_VALUE' for k in keys]
    assert sorted(v.name for v in core.trainable_variables) == names
