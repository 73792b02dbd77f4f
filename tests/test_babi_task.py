"""bAbI training batches with their MRL masks, test batches and grading
(tasks/babi/task.py, grading.py; the authors' loader.py and eval.py).

Stories are encoded from small texts written here; no file is read.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from dam import mrl
from tasks import babi
from tasks import base

QA1_TRAIN = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Daniel? \thallway\t4
1 Sandra journeyed to the office.
2 Where is Sandra? \toffice\t1
"""
QA19_TRAIN = """\
1 The kitchen is north of the garden.
2 The office is west of the garden.
3 How do you go from the office to the kitchen?\te,n\t2 1
"""


# -- training batches ----------------------------------------------------------


def _tensors(batch):
  return base.Batch(*map(tf.constant, batch))


def _alpha_and_weights(task, batch):
  """The in-graph alpha of `batch` and its MRL step weights [B, T], as
  `task.loss` computes them."""
  tensors = _tensors(batch)
  alpha = task.answer_weight(tensors)
  weights = mrl.step_weights(tensors.refresh_mask, tensors.answer_mask,
                             alpha, overlap=task.reproduce_quirks)
  return float(alpha), weights.numpy()


def synthetic_stories(num_stories, seed=0):
  """Stories whose question words (where, ask) never occur in statements."""
  rng = np.random.default_rng(seed)
  people, places = ['john', 'mary', 'sandra'], ['kitchen', 'garden', 'hall']
  text = []
  for _ in range(num_stories):
    line = 1
    for _ in range(rng.integers(1, 4)):
      for _ in range(rng.integers(1, 5)):
        text.append(f'{line} {rng.choice(people)} went to the '
                    f'{rng.choice(places)}.')
        line += 1
      answer = ','.join(rng.choice(places, size=rng.integers(1, 3)))
      text.append(f'{line} Where ask {rng.choice(people)}? \t{answer}\t1')
      line += 1
  text = '\n'.join(text) + '\n'
  lexicon = babi.build_lexicon([text])
  stories, _ = babi.encode_file(text, lexicon, task=1)
  return stories, lexicon


def test_batch_layout_and_masks():
  stories, lexicon = synthetic_stories(40)
  task = babi.BabiTask(stories, len(lexicon), batch_size=8, p_re=0.5, seed=3,
                       reproduce_quirks=False)
  assert task.input_size == task.output_size == len(lexicon)
  assert task.max_time == babi.LENGTH_LIMIT and task.steps_per_epoch == 5
  question_words = {lexicon['where'], lexicon['ask'], babi.QUESTION}
  saw_alpha_above_one = False
  for _ in range(10):
    batch = task.next_batch()
    assert isinstance(batch, base.Batch)
    inputs, targets, seq_len, original, refresh = batch
    assert inputs.dtype == targets.dtype == seq_len.dtype == np.int32
    assert refresh.dtype == original.dtype == np.float32
    assert inputs.shape == (8, seq_len.max()) == refresh.shape
    answers = inputs == babi.ANSWER
    np.testing.assert_array_equal(original, answers.astype(np.float32))
    np.testing.assert_array_equal(targets[~answers], inputs[~answers])
    assert np.all(targets[answers] > babi.ANSWER)
    pad = np.arange(inputs.shape[1])[None] >= seq_len[:, None]
    assert np.all(inputs[pad] == 0) and np.all(refresh[pad] == 0)
    assert np.all(inputs[~pad] != 0)
    assert set(np.unique(refresh)) <= {0., 1.}
    sampled = refresh == 1
    assert not (sampled & answers).any()
    sampled_tokens = set(inputs[sampled].tolist())
    assert not sampled_tokens & question_words
    assert babi.DOT not in sampled_tokens and babi.PAD not in sampled_tokens
    alpha = max(1., sampled.sum() / answers.sum())
    got, weights = _alpha_and_weights(task, batch)
    assert got == np.float32(alpha)
    np.testing.assert_allclose(weights[answers], alpha, rtol=1e-6)
    np.testing.assert_array_equal(weights[~answers], refresh[~answers])
    saw_alpha_above_one |= alpha > 1.
  assert saw_alpha_above_one


