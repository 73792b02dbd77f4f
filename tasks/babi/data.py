"""bAbI v1.2 (Weston et al. 2015): constants, record types and argument
checks shared by the `tasks.babi` modules.

Data: `tasks_1-20_v1-2`, the set folder `en-10k` (default, 10,000 training
questions per task) or `en` (1,000); files `qa{N}_{name}_{train,test}.txt`,
N = 1..20, lines `ID text`, question lines
`ID question?<TAB>answer<TAB>supporting fact ids`.
"""

import collections
import re

from tasks import base

ROOT_NAME = 'tasks_1-20_v1-2'
ARCHIVE_NAME = ROOT_NAME + '.tar.gz'
DOWNLOAD_URL = 'http://www.thespermwhale.com/jaseweston/babi/' + ARCHIVE_NAME
DOWNLOAD_HINT = ('or pass --download to fetch it from the official URL '
                 f'({DOWNLOAD_URL}) into the data directory')


def replace_hint(path):
  """How to replace incomplete or corrupt data at `path` (a set folder or
  an archive that `find_source` found, so that --download alone, which
  fetches only where no data is found, would not replace it)."""
  return (f'delete {path} and put the official {ARCHIVE_NAME} (from '
          f'{DOWNLOAD_URL}) or its extracted {ROOT_NAME}/ folder in the data '
          f'directory, or delete it and pass --download to fetch the archive')


SETS = ('en-10k', 'en')
DEFAULT_SET = 'en-10k'
# The one default data folder of every script that reads bAbI (train.py,
# eval.py, run_kvmemnn.py, visualize.py, experiments/run_suite.py): the
# authors' folder name, `damrun.presets.TRAIN['data_dir']`. It holds the
# archive or the extracted tasks_1-20_v1-2/ folder (with en/ and en-10k/).
DEFAULT_DIR = 'bAbI_data'
LENGTH_LIMIT = 800  # the authors' training length limit (tokens)
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
