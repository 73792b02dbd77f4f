"""Tests of the Nth Farthest task generator (tasks/nth_farthest.py); NumPy only.

The answers are checked against a brute-force pure-Python decoding of the
inputs (distances by loops, sorted farthest first).
"""

import json
import math

import numpy as np
import pytest

from tasks import base
from tasks import nth_farthest

N, D = 8, 16
INPUT_SIZE = D + 3 * N


def _task(**kwargs):
  kwargs.setdefault('batch_size', 64)
  kwargs.setdefault('seed', 1)
  return nth_farthest.NthFarthestTask(**kwargs)


def _labels(batch, num_classes=N):
  """The answer labels [B]: argmax of the last step's class targets."""
  return np.argmax(batch.targets[:, -1, -num_classes:], axis=-1)


def _decode(inputs, num_vectors=N, vector_size=D):
  """One example's inputs [N, D + 3N] -> (vectors, labels, n, m) as lists."""
  d, n_vec = vector_size, num_vectors
  vectors = [[float(x) for x in row[:d]] for row in inputs]
  labels = [int(np.argmax(row[d:d + n_vec])) for row in inputs]
  nth = int(np.argmax(inputs[0, d + n_vec:d + 2 * n_vec]))
  ref = int(np.argmax(inputs[0, d + 2 * n_vec:]))
  return vectors, labels, nth, ref


def _brute_force_answer(vectors, labels, nth, ref):
  """Label of the nth farthest vector from the one labelled ref (loops)."""
  ref_vector = vectors[labels.index(ref)]
  scored = []
  for vector, label in zip(vectors, labels):
    total = 0.
    for a, b in zip(vector, ref_vector):
      total += (a - b) ** 2
    scored.append((math.sqrt(total), label))
  scored.sort(key=lambda pair: pair[0], reverse=True)
  return scored[nth][1]


def _assert_batches_equal(a, b):
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


# -- layout ---------------------------------------------------------------------


def test_sizes_and_attributes():
  task = nth_farthest.NthFarthestTask()
  assert (task.batch_size, task.num_vectors, task.vector_size, task.p_re) == (
      1600, 8, 16, 0.)
  assert task.num_classes == 8
  assert task.input_size == task.reconstruction_size == 40
  assert task.output_size == 48
  assert task.max_time == 8
  assert task.answer_channels == slice(40, 48)
  other = _task(num_vectors=5, vector_size=3)
  assert (other.input_size, other.output_size) == (18, 23)
  batch = other.next_batch()
  assert batch.inputs.shape == (64, 5, 18)
  assert batch.targets.shape == (64, 5, 23)


def test_batch_shapes_and_dtypes():
  batch = _task(batch_size=32).next_batch()
  assert isinstance(batch, base.Batch)
  assert batch.inputs.shape == (32, N, INPUT_SIZE)
  assert batch.targets.shape == (32, N, INPUT_SIZE + N)
  assert batch.seq_len.shape == (32,)
  assert batch.answer_mask.shape == batch.refresh_mask.shape == (32, N)
  for name in ('inputs', 'targets', 'answer_mask', 'refresh_mask'):
    assert getattr(batch, name).dtype == np.float32, name
  assert batch.seq_len.dtype == np.int32
  np.testing.assert_array_equal(batch.seq_len, N)


def test_input_layout():
  inputs = _task(batch_size=500).next_batch().inputs
  vectors = inputs[..., :D]
  assert vectors.min() >= -1. and vectors.max() <= 1.
  assert vectors.min() < -0.99 and vectors.max() > 0.99  # Spans U(-1, 1).
  assert abs(vectors.mean()) < 0.01
  blocks = [inputs[..., D + k * N:D + (k + 1) * N] for k in range(3)]
  for block in blocks:  # Valid one-hots.
    assert set(np.unique(block)) <= {0., 1.}
    np.testing.assert_array_equal(block.sum(-1), 1.)
  labels, nth, ref = (np.argmax(block, -1) for block in blocks)
  for b in range(len(inputs)):
    assert sorted(labels[b]) == list(range(N))
  # n and m are the same at every step of an example.
  np.testing.assert_array_equal(nth, nth[:, :1].repeat(N, 1))
  np.testing.assert_array_equal(ref, ref[:, :1].repeat(N, 1))
  # ... and vary across examples, over all of 0..N-1.
  assert set(nth[:, 0]) == set(ref[:, 0]) == set(range(N))
  # Labels are shuffled (not always 0..N-1 in order).
  assert not np.all(labels == np.arange(N))


