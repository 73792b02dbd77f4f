"""Reads and encodes a whole bAbI set (`preprocess`; no cache, see
`tasks.babi.cache.load`).

Training keeps the stories of <= `length_limit` (800) tokens, answers
included (the authors' rule); test keeps them all.
"""

from tasks import base
from tasks.babi import encoding
from tasks.babi.data import ARCHIVE_NAME
from tasks.babi.data import DEFAULT_SET
from tasks.babi.data import DOWNLOAD_URL
from tasks.babi.data import FILE_RE
from tasks.babi.data import LENGTH_LIMIT
from tasks.babi.data import TASK_NAMES
from tasks.babi.data import TASKS
from tasks.babi.data import BabiData
from tasks.babi.data import BabiDataError
from tasks.babi.data import TaskCounts
from tasks.babi.data import TaskStories
from tasks.babi.data import check_tasks
from tasks.babi.data import replace_hint
from tasks.babi.source import BabiSource
from tasks.babi.source import find_source


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
        f'{", ".join(missing_tests)}. Every task needs its test file: '
        f'{replace_hint(source.path)}.')
  if not any((t, 'train') in found for t in tasks):
    raise BabiDataError(
        f'No bAbI training file in {source.description}: '
        f'{replace_hint(source.path)}.')
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
  lexicon = encoding.build_lexicon(texts[key] for key in order)
  train, test, counts = [], {}, {}
  for task in tasks:
    kept, dropped = [], 0
    if (task, 'train') in found:
      kept, dropped = encoding.encode_file(
          texts[task, 'train'], lexicon, task, length_limit,
          found[task, 'train'])
    stories, _ = encoding.encode_file(texts[task, 'test'], lexicon, task,
                                      None, found[task, 'test'])
    empty = [found[task, 'test']] if not any(
        encoding.num_questions(s) for s in stories) else []
    if (task, 'train') in found and not kept and not dropped:
      empty.append(found[task, 'train'])
    if empty:
      raise BabiDataError(
          f'bAbI file(s) {", ".join(empty)} in {source.description} hold no '
          f'question: empty or truncated. Put back the complete files (from '
          f'{ARCHIVE_NAME}, {DOWNLOAD_URL}).')
    train.extend(kept)
    test[task] = TaskStories(names_of[task], stories)
    counts[task] = _counts(kept, dropped, stories)
  return BabiData(lexicon, train, test, names_of, counts, missing,
                  source.description, source.set_name, length_limit,
                  'disabled')


def _counts(train, dropped, test):
  return TaskCounts(
      len(train), sum(encoding.num_questions(s) for s in train), dropped,
      len(test), sum(encoding.num_questions(s) for s in test),
      max((len(s.inputs) for s in train), default=0),
      max((len(s.inputs) for s in test), default=0))
