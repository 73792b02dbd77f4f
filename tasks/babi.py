"""The bAbI question answering tasks (SPEC 6; the DAM authors' `preprocess.py`,
`loader.py` and `eval.py`).

Data: bAbI v1.2 (Weston et al. 2015), `tasks_1-20_v1-2`, the set folder
`en-10k` (default, 10,000 training questions per task) or `en` (1,000);
files `qa{N}_{name}_{train,test}.txt`, N = 1..20, lines `ID text`, question
lines `ID question?<TAB>answer<TAB>supporting fact ids`.

Where the data is read from (`find_source`, in this order), for a `data_dir`:
  1. `data_dir` is the set folder itself (it holds `qa*_test.txt` files);
  2. `data_dir/<set>/`: `data_dir` is the extracted `tasks_1-20_v1-2` folder;
  3. `data_dir/tasks_1-20_v1-2/<set>/`: the extracted folder inside it;
  4. `data_dir/tasks_1-20_v1-2.tar.gz`: members are read straight from the
     archive with `tarfile` (no extraction), paths
     `tasks_1-20_v1-2/<set>/qa*_{train,test}.txt`.
No data: `BabiDataError` (a FileNotFoundError) saying what was looked for,
where to put which file, and `DOWNLOAD_HINT`. `download` fetches the official
archive (`load(..., download=True)`).

Tokens (exactly the authors' preprocess.py): on each line '.' -> ' .',
'?' -> ' ?', ',' -> ' '; split on whitespace; keep the tokens that are
alphabetic (`str.isalpha`) plus '.' and '?'; lower-case. Line ids and the
supporting-fact ids are numbers and thus dropped. A story runs from a line
whose id is 1 to the line before the next id-1 line.

Lexicon: {'<PAD>': 0, '.': 1, '?': 2, '-': 3}, then every word in order of
first sight over ALL the files of the set (train and test). The authors
walked `os.listdir` order, which is arbitrary (their ids depend on the file
system); here the order is FIXED: tasks 1..20 ascending, for each task its
train file, then its test file (a missing train file is skipped).

Story encoding: the tokens after the '?' of a question line are its answer
words ('n,s' gives two words n, s); each answer word becomes an input token
'-' (id 3, `ANSWER`) whose target is that word's id. Targets equal the inputs
everywhere else (the Memory Refreshing Loss target of a token is the token
itself). The question mask is 1 on the tokens of each question, from the
first token after the previous '.'- or '?'-terminated sentence (or the
previous answers) up to and including the '?', and 0 on statements and on
the answer '-' tokens. Training keeps the stories of <= `length_limit` (800)
tokens, answers included (the authors' rule); test keeps them all.

Cache (`load`): `<data_dir>/babi_cache/` (or `cache_dir`), files
`<set>-len<limit>-v<PREPROCESS_VERSION>.npz` (arrays) + `.json` (lexicon,
counts, key), no pickle, keyed by
PREPROCESS_VERSION, the set, the length limit, the task selection and a
sha256 fingerprint of the source (the archive's bytes, or the names and
contents of the set folder's qa files). A changed key rebuilds it; an
unwritable `data_dir` works without a cache and says so.

Training batches (`BabiTask`, the authors' `BAbIBatchGenerator`): the
training stories of all tasks together, shuffled with the task's seeded
`np.random.default_rng` at construction and after every epoch;
`steps_per_epoch = len(stories) // batch_size` (the remainder of an epoch is
not used, as in the authors' loader). A `tasks.base.Batch` holds int32 token
ids (not one-hot):

  inputs         int32   [B, T]   token ids, 0 (<PAD>) past each story's end
  targets        int32   [B, T]   = inputs, except the answer word at '-'
  seq_len        int32   [B]
  loss_mask      float32 [B, T]   refresh steps 1, answer steps alpha, else 0
  original_mask  float32 [B, T]   1 at the answer ('-') steps

Memory Refreshing Loss (Park et al. 2021), two variants chosen by
`reproduce_quirks` (flag --reproduce_quirks, default True); both draw one
uniform per [B, T] element (`dam.mrl.sample_refresh_mask`), so the random
stream, and the data, are the same in both:
  * True, the authors' loader (`BAbIBatchGenerator`) as it ran: every
    non-padding token but '.' is sampled with probability p_re, except in
    batch rows 0 and 1 (their question exclusion
    `weights_vec[question_mask] = 0.0` indexed with an INTEGER 0/1 array,
    which selects ROWS 0 and 1: it zeroed the first two examples and left
    question tokens refreshable); the answer weight is
    alpha = #sampled / #answers, counting sampled '-' tokens before they are
    overwritten with alpha, and without a max(1, .) floor.
  * False, the corrected loss: eligible tokens are not padding, not in a
    question (question mask), not '.' and not an answer '-'; alpha =
    max(1, #sampled / #answers) (`dam.mrl.loss_mask`), as for the
    algorithmic tasks.
With p_re = 0 the loss mask equals original_mask in both (the authors' loader
skipped the MRL when p_re was 0).

Test (`test_batches`, `grade`; the authors' `eval.py`): every story once, in
file order, loss_mask = original_mask; a question is right only when every
token of its answer (the run of '-' after its '?') is predicted right; the
error of a task is 100 * (1 - right / questions) %.
"""

import collections
import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib

import numpy as np

from dam import mrl
from tasks import base

# -- constants -----------------------------------------------------------------

PREPROCESS_VERSION = 1  # bump when the encoding or the cache layout changes
ROOT_NAME = 'tasks_1-20_v1-2'
ARCHIVE_NAME = ROOT_NAME + '.tar.gz'
DOWNLOAD_URL = 'http://www.thespermwhale.com/jaseweston/babi/' + ARCHIVE_NAME
DOWNLOAD_HINT = ('or pass --download to fetch it from the official URL '
                 f'({DOWNLOAD_URL}) into the data directory')
