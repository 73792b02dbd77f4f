"""Tests of dam/record.py: the per-step arrays behind the pictures.

What `record` keeps at step t must be the state `dam.unroll` reaches after
step t (the same core, the same input): one unroll of T copies of an
example, with lengths 1..T and finished sequences frozen, gives the state
after every step as its final states. The interface gates must be those of
`MemoryCore.control` at that step, and the recorded weights must satisfy
the papers' invariants.
"""

import numpy as np
import pytest
import tensorflow as tf

import dam
from dam.model import SequenceModel
from dam import record as record_lib
from dam.unroll import unroll

T = 7


def _core(model, kernel='fast', dtype=tf.float64):
  common = dict(output_size=5, hidden_size=12, memory_size=6, word_size=4,
                num_reads=2, kernel=kernel, dtype=dtype)
  if model == 'dam':
    return dam.DAM(num_writes=1, num_blocks=3, seed=3, **common)
  return dam.DNC(num_writes=2, **common)


def _inputs(dtype=tf.float64, batch=1):
  return tf.random.stateless_uniform([batch, T, 3], [4, 2], dtype=dtype)


def _states_after_every_step(core, x):
  """The state after steps 0..T-1 of example x [1, T, D], from unroll."""
  copies = tf.tile(x, [T, 1, 1])
  outputs, state = unroll(core, copies, tf.range(1, T + 1),
                          freeze_finished=True)
  return outputs, state


@pytest.mark.parametrize('mode', ['eager', 'function'])
@pytest.mark.parametrize('model', ['dam', 'dnc'])
@pytest.mark.parametrize('kernel', ['fast', 'paper'])
def test_recorded_states_equal_unroll_states(model, mode, kernel):
  core = _core(model, kernel)
  x = _inputs()
  run = record_lib.record
  if mode == 'function':
    dam.build(core, 3, tf.float64)  # Sonnet's float64 init needs eager.
    run = tf.function(record_lib.record, autograph=False)
  rec = run(core, x)
  outputs, states = _states_after_every_step(core, x)
  access = states.access_state
  np.testing.assert_allclose(rec.write_weights[0], access.write_weights,
                             rtol=0, atol=1e-12)
  np.testing.assert_allclose(rec.read_weights[0], access.read_weights,
                             rtol=0, atol=1e-12)
  np.testing.assert_allclose(rec.usage[0], access.usage, rtol=0, atol=1e-12)
  # The whole sequence's outputs (the copy of length T) and final state.
  np.testing.assert_allclose(rec.outputs[0], outputs[-1], rtol=0, atol=1e-12)
  for got, want in zip(tf.nest.flatten(rec.final_state),
                       tf.nest.flatten(states)):
    np.testing.assert_allclose(got[0], want[-1], rtol=0, atol=1e-12)
  if model == 'dam':
    np.testing.assert_allclose(rec.attentive_gate[0], access.attentive_gate,
                               rtol=0, atol=1e-12)
    assert rec.read_mode is None
  else:
    assert rec.attentive_gate is None


@pytest.mark.parametrize('model', ['dam', 'dnc'])
def test_recorded_gates_are_the_controllers(model):
  core = _core(model)
  x = _inputs()
  rec = record_lib.record(core, x)
  state = core.initial_state(1)
  for t in range(T):
    controller = core.control(x[:, t], state)
    _, state = core(x[:, t], state)
    for name in ('write_gate', 'allocation_gate', 'free_gates'):
      np.testing.assert_allclose(getattr(rec, name)[0, t],
                                 controller.interface[name][0],
                                 rtol=0, atol=1e-12)
    if model == 'dnc':
      np.testing.assert_allclose(rec.read_mode[0, t],
                                 controller.interface['read_mode'][0, 0],
                                 rtol=0, atol=1e-12)


@pytest.mark.parametrize('model', ['dam', 'dnc'])
def test_recorded_invariants(model):
  rec = record_lib.record(_core(model), _inputs())
  ww = rec.write_weights.numpy()  # [1, T, K, Wh, N]
  # ww = g^w (g^a a + (1 - g^a) c), a and c sum to <= 1 over slots.
  assert np.all(ww >= 0)
  assert np.all(ww.sum(-1) <= rec.write_gate.numpy() + 1e-12)
  assert np.all((rec.usage.numpy() >= 0) & (rec.usage.numpy() <= 1 + 1e-12))
  reads = rec.read_weights.numpy().sum(-1)  # [1, T, K, R]
  if model == 'dam':
    gate = rec.attentive_gate.numpy()
    np.testing.assert_allclose(gate.sum(2), 1., atol=1e-12)
    # wr_k = g_k c_k with c_k a softmax over slots: sums to g_k.
    np.testing.assert_allclose(reads, gate, atol=1e-12)
  else:
    np.testing.assert_allclose(rec.read_mode.numpy().sum(-1), 1., atol=1e-12)
    assert np.all(reads <= 1 + 1e-12)


def test_padding_zeroes_steps_past_the_end_and_freezes_the_state():
  core = _core('dam')
  x = _inputs(batch=2)
  rec = record_lib.record(core, x, [T, 4])
  alone = record_lib.record(core, x[1:, :4])
  for name in ('outputs', 'write_weights', 'read_weights', 'usage',
               'write_gate', 'attentive_gate'):
    value = getattr(rec, name).numpy()
    assert not value[1, 4:].any(), name
    np.testing.assert_allclose(value[1, :4], getattr(alone, name)[0],
                               rtol=0, atol=1e-12)
  for got, want in zip(tf.nest.flatten(rec.final_state),
                       tf.nest.flatten(alone.final_state)):
    np.testing.assert_allclose(got[1], want[0], rtol=0, atol=1e-12)


def test_record_model_embeds_tokens_and_recording_of_cuts_one_example():
  core = dam.DNC(output_size=9, hidden_size=8, memory_size=5, word_size=3,
                 num_reads=1, num_writes=1)
  model = SequenceModel(core, vocab_size=9, embedding_size=4)
  tokens = tf.constant([[1, 4, 2, 8, 0], [3, 3, 5, 0, 0]])
  rec = record_lib.record_model(model, tokens, [4, 3])
  np.testing.assert_allclose(rec.outputs[:, :4],
                             model(tokens, [4, 3])[:, :4] *
                             np.array([[1.], [1.]])[:, :, None] *
                             (np.arange(4) < np.array([[4], [3]]))[..., None],
                             rtol=0, atol=1e-6)
  one = record_lib.recording_of(rec, 1, 3)
  assert one['write_weights'].shape == (3, 1, 1, 5)
  assert one['read_mode'].shape == (3, 1, 3)
  assert one['attentive_gate'] is None
  assert one['link'].shape == (1, 1, 5, 5)
  assert one['memory'].shape == (1, 5, 3)
  np.testing.assert_array_equal(one['usage'], rec.usage.numpy()[1, :3])


def test_record_refuses_wrong_rank():
  with pytest.raises(ValueError, match=r'\[batch, time, features\]'):
    record_lib.record(_core('dam'), tf.zeros([T, 3], tf.float64))
