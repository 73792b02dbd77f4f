"""Tests of the Convex Hull batches (tasks/convex_hull/task.py); NumPy only,
except the exact-match accuracy, which goes through the task's (TensorFlow)
loss.

Batches are decoded back into points, labels and hull tours, which are
checked against an independent monotone-chain implementation (the
`monotone_chain` fixture of conftest.py).
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from damrun import steps
from tasks import convex_hull as ch


def _examples_by_n(seed=0, num=400, min_n=5, max_n=12):
  points_list, hulls = ch.generate_examples(num, min_n, max_n,
                                            np.random.default_rng(seed))
  groups = {}
  for p, h in zip(points_list, hulls):
    groups.setdefault(len(p), ([], []))
    groups[len(p)][0].append(p)
    groups[len(p)][1].append(h)
  return {n: ch.Examples(np.stack(ps).astype(np.float32), hs)
          for n, (ps, hs) in groups.items()}


def _decode(batch, b, task):
  """Decodes example b: (points [n, 2], labels [n], answer classes [m])."""
  time = int(batch.seq_len[b])
  x, y = batch.inputs[b, :time], batch.targets[b, :time]
  label_onehot = x[:, 2:]
  end_steps = np.flatnonzero(label_onehot[:, 0] == 1)
  assert len(end_steps) == 1  # one end-of-input step
  n = int(end_steps[0])
  assert not x[n, :2].any() and label_onehot[n].sum() == 1
  # Point steps: one label each in 1..max_n; answer steps: zero inputs.
  np.testing.assert_array_equal(label_onehot[:n].sum(axis=1), 1.)
  labels = np.argmax(label_onehot[:n], axis=1)
  assert not x[n + 1:].any()
  # Reconstruction targets = inputs everywhere; classes on answers only.
  np.testing.assert_array_equal(y[:, :task.input_size], x)
  classes_onehot = y[:, task.answer_channels]
  assert not classes_onehot[:n + 1].any()
  np.testing.assert_array_equal(classes_onehot[n + 1:].sum(axis=1), 1.)
  np.testing.assert_array_equal(batch.answer_mask[b, :time],
                                np.arange(time) > n)
  return x[:n, :2], labels, np.argmax(classes_onehot[n + 1:], axis=1)


def _check_padding(batch):
  time = batch.refresh_mask.shape[1]
  past_end = np.arange(time)[None, :] >= batch.seq_len[:, None]
  for array in (batch.inputs, batch.targets, batch.answer_mask,
                batch.refresh_mask):
    assert not array[past_end].any()


# -- batches -------------------------------------------------------------------


def test_sizes_and_longest_sequence():
  task = ch.ConvexHullTask(_examples_by_n(max_n=6), seed=0)
  assert (task.batch_size, task.max_n, task.p_re) == (128, 20, 0.)
  assert task.num_labels == task.num_classes == 21
  assert task.input_size == task.reconstruction_size == 23
  assert task.output_size == 44
  assert task.answer_channels == slice(23, 44)
  assert task.max_time == 20 + 1 + 21 + 1
  # n = max_n points on a circle: every point is a hull vertex.
  angles = np.linspace(0., 2 * np.pi, 21)[:-1]
  circle = 0.5 + 0.4 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  hull = ch.convex_hull_indices(circle)
  assert len(hull) == 20
  (batch,) = ch.encode_test(ch.Examples(circle[None], [hull]), 4)
  assert batch.seq_len[0] == task.max_time


def test_training_batches_decode_to_the_hulls_with_permuted_labels(
    monotone_chain):
  task = ch.ConvexHullTask(_examples_by_n(), batch_size=16, p_re=0.5,
                           seed=3)
  counts = set()
  permuted = 0
  for _ in range(60):
    batch = task.next_batch()
    b, t = batch.refresh_mask.shape
    assert b == 16 and t == batch.seq_len.max() <= task.max_time
    assert batch.inputs.shape == (b, t, 23)
    assert batch.targets.shape == (b, t, 44)
    assert batch.seq_len.dtype == np.int32
    for array in (batch.inputs, batch.targets, batch.refresh_mask,
                  batch.answer_mask):
      assert array.dtype == np.float32
    _check_padding(batch)
    sizes = set()
    for i in range(b):
      points, labels, classes = _decode(batch, i, task)
      n = len(points)
      sizes.add(n)
      assert sorted(labels) == list(range(1, n + 1))
      permuted += not np.array_equal(labels, np.arange(1, n + 1))
      point_of_label = {int(label): j for j, label in enumerate(labels)}
      assert classes[-1] == 0  # end token
      tour = [point_of_label[int(c)] for c in classes[:-1]]
      hull = monotone_chain(points)
      assert tour == hull + hull[:1]  # the closed tour, closing index emitted
      # Refresh mask: point steps only.
      refresh = batch.refresh_mask[i]
      assert not refresh[n:].any()
      assert set(np.unique(refresh)) <= {0., 1.}
    assert len(sizes) == 1  # one point count per training batch
    counts |= sizes
  assert counts == set(range(5, 13))
  assert permuted > 900


def test_test_batches_identity_labels_cover_every_example_once(
    monotone_chain):
  examples = _examples_by_n(seed=5, num=300, min_n=7, max_n=7)[7]
  task = ch.ConvexHullTask({7: examples}, seed=0)
  batches = ch.encode_test(examples, 64)
  assert [len(b.seq_len) for b in batches] == [64, 64, 64, 64, 44]
  seen = []
  for batch in batches:
    _check_padding(batch)
    assert not batch.refresh_mask.any()
    for i in range(len(batch.seq_len)):
      points, labels, classes = _decode(batch, i, task)
      np.testing.assert_array_equal(labels, np.arange(1, 8))
      hull = monotone_chain(points)
      np.testing.assert_array_equal(classes, [h + 1 for h in hull] +
                                    [hull[0] + 1, 0])
      seen.append(points)
  np.testing.assert_array_equal(np.stack(seen), examples.points)
  again = ch.encode_test(examples, 64)
  for x, y in zip(batches, again):
    for u, v in zip(x, y):
      np.testing.assert_array_equal(u, v)
  with pytest.raises(ValueError, match='max_n'):
    ch.encode_test(examples, 64, max_n=6)


def test_mrl_refresh_fraction_and_extremes():
  examples = _examples_by_n(num=200, min_n=5, max_n=10)
  task = ch.ConvexHullTask(examples, batch_size=64, p_re=0.3, seed=6)
  sampled = total = 0
  for _ in range(40):
    batch = task.next_batch()
    points_steps = batch.inputs[..., 3:].any(axis=-1)  # labels 1..max_n
    assert not batch.refresh_mask[~points_steps].any()
    sampled += batch.refresh_mask.sum()
    total += points_steps.sum()
  assert abs(sampled / total - 0.3) < 0.015
  zero = ch.ConvexHullTask(examples, batch_size=32, p_re=0., seed=6)
  one = ch.ConvexHullTask(examples, batch_size=32, p_re=1., seed=6)
  for _ in range(5):
    batch_zero, batch_one = zero.next_batch(), one.next_batch()
    assert not batch_zero.refresh_mask.any()
    np.testing.assert_array_equal(batch_zero.inputs, batch_one.inputs)
    for i, time in enumerate(batch_one.seq_len):
      n = time - int(batch_one.answer_mask[i].sum()) - 1
      refresh = batch_one.refresh_mask[i]
      np.testing.assert_array_equal(refresh, np.arange(len(refresh)) < n)


def _sequence_accuracy(task, outputs, batch):
  """The loss's sequence_accuracy of model outputs [B, T, input_size + L]."""
  metrics = task.loss(tf.constant(outputs, tf.float32),
                      steps.to_tensors(batch))
  return float(metrics['sequence_accuracy'])