def test_p_re_one_samples_every_eligible_token_and_p_re_zero_none():
  stories, lexicon = synthetic_stories(16)
  task = babi.BabiTask(stories, len(lexicon), batch_size=16, p_re=1., seed=0,
                       reproduce_quirks=False)
  batch = task.next_batch()
  inputs = batch.inputs
  eligible = np.isin(inputs, [lexicon[w] for w in (
      'john', 'mary', 'sandra', 'went', 'to', 'the', 'kitchen', 'garden',
      'hall')])
  # 'john', 'mary', 'sandra' in questions are question tokens: not eligible.
  qmask = np.zeros_like(eligible)
  for b in range(inputs.shape[0]):
    row = inputs[b]
    for q in np.flatnonzero(row == babi.QUESTION):
      qmask[b, q - 3:q + 1] = True  # where ask <person> ?
  eligible &= ~qmask
  np.testing.assert_array_equal(batch.refresh_mask,
                                eligible.astype(np.float32))
  alpha, weights = _alpha_and_weights(task, batch)
  assert alpha == pytest.approx(eligible.sum() / batch.answer_mask.sum())
  assert weights[batch.answer_mask == 1][0] == pytest.approx(alpha)
  for quirks in (True, False):
    zero = babi.BabiTask(stories, len(lexicon), batch_size=4, p_re=0.,
                         seed=0, reproduce_quirks=quirks)
    for _ in range(5):
      batch = zero.next_batch()
      assert not batch.refresh_mask.any()
      alpha, weights = _alpha_and_weights(zero, batch)
      assert alpha == 1.
      np.testing.assert_array_equal(weights, batch.answer_mask)


def test_sampled_fraction_close_to_p_re():
  stories, lexicon = synthetic_stories(64, seed=1)
  task = babi.BabiTask(stories, len(lexicon), batch_size=16, p_re=0.3,
                       seed=5, reproduce_quirks=False)
  sampled = eligible = 0
  for _ in range(100):
    batch = task.next_batch()
    assert not (batch.refresh_mask * batch.answer_mask).any()
    sampled += int(batch.refresh_mask.sum())
    qm = np.zeros(batch.inputs.shape, bool)
    for b, q in zip(*np.nonzero(batch.inputs == babi.QUESTION)):
      qm[b, q - 3:q + 1] = True  # where ask <person> ?
    eligible += int(babi.refresh_eligible(batch.inputs, qm).sum())
  assert eligible > 10000
  assert sampled / eligible == pytest.approx(0.3, abs=0.02)


def _ordered_task(stories, p_re, reproduce_quirks):
  """A task over `stories` whose first batch holds them in the given order."""
  task = babi.BabiTask(stories, 11, batch_size=len(stories), p_re=p_re,
                       seed=0, reproduce_quirks=reproduce_quirks)
  state = task.get_state()
  state['permutation'] = list(range(len(stories)))
  task.set_state(state)
  return task


