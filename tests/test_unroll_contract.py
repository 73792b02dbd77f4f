"""The fast unroll's contract (dam/contract.py) and the plain loop.

`dam.unroll.unroll` runs a core that provides the pieces
`dam.contract.FastUnrollCore` lists (the DAM and DNC cores) with its fast,
rotated loop, and any other Sonnet RNN core step by step
(`dam.plain_unroll`), with the same semantics: outputs zero past each
sequence's end, state frozen there with `freeze_finished`.
"""

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dam
from dam import access as access_lib
from dam import contract
from dam import core as core_lib
from dam import unroll as unroll_lib


class Accumulator(snt.RNNCore):
  """s_t = s_{t-1} + x_t and y_t = [s_t, 10 x_t]; + 100 in training."""

  def __call__(self, inputs, prev_state, training=False):
    state = prev_state + inputs
    output = tf.concat([state, 10. * inputs], axis=-1)
    return (output + 100. if training else output), state

  def initial_state(self, batch_size):
    return tf.zeros([batch_size, 1])


# Two sequences, of 2 and 3 steps, in a batch padded to T = 3.
X = tf.constant([[[1.], [2.], [3.]], [[10.], [20.], [30.]]])
LENGTHS = tf.constant([2, 3])
# By hand: s = 1, 3 | 10, 30, 60, y = [s, 10 x], zero past the end.
Y = [[[1., 10.], [3., 20.], [0., 0.]],
     [[10., 100.], [30., 200.], [60., 300.]]]
FROZEN = [[3.], [60.]]  # each state at its own end
RUN_ON = [[6.], [60.]]  # the first sequence's state after the padding step

MODES = ('eager', 'function')


def _run(fn, mode):
  return fn() if mode == 'eager' else tf.function(fn)()


def _tiny_dam(**kwargs):
  return dam.DAM(output_size=3, hidden_size=8, memory_size=5, word_size=3,
                 num_reads=2, num_blocks=2, keep_prob=1., **kwargs)


def _tiny_dnc(**kwargs):
  return dam.DNC(output_size=3, hidden_size=8, memory_size=5, word_size=3,
                 num_reads=2, num_writes=2, **kwargs)


# -- the contract --------------------------------------------------------------


def test_the_contract_names_what_the_fast_loop_uses():
  assert sorted(contract.FastUnrollCore.__abstractmethods__) == [
      '__call__', 'access', 'built', 'control', 'dropout_noise',
      'initial_state', 'loop_weights', 'output', 'output_size']
  assert sorted(contract.FastUnrollAccess.__abstractmethods__) == [
      'handover', 'output_size', 'read', 'read_interface', 'state', 'write']


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_memory_cores_provide_the_contract(make_core):
  core = make_core()
  assert isinstance(core, contract.FastUnrollCore)
  assert isinstance(core.access, contract.FastUnrollAccess)
  assert contract.missing(core) == []
  assert contract.supports_fast_unroll(core)


def test_a_plain_core_lacks_the_contract():
  assert contract.missing(Accumulator()) == [
      'access', 'built', 'control', 'dropout_noise', 'loop_weights',
      'output', 'output_size']
  assert not contract.supports_fast_unroll(Accumulator())
  assert not contract.supports_fast_unroll(snt.LSTM(3))
  assert 'tf.Module' in contract.missing(lambda x, s: (x, s))


# -- the plain loop: known answers ---------------------------------------------


@pytest.mark.parametrize('mode', MODES)
def test_plain_core_unrolls_to_the_known_answers(mode):
  core = Accumulator()
  outputs, final = _run(lambda: dam.unroll(core, X, LENGTHS), mode)
  np.testing.assert_array_equal(outputs, Y)
  np.testing.assert_array_equal(final, FROZEN)
  outputs, final = _run(
      lambda: dam.unroll(core, X, LENGTHS, freeze_finished=False), mode)
  np.testing.assert_array_equal(outputs, Y)
  np.testing.assert_array_equal(final, RUN_ON)
  outputs, final = _run(lambda: dam.unroll(core, X), mode)
  np.testing.assert_array_equal(outputs[0, 2], [6., 30.])
  np.testing.assert_array_equal(final, RUN_ON)
  outputs, _ = _run(lambda: dam.unroll(core, X, LENGTHS, training=True), mode)
  np.testing.assert_array_equal(outputs[1], np.array(Y[1]) + 100.)
  np.testing.assert_array_equal(outputs[0, 2], [0., 0.])


