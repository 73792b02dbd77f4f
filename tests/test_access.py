"""Tests of the DAM and DNC access modules (dam/access.py).

One access step is a write (`WriteResult`) then a read (`ReadResult`);
the DAM's interface and reads follow Park et al. 2021, Sec. 3, the DNC's
Graves et al. 2016, Methods.
"""

import numpy as np
import pytest
import tensorflow as tf

from dam import access as access_lib
from dam import addressing


def _sigmoid(x):
  return 1. / (1. + np.exp(-x))


def _run(access, controller_outputs, batch):
  state = access.initial_state(batch)
  states, reads = [], []
  for x in controller_outputs:
    r, state = access(x, state)
    states.append(state)
    reads.append(r)
  return reads, states


def test_interface_sizes_match_the_papers():
  # DAM (Park et al. 2021, Sec. 3; the authors' code), per block with one
  # write head: write vector, erase vector and write key (3W); allocation
  # gate, write gate and write strength (3); read keys (RW); free gates, read
  # strengths and attentive gate logits (3R). In all K (3W + 3 + RW + 3R).
  k, n, w, r = 2, 64, 36, 1
  dam_access = access_lib.DAMAccess(n, w, r, 1, k)
  assert dam_access.interface_size == k * (3 * w + 3 + r * w + 3 * r) == 300
  k, w, r = 2, 48, 4
  dam_access = access_lib.DAMAccess(128, w, r, 1, k)
  assert dam_access.interface_size == 702
  # DNC: write vectors, erase, keys (3 Wh W), read keys R W, free gates and
  # read strengths (2R), allocation/write gates and write strengths (3 Wh),
  # read modes R (1 + 2 Wh).
  wh, r, w = 2, 3, 5
  dnc_access = access_lib.DNCAccess(7, w, r, wh)
  assert dnc_access.interface_size == (3 * wh * w + r * w + 2 * r + 3 * wh +
                                       r * (1 + 2 * wh))