SETS = ('en-10k', 'en')
DEFAULT_SET = 'en-10k'
LENGTH_LIMIT = 800  # the authors' training length limit (tokens)
CACHE_DIR = 'babi_cache'
TASKS = tuple(range(1, 21))
# The official task names (file names qa{N}_{name}_{split}.txt).
TASK_NAMES = {
    1: 'single-supporting-fact', 2: 'two-supporting-facts',
    3: 'three-supporting-facts', 4: 'two-arg-relations',
    5: 'three-arg-relations', 6: 'yes-no-questions', 7: 'counting',
    8: 'lists-sets', 9: 'simple-negation', 10: 'indefinite-knowledge',
    11: 'basic-coreference', 12: 'conjunction', 13: 'compound-coreference',
    14: 'time-reasoning', 15: 'basic-deduction', 16: 'basic-induction',
    17: 'positional-reasoning', 18: 'size-reasoning', 19: 'path-finding',
    20: 'agents-motivations'}
# The archive member checked after a download (any set has it).
PROBE_FILE = 'qa1_single-supporting-fact_test.txt'

PAD, DOT, QUESTION, ANSWER = 0, 1, 2, 3
BASE_LEXICON = (('<PAD>', PAD), ('.', DOT), ('?', QUESTION), ('-', ANSWER))

FILE_RE = re.compile(r'^qa(\d+)_([A-Za-z-]+)_(train|test)\.txt$')


class BabiDataError(FileNotFoundError):
  """The bAbI data cannot be found, read or downloaded (message says how to
  get it)."""


# One encoded story (t tokens): inputs int32 [t], targets int32 [t],
# question_mask bool [t]; task: its task number. Answers: inputs == ANSWER.
Story = collections.namedtuple(
    'Story', ('inputs', 'targets', 'question_mask', 'task'))
# The test stories of one task, in file order.
TaskStories = collections.namedtuple('TaskStories', ('name', 'stories'))
# Per-task counts; train_* count the kept stories (<= length_limit), dropped
# the training stories over it; longest_*: longest story (tokens), 0 if none.
TaskCounts = collections.namedtuple(
    'TaskCounts', ('train_stories', 'train_questions', 'dropped',
                   'test_stories', 'test_questions', 'longest_train',
                   'longest_test'))
# summary_table: rows of (task, name, train stories, train questions,
# dropped, test stories, test questions), their column totals, lexicon size.
Summary = collections.namedtuple('Summary',
                                 ('rows', 'totals', 'lexicon_size'))


class BabiData(collections.namedtuple(
    'BabiData', ('lexicon', 'train', 'test', 'task_names', 'counts',
                 'missing_files', 'source', 'set_name', 'length_limit',
                 'cache'))):
  """A preprocessed bAbI set.

  Fields:
    lexicon: dict word -> id, in id order (0..V-1).
    train: list of `Story`, the kept training stories of all tasks, task 1
      first, each file in order.
    test: dict task -> `TaskStories`(name, stories), every test story.
    task_names: dict task -> name (e.g. 1 -> 'single-supporting-fact').
    counts: dict task -> `TaskCounts`.
    missing_files: sorted list of the (train) file names that are absent.
    source: description of where the data was read from.
    set_name, length_limit: as asked.
    cache: what happened with the cache ('loaded <path>', 'written <path>',
      'disabled', 'not written: <reason>').
  """
  __slots__ = ()

  @property
  def vocab_size(self):
    return len(self.lexicon)

  @property
  def dropped(self):
    """Training stories dropped (> length_limit tokens), all tasks."""
    return sum(c.dropped for c in self.counts.values())


# -- tokens, lexicon, stories --------------------------------------------------


def split_line(line):
  """The authors' tokenisation of one line.

  Returns:
    (starts_story, tokens): starts_story is True when the line's id is 1;
    tokens: the kept tokens, lower-cased (words, '.', '?').
  """
  line = line.replace('.', ' .').replace('?', ' ?').replace(',', ' ')
  raw = line.split()
  tokens = [w.lower() for w in raw if w.isalpha() or w == '.' or w == '?']
  return bool(raw) and raw[0] == '1', tokens


def _lines(text):
  return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def build_lexicon(texts):
  """The lexicon of some files' texts, in the given order.

  Args:
    texts: iterable of file contents (str), in the fixed file order.

  Returns:
    dict word -> id: `BASE_LEXICON`, then the words in order of first sight.
  """
  lexicon = dict(BASE_LEXICON)
  for text in texts:
    for line in _lines(text):
      for word in split_line(line)[1]:
        if word not in lexicon:
          lexicon[word] = len(lexicon)
  return lexicon


def _encode_story(lines_tokens, lexicon, task):
  """Encodes the token lists of one story's lines (see the module doc)."""
  inputs, targets, mask = [], [], []
  start = 0  # first token of the current sentence
  for tokens in lines_tokens:
    answers = False
    for word in tokens:
      if answers:
        inputs.append(ANSWER)
        targets.append(lexicon[word])
        mask.append(False)
        start = len(inputs)
        continue
      token = lexicon[word]
      inputs.append(token)
      targets.append(token)
      mask.append(False)
      if token == DOT:
        start = len(inputs)
      elif token == QUESTION:
        mask[start:] = [True] * (len(inputs) - start)
        start = len(inputs)
        answers = True
  return Story(np.array(inputs, np.int32), np.array(targets, np.int32),
               np.array(mask, bool), task)


