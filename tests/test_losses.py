"""Known answers of the SPEC 5 loss (reconstruction MRL head + softmax)."""

import numpy as np
import pytest
import tensorflow as tf

from dam import losses
from dam import mrl


def _case():
  # B = 2, T = 2, D = 1 reconstructed channel, C = 2 classes; step 1 answers.
  logits = np.array([[[0.5, 0., 0.], [1., 2., 0.]],
                     [[0., 0., 0.], [0., 0., 3.]]], np.float32)
  targets = np.array([[[1., 0., 0.], [0., 1., 0.]],
                      [[0., 0., 0.], [0., 1., 0.]]], np.float32)
  # Example 0 refreshes both steps (the answer step too, as Nth Farthest may).
  loss_mask = np.array([[1., 1.], [0., 0.]], np.float32)
  original_mask = np.array([[0., 1.], [0., 1.]], np.float32)
  return logits, targets, loss_mask, original_mask, np.array([2, 2], np.int32)


def test_mrl_softmax_loss_known_answer():
  out = losses.mrl_softmax_loss(*map(tf.constant, _case()),
                                reconstruction_size=1)
  ce0 = np.log1p(np.exp(-2.))  # softmax([2, 0]) at class 0: right
  ce1 = np.log1p(np.exp(3.))  # softmax([0, 3]) at class 0: wrong
  scale = max(1., 2. / 2.)  # 2 refreshed steps, 2 answers
  mse = ((1. - .5) ** 2 + (0. - 1.) ** 2) / (2 * 2 * 1)  # mean over B, T, D
  np.testing.assert_allclose(out['loss'], scale * (ce0 + ce1) / 4 + mse,
                             rtol=1e-6)
  np.testing.assert_allclose(out['mrl_loss'], mse, rtol=1e-6)
  np.testing.assert_allclose(out['task_loss'], (ce0 + ce1) / 2, rtol=1e-6)
  np.testing.assert_allclose(out['scale'], 1.)
  np.testing.assert_allclose(out['answer_accuracy'], .5)
  np.testing.assert_allclose(out['sequence_accuracy'], .5)


def test_mrl_softmax_loss_scale_grows_with_refreshed_steps():
  logits, targets, loss_mask, original_mask, seq_len = _case()
  loss_mask[1] = 1.  # 4 refreshed steps for 2 answers: s = 2
  out = losses.mrl_softmax_loss(logits, targets, loss_mask, original_mask,
                                seq_len, reconstruction_size=1)
  np.testing.assert_allclose(out['scale'], 2.)
  ce = np.log1p(np.exp(-2.)) + np.log1p(np.exp(3.))
  mse = (.25 + 1. + 0. + 0.) / 4  # example 1's reconstruction is exact
  np.testing.assert_allclose(out['loss'], 2. * ce / 4 + mse, rtol=1e-6)


def test_time_padding_leaves_the_softmax_loss_unchanged():
  case = _case()
  padded = [np.pad(x, [(0, 0), (0, 3)] + [(0, 0)] * (x.ndim - 2))
            if x.ndim >= 2 else x for x in case]
  plain = losses.mrl_softmax_loss(*case, reconstruction_size=1)
  longer = losses.mrl_softmax_loss(*padded, reconstruction_size=1)
  for key in plain:
    np.testing.assert_allclose(plain[key], longer[key], rtol=1e-6,
                               err_msg=key)


@pytest.mark.parametrize('refresh,answers', [
    ([[1., 1., 1.], [0., 1., 0.]], [[0., 0., 1.], [0., 0., 1.]]),
    ([[0., 0., 0.]], [[0., 0., 1.]]),
    ([[1., 1., 0.]], [[0., 0., 0.]]),
])
def test_answer_weight_same_for_arrays_and_tensors(refresh, answers):
  refresh = np.array(refresh, np.float32)
  answers = np.array(answers, np.float32)
  expected = mrl.answer_weight(refresh, answers)
  got = mrl.answer_weight(tf.constant(refresh), tf.constant(answers))
  assert tf.is_tensor(got)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
