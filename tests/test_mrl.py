"""Tests of the Memory Refreshing Loss (dam/mrl.py): the NumPy sampling and
the in-graph answer weight, step weights and the two loss forms, against
hand-worked values, eagerly and in a tf.function."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dam import mrl

# -- sampling (NumPy) ----------------------------------------------------------


def test_refresh_mask_shape_dtype_and_only_on_eligible_steps():
  rng = np.random.default_rng(0)
  eligible = rng.random([64, 50]) < 0.4
  mask = mrl.sample_refresh_mask(eligible, 0.5, np.random.default_rng(1))
  assert mask.shape == eligible.shape and mask.dtype == np.float32
  assert set(np.unique(mask)) <= {0., 1.}
  assert not np.any(mask[~eligible])
  assert np.any(mask[eligible])


def test_refresh_mask_accepts_0_1_arrays_of_any_shape():
  eligible = np.ones([3, 4, 5], np.int32)
  mask = mrl.sample_refresh_mask(eligible, 1.0, np.random.default_rng(0))
  np.testing.assert_array_equal(mask, np.ones([3, 4, 5], np.float32))


@pytest.mark.parametrize('p_re', [0.1, 0.3, 0.9])
def test_refresh_fraction_is_close_to_p_re(p_re):
  eligible = np.ones([1000, 200], bool)
  eligible[:, ::2] = False  # 100k eligible steps
  mask = mrl.sample_refresh_mask(eligible, p_re, np.random.default_rng(2))
  assert abs(mask[eligible].mean() - p_re) < 0.01


def test_p_re_0_and_1_are_exact():
  eligible = np.random.default_rng(3).random([32, 40]) < 0.5
  zero = mrl.sample_refresh_mask(eligible, 0., np.random.default_rng(0))
  one = mrl.sample_refresh_mask(eligible, 1., np.random.default_rng(0))
  assert not zero.any()
  np.testing.assert_array_equal(one, eligible.astype(np.float32))


def test_randomness_consumed_does_not_depend_on_p_re_or_eligibility():
  states = set()
  for p_re, density in [(0., 0.), (0.1, 0.5), (1., 1.)]:
    rng = np.random.default_rng(7)
    eligible = np.random.default_rng(8).random([16, 30]) < density
    mrl.sample_refresh_mask(eligible, p_re, rng)
    states.add(float(rng.random()))
  assert len(states) == 1


def test_sampling_draws_exactly_one_uniform_per_element_in_order():
  # The data streams depend on it: the mask is `rng.random(shape) < p_re`.
  eligible = np.ones([5, 7], bool)
  mask = mrl.sample_refresh_mask(eligible, 0.4, np.random.default_rng(11))
  draws = np.random.default_rng(11).random([5, 7])
  np.testing.assert_array_equal(mask, (draws < 0.4).astype(np.float32))


@pytest.mark.parametrize('p_re', [-0.1, 1.5, float('nan'), 'a', None, True])
def test_bad_p_re_is_rejected(p_re):
  with pytest.raises(ValueError, match='p_re'):
    mrl.sample_refresh_mask(np.ones([2, 2]), p_re, np.random.default_rng(0))


def test_bad_p_re_message_names_the_range():
  with pytest.raises(ValueError, match=r'\[0, 1\]'):
    mrl.check_p_re(2.)


# -- in graph: eager and tf.function -------------------------------------------

# Both modes of every in-graph function: called directly, and in a traced
# tf.function with a free time axis (as the compiled training step).
MODES = ['eager', 'function']


def _call(mode, fn, *args):
  if mode == 'eager':
    return fn(*args)
  return tf.function(fn)(*args)


@pytest.mark.parametrize('mode', MODES)
def test_answer_weight_floor(mode):
  answers = np.zeros([2, 10], np.float32)
  answers[:, 7:] = 1.  # 6 answer steps
  refresh = np.zeros_like(answers)

  def alpha(r):
    out = _call(mode, mrl.answer_weight, tf.constant(r), tf.constant(answers))
    assert out.dtype == tf.float32 and out.shape == ()
    return float(out)

  assert alpha(refresh) == 1.  # nothing sampled: max(1, 0)
  refresh[:, :3] = 1.  # 6 refreshed: ratio 1
  assert alpha(refresh) == 1.
  refresh[:, :6] = 1.  # 12 refreshed: ratio 2
  assert alpha(refresh) == 2.
  refresh[0, 6] = 1.  # 13 / 6
  assert alpha(refresh) == np.float32(13 / 6)
  refresh[:] = 0.
  refresh[0, 0] = 1.  # 1 / 6 is floored to 1
  assert alpha(refresh) == 1.


@pytest.mark.parametrize('mode', MODES)
def test_answer_weight_without_floor_is_the_bare_ratio(mode):
  # 1 refresh step, 3 answers: the bare ratio 1/3 (the authors' bAbI rule).
  refresh = tf.constant([1., 0., 0., 0.])
  answers = tf.constant([0., 1., 1., 1.])
  bare = _call(mode, lambda r, a: mrl.answer_weight(r, a, floor=False),
               refresh, answers)
  assert float(bare) == np.float32(1. / 3.)
  assert float(_call(mode, mrl.answer_weight, refresh, answers)) == 1.


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('floor', [True, False])
def test_answer_weight_without_answers_is_one(mode, floor):
  out = _call(mode, lambda r, a: mrl.answer_weight(r, a, floor=floor),
              tf.ones([3, 4]), tf.zeros([3, 4]))
  assert float(out) == 1.


@pytest.mark.parametrize('mode', MODES)
def test_authors_babi_answer_weight(mode):
  refresh = tf.constant([[1., 1., 0., 1.]])  # the answer step 3 sampled too
  answers = tf.constant([[0., 0., 1., 1.]])
  # Sampled answer steps count: 3 / 2, no floor.
  out = _call(mode, lambda r, a: mrl.authors_babi_answer_weight(r, a, 0.3),
              refresh, answers)
  assert float(out) == 1.5
  below = _call(mode,
                lambda r, a: mrl.authors_babi_answer_weight(r, a, 0.3),
                tf.constant([[1., 0., 0., 0.]]), answers)
  assert float(below) == 0.5  # no max(1, .) floor
  # p_re = 0: their `if self.p_re:` skipped the MRL, alpha = 1.
  off = _call(mode, lambda r, a: mrl.authors_babi_answer_weight(r, a, 0.),
              tf.zeros([1, 4]), answers)
  assert float(off) == 1.
  # Nothing sampled (an evaluation batch): 1, the plain answer loss.
  empty = _call(mode,
                lambda r, a: mrl.authors_babi_answer_weight(r, a, 0.3),
                tf.zeros([1, 4]), answers)
  assert float(empty) == 1.
  # No answer step: 1, as the floored rule.
  none = _call(mode,
               lambda r, a: mrl.authors_babi_answer_weight(r, a, 0.3),
               refresh, tf.zeros([1, 4]))
  assert float(none) == 1.


@pytest.mark.parametrize('mode', MODES)
def test_step_weights(mode):
  refresh = np.array([[1, 1, 0, 0, 0], [1, 0, 0, 1, 0]], np.float32)
  answers = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], np.float32)
  alpha = tf.constant(7. / 3.)
  weights = _call(mode, mrl.step_weights, tf.constant(refresh),
                  tf.constant(answers), alpha).numpy()
  a = np.float32(7. / 3.)
  np.testing.assert_array_equal(weights, [[1, 1, 0, a, a], [1, 0, 0, 1, a]])
  # A sampled answer step (the authors' bAbI loader) is trained as an answer.
  refresh[0, 3] = 1.
  weights = _call(mode, lambda r, q, s: mrl.step_weights(r, q, s,
                                                         overlap=True),
                  tf.constant(refresh), tf.constant(answers), alpha).numpy()
  np.testing.assert_array_equal(weights, [[1, 1, 0, a, a], [1, 0, 0, 1, a]])


@pytest.mark.parametrize('mode', MODES)
def test_single_output_loss_hand_worked(mode):
  # B = 2, T = max(seq_len) = 3 (the arrays are padded to 5 steps, which
  # must not change the mean); 3 refresh steps, 2 answers: alpha = 3 / 2.
  per_step = np.array([[1., 2., 3., 4., 0.], [5., 6., 7., 0., 0.]],
                      np.float32)
  refresh = np.array([[1., 1., 0., 0., 0.], [1., 0., 0., 0., 0.]],
                     np.float32)
  answers = np.array([[0., 0., 1., 0., 0.], [0., 0., 1., 0., 0.]],
                     np.float32)
  seq_len = np.array([3, 3], np.int32)

  def loss(p, r, a, s):
    return mrl.single_output_loss(p, r, a, s, mrl.answer_weight(r, a))

  out = _call(mode, loss, *map(tf.constant, (per_step, refresh, answers,
                                             seq_len)))
  expected = (1. + 2. + 5. + 1.5 * (3. + 7.)) / (2 * 3)
  assert float(out) == np.float32(expected)
  # p_re = 0 (nothing sampled): alpha = 1, the plain answer loss.
  plain = _call(mode, loss, *map(tf.constant, (per_step, 0. * refresh,
                                               answers, seq_len)))
  assert float(plain) == np.float32((3. + 7.) / 6.)


@pytest.mark.parametrize('mode', MODES)
def test_two_head_loss_hand_worked(mode):
  # B = 1, T = 4, D = 2; steps 1 and 3 sampled, step 3 also answers (both
  # terms count it); 2 refreshed / 1 answer: alpha = 2.
  answer_loss = np.array([[9., 9., 9., 0.5]], np.float32)
  error = np.array([[8., 4., 8., 2.]], np.float32)
  refresh = np.array([[0., 1., 0., 1.]], np.float32)
  answers = np.array([[0., 0., 0., 1.]], np.float32)
  out = _call(mode, lambda *a: mrl.two_head_loss(*a, 2),
              *map(tf.constant, (answer_loss, error, refresh, answers,
                                 np.array([4], np.int32))))
  loss, mrl_term, alpha = (float(x) for x in out)
  assert alpha == 2.
  assert mrl_term == (4. + 2.) / (1 * 4 * 2)
  assert loss == 2. * 0.5 / 4 + mrl_term
  # Fewer refreshed steps than answers: alpha is floored at 1.
  out = _call(mode, lambda *a: mrl.two_head_loss(*a, 2),
              *map(tf.constant, (answer_loss, error, 0. * refresh, answers,
                                 np.array([4], np.int32))))
  assert [float(x) for x in out] == [0.5 / 4, 0., 1.]


def test_alpha_in_graph_equals_the_float64_ratio_rounded():
  # The NumPy pipeline used to compute alpha in float64 and round it; the
  # in-graph float32 division of the exact integer counts gives the same.
  rng = np.random.default_rng(5)
  for _ in range(200):
    refreshed, answers = rng.integers(1, 5000, size=2)
    refresh = np.zeros([int(refreshed)], np.float32) + 1.
    answer = np.zeros([int(answers)], np.float32) + 1.
    got = mrl.answer_weight(tf.constant(np.pad(refresh, (0, answers))),
                            tf.constant(np.pad(answer, (refreshed, 0))))
    assert got.numpy() == np.float32(max(1., refreshed / answers))
    assert math.isfinite(float(got))
