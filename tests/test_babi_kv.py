"""bAbI for the KV memory network (tasks/babi_kv.py): tokens, parsing,
vocabulary, sizes, arrays, the sklearn-like train/validation split, joint
and single-task loading, folder vs archive, missing data.

Every test writes its own small bAbI-format files into tmp_path.
"""

import math
import random
import re

import numpy as np
import pytest

from tasks import babi
from tasks import babi_kv


STORIES = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra, the tall one, left.
6 Where is Daniel? \thallway\t4
1 The kitchen is north of the garden.
2 How do you go from the garden to the kitchen?\tn,s\t1
"""


def words(text):
  return tuple(text.split())


# -- tokens --------------------------------------------------------------------


def test_tokenize_punctuation_and_question_marks():
  assert babi_kv.tokenize('Bob dropped the apple. Where?') == [
      'Bob', 'dropped', 'the', 'apple', '.', 'Where', '?']
  assert babi_kv.tokenize('Sandra, the tall one, left.\n') == [
      'Sandra', ',', 'the', 'tall', 'one', ',', 'left', '.']
  assert babi_kv.tokenize('Where is Mary? ') == ['Where', 'is', 'Mary', '?']
  # A run of non-word characters is ONE token (stripped).
  assert babi_kv.tokenize('a ?. b') == ['a', '?.', 'b']
  assert babi_kv.tokenize('is it? .') == ['is', 'it', '? .']
  assert babi_kv.tokenize('room_2 x1') == ['room_2', 'x1']
  assert babi_kv.tokenize('  ') == []


def _python2_split(pattern, text):
  """Python 2's re.split: empty matches never split (skip one character)."""
  pieces, last, pos = [], 0, 0
  while pos <= len(text):
    match = pattern.search(text, pos)
    if match is None:
      break
    if match.end() == match.start():
      pos = match.start() + 1
      continue
    pieces.append(text[last:match.start()])
    pieces.extend(match.groups())
    last = pos = match.end()
  pieces.append(text[last:])
  return pieces


def test_tokenize_is_the_python2_meaning_of_the_reference_regex():
  pattern = re.compile(r'(\W+)?', re.ASCII)
  rng = random.Random(0)
  texts = ['Bob dropped the apple. Where is the apple?',
           'Sandra, the tall one, left.', '', '?', 'a', ' a ', 'a,b?c. .']
  texts += [''.join(rng.choice('ab1_ .,?!\'-\t') for _ in range(
      rng.randrange(0, 25))) for _ in range(500)]
  for text in texts:
    expected = [x.strip() for x in _python2_split(pattern, text)
                if x.strip()]
    assert babi_kv.tokenize(text) == expected, text
  # The literal port on Python >= 3.7 splits between characters: wrong.
  naive = [x.strip() for x in re.split(r'(\W+)?', 'apple pie')
           if x and x.strip()]
  assert naive != babi_kv.tokenize('apple pie') == ['apple', 'pie']


# -- parsing ---------------------------------------------------------------------


def test_parse_stories_questions_see_previous_statements_only():
  examples = babi_kv.parse_stories(STORIES, 'qa_test.txt')
  assert examples == [
      babi_kv.Example(
          (words('mary moved to the bathroom'),
           words('john went to the hallway')),
          words('where is mary'), 'bathroom'),
      # The earlier question is not part of the story; commas are tokens.
      babi_kv.Example(
          (words('mary moved to the bathroom'),
           words('john went to the hallway'),
           words('daniel went back to the hallway'),
           words('sandra , the tall one , left')),
          words('where is daniel'), 'hallway'),
      # Line id 1 starts a new story; 'n,s' is one answer word.
      babi_kv.Example(
          (words('the kitchen is north of the garden'),),
          words('how do you go from the garden to the kitchen'), 'n,s'),
  ]
  # A list of lines (with newlines) parses the same; blank lines skipped.
  lines = STORIES.replace('\n', '\n\n').splitlines(keepends=True)
  assert babi_kv.parse_stories(lines) == examples
  assert babi_kv.parse_stories(STORIES.replace('\n', '\r\n')) == examples


def test_parse_stories_errors():
  with pytest.raises(babi.BabiDataError, match='line 2'):
    babi_kv.parse_stories('1 Mary went home.\nbroken\n', 'f.txt')
  with pytest.raises(babi.BabiDataError, match='question line'):
    babi_kv.parse_stories('1 Where is Mary?\tkitchen\n')


# -- vocabulary, sizes, arrays ------------------------------------------------------