def encode_file(text, lexicon, task, length_limit=None, name='<text>'):
  """Encodes the stories of one file.

  Args:
    text: the file's contents.
    lexicon: dict word -> id holding every word of `text`.
    task: task number stored in the stories.
    length_limit: keep only stories of <= this many tokens (None: all).
    name: file name for error messages.

  Returns:
    (stories, dropped): the kept `Story`s in file order and the number of
    stories over the limit.

  Raises:
    BabiDataError: text before the first story (a line whose id is not 1)
      or a word missing from the lexicon.
  """
  stories, dropped = [], 0
  current = None

  def flush():
    nonlocal dropped
    if current is None:
      return
    story = _encode_story(current, lexicon, task)
    if length_limit is None or len(story.inputs) <= length_limit:
      stories.append(story)
    else:
      dropped += 1

  for number, line in enumerate(_lines(text), 1):
    starts, tokens = split_line(line)
    if starts:
      flush()
      current = []
    elif current is None:
      if not line.strip():
        continue
      raise BabiDataError(f'{name} line {number}: expected a story to start '
                          f'with line id 1, got {line[:60]!r}.')
    current.append(tokens)
  flush()
  return stories, dropped


def num_questions(story):
  return int(np.count_nonzero(story.inputs == QUESTION))


# -- sources ---------------------------------------------------------------------


def check_set_name(set_name):
  if set_name not in SETS:
    raise ValueError(f'Unknown bAbI set {set_name!r}: use one of {SETS}.')
  return set_name


def check_tasks(tasks):
  tasks = tuple(sorted({base.check_int('task', t, 1) for t in tasks}))
  if not tasks or tasks[-1] > 20:
    raise ValueError(f'tasks must be a non-empty subset of 1..20, got '
                     f'{tasks!r}.')
  return tasks


def _set_files_in_folder(folder):
  """Names of the qa*_{train,test}.txt files directly in `folder`."""
  try:
    names = os.listdir(folder)
  except OSError:
    return []
  return sorted(n for n in names if FILE_RE.match(n) and
                os.path.isfile(os.path.join(folder, n)))


class BabiSource:
  """Where one bAbI set is read from: a set folder or the archive.

  Attributes:
    kind: 'folder' or 'archive'.
    path: the set folder, or the archive file.
    set_name: 'en-10k' or 'en'.
    data_dir: the directory given (the cache goes under it).
  """

  def __init__(self, kind, path, set_name, data_dir):
    self.kind, self.path = kind, os.path.abspath(path)
    self.set_name, self.data_dir = set_name, data_dir
    self._files = None

  def __repr__(self):
    return f'BabiSource({self.kind!r}, {self.path!r}, {self.set_name!r})'

  @property
  def description(self):
    if self.kind == 'archive':
      return (f'archive {self.path} (members {ROOT_NAME}/{self.set_name}/'
              f'qa*.txt)')
    return f'folder {self.path}'

  def read_files(self):
    """dict file name -> bytes of the set's qa*_{train,test}.txt files.

    Raises:
      BabiDataError: the archive or a file cannot be read.
    """
    if self._files is None:
      if self.kind == 'folder':
        self._files = self._read_folder()
      else:
        self._files = self._read_archive()
    return self._files

  def _read_folder(self):
    files = {}
    for name in _set_files_in_folder(self.path):
      path = os.path.join(self.path, name)
      try:
        with open(path, 'rb') as f:
          files[name] = f.read()
      except OSError as e:
        raise BabiDataError(f'Cannot read the bAbI file {path}: {e}') from e
    return files

  def _read_archive(self):
    prefix = re.compile(r'^(?:\./)?' + re.escape(ROOT_NAME) + '/' +
                        re.escape(self.set_name) + r'/([^/]+)$')
    files = {}
    try:
      with tarfile.open(self.path, 'r:gz') as tar:
        for member in tar:
          match = prefix.match(member.name)
          if match and member.isfile() and FILE_RE.match(match.group(1)):
            files[match.group(1)] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
      raise BabiDataError(
          f'Cannot read the bAbI archive {self.path} ({type(e).__name__}: '
          f'{e}). It may be incomplete or corrupt: delete it and put a fresh '
          f'copy of {ARCHIVE_NAME} from {DOWNLOAD_URL} there, or the '
          f'extracted {ROOT_NAME}/ folder, {DOWNLOAD_HINT}.') from e
    if not files:
      raise BabiDataError(
          f'The bAbI archive {self.path} holds no '
          f'{ROOT_NAME}/{self.set_name}/qa*_{{train,test}}.txt member. Put the '
          f'official {ARCHIVE_NAME} from {DOWNLOAD_URL} there (or the '
          f'extracted {ROOT_NAME}/ folder), {DOWNLOAD_HINT}.')
    return files

  def fingerprint(self):
    """sha256 hex digest: of the archive bytes, or of the set folder's qa
    file names and contents (sorted by name)."""
    digest = hashlib.sha256()
    if self.kind == 'archive':
      try:
        with open(self.path, 'rb') as f:
          for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
      except OSError as e:
        raise BabiDataError(f'Cannot read the bAbI archive {self.path}: '
                            f'{e}') from e
      return 'archive:' + digest.hexdigest()
    for name, data in sorted(self.read_files().items()):
      for part in (name.encode(), data):
        digest.update(len(part).to_bytes(8, 'little'))
        digest.update(part)
    return 'folder:' + digest.hexdigest()


def _missing_data_message(data_dir, set_name, looked):
  where = '\n  '.join(looked)
  return (f'No bAbI data (set {set_name!r}) found for data_dir={data_dir}. '
          f'Looked for:\n  {where}\n'
          f'Put {ARCHIVE_NAME} (from {DOWNLOAD_URL}) in {data_dir}, or its '
          f'extracted {ROOT_NAME}/ folder (holding {set_name}/qa1_'
          f'{TASK_NAMES[1]}_test.txt ...), {DOWNLOAD_HINT}.')


