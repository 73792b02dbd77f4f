"""bAbI for the Key-Value Memory Network baseline, encoded as the reference
TF implementation siyuanzhao/key-value-memory-networks did (`data_utils.py`,
`joint.py`, `single.py`); the rules in full: docs/kvmemnn.md, "The data
encoding".

The raw files are read by `tasks.babi` (the project's one bAbI reader; it
raises `babi.BabiDataError` saying what to put where); the vocabulary,
tokens and ids here are this module's own. Each question becomes one
example: its story (the earlier statements of its story, oldest first),
its question, and its answer as ONE vocabulary word. `load_kv` returns the
splits as arrays:

  S  int32 [n, memory_size, sentence_size]  story sentences as word ids,
     slot 0 the MOST RECENT sentence (the temporal encodings depend on this
     order), only the memory_size most recent, padded with 0 (nil).
  Q  int32 [n, sentence_size]  the question.
  A  int32 [n]                 the answer's word id (the label).
  task int32 [n]               the task number.

Training and validation: each task's training file split 90/10 as
sklearn's `train_test_split(test_size=0.1, random_state=...)` did
(`split_indices`), the tasks concatenated in order; test: each task's test
file. A requested task without a training file (the official en-10k lacks
qa3's) is a ValueError naming the file.
"""

import collections
import math
import numbers
import re

import numpy as np

from tasks import babi
from tasks import base

DEFAULT_SET = 'en'
MEMORY_SIZE = 50        # joint.py's --memory_size (single.py: 20)
VALIDATION_FRACTION = 0.1

_TOKEN_RE = re.compile(r'\w+|\W+', re.ASCII)

# One question: story: tuple of sentences (tuples of words), oldest first;
# query: tuple of words ('?' removed); answer: one word (str).
Example = collections.namedtuple('Example', ('story', 'query', 'answer'))
# data_sizes(...): see its docstring.
Sizes = collections.namedtuple(
    'Sizes', ('max_story_size', 'mean_story_size', 'sentence_size',
              'query_size', 'memory_size'))


class KVSplit(collections.namedtuple('KVSplit', ('S', 'Q', 'A', 'task'))):
  """One split: S int32 [n, memory_size, sentence_size], Q int32
  [n, sentence_size], A int32 [n] answer word ids, task int32 [n]."""
  __slots__ = ()

  @property
  def size(self):
    return int(self.A.shape[0])


class KVData(collections.namedtuple(
    'KVData', ('word_idx', 'vocab_size', 'sentence_size', 'memory_size',
               'max_story_size', 'mean_story_size', 'train', 'val', 'test',
               'tasks', 'set_name', 'source'))):
  """A bAbI set encoded for the KV memory network (module docstring).

  Fields:
    word_idx: dict word -> id (1..vocab_size-1, sorted words; 0 is nil).
    vocab_size: len(word_idx) + 1.
    sentence_size, memory_size, max_story_size, mean_story_size: ints.
    train, val, test: `KVSplit`s.
    tasks: the task numbers, ascending.
    set_name: 'en' or 'en-10k'; source: where the data was read from.
  """
  __slots__ = ()


# -- tokens and parsing ----------------------------------------------------------


def tokenize(sentence):
  """The reference's tokenisation with its Python-2 meaning.

  The reference's `re.split('(\\W+)?', sent)` never split at an empty match
  in Python 2, so its pieces were the runs of word and of non-word
  characters; Python >= 3.7 splits between every character. This keeps the
  Python-2 meaning: 'Bob dropped the apple. Where?' -> Bob dropped the
  apple . Where ? (`parse_stories` lower-cases the line first).

  Returns:
    list of tokens: the runs of word characters and the stripped, non-empty
    runs of other characters, in order (case unchanged).
  """
  return [t.strip() for t in _TOKEN_RE.findall(sentence) if t.strip()]