def test_authors_mrl_mask_known_answer():
  # Three stories, p_re = 1 (every candidate sampled). Lexicon ids: PAD 0,
  # '.' 1, '?' 2, '-' 3, words 4+. Story c is in batch row 2.
  a = [4, 5, 6, 1, 7, 2, 3]         # w w w . q ? -
  b = [7, 1, 8, 9, 2, 3, 3]         # w . q q ? - -
  c = [4, 7, 1, 5, 8, 2, 3, 6, 2, 3]  # w w . q q ? - q ? -
  stories = [babi.Story(np.array(s, np.int32), np.array(s, np.int32),
                        np.array([t not in (1, 3) and i > s.index(1)
                                  for i, t in enumerate(s)]), 1)
             for s in (a, b, c)]
  task = _ordered_task(stories, 1.0, reproduce_quirks=True)
  batch = task.next_batch()
  np.testing.assert_array_equal(batch.inputs[2], c)
  answers = (batch.inputs == babi.ANSWER).astype(np.float32)  # 5 answers
  np.testing.assert_array_equal(batch.answer_mask, answers)
  # The authors' loader: rows 0 and 1 never refreshed; in row 2 every token
  # but '.' and padding is sampled, questions, '?' and '-' included
  # (7 + 2 tokens); the two sampled '-' count in alpha = (7 + 2) / 5 = 1.8,
  # then are trained as answers, with weight alpha.
  assert not batch.refresh_mask[:2].any()
  np.testing.assert_array_equal(batch.refresh_mask[2],
                                [1, 1, 0, 1, 1, 1, 1, 1, 1, 1])
  alpha, weights = _alpha_and_weights(task, batch)
  assert alpha == np.float32(1.8)
  np.testing.assert_array_equal(weights[:2], np.float32(1.8) * answers[:2])
  np.testing.assert_array_equal(
      weights[2], np.float32([1, 1, 0, 1, 1, 1, 1.8, 1, 1, 1.8]))
  # The corrected loss: statements only ('w w' of each story before its
  # first '.', rows 0..2: 3 + 1 + 2 = 6 tokens), alpha = max(1, 6 / 5).
  task = _ordered_task(stories, 1.0, reproduce_quirks=False)
  batch = task.next_batch()
  np.testing.assert_array_equal(batch.refresh_mask[2],
                                [1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
  alpha, weights = _alpha_and_weights(task, batch)
  assert alpha == np.float32(1.2)
  np.testing.assert_array_equal(
      weights[2], np.float32([1, 1, 0, 0, 0, 0, 1.2, 0, 0, 1.2]))
  np.testing.assert_array_equal(
      weights[0], np.float32([1, 1, 1, 0, 0, 0, 1.2, 0, 0, 0]))
  # p_re = 0: the plain answer weights in both variants.
  for quirks in (True, False):
    task = _ordered_task(stories, 0.0, reproduce_quirks=quirks)
    batch = task.next_batch()
    assert not batch.refresh_mask.any()
    alpha, weights = _alpha_and_weights(task, batch)
    np.testing.assert_array_equal(weights, answers)
    assert alpha == 1.


def test_authors_mrl_alpha_has_no_floor_and_the_stream_is_shared():
  stories, lexicon = synthetic_stories(64, seed=2)
  quirky = babi.BabiTask(stories, len(lexicon), batch_size=8, p_re=0.02,
                         seed=4)
  fixed = babi.BabiTask(stories, len(lexicon), batch_size=8, p_re=0.02,
                        seed=4, reproduce_quirks=False)
  alphas = []
  for _ in range(20):
    q, f = quirky.next_batch(), fixed.next_batch()
    np.testing.assert_array_equal(q.inputs, f.inputs)  # same data stream
    assert not q.refresh_mask[:2].any()  # rows 0, 1: no refresh
    alphas.append(_alpha_and_weights(quirky, q)[0])
    assert _alpha_and_weights(fixed, f)[0] >= 1.
  assert min(alphas) < 1.  # a rare refresh: the bare ratio falls below 1


def test_refresh_eligible_uses_the_question_mask():
  inputs = np.array([[5, 6, 1, 7, 8, 2, 3, 0]])
  qmask = np.array([[0, 0, 0, 1, 1, 1, 0, 0]], bool)
  np.testing.assert_array_equal(
      babi.refresh_eligible(inputs, qmask),
      [[True, True, False, False, False, False, False, False]])


def test_epochs_shuffle_and_cover_stories_once():
  # Distinct stories: one statement each with a distinct length.
  text = ''.join(f'1 Mary {"very " * k}quickly went home.\n'
                 f'2 Where is Mary? \thome\t1\n' for k in range(23))
  lexicon = babi.build_lexicon([text])
  stories, _ = babi.encode_file(text, lexicon, 1)
  task = babi.BabiTask(stories, len(lexicon), batch_size=5, p_re=0.2, seed=9)
  assert task.steps_per_epoch == 4 and task.epoch == 0
  epochs = []
  for epoch in range(3):
    seen = []
    for step in range(4):
      assert task.epoch == epoch and task.position == step
      seen += task.next_batch().seq_len.tolist()  # lengths are distinct
    epochs.append(seen)
    assert task.epoch == epoch + 1 and task.position == 0
  for seen in epochs:
    assert len(seen) == 20 and len(set(seen)) == 20  # 3 left out per epoch
  assert epochs[0] != epochs[1] != epochs[2]
  # Same seed, same stream; another seed, another one.
  again = babi.BabiTask(stories, len(lexicon), 5, 0.2, seed=9)
  other = babi.BabiTask(stories, len(lexicon), 5, 0.2, seed=10)
  task = babi.BabiTask(stories, len(lexicon), 5, 0.2, seed=9)
  a, b, c = task.next_batch(), again.next_batch(), other.next_batch()
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a.seq_len, c.seq_len)


def test_get_state_set_state_resumes_exact_stream():
  stories, lexicon = synthetic_stories(30, seed=2)
  task = babi.BabiTask(stories, len(lexicon), batch_size=4, p_re=0.4, seed=1)
  for _ in range(9):  # into the second epoch (7 steps per epoch)
    task.next_batch()
  state = json.loads(json.dumps(task.get_state()))
  assert state['epoch'] == 1 and state['position'] == 2
  expected = [task.next_batch() for _ in range(12)]
  resumed = babi.BabiTask(stories, len(lexicon), 4, 0.4, seed=77)
  resumed.set_state(state)
  assert resumed.epoch == 1 and resumed.position == 2
  for want in expected:
    got = resumed.next_batch()
    for x, y in zip(want, got):
      np.testing.assert_array_equal(x, y)
  assert resumed.epoch == task.epoch == 3
  small = babi.BabiTask(stories[:20], len(lexicon), 4, 0.4, seed=1)
  with pytest.raises(ValueError, match='permutation'):
    small.set_state(state)
  with pytest.raises(ValueError, match='Not a BabiTask state'):
    small.set_state({'rng': state['rng']})


def test_task_argument_checks():
  stories, lexicon = synthetic_stories(3)
  with pytest.raises(ValueError, match='batch_size'):
    babi.BabiTask(stories, len(lexicon), batch_size=4)
  with pytest.raises(ValueError, match='p_re'):
    babi.BabiTask(stories, len(lexicon), batch_size=2, p_re=1.5)


# -- test batches and grading --------------------------------------------------


def test_test_batches_cover_every_story_in_order():
  stories, _ = synthetic_stories(11, seed=4)
  batches = babi.test_batches(stories, 4)
  assert [b.inputs.shape[0] for b in batches] == [4, 4, 3]
  rows = [(b.inputs[i, :b.seq_len[i]], b.targets[i, :b.seq_len[i]])
          for b in batches for i in range(b.inputs.shape[0])]
  for story, (inputs, targets) in zip(stories, rows):
    np.testing.assert_array_equal(story.inputs, inputs)
    np.testing.assert_array_equal(story.targets, targets)
  for b in batches:
    assert not b.refresh_mask.any()
    np.testing.assert_array_equal(b.answer_mask,
                                  (b.inputs == babi.ANSWER).astype(float))


def test_grading():
  lexicon = babi.build_lexicon([QA1_TRAIN, QA19_TRAIN])
  one, _ = babi.encode_file(QA1_TRAIN, lexicon, 1)
  two, _ = babi.encode_file(QA19_TRAIN, lexicon, 19)
  (batch,) = babi.test_batches(one + two, 8)  # questions: 2, 1, 1 (2 words)
  perfect = batch.targets.copy()
  perfect[batch.answer_mask == 0] = 0  # non-answer predictions ignored
  assert babi.grade(perfect, batch).tolist() == [True] * 4
  assert babi.grade_counts(perfect, batch) == (4, 4)
  assert babi.error_percent(4, 4) == 0.
  # One wrong token of the two-token answer "e,n": that question is wrong.
  wrong = perfect.copy()
  row = 2
  last = batch.seq_len[row] - 1
  wrong[row, last] = lexicon['e']  # target 'n'
  assert babi.grade(wrong, batch).tolist() == [True, True, True, False]
  # Also the second question of story 0 wrong: 2 of 4 right -> 50 %.
  story0 = batch.inputs[0, :batch.seq_len[0]]
  wrong[0, np.flatnonzero(story0 == babi.ANSWER)[1]] = lexicon['office']
  assert babi.grade(wrong, batch).tolist() == [True, False, True, False]
  questions, right = babi.grade_counts(wrong, batch)
  assert (questions, right) == (4, 2)
  assert babi.error_percent(questions, right) == pytest.approx(50.)
  with pytest.raises(ValueError, match='shape'):
    babi.grade(wrong[:, :-1], batch)