def find_source(data_dir, set_name=DEFAULT_SET):
  """Locates the set (see the module docstring for the order).

  Returns:
    a `BabiSource`.

  Raises:
    BabiDataError: nothing found (the message lists what was looked for
      where, the file to put there, and `DOWNLOAD_HINT`), or data_dir is the
      folder of the other set.
    ValueError: unknown set_name.
  """
  check_set_name(set_name)
  data_dir = os.fspath(data_dir)
  if any(FILE_RE.match(n) and n.endswith('_test.txt')
         for n in _set_files_in_folder(data_dir)):
    folder_set = os.path.basename(os.path.normpath(os.path.abspath(data_dir)))
    if folder_set in SETS and folder_set != set_name:
      raise BabiDataError(
          f'data_dir {data_dir} is the bAbI {folder_set!r} set folder, but '
          f'set {set_name!r} was asked: choose set {folder_set!r}, or point '
          f'data_dir at the folder holding {ROOT_NAME}/ or {ARCHIVE_NAME}.')
    return BabiSource('folder', data_dir, set_name, data_dir)
  candidates = [
      os.path.join(data_dir, set_name),
      os.path.join(data_dir, ROOT_NAME, set_name),
  ]
  for folder in candidates:
    if os.path.isdir(folder):
      return BabiSource('folder', folder, set_name, data_dir)
  archive = os.path.join(data_dir, ARCHIVE_NAME)
  if os.path.isfile(archive):
    return BabiSource('archive', archive, set_name, data_dir)
  looked = ([f'{os.path.join(data_dir, "qa*_test.txt")} (data_dir as the '
             f'set folder)'] + [f + os.sep for f in candidates] + [archive])
  raise BabiDataError(_missing_data_message(data_dir, set_name, looked))


# -- preprocessing ---------------------------------------------------------------


def _decode(name, data):
  try:
    return data.decode('utf-8')
  except UnicodeDecodeError as e:
    raise BabiDataError(f'bAbI file {name} is not UTF-8/ASCII text: '
                        f'{e}') from e


def _index_files(names, source, tasks):
  """dict (task, split) -> file name; missing train file names; task names.

  Raises:
    BabiDataError: a test file is missing, two files claim the same task
      and split, or no train file is present.
  """
  found = {}
  for name in names:
    number, task_name, split = FILE_RE.match(name).groups()
    number = int(number)
    if number not in tasks:
      continue
    if (number, split) in found:
      raise BabiDataError(f'Two bAbI {split} files for task {number} in '
                          f'{source.description}: {found[number, split]} '
                          f'and {name}.')
    found[number, split] = name
  names_of = {}
  for task in tasks:
    name = found.get((task, 'test')) or found.get((task, 'train'))
    names_of[task] = (FILE_RE.match(name).group(2) if name
                      else TASK_NAMES[task])
  missing_tests = [f'qa{t}_{names_of[t]}_test.txt' for t in tasks
                   if (t, 'test') not in found]
  if missing_tests:
    raise BabiDataError(
        f'bAbI test file(s) missing from {source.description}: '
        f'{", ".join(missing_tests)}. Every task needs its test file: put '
        f'the complete {ARCHIVE_NAME} (from {DOWNLOAD_URL}) or its extracted '
        f'{ROOT_NAME}/ folder in {source.data_dir}, {DOWNLOAD_HINT}.')
  if not any((t, 'train') in found for t in tasks):
    raise BabiDataError(
        f'No bAbI training file in {source.description}. Put the complete '
        f'{ARCHIVE_NAME} (from {DOWNLOAD_URL}) or its extracted {ROOT_NAME}/ '
        f'folder in {source.data_dir}, {DOWNLOAD_HINT}.')
  missing = sorted((f'qa{t}_{names_of[t]}_train.txt' for t in tasks
                    if (t, 'train') not in found),
                   key=lambda n: int(FILE_RE.match(n).group(1)))
  return found, missing, names_of


def task_files(source, tasks):
  """Which of a source's files belong to which task (for other encodings).

  Args:
    source: a `BabiSource`.
    tasks: the task numbers (validated with `check_tasks`).

  Returns:
    (found, missing, names_of): found: dict (task, 'train'|'test') -> file
    name in `source.read_files()`; missing: sorted names of the absent
    train files; names_of: dict task -> task name.

  Raises:
    BabiDataError: as `preprocess` (a test file missing, two files for one
      task and split, no train file at all, unreadable data).
  """
  return _index_files(sorted(source.read_files()), source, check_tasks(tasks))


def preprocess(source, set_name=DEFAULT_SET, length_limit=LENGTH_LIMIT,
               tasks=TASKS):
  """Reads and encodes a bAbI set (no cache; see `load`).

  Args:
    source: a data directory (see `find_source`) or a `BabiSource`.
    set_name: 'en-10k' or 'en' (ignored when `source` is a `BabiSource`).
    length_limit: training stories longer than this are dropped.
    tasks: the task numbers to read (default all 20).

  Returns:
    `BabiData` (cache field 'disabled').

  Raises:
    BabiDataError: data missing or unreadable (see `find_source`); a
      missing TEST file or no train file at all (missing train files of
      some tasks are only recorded in `missing_files`).
  """
  length_limit = base.check_int('length_limit', length_limit, 1)
  tasks = check_tasks(tasks)
  if not isinstance(source, BabiSource):
    source = find_source(source, set_name)
  files = source.read_files()
  found, missing, names_of = _index_files(files, source, tasks)
  order = [(t, split) for t in tasks for split in ('train', 'test')
           if (t, split) in found]
  texts = {key: _decode(found[key], files[found[key]]) for key in order}
  lexicon = build_lexicon(texts[key] for key in order)
  train, test, counts = [], {}, {}
  for task in tasks:
    kept, dropped = [], 0
    if (task, 'train') in found:
      kept, dropped = encode_file(texts[task, 'train'], lexicon, task,
                                  length_limit, found[task, 'train'])
    stories, _ = encode_file(texts[task, 'test'], lexicon, task, None,
                             found[task, 'test'])
    train.extend(kept)
    test[task] = TaskStories(names_of[task], stories)
    counts[task] = _counts(kept, dropped, stories)
  return BabiData(lexicon, train, test, names_of, counts, missing,
                  source.description, source.set_name, length_limit,
                  'disabled')