def test_vocab_is_sorted_from_one_with_nil_zero():
  examples = babi_kv.parse_stories(STORIES)
  word_idx = babi_kv.build_vocab(examples)
  vocab = sorted(word_idx, key=word_idx.get)
  assert vocab == sorted(vocab)
  assert sorted(word_idx.values()) == list(range(1, len(word_idx) + 1))
  assert 0 not in word_idx.values()
  assert vocab[0] == ','  # ',' sorts before the letters
  assert 'n,s' in word_idx and 'n' not in word_idx and '?' not in word_idx
  assert {'bathroom', 'sandra', 'how', 'kitchen'} <= set(word_idx)
  assert len(word_idx) == 27


def test_vectorize_keeps_most_recent_sentences_reversed_and_pads():
  word_idx = {'a': 1, 'b': 2, 'c': 3, 'd': 4}
  examples = [
      babi_kv.Example((('a',), ('b', 'c'), ('d', 'a', 'b')), ('c', 'd'), 'a'),
      babi_kv.Example((('b',),), ('a',), 'd'),
      babi_kv.Example((), ('b', 'b', 'b'), 'c'),
  ]
  S, Q, A = babi_kv.vectorize(examples, word_idx, sentence_size=3,
                              memory_size=2)
  np.testing.assert_array_equal(S, [[[4, 1, 2], [2, 3, 0]],
                                    [[2, 0, 0], [0, 0, 0]],
                                    [[0, 0, 0], [0, 0, 0]]])
  np.testing.assert_array_equal(Q, [[3, 4, 0], [1, 0, 0], [2, 2, 2]])
  np.testing.assert_array_equal(A, [1, 4, 3])
  assert S.dtype == Q.dtype == A.dtype == np.int32
  S4, _, _ = babi_kv.vectorize(examples[:1], word_idx, 4, 4)
  np.testing.assert_array_equal(S4[0], [[4, 1, 2, 0], [2, 3, 0, 0],
                                        [1, 0, 0, 0], [0, 0, 0, 0]])
  with pytest.raises(ValueError, match='longer than sentence_size'):
    babi_kv.vectorize(examples, word_idx, 2, 2)
  with pytest.raises(ValueError, match="'e'"):
    babi_kv.vectorize([babi_kv.Example((), ('e',), 'a')], word_idx, 3, 2)


def test_sizes_sentence_size_includes_queries():
  examples = [
      babi_kv.Example((('a', 'b'),), ('q',) * 5, 'a'),
      babi_kv.Example((('a',), ('b', 'c', 'd'), ('a',)), ('q',), 'a'),
      babi_kv.Example((('a',),) * 4, ('q',), 'a'),
  ]
  sizes = babi_kv.data_sizes(examples, memory_size=3)
  # mean story size int((1 + 3 + 4) / 3) = int(2.67) = 2 (truncated, not
  # rounded); memory min(3, 4).
  assert sizes == babi_kv.Sizes(max_story_size=4, mean_story_size=2,
                                sentence_size=5, query_size=5, memory_size=3)
  # int(3.5) = 3.
  assert babi_kv.data_sizes(examples[1:], 50) == babi_kv.Sizes(4, 3, 3, 1, 4)


# -- split --------------------------------------------------------------------------


