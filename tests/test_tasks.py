"""Tests of the algorithmic task generators (tasks/): Copy, Associative
Recall, Representation Recall (Park et al. 2021, algorithmic tasks).

Each test decodes the generated sequences back into their parts (items,
flags, queries, answers) and checks them against the task definitions. The
task interface (tasks/base.py) every task implements is tested in
test_task_interface.py.
"""

import collections
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

import tasks
from dam import mrl


def _batches(task, count):
  return [task.next_batch() for _ in range(count)]


def _refresh(batch):
  """The sampled MRL refresh steps [B, T]; never answer steps."""
  assert not (batch.refresh_mask * batch.answer_mask).any()
  return batch.refresh_mask


def _weights(batch):
  """The in-graph MRL step weights of `batch` ([B, T]) and its alpha."""
  refresh, answers = (tf.constant(batch.refresh_mask),
                      tf.constant(batch.answer_mask))
  alpha = mrl.answer_weight(refresh, answers)
  return mrl.step_weights(refresh, answers, alpha).numpy(), float(alpha)


def _eligible_copy(batch):
  """Copy's MRL-eligible steps [B, T]: the item steps 1..L."""
  eligible = np.zeros(batch.refresh_mask.shape, bool)
  for b, length in enumerate(batch.seq_len // 2 - 1):
    eligible[b, 1:length + 1] = True
  return eligible


def _eligible_ar(batch, item_size):
  """Associative recall's MRL-eligible steps [B, T]: stored items' vectors."""
  eligible = np.zeros(batch.refresh_mask.shape, bool)
  for b, length in enumerate(batch.seq_len):
    for k in range(length // item_size - 2):
      eligible[b, k * item_size + 1:(k + 1) * item_size] = True
  return eligible


# -- common behaviour ----------------------------------------------------------


def test_authors_defaults_and_sizes():
  copy = tasks.CopyTask()
  assert (copy.batch_size, copy.bit_w, copy.min_length, copy.max_length,
          copy.p_re) == (16, 8, 8, 32, 0.)
  assert copy.input_size == copy.output_size == 10
  assert copy.max_time == 66 and copy.answer_channels == slice(0, 8)
  ar = tasks.AssociativeRecallTask()
  assert (ar.bit_w, ar.item_bit, ar.min_length, ar.max_length) == (8, 3, 2, 8)
  assert ar.input_size == ar.output_size == 10
  assert ar.max_time == 40 and ar.answer_channels == slice(0, 8)
  rr = tasks.RepresentationRecallTask()
  assert (rr.N, rr.bit_w, rr.num_bit, rr.min_length, rr.max_length) == (
      8, 64, 8, 8, 16)
  assert rr.input_size == 66 and rr.output_size == 32
  assert rr.max_time == 26 and rr.answer_channels == slice(0, 32)


ALL_TASKS = [
    ('copy', lambda **kw: tasks.CopyTask(min_length=2, max_length=9, **kw)),
    ('ar', lambda **kw: tasks.AssociativeRecallTask(max_length=6, **kw)),
    ('rr', lambda **kw: tasks.RepresentationRecallTask(
        N=4, bit_w=16, num_bit=5, min_length=1, max_length=7,
        **{k: v for k, v in kw.items() if k != 'p_re'})),
]


@pytest.mark.parametrize('name,make', ALL_TASKS)
def test_batch_shapes_dtypes_and_padding(name, make):
  del name
  task = make(batch_size=12, p_re=0.5, seed=1)
  for batch in _batches(task, 20):
    b, t = batch.refresh_mask.shape
    assert b == task.batch_size and t == batch.seq_len.max() <= task.max_time
    assert batch.inputs.shape == (b, t, task.input_size)
    assert batch.targets.shape == (b, t, task.output_size)
    assert batch.seq_len.shape == (b,) and batch.seq_len.dtype == np.int32
    for array in (batch.inputs, batch.targets, batch.answer_mask,
                  batch.refresh_mask):
      assert array.dtype == np.float32
    past_end = np.arange(t)[None, :] >= batch.seq_len[:, None]  # [B, T]
    assert past_end.any() or len(set(batch.seq_len)) == 1
    for array in (batch.inputs, batch.targets, batch.answer_mask,
                  batch.refresh_mask):
      assert not array[past_end].any()
    assert set(np.unique(batch.answer_mask)) <= {0., 1.}
    assert set(np.unique(batch.refresh_mask)) <= {0., 1.}
    assert batch.answer_mask.sum(axis=1).min() > 0


@pytest.mark.parametrize('name,make', ALL_TASKS)
def test_p_re_0_refreshes_nothing_and_weighs_answers_1(name, make):
  del name
  for batch in _batches(make(batch_size=8, p_re=0., seed=2), 10):
    assert not batch.refresh_mask.any()
    weights, alpha = _weights(batch)
    assert alpha == 1.
    np.testing.assert_array_equal(weights, batch.answer_mask)


@pytest.mark.parametrize('name,make', ALL_TASKS)
def test_same_seed_same_batches_other_seed_other_batches(name, make):
  del name
  first = _batches(make(batch_size=4, p_re=0.3, seed=5), 5)
  again = _batches(make(batch_size=4, p_re=0.3, seed=5), 5)
  other = _batches(make(batch_size=4, p_re=0.3, seed=6), 5)
  for x, y in zip(first, again):
    for u, v in zip(x, y):
      np.testing.assert_array_equal(u, v)
  assert any(x.inputs.shape != z.inputs.shape or
             not np.array_equal(x.inputs, z.inputs)
             for x, z in zip(first, other))


@pytest.mark.parametrize('name,make', ALL_TASKS[:2])
def test_data_stream_does_not_depend_on_p_re(name, make):
  del name
  plain = _batches(make(batch_size=4, p_re=0., seed=9), 5)
  refreshed = _batches(make(batch_size=4, p_re=0.7, seed=9), 5)
  for x, y in zip(plain, refreshed):
    np.testing.assert_array_equal(x.inputs, y.inputs)
    np.testing.assert_array_equal(x.targets, y.targets)
    np.testing.assert_array_equal(x.answer_mask, y.answer_mask)


@pytest.mark.parametrize('name,make', ALL_TASKS)
def test_get_state_set_state_resumes_the_stream(name, make):
  del name
  task = make(batch_size=4, p_re=0.3, seed=11)
  _batches(task, 3)
  state = json.loads(json.dumps(task.get_state()))
  expected = _batches(task, 4)
  resumed = make(batch_size=4, p_re=0.3, seed=999)
  resumed.set_state(state)
  for x, y in zip(expected, _batches(resumed, 4)):
    for u, v in zip(x, y):
      np.testing.assert_array_equal(u, v)
  with pytest.raises(ValueError):
    resumed.set_state({'nothing': 1})
  with pytest.raises(ValueError):
    resumed.set_state({'rng': {'bit_generator': 'MT19937', 'state': {}}})


# -- Copy ----------------------------------------------------------------------


def test_copy_structure():
  task = tasks.CopyTask(batch_size=16, bit_w=6, min_length=1, max_length=12,
                        p_re=0.2, seed=0)
  w = task.bit_w
  for batch in _batches(task, 20):
    for b, time in enumerate(batch.seq_len):
      assert time % 2 == 0
      length = time // 2 - 1
      x, y = batch.inputs[b, :time], batch.targets[b, :time]
      # Flags: input flag (channel -2) at step 0 only, output flag (-1) at
      # step L + 1 only.
      np.testing.assert_array_equal(x[:, w], np.eye(time)[0])
      np.testing.assert_array_equal(x[:, w + 1], np.eye(time)[length + 1])
      assert x[0, :w].sum() == 0 and x[length + 1, :w].sum() == 0
      # Empty inputs in the answer phase; answers are the items in order.
      assert not x[length + 2:].any()
      np.testing.assert_array_equal(y[length + 2:, :w], x[1:length + 1, :w])
      assert not y[length + 2:, w:].any()
      # Targets equal inputs in the input phase.
      np.testing.assert_array_equal(y[:length + 2], x[:length + 2])
      np.testing.assert_array_equal(
          batch.answer_mask[b, :time], np.arange(time) >= length + 2)


def test_copy_items_are_fair_bits():
  task = tasks.CopyTask(batch_size=64, p_re=0., seed=3)
  batch = task.next_batch()
  items = batch.targets[batch.answer_mask == 1][:, :task.bit_w]
  assert set(np.unique(items)) == {0., 1.}
  assert abs(items.mean() - 0.5) < 0.02


# -- Associative Recall --------------------------------------------------------


def _decode_ar(inputs, targets, time, task):
  """Decodes one AR example into (items [n, item_bit, w], query, answer)."""
  size, w = task.item_size, task.bit_w
  x, y = inputs[:time], targets[:time]
  assert time % size == 0
  num_items = time // size - 2
  delimiters = np.zeros(time)
  delimiters[0:num_items * size:size] = 1.
  np.testing.assert_array_equal(x[:, w], delimiters)
  query_flags = np.zeros(time)
  query_flags[[num_items * size, (num_items + 1) * size]] = 1.
  np.testing.assert_array_equal(x[:, w + 1], query_flags)
  assert not x[delimiters + query_flags == 1, :w].any()
  items = np.stack([x[k * size + 1:(k + 1) * size, :w]
                    for k in range(num_items)])
  query = x[num_items * size + 1:(num_items + 1) * size, :w]
  assert not x[(num_items + 1) * size + 1:].any()  # empty answer inputs
  answer = y[(num_items + 1) * size + 1:]
  assert not answer[:, w:].any()
  # Targets equal inputs before the answer.
  np.testing.assert_array_equal(y[:(num_items + 1) * size + 1],
                                x[:(num_items + 1) * size + 1])
  return items, query, answer[:, :w]


def test_ar_answer_is_the_item_after_the_query_never_the_last():
  task = tasks.AssociativeRecallTask(batch_size=32, p_re=0.1, seed=4)
  queried = collections.Counter()
  for batch in _batches(task, 40):
    for b, time in enumerate(batch.seq_len):
      items, query, answer = _decode_ar(batch.inputs[b], batch.targets[b],
                                        time, task)
      matches = [k for k in range(len(items))
                 if np.array_equal(items[k], query)]
      assert len(matches) == 1  # 24 random bits: no collisions here
      (q,) = matches
      assert 0 <= q <= len(items) - 2
      np.testing.assert_array_equal(answer, items[q + 1])
      queried[q] += 1
      answer_steps = np.arange(time) >= time - task.item_bit
      np.testing.assert_array_equal(batch.answer_mask[b, :time],
                                    answer_steps)
  assert set(queried) == set(range(task.max_length - 1))


def test_ar_rejects_fewer_than_two_items():
  with pytest.raises(ValueError, match='min_length'):
    tasks.AssociativeRecallTask(min_length=1)


# -- Representation Recall -----------------------------------------------------


def test_rr_structure_unique_segments_and_hidden_halves():
  task = tasks.RepresentationRecallTask(batch_size=16, seed=5)
  n_seg, seg, num_bit, w = task.N, task.segment_size, task.num_bit, task.bit_w
  hidden_counts = np.zeros(n_seg)
  num_queries = 0
  for batch in _batches(task, 10):
    assert not batch.refresh_mask.any()
    for b, time in enumerate(batch.seq_len):
      x, y = batch.inputs[b, :time], batch.targets[b, :time]
      start = num_bit + 2
      np.testing.assert_array_equal(x[:, w], np.eye(time)[0])
      np.testing.assert_array_equal(x[:, w + 1], np.eye(time)[num_bit + 1])
      assert not x[0, :w].any() and not x[num_bit + 1, :w].any()
      assert not y[:start].any()
      np.testing.assert_array_equal(batch.answer_mask[b, :time],
                                    np.arange(time) >= start)
      items = x[1:num_bit + 1, :w].reshape(num_bit, n_seg, seg)
      for s in range(n_seg):  # values unique across items, per segment
        assert len(np.unique(items[:, s], axis=0)) == num_bit
      for query, target in zip(x[start:, :w], y[start:]):
        query = query.reshape(n_seg, seg)
        zero = ~query.any(axis=1)  # [N]
        assert zero.sum() >= n_seg // 2
        consistent = [i for i in range(num_bit)
                      if np.all((query == items[i]).all(axis=1) | zero)]
        assert len(consistent) == 1
        item = items[consistent[0]]
        must_hide = zero & item.any(axis=1)  # zeroed nonzero segments
        # Some hidden set of exactly N/2 segments explains query and target.
        explanations = [
            hidden for hidden in itertools.combinations(
                np.flatnonzero(zero), n_seg // 2)
            if set(np.flatnonzero(must_hide)) <= set(hidden) and
            np.array_equal(target, item[list(hidden)].reshape(-1))]
        assert explanations
        hidden_counts[list(explanations[0])] += 1
        num_queries += 1
  # Every segment is hidden about half of the time.
  assert np.all(np.abs(hidden_counts / num_queries - 0.5) < 0.1)


def test_rr_exact_hidden_segments_with_nonzero_values():
  # Wide segments: a zero segment value has probability ~2**-16 per item, so
  # the zeroed segments are exactly the hidden ones.
  task = tasks.RepresentationRecallTask(batch_size=8, N=4, bit_w=64,
                                        num_bit=4, seed=6)
  seg, w = task.segment_size, task.bit_w
  for batch in _batches(task, 5):
    for b, time in enumerate(batch.seq_len):
      x, y = batch.inputs[b, :time], batch.targets[b, :time]
      items = x[1:5, :w].reshape(4, 4, seg)
      assert items.any(axis=2).all()
      for query, target in zip(x[6:, :w], y[6:]):
        query = query.reshape(4, seg)
        hidden = np.flatnonzero(~query.any(axis=1))
        assert len(hidden) == 2
        (i,) = [i for i in range(4)
                if np.array_equal(np.delete(query, hidden, 0),
                                  np.delete(items[i], hidden, 0))]
        np.testing.assert_array_equal(target, items[i][hidden].reshape(-1))


def _rr_segment_values(batch, task):
  """Decoded stored items: int [B, num_bit, N] segment values (MSB first)."""
  seg = task.segment_size
  items = batch.inputs[:, 1:task.num_bit + 1, :task.bit_w]
  items = items.reshape(items.shape[0], task.num_bit, task.N, seg)
  return (items @ (2. ** np.arange(seg - 1, -1, -1))).astype(np.int64)


@pytest.mark.parametrize('n_seg,bit_w', [(8, 64), (16, 64), (4, 8)])
def test_rr_values_are_sorted_and_never_zero_or_all_ones(n_seg, bit_w):
  # The authors' draw: per segment, distinct values in 1 .. 2**s - 2, sorted
  # ascending over the items (np.unique), so item i holds the i-th smallest.
  task = tasks.RepresentationRecallTask(batch_size=32, N=n_seg, bit_w=bit_w,
                                        num_bit=min(8, 2 ** (bit_w // n_seg)
                                                    - 2), seed=11)
  top = 2 ** task.segment_size - 2
  seen = set()
  for batch in _batches(task, 20):
    values = _rr_segment_values(batch, task)  # [B, num_bit, N]
    assert values.min() >= 1 and values.max() <= top
    assert np.all(np.diff(values, axis=1) > 0)  # strictly ascending
    seen.update(np.unique(values).tolist())
  assert seen == set(range(1, top + 1))  # every allowed value occurs


def test_rr_known_batch_with_two_allowed_values():
  # 2-bit segments allow only the values 1 and 2: with two items the stored
  # items are fixed whatever the seed: item 0 = 01|01, item 1 = 10|10; each
  # query hides one segment and asks for it.
  task = tasks.RepresentationRecallTask(batch_size=4, N=2, bit_w=4, num_bit=2,
                                        min_length=3, max_length=3, seed=3)
  batch = task.next_batch()
  items = np.array([[0, 1, 0, 1], [1, 0, 1, 0]], np.float32)
  for b in range(4):
    np.testing.assert_array_equal(batch.inputs[b, 1:3, :4], items)
    for query, target in zip(batch.inputs[b, 4:, :4], batch.targets[b, 4:]):
      query = query.reshape(2, 2)
      hidden = int(query[1].sum() == 0)  # the zeroed segment
      visible = query[1 - hidden]
      item = items[int(visible[0])].reshape(2, 2)  # 01 -> item 0, 10 -> 1
      assert not query[hidden].any()
      np.testing.assert_array_equal(visible, item[1 - hidden])
      np.testing.assert_array_equal(target, item[hidden])


def test_rr_wide_segments_are_sorted_and_never_zero_or_all_ones():
  # 64-bit segments take the rejection path (no integer choice).
  task = tasks.RepresentationRecallTask(batch_size=4, N=2, bit_w=128,
                                        num_bit=6, seed=2)
  batch = task.next_batch()
  items = batch.inputs[:, 1:7, :128].reshape(4, 6, 2, 64)
  ones = items.sum(axis=-1)
  assert ones.min() > 0 and ones.max() < 64
  for b in range(4):
    for s in range(2):
      rows = [''.join(str(int(v)) for v in row) for row in items[b, :, s]]
      assert rows == sorted(rows) and len(set(rows)) == 6


def test_rr_rejects_mrl():
  with pytest.raises(ValueError, match='p_re'):
    tasks.RepresentationRecallTask(p_re=0.1)


# -- lengths and MRL -----------------------------------------------------------


@pytest.mark.parametrize('name,make,decode', [
    ('copy', ALL_TASKS[0][1], lambda task, t: t // 2 - 1),
    ('ar', ALL_TASKS[1][1], lambda task, t: t // task.item_size - 2),
    ('rr', ALL_TASKS[2][1], lambda task, t: t - task.num_bit - 2),
])
def test_lengths_cover_min_to_max(name, make, decode):
  del name
  task = make(batch_size=16, p_re=0., seed=7)
  lengths = collections.Counter()
  longest = 0
  for batch in _batches(task, 30):
    lengths.update(decode(task, int(t)) for t in batch.seq_len)
    longest = max(longest, int(batch.seq_len.max()))
  assert set(lengths) == set(range(task.min_length, task.max_length + 1))
  assert longest == task.max_time


@pytest.mark.parametrize('name,task,eligible', [
    ('copy', tasks.CopyTask(batch_size=64, p_re=0.1, seed=8), _eligible_copy),
    ('ar', tasks.AssociativeRecallTask(batch_size=64, p_re=0.1, seed=8),
     lambda batch: _eligible_ar(batch, 4)),
])
def test_mrl_fraction_alpha_and_eligibility(name, task, eligible):
  del name
  sampled = total = 0
  while total < 100_000:
    batch = task.next_batch()
    steps = eligible(batch)
    refresh = _refresh(batch)
    assert set(np.unique(refresh)) <= {0., 1.}
    assert not refresh[~steps].any()
    sampled += refresh.sum()
    total += steps.sum()
    alpha = max(1., refresh.sum() / batch.answer_mask.sum())
    weights, got = _weights(batch)
    assert got == np.float32(alpha)
    np.testing.assert_array_equal(weights[batch.answer_mask == 1],
                                  np.float32(alpha))
    np.testing.assert_array_equal(weights[batch.answer_mask == 0],
                                  refresh[batch.answer_mask == 0])
  assert abs(sampled / total - 0.1) < 0.01


def test_p_re_1_refreshes_exactly_the_eligible_steps():
  copy = tasks.CopyTask(batch_size=8, p_re=1., seed=9)
  for batch in _batches(copy, 5):
    np.testing.assert_array_equal(_refresh(batch), _eligible_copy(batch))
    # L refreshed items per L answers: alpha = 1.
    np.testing.assert_array_equal(
        _weights(batch)[0][batch.answer_mask == 1], 1.)
  ar = tasks.AssociativeRecallTask(batch_size=8, p_re=1., seed=9)
  for batch in _batches(ar, 5):
    np.testing.assert_array_equal(_refresh(batch), _eligible_ar(batch, 4))
    # n * item_bit refreshed steps per item_bit answers: alpha = mean n > 1.
    alpha = np.mean(batch.seq_len // ar.item_size - 2)
    np.testing.assert_allclose(
        _weights(batch)[0][batch.answer_mask == 1], alpha, rtol=1e-6)


# -- flag validation -----------------------------------------------------------


@pytest.mark.parametrize('cls,kwargs,flag', [
    (tasks.CopyTask, dict(min_length=9, max_length=8), 'min_length'),
    (tasks.AssociativeRecallTask, dict(min_length=5, max_length=4),
     'min_length'),
    (tasks.RepresentationRecallTask, dict(min_length=17), 'min_length'),
    (tasks.CopyTask, dict(min_length=0), 'min_length'),
    (tasks.CopyTask, dict(p_re=-0.1), 'p_re'),
    (tasks.CopyTask, dict(p_re=1.5), 'p_re'),
    (tasks.AssociativeRecallTask, dict(p_re=2.), 'p_re'),
    (tasks.RepresentationRecallTask, dict(p_re=0.1), 'p_re'),
    (tasks.RepresentationRecallTask, dict(bit_w=60), 'bit_w'),
    (tasks.RepresentationRecallTask, dict(N=7, bit_w=63), 'N'),
    (tasks.RepresentationRecallTask, dict(N=8, bit_w=16, num_bit=5),
     'num_bit'),
    (tasks.CopyTask, dict(bit_w=0), 'bit_w'),
    (tasks.CopyTask, dict(bit_w=8.5), 'bit_w'),
    (tasks.CopyTask, dict(batch_size=0), 'batch_size'),
    (tasks.AssociativeRecallTask, dict(item_bit=0), 'item_bit'),
])
def test_bad_flags_raise_value_error_naming_the_flag(cls, kwargs, flag):
  with pytest.raises(ValueError, match=flag):
    cls(**kwargs)


def test_min_length_message():
  with pytest.raises(ValueError,
                     match=r'min_length \(9\) must be <= max_length \(8\)'):
    tasks.CopyTask(min_length=9, max_length=8)


def test_num_bit_at_the_limit_is_accepted():
  # 3-bit segments: values 1..6, so 6 items use every allowed value.
  task = tasks.RepresentationRecallTask(N=8, bit_w=24, num_bit=6, seed=0)
  batch = task.next_batch()
  items = batch.inputs[0, 1:7, :24].reshape(6, 8, 3)
  values = items @ np.array([4., 2., 1.])  # [num_bit, N]
  np.testing.assert_array_equal(values, np.tile(np.arange(1., 7.)[:, None],
                                                (1, 8)))
  with pytest.raises(ValueError, match=r'num_bit \(7\) must be <= '
                     r'2\*\*\(bit_w/N\) - 2 = 6'):
    tasks.RepresentationRecallTask(N=8, bit_w=24, num_bit=7)