def _counts(train, dropped, test):
  return TaskCounts(
      len(train), sum(num_questions(s) for s in train), dropped, len(test),
      sum(num_questions(s) for s in test),
      max((len(s.inputs) for s in train), default=0),
      max((len(s.inputs) for s in test), default=0))


# -- cache -----------------------------------------------------------------------


def cache_paths(data_dir, set_name, length_limit, tasks=TASKS,
                cache_dir=None):
  """(npz path, json path) of the cache of this key (see the module doc),
  in `cache_dir` (default `<data_dir>/babi_cache`)."""
  stem = f'{set_name}-len{length_limit}-v{PREPROCESS_VERSION}'
  tasks = check_tasks(tasks)
  if tasks != TASKS:
    stem += '-tasks' + '_'.join(map(str, tasks))
  folder = (os.fspath(cache_dir) if cache_dir is not None else
            os.path.join(os.fspath(data_dir), CACHE_DIR))
  return os.path.join(folder, stem + '.npz'), os.path.join(folder,
                                                           stem + '.json')


def _pack(stories):
  lengths = np.array([len(s.inputs) for s in stories], np.int64)
  offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
  if stories:
    inputs = np.concatenate([s.inputs for s in stories])
    targets = np.concatenate([s.targets for s in stories])
    qmask = np.concatenate([s.question_mask for s in stories])
  else:
    inputs = targets = np.zeros([0], np.int32)
    qmask = np.zeros([0], bool)
  return {'inputs': inputs.astype(np.int32),
          'answers': targets[inputs == ANSWER].astype(np.int32),
          'question_mask': qmask.astype(bool), 'offsets': offsets,
          'task': np.array([s.task for s in stories], np.int16)}


def _unpack(arrays, prefix):
  inputs = arrays[prefix + 'inputs'].astype(np.int32)
  targets = inputs.copy()
  targets[inputs == ANSWER] = arrays[prefix + 'answers']
  qmask = arrays[prefix + 'question_mask'].astype(bool)
  offsets = arrays[prefix + 'offsets']
  tasks = arrays[prefix + 'task']
  return [Story(inputs[a:b], targets[a:b], qmask[a:b], int(t))
          for a, b, t in zip(offsets[:-1], offsets[1:], tasks)]


def _write_atomic(path, write):
  folder = os.path.dirname(path)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path),
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _save_cache(data, key, npz_path, json_path):
  cache_id = uuid.uuid4().hex
  arrays = {'cache_id': np.array(cache_id)}
  arrays.update({'train_' + k: v for k, v in _pack(data.train).items()})
  test_stories = [s for t in sorted(data.test) for s in data.test[t].stories]
  arrays.update({'test_' + k: v for k, v in _pack(test_stories).items()})
  meta = {
      'key': key,
      'cache_id': cache_id,
      'lexicon': list(data.lexicon),
      'task_names': {str(t): n for t, n in data.task_names.items()},
      'counts': {str(t): c._asdict() for t, c in data.counts.items()},
      'missing_files': data.missing_files,
      'source': data.source,
      'set_name': data.set_name,
      'length_limit': data.length_limit,
  }
  os.makedirs(os.path.dirname(npz_path), exist_ok=True)
  _write_atomic(npz_path, lambda f: np.savez(f, **arrays))
  _write_atomic(json_path,
                lambda f: f.write(json.dumps(meta, indent=1).encode()))


def _load_cache(key, npz_path, json_path):
  """The cached `BabiData` of `key`, or None (no cache / other key)."""
  try:
    with open(json_path, 'rb') as f:
      meta = json.loads(f.read().decode())
  except (OSError, ValueError):
    return None
  if meta.get('key') != key:
    return None
  with np.load(npz_path, allow_pickle=False) as npz:
    arrays = {k: npz[k] for k in npz.files}
  if str(arrays['cache_id']) != meta['cache_id']:
    raise ValueError('the .npz and .json files are from different builds')
  lexicon = {w: i for i, w in enumerate(meta['lexicon'])}
  task_names = {int(t): n for t, n in meta['task_names'].items()}
  counts = {int(t): TaskCounts(**c) for t, c in meta['counts'].items()}
  test_all = _unpack(arrays, 'test_')
  test = {t: TaskStories(task_names[t], [s for s in test_all if s.task == t])
          for t in sorted(task_names)}
  return BabiData(lexicon, _unpack(arrays, 'train_'), test, task_names,
                  counts, list(meta['missing_files']), meta['source'],
                  meta['set_name'], meta['length_limit'], 'loaded ' + npz_path)