def test_split_indices_is_the_sklearn_permutation_rule():
  for n in (2, 9, 10, 11, 19, 20, 21, 30, 999, 1000):
    train, val = babi_kv.split_indices(n, 0.1, random_state=0)
    permutation = np.random.RandomState(0).permutation(n)
    n_val = math.ceil(0.1 * n)
    assert n_val == -(-n // 10)
    np.testing.assert_array_equal(val, permutation[:n_val])
    np.testing.assert_array_equal(train, permutation[n_val:])
    assert len(set(train) | set(val)) == n and not set(train) & set(val)
  # Deterministic for an int, different ints differ.
  a = babi_kv.split_indices(100, 0.1, 7)
  b = babi_kv.split_indices(100, 0.1, 7)
  c = babi_kv.split_indices(100, 0.1, 8)
  assert all(np.array_equal(x, y) for x, y in zip(a, b))
  assert not np.array_equal(a[1], c[1])
  # A RandomState is used as given (advanced); None: fresh entropy.
  rng = np.random.RandomState(3)
  first, second = (babi_kv.split_indices(50, 0.1, rng) for _ in range(2))
  check = np.random.RandomState(3)
  for got in (first, second):
    np.testing.assert_array_equal(got[1], check.permutation(50)[:5])
  x, y = (babi_kv.split_indices(1000, 0.1, None) for _ in range(2))
  assert sorted(np.concatenate(x)) == list(range(1000))
  assert not np.array_equal(x[1], y[1])
  with pytest.raises(ValueError, match='empty'):
    babi_kv.split_indices(1, 0.1, 0)
  with pytest.raises(ValueError, match='random_state'):
    babi_kv.split_indices(10, 0.1, 'seed')


# -- loading ------------------------------------------------------------------------


def qa_file(task, split, num_questions, per_story=3):
  """Stories of `per_story` questions; each answer a unique word."""
  lines, asked = [], 0
  while asked < num_questions:
    nid = 1
    for _ in range(min(per_story, num_questions - asked)):
      answer = f'r{task}{split}{asked}'
      lines.append(f'{nid} Mary went to the {answer}.')
      lines.append(f'{nid + 1} Where is Mary? \t{answer}\t{nid}')
      nid += 2
      asked += 1
  return '\n'.join(lines) + '\n'


SIZES = {1: (12, 3), 2: (25, 4), 19: (31, 5)}


def qa_files(sizes=None):
  sizes = sizes or SIZES
  files = {(t, s): qa_file(t, s, n) for t, (n_train, n_test) in sizes.items()
           for s, n in (('train', n_train), ('test', n_test))}
  if (19, 'test') in files:
    files[19, 'test'] += STORIES.replace('Sandra, the tall one, left',
                                       'Sandra left')
  return files


def answers(data, split):
  idx_word = {i: w for w, i in data.word_idx.items()}
  return [idx_word[int(a)] for a in split.A]


def test_joint_split_is_per_task_split_concatenated_in_task_order(babi_files, tmp_path):
  files = qa_files()
  data_dir = babi_files.write_tree(tmp_path, files, set_name='en')
  data = babi_kv.load_kv(data_dir, [19, 2, 1], memory_size=4, random_state=0)
  assert data.tasks == (1, 2, 19) and data.set_name == 'en'
  val_sizes = [math.ceil(0.1 * n) for n, _ in SIZES.values()]  # 2, 3, 4
  np.testing.assert_array_equal(
      data.val.task, np.repeat([1, 2, 19], val_sizes))
  np.testing.assert_array_equal(
      data.train.task, np.repeat([1, 2, 19], [n - v for (n, _), v in
                                              zip(SIZES.values(), val_sizes)]))
  expected_train, expected_val, expected_answers = [], [], []
  for task in (1, 2, 19):
    examples = babi_kv.parse_stories(files[task, 'train'])
    S, Q, A = babi_kv.vectorize(examples, data.word_idx, data.sentence_size,
                                data.memory_size)
    train, val = babi_kv.split_indices(len(A), 0.1, 0)
    expected_train.append((S[train], Q[train], A[train]))
    expected_val.append((S[val], Q[val], A[val]))
    # The documented rule on the answer words themselves.
    permutation = np.random.RandomState(0).permutation(len(examples))
    expected_answers += [examples[i].answer
                         for i in permutation[:math.ceil(0.1 * len(A))]]
  for split, parts in ((data.train, expected_train), (data.val, expected_val)):
    for i in range(3):
      np.testing.assert_array_equal(split[i],
                                    np.concatenate([p[i] for p in parts]))
  assert answers(data, data.val) == expected_answers
  # Disjoint and covering, per task.
  for task, (n, _) in SIZES.items():
    got = [w for w, t in zip(answers(data, data.train) +
                             answers(data, data.val),
                             list(data.train.task) + list(data.val.task))
           if t == task]
    assert sorted(got) == sorted(f'r{task}train{q}' for q in range(n))
  # Test: every test question, file order, tasks in order.
  test_words = answers(data, data.test)
  assert test_words == ([f'r1test{q}' for q in range(3)] +
                        [f'r2test{q}' for q in range(4)] +
                        [f'r19test{q}' for q in range(5)] +
                        ['bathroom', 'hallway', 'n,s'])
  np.testing.assert_array_equal(data.test.task,
                                np.repeat([1, 2, 19], [3, 4, 8]))
  # Sizes over train and test: 'how do you go from the garden to the
  # kitchen' (10 words) is the longest; Daniel's question sees 4
  # statements (the generated stories at most 3).
  all_examples = [e for t in (1, 2, 19) for s in ('train', 'test')
                  for e in babi_kv.parse_stories(files[t, s])]
  sizes = babi_kv.data_sizes(all_examples, 4)
  assert (data.sentence_size, data.max_story_size, data.mean_story_size,
          data.memory_size) == (10, 4, sizes.mean_story_size, 4)
  assert data.word_idx == babi_kv.build_vocab(all_examples)
  assert data.vocab_size == len(data.word_idx) + 1
  assert data.train.S.shape == (data.train.size, 4, 10)
  assert data.train.S.dtype == np.int32
  # Memory slot 0 holds the most recent statement.
  idx = {w: i for w, i in data.word_idx.items()}
  last = data.test.S[-1]  # 'n,s': the story is one statement
  np.testing.assert_array_equal(
      last[0, :7], [idx[w] for w in 'the kitchen is north of the garden'
                    .split()])
  assert not last[1:].any()


def test_joint_rows_match_single_task_loads(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, qa_files(), set_name='en')
  joint = babi_kv.load_kv(data_dir, (1, 2, 19), random_state=5)
  for task in (1, 2, 19):
    single = babi_kv.load_kv(data_dir, task, random_state=5)
    assert single.tasks == (task,)
    for split in ('train', 'val', 'test'):
      got = [w for w, t in zip(answers(joint, getattr(joint, split)),
                               getattr(joint, split).task) if t == task]
      assert got == answers(single, getattr(single, split))


def test_all_twenty_tiny_tasks_and_memory_size(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                       set_name='en')
  data = babi_kv.load_kv(data_dir, range(1, 21), memory_size=1,
                         random_state=0)
  assert (data.train.size, data.val.size, data.test.size) == (20, 20, 20)
  assert data.memory_size == 1 and data.max_story_size == 2
  # 'mary saw the w?tr' (4) vs 'what did mary see' (4).
  assert data.sentence_size == 4
  # Memory keeps the most recent statement: 'john took it'.
  np.testing.assert_array_equal(
      data.test.S[:, 0, :3],
      np.tile([data.word_idx[w] for w in ('john', 'took', 'it')], (20, 1)))
  # None: a fresh split, still 1 validation question per task.
  other = babi_kv.load_kv(data_dir, range(1, 21), random_state=None)
  np.testing.assert_array_equal(other.val.task, np.arange(1, 21))


def test_archive_and_folder_give_identical_arrays(babi_files, tmp_path):
  files = qa_files()
  folder = babi_files.write_tree(tmp_path, files, set_name='en')
  archive_dir = tmp_path / 'archive'
  babi_files.write_archive(str(archive_dir / babi.ARCHIVE_NAME), files,
                               set_name='en')
  a = babi_kv.load_kv(folder, (1, 2, 19), random_state=0)
  b = babi_kv.load_kv(archive_dir, (1, 2, 19), random_state=0)
  assert a.source.startswith('folder') and b.source.startswith('archive')
  assert list(a.word_idx.items()) == list(b.word_idx.items())
  assert a[1:6] == b[1:6]
  for split in ('train', 'val', 'test'):
    for x, y in zip(getattr(a, split), getattr(b, split)):
      assert x.dtype == y.dtype and np.array_equal(x, y)


def test_missing_data_and_files(babi_files, tmp_path):
  with pytest.raises(babi.BabiDataError, match='No bAbI data'):
    babi_kv.load_kv(tmp_path / 'nothing', [1])
  files = qa_files()
  del files[2, 'train']
  data_dir = babi_files.write_tree(tmp_path, files, set_name='en')
  for tasks in ((1, 2), 2):
    with pytest.raises(ValueError, match='qa2_two-supporting-facts_train'):
      babi_kv.load_kv(data_dir, tasks)
  # Other tasks still load.
  assert babi_kv.load_kv(data_dir, (1, 19), random_state=0).tasks == (1, 19)
  files = qa_files()
  del files[19, 'test']
  data_dir = babi_files.write_tree(tmp_path, files, set_name='en',
                                       name='no_test')
  with pytest.raises(babi.BabiDataError, match='qa19_path-finding_test'):
    babi_kv.load_kv(data_dir, (1, 19))
  # Only the en-10k set present: asking for 'en' is missing data.
  data_dir = babi_files.write_tree(tmp_path, qa_files(), name='10k')
  with pytest.raises(babi.BabiDataError):
    babi_kv.load_kv(data_dir, 1, set_name='en')
  assert babi_kv.load_kv(data_dir, 1, set_name='en-10k').set_name == 'en-10k'


def test_argument_checks(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, qa_files(), set_name='en')
  with pytest.raises(ValueError, match='tasks'):
    babi_kv.load_kv(data_dir, [21])
  with pytest.raises(ValueError, match='memory_size'):
    babi_kv.load_kv(data_dir, [1], memory_size=0)
  with pytest.raises(ValueError, match='random_state'):
    babi_kv.load_kv(data_dir, [1], random_state=1.5)
  # A task with a single training question cannot be split.
  files = qa_files({1: (1, 1)})
  data_dir = babi_files.write_tree(tmp_path, files, set_name='en',
                                       name='one')
  with pytest.raises(ValueError, match='task 1'):
    babi_kv.load_kv(data_dir, [1], random_state=0)