def _split_lines(text):
  return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def parse_stories(lines, name='<text>'):
  """The questions of one bAbI file (the reference's `parse_stories`).

  Args:
    lines: the file's text (str) or an iterable of its lines.
    name: file name for error messages.

  Returns:
    list of `Example`, one per question, in file order.

  Raises:
    BabiDataError: a line without an integer id (ASCII digits,
      `babi.line_id`) or without words, a statement not ending in '.', a
      question line without exactly three TAB-separated fields, a '?'
      but no answer field, or an empty answer.
  """
  if isinstance(lines, str):
    lines = _split_lines(lines)
  examples, story = [], []
  for number, raw in enumerate(lines, 1):
    line = raw.rstrip('\r\n')
    if not line.strip():
      continue
    line = line.lower()
    nid, _, line = line.partition(' ')
    nid = babi.line_id(nid)
    if nid is None:
      raise babi.BabiDataError(
          f'{name} line {number}: expected "<id> <text>" with a positive '
          f'integer id in ASCII digits (0-9), got {raw[:60]!r}.')
    if nid == 1:
      story = []
    if '\t' in line:
      fields = line.split('\t')
      if len(fields) != 3:
        raise babi.BabiDataError(
            f'{name} line {number}: a question line needs '
            f'"question<TAB>answer<TAB>supporting ids", got {raw[:60]!r}.')
      question, answer, _ = fields
      if not answer.strip() or '?' not in question:
        raise babi.BabiDataError(
            f'{name} line {number}: a question line needs a question ending '
            f'in "?" and a non-empty answer, got {raw[:60]!r}.')
      query = tokenize(question)
      if query and query[-1] == '?':
        query = query[:-1]
      examples.append(Example(tuple(s for s in story if s), tuple(query),
                              answer))
    elif '?' in line or not tokenize(line):
      raise babi.BabiDataError(
          f'{name} line {number}: '
          + ('a question line needs "question<TAB>answer<TAB>supporting '
             'ids"' if '?' in line else 'no words after the line id') +
          f', got {raw[:60]!r}.')
    elif not line.rstrip().endswith('.'):
      raise babi.BabiDataError(
          f'{name} line {number}: {babi.NOT_A_LINE}, got {raw[:60]!r}.')
    else:
      sentence = tokenize(line)
      if sentence and sentence[-1] == '.':
        sentence = sentence[:-1]
      story.append(tuple(sentence))
  return examples


# -- vocabulary, sizes, arrays --------------------------------------------------------


def build_vocab(examples):
  """dict word -> id: the sorted words of the examples' stories, queries and
  answers, ids from 1 (0 is the nil word)."""
  words = set()
  for example in examples:
    for sentence in example.story:
      words.update(sentence)
    words.update(example.query)
    words.add(example.answer)
  return {w: i for i, w in enumerate(sorted(words), 1)}


def data_sizes(examples, memory_size=MEMORY_SIZE):
  """The `Sizes` of some examples: max_story_size (most sentences in a
  story), mean_story_size (int of the mean), sentence_size (the longest
  story sentence or question, in words), query_size, and memory_size =
  min(the flag `memory_size`, max_story_size).

  Raises:
    ValueError: no examples, or memory_size < 1.
  """
  memory_size = base.check_int('memory_size', memory_size, 1)
  examples = list(examples)
  if not examples:
    raise ValueError('data_sizes needs at least one example.')
  story_sizes = [len(e.story) for e in examples]
  longest = max((len(s) for e in examples for s in e.story), default=0)
  query_size = max(len(e.query) for e in examples)
  max_story_size = max(story_sizes)
  return Sizes(max_story_size, int(np.mean(story_sizes)),
               max(longest, query_size), query_size,
               min(memory_size, max_story_size))


def _ids(words, word_idx, size, what):
  if len(words) > size:
    raise ValueError(f'A {what} of {len(words)} words is longer than '
                     f'sentence_size {size}: {" ".join(words)!r}.')
  try:
    return [word_idx[w] for w in words]
  except KeyError as e:
    raise ValueError(f'Word {e.args[0]!r} is not in the vocabulary.') from None