def test_answer_matches_brute_force():
  task = _task(batch_size=400, seed=7)
  seen_n = set()
  for _ in range(2):
    batch = task.next_batch()
    answers = _labels(batch)
    for b in range(len(answers)):
      vectors, labels, nth, ref = _decode(batch.inputs[b])
      assert answers[b] == _brute_force_answer(vectors, labels, nth, ref)
      seen_n.add(nth)
  assert seen_n == set(range(N))


def test_extreme_n():
  batch = _task(batch_size=400, seed=3).next_batch()
  answers = _labels(batch)
  counts = {0: 0, N - 1: 0}
  for b in range(len(answers)):
    vectors, labels, nth, ref = _decode(batch.inputs[b])
    ref_vector = np.array(vectors[labels.index(ref)])
    distances = [np.linalg.norm(np.array(v) - ref_vector) for v in vectors]
    if nth == N - 1:  # The vector itself.
      assert answers[b] == ref
      counts[nth] += 1
    elif nth == 0:  # The farthest.
      assert answers[b] == labels[int(np.argmax(distances))]
      assert answers[b] != ref
      counts[nth] += 1
  assert counts[0] > 20 and counts[N - 1] > 20


def test_answer_is_not_trivial():
  """The answer is not always the same label or the reference."""
  batch = _task(batch_size=1000, seed=5).next_batch()
  answers = _labels(batch)
  ref = np.argmax(batch.inputs[:, 0, D + 2 * N:], -1)
  assert set(answers) == set(range(N))
  assert 0.05 < np.mean(answers == ref) < 0.25  # ~1/8 (n = N-1).


def test_targets_and_answer_mask():
  batch = _task(batch_size=50, p_re=0.5).next_batch()
  np.testing.assert_array_equal(batch.targets[..., :INPUT_SIZE], batch.inputs)
  answer = batch.targets[..., INPUT_SIZE:]
  np.testing.assert_array_equal(answer[:, :-1], 0.)
  np.testing.assert_array_equal(answer[:, -1].sum(-1), 1.)
  assert set(np.unique(answer)) == {0., 1.}
  expected = np.zeros([50, N], np.float32)
  expected[:, -1] = 1.
  np.testing.assert_array_equal(batch.answer_mask, expected)


# -- MRL mask -------------------------------------------------------------------


def test_p_re_0_gives_zero_refresh_mask():
  batch = _task(p_re=0.).next_batch()
  np.testing.assert_array_equal(batch.refresh_mask, 0.)


def test_p_re_1_refreshes_every_step():
  batch = _task(p_re=1.).next_batch()
  np.testing.assert_array_equal(batch.refresh_mask, 1.)


def test_refresh_fraction_is_p_re_on_every_step():
  task = _task(batch_size=500, p_re=0.3, seed=11)
  masks = np.stack([task.next_batch().refresh_mask for _ in range(10)])
  assert set(np.unique(masks)) == {0., 1.}
  assert abs(masks.mean() - 0.3) < 0.02
  per_step = masks.mean(axis=(0, 1))  # Every step eligible, the last too.
  assert np.all(np.abs(per_step - 0.3) < 0.03)


def test_data_do_not_depend_on_p_re():
  a = _task(p_re=0., seed=4)
  b = _task(p_re=0.7, seed=4)
  for _ in range(3):
    x, y = a.next_batch(), b.next_batch()
    np.testing.assert_array_equal(x.inputs, y.inputs)
    np.testing.assert_array_equal(x.targets, y.targets)


# -- random state ---------------------------------------------------------------


def test_same_seed_same_batches_other_seed_other_batches():
  a, b, c = _task(seed=2), _task(seed=2), _task(seed=3)
  for _ in range(3):
    x, y, z = a.next_batch(), b.next_batch(), c.next_batch()
    _assert_batches_equal(x, y)
    assert not np.array_equal(x.inputs, z.inputs)
  # Consecutive batches differ.
  assert not np.array_equal(a.next_batch().inputs, a.next_batch().inputs)


