"""Known answers of the per-step losses and metrics (dam/losses.py), as the
tasks compose them with the MRL (`task.loss`): sigmoid bits (Copy), the
reconstruction + class heads (Nth Farthest / Convex Hull) and tokens (bAbI).
"""

import numpy as np
import pytest
import tensorflow as tf

from dam import losses
from tasks import base
from tasks import babi
from tasks import copy as copy_task
from tasks import two_head

LN2 = np.log(2.)


def _tensors(batch):
  return base.Batch(*map(tf.constant, batch))


# -- sigmoid bits (Copy, Associative Recall, Representation Recall) ------------


def _sigmoid_case():
  # B = 1, T = 4, O = 3 (bit_w = 1: the data channel, two flags). Steps 0-2
  # are refreshed, step 3 answers: alpha = max(1, 3 / 1) = 3.
  logits = np.zeros([1, 4, 3], np.float32)
  logits[0, 3] = [2., -2., 0.]
  targets = np.zeros([1, 4, 3], np.float32)
  targets[0, 3] = [0., 1., 0.]
  refresh = np.array([[1., 1., 1., 0.]], np.float32)
  answers = np.array([[0., 0., 0., 1.]], np.float32)
  batch = base.Batch(np.zeros([1, 4, 3], np.float32), targets,
                     np.array([4], np.int32), answers, refresh)
  return logits, batch


def test_sigmoid_cross_entropy_sums_the_channels():
  logits, batch = _sigmoid_case()
  per_step = losses.sigmoid_cross_entropy(tf.constant(logits),
                                          tf.constant(batch.targets))
  ce3 = 2 * np.log1p(np.exp(2.)) + LN2
  np.testing.assert_allclose(per_step, [[3 * LN2] * 3 + [ce3]], rtol=1e-6)


def test_copy_loss_known_answer():
  task = copy_task.CopyTask(bit_w=1)
  logits, batch = _sigmoid_case()
  out = task.loss(tf.constant(logits), _tensors(batch))
  assert list(out) == ['loss', 'reported_loss', 'accuracy', 'bit_accuracy',
                       'bit_errors_per_sequence']
  ce3 = 2 * np.log1p(np.exp(2.)) + LN2
  np.testing.assert_allclose(out['loss'], (3 * 3 * LN2 + 3. * ce3) / 4,
                             rtol=1e-6)
  np.testing.assert_allclose(out['reported_loss'], ce3 / 3, rtol=1e-6)
  np.testing.assert_allclose(out['accuracy'], np.exp(-ce3 / 3), rtol=1e-6)
  # The answer bit (channel 0): 2 > 0 but the target is 0: wrong.
  assert float(out['bit_accuracy']) == 0.
  assert float(out['bit_errors_per_sequence']) == 1.


def test_time_padding_leaves_the_sigmoid_loss_unchanged():
  task = copy_task.CopyTask(bit_w=1)
  logits, batch = _sigmoid_case()
  pad = lambda x: np.pad(x, [(0, 0), (0, 3)] + [(0, 0)] * (x.ndim - 2))
  padded = base.Batch(*(pad(x) if x.ndim >= 2 else x for x in batch))
  plain = task.loss(tf.constant(logits), _tensors(batch))
  longer = task.loss(tf.constant(pad(logits)), _tensors(padded))
  for key in plain:
    assert float(plain[key]) == float(longer[key]), key


# -- reconstruction + class heads (Nth Farthest, Convex Hull) ------------------


class _TwoHeads(two_head.TwoHeadTask):
  """D = 1 reconstructed channel, C = 2 classes; serves one fixed batch."""

  reconstruction_size = input_size = 1
  num_classes = 2
  output_size = 3
  max_time = 2

  def __init__(self, batch):
    super().__init__(batch_size=2, p_re=0.5, seed=0)
    self._batch = batch

  def next_batch(self):
    return self._batch


def _two_head_case():
  # B = 2, T = 2, D = 1, C = 2; step 1 answers.
  logits = np.array([[[0.5, 0., 0.], [1., 2., 0.]],
                     [[0., 0., 0.], [0., 0., 3.]]], np.float32)
  targets = np.array([[[1., 0., 0.], [0., 1., 0.]],
                      [[0., 0., 0.], [0., 1., 0.]]], np.float32)
  # Example 0 refreshes both steps (the answer step too, as Nth Farthest may).
  refresh = np.array([[1., 1.], [0., 0.]], np.float32)
  answers = np.array([[0., 1.], [0., 1.]], np.float32)
  batch = base.Batch(targets[..., :1], targets, np.array([2, 2], np.int32),
                     answers, refresh)
  return logits, batch


def test_two_head_loss_known_answer():
  logits, batch = _two_head_case()
  out = _TwoHeads(batch).loss(tf.constant(logits), _tensors(batch))
  assert list(out) == ['loss', 'task_loss', 'mrl_loss', 'scale',
                       'answer_accuracy', 'sequence_accuracy']
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


def test_two_head_scale_grows_with_refreshed_steps():
  logits, batch = _two_head_case()
  refresh = batch.refresh_mask.copy()
  refresh[1] = 1.  # 4 refreshed steps for 2 answers: s = 2
  batch = batch._replace(refresh_mask=refresh)
  out = _TwoHeads(batch).loss(tf.constant(logits), _tensors(batch))
  np.testing.assert_allclose(out['scale'], 2.)
  ce = np.log1p(np.exp(-2.)) + np.log1p(np.exp(3.))
  mse = (.25 + 1. + 0. + 0.) / 4  # example 1's reconstruction is exact
  np.testing.assert_allclose(out['loss'], 2. * ce / 4 + mse, rtol=1e-6)