def _right_examples(task, outputs, batch):
  """Per example: whether its sequence_accuracy (a batch of one) is 1."""
  right = []
  for b in range(len(batch.seq_len)):
    one = type(batch)(*(field[b:b + 1] for field in batch))
    accuracy = _sequence_accuracy(task, outputs[b:b + 1], one)
    assert accuracy in (0., 1.)
    right.append(accuracy == 1.)
  return right


def test_exact_match():
  # The authors' test accuracy, the loss's sequence_accuracy: an example is
  # right only when the argmax class is right at every answer step.
  examples = _examples_by_n(seed=7, num=100, min_n=6, max_n=6)[6]
  task = ch.ConvexHullTask({6: examples}, batch_size=8, max_n=20, seed=0)
  (batch,) = ch.encode_test(examples, 8)[:1]
  input_size = batch.inputs.shape[-1]
  assert task.reconstruction_size == input_size
  reconstruction = batch.targets[..., :input_size]
  logits = batch.targets[..., input_size:].copy()  # [B, T, 21]
  num_classes = logits.shape[-1]

  def outputs(class_logits):
    return np.concatenate([reconstruction, class_logits], axis=-1)

  def one_hot(classes):
    return np.eye(num_classes, dtype=np.float32)[classes]

  assert _sequence_accuracy(task, batch.targets, batch) == 1.  # full outputs
  assert _sequence_accuracy(task, outputs(logits), batch) == 1.
  predictions = np.argmax(logits, axis=-1)
  # Wrong predictions off the answer steps do not matter.
  noise = predictions.copy()
  noise[batch.answer_mask == 0] = 5
  assert _sequence_accuracy(task, outputs(one_hot(noise)), batch) == 1.
  # One wrong hull token in example 0, a wrong end token in example 3.
  wrong = predictions.copy()
  first_answer = int(np.argmax(batch.answer_mask[0]))
  wrong[0, first_answer + 1] = (wrong[0, first_answer + 1] + 1) % 21
  last = int(batch.seq_len[3]) - 1
  assert predictions[3, last] == 0
  wrong[3, last] = 2
  assert _right_examples(task, outputs(one_hot(wrong)), batch) == [
      False, True, True, False] + [True] * 4
  assert _sequence_accuracy(task, outputs(one_hot(wrong)), batch) == 0.75
  wrong_logits = logits.copy()
  wrong_logits[3, last] = 0.
  wrong_logits[3, last, 7] = 1.
  assert _right_examples(task, outputs(wrong_logits), batch) == [True] * 3 + [
      False] + [True] * 4
  assert _sequence_accuracy(task, outputs(wrong_logits), batch) == 0.875