def test_get_state_set_state_resumes_the_stream():
  task = _task(p_re=0.3, seed=9)
  task.next_batch()
  state = json.loads(json.dumps(task.get_state()))
  expected = [task.next_batch() for _ in range(3)]
  resumed = _task(p_re=0.3, seed=123)
  resumed.set_state(state)
  for want in expected:
    _assert_batches_equal(resumed.next_batch(), want)
  with pytest.raises(ValueError):
    resumed.set_state({'nope': 1})


# -- fixed test set -------------------------------------------------------------


def test_test_set_is_fixed_and_independent_of_training():
  fixed = nth_farthest.test_set()
  assert len(fixed.seq_len) == 3200
  assert fixed.inputs.shape == (3200, N, INPUT_SIZE)
  assert fixed.targets.shape == (3200, N, INPUT_SIZE + N)
  np.testing.assert_array_equal(fixed.refresh_mask, 0.)
  _assert_batches_equal(fixed, nth_farthest.test_set())
  _assert_batches_equal(fixed, _task().test_set())
  assert not np.array_equal(fixed.inputs,
                            nth_farthest.test_set(seed=1).inputs)
  # Not the training stream, even with the same seed.
  for seed in (nth_farthest.TEST_SET_SEED, None):
    train = _task(batch_size=3200, seed=seed).next_batch()
    assert not np.any(np.all(train.inputs[:, :, :D] ==
                             fixed.inputs[:, :, :D], axis=(1, 2)))
  # A smaller test set is deterministic too; answers are correct.
  small = nth_farthest.test_set(num_examples=20, seed=5)
  _assert_batches_equal(small, nth_farthest.test_set(num_examples=20, seed=5))
  answers = _labels(small)
  for b in range(20):
    assert answers[b] == _brute_force_answer(*_decode(small.inputs[b]))


def test_iterate_batches_covers_every_example_once():
  fixed = nth_farthest.test_set()
  parts = list(nth_farthest.iterate_batches(fixed, 1000))
  assert [len(p.seq_len) for p in parts] == [1000, 1000, 1000, 200]
  for p in parts:
    assert isinstance(p, base.Batch)
    assert p.inputs.shape[1:] == fixed.inputs.shape[1:]
  for i, field in enumerate(base.Batch._fields):
    np.testing.assert_array_equal(
        np.concatenate([p[i] for p in parts]), fixed[i], err_msg=field)
  exact = list(nth_farthest.iterate_batches(fixed, 1600))
  assert [len(p.seq_len) for p in exact] == [1600, 1600]
  assert len(list(nth_farthest.iterate_batches(fixed, 5000))) == 1
  with pytest.raises(ValueError, match='batch_size'):
    nth_farthest.iterate_batches(fixed, 0)


# -- arguments ------------------------------------------------------------------


@pytest.mark.parametrize('kwargs, name', [
    ({'batch_size': 0}, 'batch_size'),
    ({'batch_size': 2.5}, 'batch_size'),
    ({'num_vectors': 1}, 'num_vectors'),
    ({'num_vectors': '8'}, 'num_vectors'),
    ({'vector_size': 0}, 'vector_size'),
    ({'p_re': -0.1}, 'p_re'),
    ({'p_re': 1.5}, 'p_re'),
    ({'p_re': float('nan')}, 'p_re'),
])
def test_bad_arguments_raise_value_error_naming_it(kwargs, name):
  with pytest.raises(ValueError, match=name):
    nth_farthest.NthFarthestTask(**kwargs)


@pytest.mark.parametrize('kwargs, name', [
    ({'num_examples': 0}, 'num_examples'),
    ({'num_vectors': 1}, 'num_vectors'),
    ({'vector_size': 0}, 'vector_size'),
    ({'seed': -1}, 'seed'),
])
def test_test_set_bad_arguments(kwargs, name):
  with pytest.raises(ValueError, match=name):
    nth_farthest.test_set(**kwargs)