def load(data_dir, set_name=DEFAULT_SET, length_limit=LENGTH_LIMIT,
         download=False, log=print, tasks=TASKS, cache=True,
         url=DOWNLOAD_URL, cache_dir=None):
  """The bAbI set, from the cache when valid, else preprocessed and cached.

  Args:
    data_dir: directory holding the data (see `find_source`).
    set_name: 'en-10k' (default) or 'en'.
    length_limit: training stories longer than this are dropped (800).
    download: fetch the official archive into data_dir when no data is
      found (`download`); False: raise `BabiDataError` instead.
    log: callable for progress messages (None: silent).
    tasks: the task numbers (default all 20; part of the cache key).
    cache: False: never read or write the cache.
    url: the archive URL for `download` (tests point it elsewhere).
    cache_dir: where the cache goes (default `<data_dir>/babi_cache`; e.g.
      for a data_dir that must stay untouched: a root process can write
      into directories whose mode says read-only).

  Returns:
    `BabiData`; its `cache` field says whether the cache was loaded,
    written, or why not.

  Raises:
    BabiDataError: see `find_source`, `preprocess`, `download`.
  """
  log = log or (lambda *_: None)
  check_set_name(set_name)
  length_limit = base.check_int('length_limit', length_limit, 1)
  tasks = check_tasks(tasks)
  data_dir = os.fspath(data_dir)
  try:
    source = find_source(data_dir, set_name)
  except BabiDataError:
    if not download:
      raise
    fetch(data_dir, set_name, url=url, log=log)
    source = find_source(data_dir, set_name)
  start = time.perf_counter()
  key = None
  if cache:
    npz_path, json_path = cache_paths(data_dir, set_name, length_limit,
                                      tasks, cache_dir)
    key = {'preprocess_version': PREPROCESS_VERSION, 'set_name': set_name,
           'length_limit': length_limit, 'tasks': list(tasks),
           'fingerprint': source.fingerprint()}
    try:
      data = _load_cache(key, npz_path, json_path)
    except Exception as e:  # pylint: disable=broad-except
      log(f'bAbI cache {npz_path} unreadable ({type(e).__name__}: {e}); '
          f'rebuilding it.')
      data = None
    if data is not None:
      log(f'bAbI {set_name}: loaded the cache {npz_path} '
          f'({time.perf_counter() - start:.2f} s).')
      _log_notes(data, log)
      return data
  log(f'bAbI {set_name}: preprocessing {source.description} ...')
  data = preprocess(source, set_name, length_limit, tasks)
  log(f'bAbI {set_name}: preprocessed in {time.perf_counter() - start:.1f} '
      f's.')
  if cache:
    try:
      _save_cache(data, key, npz_path, json_path)
      data = data._replace(cache='written ' + npz_path)
      log(f'bAbI cache written: {npz_path}')
    except OSError as e:
      data = data._replace(cache=f'not written: {e}')
      log(f'bAbI cache not written ({e}): working without a cache '
          f'(preprocessing again next time).')
  _log_notes(data, log)
  return data


def _log_notes(data, log):
  log(f'bAbI {data.set_name}: {len(data.train)} training stories, '
      f'{data.dropped} dropped (> {data.length_limit} tokens), lexicon '
      f'{data.vocab_size} words.')
  if data.missing_files:
    log(f'bAbI {data.set_name}: WARNING missing files (not used): '
        f'{", ".join(data.missing_files)}')


# -- download ----------------------------------------------------------------------


def _format_bytes(n):
  return f'{n / 1e6:.1f} MB'


def fetch(data_dir, set_name=DEFAULT_SET, url=DOWNLOAD_URL, timeout=60,
          progress=None, log=print):
  """Downloads the official archive to `<data_dir>/tasks_1-20_v1-2.tar.gz`.

  The bytes go to a temporary file in data_dir, shown by a carriage-return
  progress line on `progress` (default sys.stderr); the file is renamed into
  place only after checking it is a gzip tar holding
  `tasks_1-20_v1-2/<set>/qa1_single-supporting-fact_test.txt`.

  Returns:
    the archive's path.

  Raises:
    BabiDataError: network or HTTP error, incomplete or invalid archive, or
      data_dir not writable; the partial file is removed and the message
      says what failed and which file to put where by hand.
  """
  check_set_name(set_name)
  progress = progress or sys.stderr
  log = log or (lambda *_: None)
  data_dir = os.fspath(data_dir)
  target = os.path.join(data_dir, ARCHIVE_NAME)
  manual = (f'Download {ARCHIVE_NAME} by hand from {url} and put it in '
            f'{os.path.abspath(data_dir)} (or its extracted {ROOT_NAME}/ '
            f'folder).')
  try:
    os.makedirs(data_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix='.' + ARCHIVE_NAME,
                               suffix='.part')
  except OSError as e:
    raise BabiDataError(f'Cannot write the bAbI download into {data_dir}: '
                        f'{e}. {manual}') from e
  log(f'Downloading {url} -> {target}')
  try:
    try:
      with os.fdopen(fd, 'wb') as out, \
          urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.headers.get('Content-Length')
        total = int(total) if total and total.isdigit() else None
        done = 0
        while True:
          chunk = response.read(1 << 16)
          if not chunk:
            break
          out.write(chunk)
          done += len(chunk)
          _progress(progress, done, total)
        progress.write('\n')
        progress.flush()
        if total is not None and done != total:
          raise BabiDataError(f'incomplete download: got {done} of {total} '
                              f'bytes')
    except urllib.error.HTTPError as e:
      raise BabiDataError(f'HTTP error {e.code} ({e.reason})') from e
    except urllib.error.URLError as e:
      raise BabiDataError(f'network error: {e.reason}') from e
    except OSError as e:
      if isinstance(e, BabiDataError):
        raise
      raise BabiDataError(f'{type(e).__name__}: {e}') from e
    member = f'{ROOT_NAME}/{set_name}/{PROBE_FILE}'
    try:
      with tarfile.open(tmp, 'r:gz') as tar:
        names = {m.name[2:] if m.name.startswith('./') else m.name
                 for m in tar}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
      raise BabiDataError(f'not a valid gzip tar archive '
                          f'({type(e).__name__}: {e})') from e
    if member not in names:
      raise BabiDataError(f'the archive does not contain {member}')
    os.replace(tmp, target)
  except BabiDataError as e:
    _remove(tmp)
    raise BabiDataError(f'Downloading the bAbI data from {url} failed: {e}. '
                        f'{manual}') from e
  except BaseException:
    _remove(tmp)
    raise
  log(f'bAbI archive saved: {target} ({_format_bytes(os.path.getsize(target))})')
  return target


def _remove(path):
  try:
    os.remove(path)
  except OSError:
    pass


def _progress(stream, done, total):
  if total:
    line = (f'\rDownloading {ARCHIVE_NAME}: {_format_bytes(done)} / '
            f'{_format_bytes(total)} ({100. * done / total:5.1f}%)')
  else:
    line = f'\rDownloading {ARCHIVE_NAME}: {_format_bytes(done)}'
  stream.write(line)
  stream.flush()


# -- batches -------------------------------------------------------------------------