def vectorize(examples, word_idx, sentence_size, memory_size):
  """Arrays (S, Q, A) of some examples (the reference's `vectorize_data`).

  Returns:
    S int32 [n, memory_size, sentence_size]: slot 0 the most recent
      sentence, then older ones, only the memory_size most recent, then
      all-zero slots; Q int32 [n, sentence_size]; A int32 [n] answer ids.

  Raises:
    ValueError: a sentence or query longer than sentence_size, or a word
      missing from word_idx.
  """
  sentence_size = base.check_int('sentence_size', sentence_size, 0)
  memory_size = base.check_int('memory_size', memory_size, 0)
  examples = list(examples)
  n = len(examples)
  S = np.zeros([n, memory_size, sentence_size], np.int32)
  Q = np.zeros([n, sentence_size], np.int32)
  A = np.zeros([n], np.int32)
  for i, example in enumerate(examples):
    recent = example.story[::-1][:memory_size]
    for slot, sentence in enumerate(recent):
      S[i, slot, :len(sentence)] = _ids(sentence, word_idx, sentence_size,
                                        'sentence')
    Q[i, :len(example.query)] = _ids(example.query, word_idx, sentence_size,
                                     'question')
    A[i] = _ids([example.answer], word_idx, 1, 'answer')[0]
  return S, Q, A


# -- train / validation split ------------------------------------------------------


def _random_state(random_state):
  """sklearn's check_random_state, except None -> fresh entropy."""
  if random_state is None:
    return np.random.RandomState()
  if isinstance(random_state, np.random.RandomState):
    return random_state
  if isinstance(random_state, numbers.Integral) and not isinstance(
      random_state, bool):
    return np.random.RandomState(int(random_state))
  raise ValueError(f'random_state must be None, an int or a '
                   f'np.random.RandomState, got {random_state!r}.')


def split_indices(n, test_size=VALIDATION_FRACTION, random_state=None):
  """sklearn's train_test_split(..., test_size, random_state) row choice.

  Args:
    n: number of rows (>= 2 for test_size 0.1).
    test_size: fraction of validation rows, 0 < test_size < 1.
    random_state: int (a fresh RandomState(int)), a RandomState (used and
      advanced), or None (fresh entropy).

  Returns:
    (train, val) int index arrays: permutation[n_test:], permutation[:n_test]
    with n_test = ceil(test_size * n).

  Raises:
    ValueError: bad test_size / random_state, or an empty train or
      validation part.
  """
  n = base.check_int('n', n, 0)
  if not (isinstance(test_size, numbers.Real) and 0. < test_size < 1.):
    raise ValueError(f'test_size must be a fraction in (0, 1), got '
                     f'{test_size!r}.')
  n_test = math.ceil(test_size * n)
  n_train = n - n_test
  if n_train <= 0 or n_test <= 0:
    raise ValueError(f'Cannot split {n} examples with test_size={test_size}: '
                     f'the training or validation part would be empty.')
  permutation = _random_state(random_state).permutation(n)
  return permutation[n_test:n_test + n_train], permutation[:n_test]


# -- loading -------------------------------------------------------------------------


def _task_ids(task_ids):
  if isinstance(task_ids, numbers.Integral) and not isinstance(task_ids,
                                                                 bool):
    task_ids = [task_ids]
  return babi.check_tasks(task_ids)


def _index(source, tasks):
  """(task, split) -> file name, after the missing-train check."""
  present = {}
  for name in source.read_files():
    number, task_name, split = babi.FILE_RE.match(name).groups()
    present[int(number), split] = task_name
  no_train = [t for t in tasks if (t, 'train') not in present]
  # A missing test file is incomplete data: the reader's BabiDataError.
  if no_train and all((t, 'test') in present for t in tasks):
    names = ', '.join(f'qa{t}_{present[t, "test"]}_train.txt'
                      for t in no_train)
    raise ValueError(
        f'bAbI set {source.set_name!r} ({source.description}) has no '
        f'training file for task(s) {", ".join(map(str, no_train))} '
        f'({names}): the KV memory network needs each task\'s training file '
        f'(its train/validation split). Use set \'en\' (complete) or leave '
        f'these tasks out.')
  found, missing, _ = babi.task_files(source, tasks)
  assert not missing, missing
  return found


