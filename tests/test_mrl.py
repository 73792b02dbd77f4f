"""Tests of the Memory Refreshing Loss masks (dam/mrl.py); NumPy only."""

import math

import numpy as np
import pytest

from dam import mrl


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


@pytest.mark.parametrize('p_re', [-0.1, 1.5, float('nan'), 'a', None, True])
def test_bad_p_re_is_rejected(p_re):
  with pytest.raises(ValueError, match='p_re'):
    mrl.sample_refresh_mask(np.ones([2, 2]), p_re, np.random.default_rng(0))


def test_bad_p_re_message_names_the_range():
  with pytest.raises(ValueError, match=r'\[0, 1\]'):
    mrl.check_p_re(2.)


def test_answer_weight():
  original = np.zeros([2, 10], np.float32)
  original[:, 7:] = 1.  # 6 answer steps
  refresh = np.zeros_like(original)
  assert mrl.answer_weight(refresh, original) == 1.
  refresh[:, :3] = 1.  # 6 refreshed: ratio 1
  assert mrl.answer_weight(refresh, original) == 1.
  refresh[:, :6] = 1.  # 12 refreshed: ratio 2
  assert mrl.answer_weight(refresh, original) == 2.
  refresh[0, 6] = 1.  # 13 / 6
  assert math.isclose(mrl.answer_weight(refresh, original), 13 / 6)


def test_answer_weight_without_answers_is_one():
  assert mrl.answer_weight(np.ones([3, 4]), np.zeros([3, 4])) == 1.


def test_loss_mask_values():
  original = np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 0, 0]], np.float32)
  refresh = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], np.float32)
  mask, alpha = mrl.loss_mask(refresh, original)
  assert alpha == 7 / 3
  assert mask.dtype == np.float32
  np.testing.assert_array_equal(mask, refresh + np.float32(7 / 3) * original)
  np.testing.assert_array_equal(mask[original == 1], np.float32(7 / 3))
  np.testing.assert_array_equal(mask[original == 0], refresh[original == 0])


def test_p_re_0_gives_the_plain_task_loss():
  rng = np.random.default_rng(0)
  original = (rng.random([8, 20]) < 0.3).astype(np.float32)
  refresh = mrl.sample_refresh_mask(original == 0, 0., rng)
  mask, alpha = mrl.loss_mask(refresh, original)
  assert alpha == 1.
  np.testing.assert_array_equal(mask, original)


def test_loss_mask_rejects_overlap_and_shape_mismatch():
  with pytest.raises(ValueError, match='overlap'):
    mrl.loss_mask(np.ones([2, 3]), np.eye(2, 3))
  with pytest.raises(ValueError, match='shape'):
    mrl.loss_mask(np.zeros([2, 3]), np.zeros([3, 2]))


def test_answer_weight_without_floor_arrays_and_tensors_agree():
  # 1 refresh step, 3 answers: the bare ratio 1/3 (the authors' bAbI rule),
  # floored to 1 by default.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  refresh, answers = np.array([1., 0., 0., 0.]), np.array([0., 1., 1., 1.])
  assert mrl.answer_weight(refresh, answers, floor=False) == 1. / 3.
  assert mrl.answer_weight(refresh, answers) == 1.
  assert float(mrl.answer_weight(tf.constant(refresh), tf.constant(answers),
                                 floor=False)) == pytest.approx(1. / 3.)
  assert float(mrl.answer_weight(tf.constant(refresh),
                                 tf.constant(answers))) == 1.