# -- seeding and validation ----------------------------------------------------


def _stream(task, count):
  return [task.next_batch() for _ in range(count)]


def test_same_seed_same_batches_and_state_resumes():
  examples = _examples_by_n(num=200)
  first = _stream(ch.ConvexHullTask(examples, 8, p_re=0.3, seed=5), 5)
  again = _stream(ch.ConvexHullTask(examples, 8, p_re=0.3, seed=5), 5)
  other = _stream(ch.ConvexHullTask(examples, 8, p_re=0.3, seed=6), 5)
  for x, y in zip(first, again):
    for u, v in zip(x, y):
      np.testing.assert_array_equal(u, v)
  assert any(x.inputs.shape != z.inputs.shape or
             not np.array_equal(x.inputs, z.inputs)
             for x, z in zip(first, other))
  plain = _stream(ch.ConvexHullTask(examples, 8, p_re=0., seed=5), 5)
  for x, y in zip(first, plain):  # the data do not depend on p_re
    np.testing.assert_array_equal(x.inputs, y.inputs)
    np.testing.assert_array_equal(x.targets, y.targets)
  task = ch.ConvexHullTask(examples, 8, p_re=0.3, seed=11)
  _stream(task, 3)
  state = json.loads(json.dumps(task.get_state()))
  expected = _stream(task, 4)
  resumed = ch.ConvexHullTask(examples, 8, p_re=0.3, seed=999)
  resumed.set_state(state)
  for x, y in zip(expected, _stream(resumed, 4)):
    for u, v in zip(x, y):
      np.testing.assert_array_equal(u, v)
  with pytest.raises(ValueError):
    resumed.set_state({'nothing': 1})


def test_examples_above_max_n_are_dropped():
  examples = _examples_by_n(num=200, min_n=5, max_n=12)
  task = ch.ConvexHullTask(examples, batch_size=4, max_n=8, seed=0)
  assert task.point_counts == [5, 6, 7, 8]
  assert task.input_size == 11 and task.output_size == 20
  for batch in _stream(task, 20):
    assert batch.inputs.shape[-1] == 11
    assert batch.seq_len.max() <= task.max_time == 19


@pytest.mark.parametrize('kwargs,name', [
    (dict(batch_size=0), 'batch_size'),
    (dict(max_n=2), 'max_n'),
    (dict(max_n=7.5), 'max_n'),
    (dict(p_re=1.5), 'p_re'),
    (dict(p_re=-0.1), 'p_re'),
    (dict(max_n=4), 'No training examples with n <= max_n'),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
  with pytest.raises(ValueError, match=re.escape(name)):
    ch.ConvexHullTask(_examples_by_n(num=50), **kwargs)