def _read(source, found, key):
  name = found[key]
  try:
    text = source.read_files()[name].decode('utf-8')
  except UnicodeDecodeError as e:
    raise babi.BabiDataError(f'bAbI file {name} is not UTF-8/ASCII text: '
                             f'{e}') from e
  return parse_stories(text, name)


def _split_part(parts):
  return KVSplit(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def load_kv(data_dir, task_ids, set_name=DEFAULT_SET, memory_size=MEMORY_SIZE,
            random_state=None):
  """A bAbI set encoded for the KV memory network (joint or single task).

  Args:
    data_dir: the data directory (see `babi.find_source`) or a
      `babi.BabiSource`.
    task_ids: a task number, or an iterable of them (1..20; sorted, deduped).
    set_name: 'en' (default) or 'en-10k' (ignored for a BabiSource).
    memory_size: the most recent sentences kept (the reference's flag; the
      result's memory_size is min(this, max_story_size)).
    random_state: the train/validation split (see `split_indices`).

  Returns:
    `KVData`.

  Raises:
    BabiDataError: data missing or unreadable (the reader's message).
    ValueError: bad arguments; a requested task without a training file; a
      task with fewer than 2 training questions.
  """
  tasks = _task_ids(task_ids)
  memory_size = base.check_int('memory_size', memory_size, 1)
  if random_state is None:
    random_state = np.random.RandomState()
  _random_state(random_state)  # validate now
  source = (data_dir if isinstance(data_dir, babi.BabiSource) else
            babi.find_source(data_dir, set_name))
  found = _index(source, tasks)
  train = {t: _read(source, found, (t, 'train')) for t in tasks}
  test = {t: _read(source, found, (t, 'test')) for t in tasks}
  empty = [found[t, split] for t in tasks for split, examples in
           (('train', train[t]), ('test', test[t])) if not examples]
  if empty:
    raise babi.BabiDataError(
        f'bAbI file(s) {", ".join(empty)} in {source.description} hold no '
        f'question: empty or truncated. Put back the complete files (from '
        f'{babi.ARCHIVE_NAME}, {babi.DOWNLOAD_URL}).')
  examples = ([e for t in tasks for e in train[t]] +
              [e for t in tasks for e in test[t]])
  word_idx = build_vocab(examples)
  sizes = data_sizes(examples, memory_size)

  def arrays(task, task_examples):
    S, Q, A = vectorize(task_examples, word_idx, sizes.sentence_size,
                        sizes.memory_size)
    return S, Q, A, np.full([len(A)], task, np.int32)

  train_parts, val_parts, test_parts = [], [], []
  for task in tasks:
    rows = arrays(task, train[task])
    try:
      train_idx, val_idx = split_indices(len(rows[2]), VALIDATION_FRACTION,
                                         random_state)
    except ValueError as e:
      raise ValueError(f'bAbI task {task} ({found[task, "train"]}): '
                       f'{e}') from None
    train_parts.append([r[train_idx] for r in rows])
    val_parts.append([r[val_idx] for r in rows])
    test_parts.append(arrays(task, test[task]))
  return KVData(word_idx, len(word_idx) + 1, sizes.sentence_size,
                sizes.memory_size, sizes.max_story_size,
                sizes.mean_story_size, _split_part(train_parts),
                _split_part(val_parts), _split_part(test_parts), tasks,
                source.set_name, source.description)


def epoch_batches(rng, n_train, batch_size, mix_tasks=True):
  """The row indices of one epoch's batches.

  As the reference, range(0, n - B, B) gives the number of batches (the
  last partial batch and one more are not used). mix_tasks: a fresh
  permutation of the examples, so that batches mix tasks; otherwise the
  reference's contiguous slices of the task-ordered training set, in a
  shuffled order.

  Returns:
    list of int arrays [batch_size].
  """
  num_batches = len(range(0, n_train - batch_size, batch_size))
  if mix_tasks:
    order = rng.permutation(n_train)
    return [order[b * batch_size:(b + 1) * batch_size]
            for b in range(num_batches)]
  return [np.arange(b * batch_size, (b + 1) * batch_size)
          for b in rng.permutation(num_batches)]