@pytest.mark.parametrize('mode', MODES)
def test_plain_loop_equals_stepping_an_lstm_by_hand(mode):
  core = snt.LSTM(4)
  x = tf.random.stateless_normal([3, 5, 2], seed=[1, 2])
  lengths = [5, 0, 3]
  state = core.initial_state(3)
  expected_outputs, expected_final = [], state
  for t in range(5):  # by hand: zero past the end, state frozen there
    output, state = core(x[:, t], state)
    alive = np.array([t < n for n in lengths])
    expected_outputs.append(np.where(alive[:, None], output, 0.))
    expected_final = tf.nest.map_structure(
        lambda new, old, alive=alive: np.where(alive[:, None], new, old),
        state, expected_final)
  outputs, final = _run(lambda: dam.unroll(core, x, lengths), mode)
  np.testing.assert_allclose(outputs, np.stack(expected_outputs, axis=1),
                             rtol=1e-6, atol=1e-7)
  for got, want in zip(tf.nest.flatten(final),
                       tf.nest.flatten(expected_final)):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_plain_core_packed_and_compiled():
  core = Accumulator()
  np.testing.assert_array_equal(dam.unroll_packed(core, X, LENGTHS), Y)
  run = dam.compile_unroll(core, input_size=1, batch_size=None)
  outputs, final = run(X, LENGTHS)
  np.testing.assert_array_equal(outputs, Y)
  np.testing.assert_array_equal(final, FROZEN)
  with pytest.raises(ValueError, match='FastUnrollCore'):
    dam.unroll(core, X, training=True, dropout_noise=tf.zeros([3, 2, 1]))


# -- a core missing one piece --------------------------------------------------


class AllButLoopWeights(snt.RNNCore):
  """A memory core's step and every piece of the contract but
  `loop_weights`; counts its `control` calls."""

  def __init__(self, inner):
    super().__init__(name='all_but_loop_weights')
    self.inner = inner
    self.control_calls = 0

  @property
  def access(self):
    return self.inner.access

  @property
  def output_size(self):
    return self.inner.output_size

  @property
  def built(self):
    return self.inner.built

  def initial_state(self, batch_size, dtype=tf.float64):
    return self.inner.initial_state(batch_size, dtype)

  def __call__(self, inputs, prev_state, training=False):
    return self.inner(inputs, prev_state, training=training)

  def control(self, *args, **kwargs):
    self.control_calls += 1
    return self.inner.control(*args, **kwargs)

  def output(self, *args, **kwargs):
    return self.inner.output(*args, **kwargs)

  def dropout_noise(self, num_steps, batch_size):
    return self.inner.dropout_noise(num_steps, batch_size)


@pytest.mark.parametrize('make_core', [_tiny_dam, _tiny_dnc])
def test_a_core_missing_one_piece_runs_the_plain_loop(make_core):
  inner = make_core(dtype=tf.float64)
  core = AllButLoopWeights(inner)
  assert contract.missing(core) == ['loop_weights']
  x = tf.random.stateless_normal([3, 4, 2], seed=[3, 4], dtype=tf.float64)
  lengths = tf.constant([4, 1, 3])
  outputs, final = dam.unroll(core, x, lengths, training=True)
  assert core.control_calls == 0  # the fast loop would call it
  fast_outputs, fast_final = dam.unroll(inner, x, lengths, training=True)
  np.testing.assert_allclose(outputs, fast_outputs, rtol=1e-10, atol=1e-12)
  np.testing.assert_array_equal(outputs[1, 1:], 0.)
  for got, want in zip(tf.nest.flatten(final), tf.nest.flatten(fast_final)):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


class AccessWithoutHandover(snt.Module):
  """A DAM access that hides its `handover`."""

  def __init__(self, access):
    super().__init__(name='without_handover')
    self.access = access

  def __getattr__(self, name):
    if name.startswith('_') or name in ('handover', 'access'):
      raise AttributeError(name)
    return getattr(self.access, name)


def _memory_core(access):
  return core_lib.MemoryCore(access, output_size=3, hidden_size=8,
                             clip_value=0., layer_norm=True, keep_prob=1.,
                             mlp_sizes=(), seed=None, dtype=tf.float32,
                             name='core')


def test_a_memory_core_whose_access_lacks_a_piece_is_an_error():
  core = _memory_core(AccessWithoutHandover(access_lib.DAMAccess(5, 3, 2)))
  assert contract.missing(core) == ['access.handover']
  with pytest.raises(ValueError, match=r"declares .*FastUnrollCore.*"
                     r"access\.handover"):
    dam.unroll(core, tf.zeros([2, 3, 2]))


class ReadForgetsTheGate(access_lib.DAMAccess):
  """A DAM access whose `read_interface` leaves out the attentive gate its
  read uses."""
  _read_fields = ('read_keys', 'read_strengths')


def test_a_read_beyond_read_interface_fails_alike_stepped_and_unrolled():
  core = _memory_core(ReadForgetsTheGate(5, 3, 2))
  x = tf.zeros([2, 3, 2])
  message = r"'attentive_gate'.*read_interface"
  with pytest.raises(KeyError, match=message):
    core(x[:, 0], core.initial_state(2))
  with pytest.raises(KeyError, match=message):
    dam.unroll(core, x)