def pad_stories(stories):
  """Pads stories to the longest: (inputs, targets, question_mask, seq_len).

  inputs / targets int32 [B, T] (0 past the end), question_mask bool [B, T],
  seq_len int32 [B].
  """
  seq_len = np.array([len(s.inputs) for s in stories], np.int32)
  shape = [len(stories), int(seq_len.max()) if len(stories) else 0]
  inputs = np.zeros(shape, np.int32)
  targets = np.zeros(shape, np.int32)
  qmask = np.zeros(shape, bool)
  for b, s in enumerate(stories):
    inputs[b, :seq_len[b]] = s.inputs
    targets[b, :seq_len[b]] = s.targets
    qmask[b, :seq_len[b]] = s.question_mask
  return inputs, targets, qmask, seq_len


def refresh_eligible(inputs, question_mask):
  """MRL-eligible steps of the corrected loss: not padding, not a question
  token, not '.', not an answer '-'. bool [B, T]."""
  inputs = np.asarray(inputs)
  return ((inputs != PAD) & ~np.asarray(question_mask, bool) &
          (inputs != DOT) & (inputs != ANSWER))


def authors_refresh_eligible(inputs):
  """The tokens the authors' loader could sample, bool [B, T]: not padding,
  not '.', and not in batch rows 0 and 1 (see the module docstring); answer
  '-' and question tokens included ('-' samples count in alpha only)."""
  inputs = np.asarray(inputs)
  rows = np.arange(inputs.shape[0])[:, None]
  return (inputs != PAD) & (inputs != DOT) & (rows >= 2)


def mrl_loss_mask(inputs, question_mask, original_mask, p_re, rng,
                  reproduce_quirks=True):
  """The MRL loss mask of a training batch and its answer weight.

  Args:
    inputs: int [B, T] token ids.
    question_mask: bool [B, T].
    original_mask: float32 [B, T], 1 at the answer '-' tokens.
    p_re: refreshing probability.
    rng: the task's `np.random.Generator` (one uniform per element).
    reproduce_quirks: the authors' loader (True) or the corrected loss
      (False); see the module docstring.

  Returns:
    (loss_mask float32 [B, T] = refresh + alpha * original_mask, alpha).
  """
  if not reproduce_quirks:
    refresh = mrl.sample_refresh_mask(
        refresh_eligible(inputs, question_mask), p_re, rng)
    return mrl.loss_mask(refresh, original_mask)
  sampled = mrl.sample_refresh_mask(authors_refresh_eligible(inputs), p_re,
                                    rng)
  if p_re == 0:  # the authors' `if self.p_re:` kept the plain answer mask
    return original_mask.astype(np.float32), 1.
  alpha = mrl.answer_weight(sampled, original_mask, floor=False)
  refresh = sampled * (np.asarray(inputs) != ANSWER)
  return (refresh + np.float32(alpha) * original_mask).astype(np.float32), alpha