def test_dam_interface_slices_in_the_authors_order():
  k, w, r = 2, 3, 2
  module = access_lib.DAMAccess(memory_size=4, word_size=w, num_reads=r,
                                num_writes=1, num_blocks=k)
  v = np.arange(module.interface_size, dtype=np.float32)[None] / 100.
  parsed = module.parse_interface(tf.constant(v))
  v = v[0]
  # Slices in order: write vectors [K, W], erase [K, W], free gates [K, R],
  # allocation gate [K], write gate [K], write keys [K, W], write strengths
  # [K], read keys [K, R, W], read strengths [K, R], gate logits [K, R].
  sizes = [k * w, k * w, k * r, k, k, k * w, k, k * r * w, k * r, k * r]
  bounds = np.cumsum([0] + sizes)
  sl = [v[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
  np.testing.assert_allclose(parsed['write_vectors'][0], sl[0].reshape(k, 1, w))
  np.testing.assert_allclose(parsed['erase_vectors'][0],
                             _sigmoid(sl[1]).reshape(k, 1, w), rtol=1e-6)
  np.testing.assert_allclose(parsed['free_gates'][0],
                             _sigmoid(sl[2]).reshape(k, r), rtol=1e-6)
  np.testing.assert_allclose(parsed['allocation_gate'][0],
                             _sigmoid(sl[3]).reshape(k, 1), rtol=1e-6)
  np.testing.assert_allclose(parsed['write_gate'][0],
                             _sigmoid(sl[4]).reshape(k, 1), rtol=1e-6)
  np.testing.assert_allclose(parsed['write_keys'][0], sl[5].reshape(k, 1, w))
  np.testing.assert_allclose(parsed['write_strengths'][0], sl[6].reshape(k, 1))
  np.testing.assert_allclose(parsed['read_keys'][0], sl[7].reshape(k, r, w))
  np.testing.assert_allclose(parsed['read_strengths'][0], sl[8].reshape(k, r))
  logits = sl[9].reshape(k, r)
  gate = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
  np.testing.assert_allclose(parsed['attentive_gate'][0], gate, rtol=1e-6)


def test_dam_access_invariants():
  tf.random.set_seed(0)
  batch, k, n, w, r = 3, 3, 5, 4, 2
  module = access_lib.DAMAccess(n, w, r, 1, k)
  xs = [tf.random.normal([batch, 8], stddev=2.) for _ in range(6)]
  reads, states = _run(module, xs, batch)
  for read_words, state in zip(reads, states):
    gate = state.attentive_gate.numpy()
    np.testing.assert_allclose(gate.sum(axis=1), 1., rtol=1e-6)
    rw = state.read_weights.numpy()  # [B, K, R, N]
    # Per block, a head's gated weights sum to its gate; over blocks to 1.
    np.testing.assert_allclose(rw.sum(-1), gate, rtol=1e-5)
    np.testing.assert_allclose(rw.sum(axis=(1, 3)), 1., rtol=1e-5)
    assert (state.write_weights.numpy().sum(-1) <= 1. + 1e-6).all()
    usage = state.usage.numpy()
    assert (usage >= 0.).all() and (usage <= 1. + 1e-6).all()
    # Read words: r_i = sum_k wr_{k,i} @ M_k.
    expected = np.einsum('bkrn,bknw->brw', rw, state.memory.numpy())
    np.testing.assert_allclose(read_words, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kernel', ['fast', 'paper'])
def test_dam_with_one_block_equals_dnc_access_without_links(kernel):
  """K = 1 DAM (gate = 1) == DNC reading by content only, same interface."""
  rng = np.random.default_rng(1)
  batch, n, w, r, wh = 2, 6, 4, 2, 1
  dam_access = access_lib.DAMAccess(n, w, r, wh, num_blocks=1, kernel=kernel)
  dnc_access = access_lib.DNCAccess(n, w, r, wh, kernel=kernel)
  dam_state = dam_access.initial_state(batch, tf.float64)
  dnc_state = dnc_access.initial_state(batch, tf.float64)
  for _ in range(5):
    dam_interface = dam_access.parse_interface(
        tf.constant(rng.normal(size=[batch, dam_access.interface_size]) * 2.))
    dnc_interface = {name: value for name, value in dam_interface.items()
                     if name != 'attentive_gate'}
    content_only = np.zeros([batch, 1, r, 1 + 2 * wh])
    content_only[..., -1] = 1.
    dnc_interface['read_mode'] = tf.constant(content_only)
    dam_reads, dam_state = dam_access.step(dam_interface, dam_state)
    dnc_reads, dnc_state = dnc_access.step(dnc_interface, dnc_state)
    np.testing.assert_allclose(dam_state.attentive_gate, 1.)
    np.testing.assert_allclose(dam_reads, dnc_reads, rtol=1e-12, atol=1e-12)
    for field in ('memory', 'read_weights', 'write_weights', 'usage'):
      np.testing.assert_allclose(getattr(dam_state, field),
                                 getattr(dnc_state, field), rtol=1e-12,
                                 atol=1e-12, err_msg=field)


def test_dnc_access_link_invariants_and_read_modes():
  tf.random.set_seed(2)
  batch, n, w, r, wh = 2, 5, 3, 2, 2
  module = access_lib.DNCAccess(n, w, r, wh)
  xs = [tf.random.normal([batch, 6], stddev=2.) for _ in range(6)]
  _, states = _run(module, xs, batch)
  for state in states:
    link = state.linkage.link.numpy()  # [B, 1, Wh, N, N]
    np.testing.assert_array_equal(np.diagonal(link, axis1=-2, axis2=-1), 0.)
    assert (link >= 0.).all()
    assert (link.sum(-1) <= 1. + 1e-6).all()
    assert (link.sum(-2) <= 1. + 1e-6).all()
    assert (state.read_weights.numpy().sum(-1) <= 1. + 1e-6).all()
    assert (state.write_weights.numpy().sum(-1) <= 1. + 1e-6).all()


def test_dnc_read_modes_follow_the_write_order():
  """Three allocation writes to distinct slots s0, s1, s2; then a head on s0
  reading in forward mode lands on s1, one on s2 reading backward on s1."""
  batch, n, w, r, wh = 1, 4, 3, 1, 1
  module = access_lib.DNCAccess(n, w, r, wh)
  state = module.initial_state(batch, tf.float64)

  def interface(read_mode, write_gate=1.):
    return {
        'write_vectors': tf.ones([batch, 1, wh, w], tf.float64),
        'erase_vectors': tf.zeros([batch, 1, wh, w], tf.float64),
        'free_gates': tf.zeros([batch, 1, r], tf.float64),
        'allocation_gate': tf.ones([batch, 1, wh], tf.float64),
        'write_gate': tf.fill([batch, 1, wh], tf.constant(write_gate,
                                                          tf.float64)),
        'read_mode': tf.constant(read_mode, tf.float64)[None, None, None],
        'write_keys': tf.zeros([batch, 1, wh, w], tf.float64),
        'write_strengths': tf.zeros([batch, 1, wh], tf.float64),
        'read_keys': tf.ones([batch, 1, r, w], tf.float64),
        'read_strengths': tf.zeros([batch, 1, r], tf.float64),
    }

  order = []
  for _ in range(3):
    _, state = module.step(interface([0., 0., 1.]), state)
    written = state.write_weights.numpy()[0, 0, 0]
    assert written.max() > 0.999
    order.append(int(written.argmax()))
  assert len(set(order)) == 3, order

  def read_from(slot, mode):
    one_hot = np.zeros([1, 1, 1, n])
    one_hot[..., slot] = 1.
    _, new_state = module.step(interface(mode, write_gate=0.),
                               state._replace(read_weights=tf.constant(
                                   one_hot)))
    return new_state.read_weights.numpy()[0, 0, 0]

  forward, backward = [0., 1., 0.], [1., 0., 0.]  # (backward, forward, content)
  np.testing.assert_allclose(read_from(order[0], forward),
                             np.eye(n)[order[1]], atol=1e-5)
  np.testing.assert_allclose(read_from(order[2], backward),
                             np.eye(n)[order[1]], atol=1e-5)
  # Nothing was written after the last write: forward from it reads ~nothing.
  assert read_from(order[2], forward).sum() < 1e-5


@pytest.mark.parametrize('kwargs', [dict(num_blocks=0), dict(word_size=-1),
                                    dict(num_reads=1.5)])
def test_bad_configuration_is_reported(kwargs):
  config = dict(memory_size=4, word_size=3, num_reads=1, num_writes=1,
                num_blocks=2)
  config.update(kwargs)
  name = next(iter(kwargs))
  with pytest.raises(ValueError, match=name):
    access_lib.DAMAccess(**config)


def test_initial_state_with_tensor_batch_size():
  module = access_lib.DAMAccess(5, 4, 2, 1, 3)
  state = module.initial_state(tf.constant(7))
  assert state.memory.shape == (7, 3, 5, 4)
  assert state.read_weights.shape == (7, 3, 2, 5)
  assert isinstance(state.memory, tf.Tensor)
  assert addressing.EPSILON == 1e-6


# -- one step: write, then read ------------------------------------------------


def _interface(module, rng, batch):
  return module.parse_interface(tf.constant(
      rng.normal(size=[batch, module.interface_size]) * 2.))


def _warm(module, rng, batch, steps=3):
  state = module.initial_state(batch, tf.float64)
  for _ in range(steps):
    _, state = module.step(_interface(module, rng, batch), state)
  return state


@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_step_is_write_then_read_with_named_results(use_dam):
  rng = np.random.default_rng(3)
  batch, n, w, r = 2, 5, 3, 2
  if use_dam:
    module = access_lib.DAMAccess(n, w, r, 1, num_blocks=3)
  else:
    module = access_lib.DNCAccess(n, w, r, 2)
  k, wh = module.num_blocks, module.num_writes
  prev = _warm(module, rng, batch)
  interface = _interface(module, rng, batch)
  written = module.write(interface, prev)
  assert isinstance(written, access_lib.WriteResult)
  assert written.memory.shape == (batch, k, n, w)
  assert written.write_weights.shape == (batch, k, wh, n)
  assert written.usage.shape == (batch, k, n)
  # `write` is `write_memory` then `write_links`.
  memory_only = module.write_memory(interface, prev)
  assert memory_only.linkage == ()
  for a, b in zip(tf.nest.flatten(module.write_links(memory_only, prev)),
                  tf.nest.flatten(written)):
    np.testing.assert_array_equal(a, b)
  kernel = access_lib.addressing_kernel(module.kernel)
  if use_dam:
    assert written.linkage == ()
  else:  # The link update is on the write side, from ww_t.
    expected = kernel.update_linkage(prev.linkage, written.write_weights)
    for a, b in zip(written.linkage, expected):
      np.testing.assert_array_equal(a, b)
  read = module.read(interface, written, prev.read_weights)
  assert isinstance(read, access_lib.ReadResult)
  assert read.words.shape == (batch, r, w)
  assert read.weights.shape == (batch, k, r, n)
  # Reads only read: r = sum_k wr_k M_k on the memory just written.
  np.testing.assert_allclose(
      read.words, np.einsum('bkrn,bknw->brw', read.weights, written.memory),
      rtol=1e-12)
  state = module.state(written, read)
  words, stepped = module.step(interface, prev)
  np.testing.assert_array_equal(words, read.words)
  for a, b in zip(tf.nest.flatten(stepped), tf.nest.flatten(state)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(state.memory, written.memory)
  np.testing.assert_array_equal(state.read_weights, read.weights)
  if use_dam:
    np.testing.assert_array_equal(state.attentive_gate, read.attentive_gate)
  else:
    assert read.attentive_gate == ()


def test_handover_keeps_what_the_rest_of_the_step_reads():
  dam_state = access_lib.DAMAccess(4, 3, 2, 1, 2).initial_state(2)
  dnc_state = access_lib.DNCAccess(4, 3, 2, 1).initial_state(2)
  dam_handover = access_lib.DAMAccess(4, 3, 2, 1, 2).handover(dam_state)
  dnc_handover = access_lib.DNCAccess(4, 3, 2, 1).handover(dnc_state)
  assert dam_handover.read_weights is dam_state.read_weights
  assert dam_handover.memory == dam_handover.attentive_gate == ()
  assert dnc_handover.read_weights is dnc_state.read_weights
  assert dnc_handover.memory == dnc_handover.usage == ()
  assert dnc_handover.linkage == ()  # the link update runs with the write


@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_read_interface_is_what_the_read_uses(use_dam):
  rng = np.random.default_rng(5)
  if use_dam:
    module = access_lib.DAMAccess(5, 3, 2, 1, num_blocks=2)
    expected = {'read_keys', 'read_strengths', 'attentive_gate'}
  else:
    module = access_lib.DNCAccess(5, 3, 2, 1)
    expected = {'read_keys', 'read_strengths', 'read_mode'}
  prev = _warm(module, rng, 2)
  interface = _interface(module, rng, 2)
  read_side = module.read_interface(interface)
  assert set(read_side) == expected
  assert all(read_side[name] is interface[name] for name in expected)
  written = module.write(interface, prev)
  # The read from the read side alone is the read from the whole interface
  # (a missing field would raise a KeyError).
  for a, b in zip(
      tf.nest.flatten(module.read(read_side, written, prev.read_weights)),
      tf.nest.flatten(module.read(interface, written, prev.read_weights))):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_paper_kernel_access_equals_fast_kernel_access(use_dam):
  rng = np.random.default_rng(4)
  modules = []
  for kernel in ('fast', 'paper'):
    if use_dam:
      modules.append(access_lib.DAMAccess(5, 3, 2, 2, num_blocks=2,
                                          kernel=kernel))
    else:
      modules.append(access_lib.DNCAccess(5, 3, 2, 2, kernel=kernel))
  fast, paper = modules
  assert (fast.kernel, paper.kernel) == ('fast', 'paper')
  states = [m.initial_state(2, tf.float64) for m in modules]
  for _ in range(5):
    vector = tf.constant(rng.normal(size=[2, fast.interface_size]) * 2.)
    results = [m.step(m.parse_interface(vector), s)
               for m, s in zip(modules, states)]
    states = [state for _, state in results]
    for a, b in zip(tf.nest.flatten(results[0]), tf.nest.flatten(results[1])):
      np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