def test_time_padding_leaves_the_two_head_loss_unchanged():
  logits, batch = _two_head_case()
  pad = lambda x: np.pad(x, [(0, 0), (0, 3)] + [(0, 0)] * (x.ndim - 2))
  padded = base.Batch(*(pad(x) if x.ndim >= 2 else x for x in batch))
  task = _TwoHeads(batch)
  plain = task.loss(tf.constant(logits), _tensors(batch))
  longer = task.loss(tf.constant(pad(logits)), _tensors(padded))
  for key in plain:
    np.testing.assert_allclose(plain[key], longer[key], rtol=1e-6,
                               err_msg=key)


def test_squared_error_and_class_metrics():
  error = losses.squared_error(tf.constant([[[1., 2.], [0., 0.]]]),
                               tf.constant([[[0., 0.], [3., 0.]]]))
  np.testing.assert_array_equal(error, [[5., 9.]])
  # Two sequences: the first is right on both answer steps, the second on
  # one of two; a wrong non-answer step does not count.
  class_logits = tf.constant([[[1., 0.], [0., 1.], [1., 0.]],
                              [[1., 0.], [0., 1.], [0., 1.]]])
  labels = tf.constant([[[1., 0.], [0., 1.], [0., 1.]],
                        [[1., 0.], [1., 0.], [0., 1.]]])
  answers = tf.constant([[1., 1., 0.], [0., 1., 1.]])
  ce = losses.softmax_cross_entropy(class_logits, labels)
  out = losses.class_metrics(class_logits, labels, ce, answers)
  np.testing.assert_allclose(out['answer_accuracy'], 3. / 4.)
  np.testing.assert_allclose(out['sequence_accuracy'], 1. / 2.)
  right, wrong = np.log1p(np.exp(-1.)), np.log1p(np.exp(1.))
  np.testing.assert_allclose(out['task_loss'], (3 * right + wrong) / 4,
                             rtol=1e-6)


# -- tokens (bAbI) -------------------------------------------------------------


def _babi_task(reproduce_quirks, p_re=0.5):
  story = babi.Story(np.array([4, 5, babi.ANSWER], np.int32),
                     np.array([4, 5, 5], np.int32), np.zeros([3], bool), 1)
  return babi.BabiTask([story], vocab_size=6, batch_size=1, p_re=p_re,
                       seed=0, reproduce_quirks=reproduce_quirks)


def _babi_case(refresh):
  # B = 1, T = 3, V = 6; step 2 is the answer ('-', target word 5).
  logits = np.zeros([1, 3, 6], np.float32)
  logits[0, 0, 4] = 2.
  logits[0, 2, 4:] = [1., 3.]
  batch = base.Batch(np.array([[4, 5, babi.ANSWER]], np.int32),
                     np.array([[4, 5, 5]], np.int32),
                     np.array([3], np.int32),
                     np.array([[0., 0., 1.]], np.float32),
                     np.array([refresh], np.float32))
  ce0 = -np.log(np.exp(2.) / (np.exp(2.) + 5.))
  ce1 = np.log(6.)
  ce2 = -np.log(np.exp(3.) / (4. + np.exp(1.) + np.exp(3.)))
  return logits, batch, (ce0, ce1, ce2)


@pytest.mark.parametrize('reproduce_quirks', [True, False])
def test_babi_loss_known_answer(reproduce_quirks):
  # Steps 0 and 1 refreshed, 1 answer: alpha = 2 in both variants.
  logits, batch, (ce0, ce1, ce2) = _babi_case([1., 1., 0.])
  out = _babi_task(reproduce_quirks).loss(tf.constant(logits),
                                          _tensors(batch))
  assert list(out) == ['loss', 'reported_loss', 'answer_accuracy']
  np.testing.assert_allclose(out['loss'], (ce0 + ce1 + 2. * ce2) / 3.,
                             rtol=1e-6)
  np.testing.assert_allclose(out['reported_loss'], ce2, rtol=1e-6)
  np.testing.assert_allclose(out['answer_accuracy'], 1.)  # argmax 5 == 5


def test_babi_authors_loss_counts_a_sampled_answer_in_alpha_only():
  # The answer token sampled too: alpha = 3 / 1, the answer is trained with
  # weight alpha only (not 1 + alpha).
  logits, batch, (ce0, ce1, ce2) = _babi_case([1., 1., 1.])
  out = _babi_task(True).loss(tf.constant(logits), _tensors(batch))
  np.testing.assert_allclose(out['loss'], (ce0 + ce1 + 3. * ce2) / 3.,
                             rtol=1e-6)


def test_babi_authors_alpha_has_no_floor_and_is_one_without_mrl():
  # Nothing sampled (an evaluation batch): alpha = 1, the plain answer loss
  # (the authors' bare ratio would give 0) ...
  logits, batch, (_, _, ce2) = _babi_case([0., 0., 0.])
  out = _babi_task(True).loss(tf.constant(logits), _tensors(batch))
  np.testing.assert_allclose(out['loss'], ce2 / 3., rtol=1e-6)
  # ... as at p_re = 0 (their loader skipped the MRL): alpha = 1.
  out = _babi_task(True, p_re=0.).loss(tf.constant(logits), _tensors(batch))
  np.testing.assert_allclose(out['loss'], ce2 / 3., rtol=1e-6)
  # The corrected loss floors alpha at 1.
  out = _babi_task(False).loss(tf.constant(logits), _tensors(batch))
  np.testing.assert_allclose(out['loss'], ce2 / 3., rtol=1e-6)