class BabiTask(base.Task):
  """Training batches of bAbI stories with MRL masks (see the module doc).

  Attributes:
    batch_size, p_re: as given.
    input_size, output_size: the vocabulary size.
    max_time: the longest possible story (the length limit).
    steps_per_epoch: len(stories) // batch_size.
    epoch: completed epochs = the epoch the next batch comes from.
    position: batches already taken from the current epoch.
    last_alpha: the answer weight of the last batch.
  """

  answer_channels = None

  def __init__(self, stories, vocab_size, batch_size, p_re=0., seed=None,
               max_time=LENGTH_LIMIT, reproduce_quirks=True):
    """Shuffles the stories for epoch 0.

    Args:
      stories: list of `Story` (e.g. `BabiData.train`).
      vocab_size: V (input_size = output_size = V).
      batch_size: B, 1 <= B <= len(stories).
      p_re: refreshing probability in [0, 1].
      seed: seed of the task's `np.random.default_rng` (None: OS entropy).
      max_time: the longest possible story (for padding caps).
      reproduce_quirks: the authors' MRL mask (True) or the corrected one
        (see the module docstring).

    Raises:
      ValueError: naming a bad argument.
    """
    self.batch_size = base.check_int('batch_size', batch_size, 1)
    self.p_re = mrl.check_p_re(p_re)
    self.input_size = self.output_size = base.check_int('vocab_size',
                                                        vocab_size, 4)
    self.max_time = base.check_int('max_time', max_time, 1)
    self.reproduce_quirks = bool(reproduce_quirks)
    self.stories = list(stories)
    if len(self.stories) < self.batch_size:
      raise ValueError(f'batch_size ({self.batch_size}) must be <= the number '
                       f'of training stories ({len(self.stories)}).')
    self.min_length = 1
    self.max_length = self.max_time
    self.steps_per_epoch = len(self.stories) // self.batch_size
    self._rng = np.random.default_rng(seed)
    self.epoch = 0
    self.position = 0
    self.last_alpha = 1.
    self._order = self._rng.permutation(len(self.stories))

  @classmethod
  def from_data(cls, data, batch_size, p_re=0., seed=None,
                reproduce_quirks=True):
    """A task over `data.train` (a `BabiData`), max_time = its limit."""
    return cls(data.train, data.vocab_size, batch_size, p_re, seed,
               data.length_limit, reproduce_quirks)

  @staticmethod
  def batch_specs(batch_size):
    """tf.TensorSpecs of a batch (int32 token ids), for `dam.training`."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return (tf.TensorSpec([batch_size, None], tf.int32),
            tf.TensorSpec([batch_size, None], tf.int32),
            tf.TensorSpec([batch_size], tf.int32),
            tf.TensorSpec([batch_size, None], tf.float32),
            tf.TensorSpec([batch_size, None], tf.float32))

  def next_batch(self):
    """The next training `Batch` (see the module doc)."""
    b = self.batch_size
    picked = self._order[self.position * b:(self.position + 1) * b]
    inputs, targets, qmask, seq_len = pad_stories(
        [self.stories[i] for i in picked])
    original_mask = (inputs == ANSWER).astype(np.float32)
    loss_mask, self.last_alpha = mrl_loss_mask(
        inputs, qmask, original_mask, self.p_re, self._rng,
        self.reproduce_quirks)
    self.position += 1
    if self.position >= self.steps_per_epoch:
      self.epoch += 1
      self.position = 0
      self._order = self._rng.permutation(len(self.stories))
    return base.Batch(inputs, targets, seq_len, loss_mask, original_mask)

  def get_state(self):
    """JSON-serialisable: rng state, epoch, position, permutation."""
    return {'rng': self._rng.bit_generator.state, 'epoch': self.epoch,
            'position': self.position,
            'permutation': [int(i) for i in self._order]}

  def set_state(self, state):
    """Restores a `get_state()` dict; the batch stream continues exactly.

    Raises:
      ValueError: not a state of a task over the same number of stories.
    """
    try:
      epoch, position = int(state['epoch']), int(state['position'])
      order = np.asarray(state['permutation'], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f'Not a BabiTask state (expected a dict from '
                       f'get_state()): {e}') from e
    n = len(self.stories)
    if order.shape != (n,) or not np.array_equal(np.sort(order),
                                                 np.arange(n)):
      raise ValueError(f'The state\'s permutation is not a permutation of '
                       f'the {n} training stories (another data set?).')
    if not 0 <= position < self.steps_per_epoch or epoch < 0:
      raise ValueError(f'Bad state position {position} / epoch {epoch} '
                       f'({self.steps_per_epoch} steps per epoch).')
    super().set_state(state)
    self.epoch, self.position, self._order = epoch, position, order


# -- test batches and grading ------------------------------------------------------


def test_batches(stories, batch_size):
  """Every story once, in order, in batches (the last one ragged).

  Returns:
    list of `Batch`, loss_mask = original_mask (no MRL).
  """
  batch_size = base.check_int('batch_size', batch_size, 1)
  batches = []
  for start in range(0, len(stories), batch_size):
    inputs, targets, _, seq_len = pad_stories(
        stories[start:start + batch_size])
    original_mask = (inputs == ANSWER).astype(np.float32)
    batches.append(base.Batch(inputs, targets, seq_len,
                              original_mask.copy(), original_mask))
  return batches


def grade(predictions, batch):
  """Per-question correctness of a batch (the authors' eval.py).

  Args:
    predictions: int [B, T] predicted token ids (argmax of the logits).
    batch: the `Batch` (inputs, targets, seq_len used).

  Returns:
    bool [num_questions]: story by story, question by question in order;
    a question is right only when every answer token after its '?' (the
    run of '-') is predicted right. A question without answer tokens counts
    as right (the authors' np.prod([]) = 1; none in bAbI).
  """
  predictions = np.asarray(predictions)
  inputs = np.asarray(batch.inputs)
  targets = np.asarray(batch.targets)
  if predictions.shape != inputs.shape:
    raise ValueError(f'predictions {predictions.shape} must have the shape '
                     f'of the batch inputs {inputs.shape}.')
  results = []
  for b, length in enumerate(np.asarray(batch.seq_len)):
    row = inputs[b, :length]
    is_q = row == QUESTION
    qid = np.cumsum(is_q) - 1  # question each token follows
    wrong = (row == ANSWER) & (predictions[b, :length] != targets[b, :length])
    count = int(is_q.sum())
    if count:
      # answers before any '?' (qid -1) do not occur; ignore them.
      keep = wrong & (qid >= 0)
      errors = np.bincount(qid[keep], minlength=count)
      results.append(errors == 0)
  if not results:
    return np.zeros([0], bool)
  return np.concatenate(results)


def grade_counts(predictions, batch):
  """(num_questions, num_right) of a batch (see `grade`)."""
  right = grade(predictions, batch)
  return int(right.size), int(right.sum())


def error_percent(num_questions, num_right):
  """A task's error %: 100 * (1 - right / questions)."""
  if num_questions <= 0:
    raise ValueError('error_percent needs at least one question.')
  return 100. * (1. - num_right / num_questions)


def lexicon_fingerprint(lexicon):
  """A short sha256 of the lexicon's words in id order.

  Saved with a trained model, it tells eval.py whether the data it reads
  give the same token ids as the data the model was trained on.
  """
  words = [w for w, _ in sorted(lexicon.items(), key=lambda item: item[1])]
  return hashlib.sha256(json.dumps(words).encode()).hexdigest()[:16]


# -- summary ---------------------------------------------------------------------------


def summary_table(data):
  """Per-task counts of a `BabiData`.

  Returns:
    `Summary`(rows: list of (task, name, train stories, train questions,
    dropped, test stories, test questions) in task order, totals: the
    column sums (the same 5 counts), lexicon_size).
  """
  rows = []
  for task in sorted(data.counts):
    c = data.counts[task]
    rows.append((task, data.task_names[task], c.train_stories,
                 c.train_questions, c.dropped, c.test_stories,
                 c.test_questions))
  totals = tuple(sum(r[i] for r in rows) for i in range(2, 7))
  return Summary(rows, totals, data.vocab_size)


def format_summary(data):
  """`summary_table` as text lines (for a closing note / the log)."""
  table = summary_table(data)
  lines = [f'{"task":>4}  {"name":<24}{"train st.":>10}{"train q.":>10}'
           f'{"dropped":>9}{"test st.":>10}{"test q.":>9}']
  for task, name, *counts in table.rows:
    lines.append(f'{task:>4}  {name:<24}' + ''.join(
        f'{v:>{w}}' for v, w in zip(counts, (10, 10, 9, 10, 9))))
  lines.append(f'{"all":>4}  {"":<24}' + ''.join(
      f'{v:>{w}}' for v, w in zip(table.totals, (10, 10, 9, 10, 9))))
  lines.append(f'lexicon: {table.lexicon_size} words; missing files: '
               f'{", ".join(data.missing_files) or "none"}')
  return '\n'.join(lines)
