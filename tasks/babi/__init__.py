"""The bAbI question answering tasks (Weston et al. 2015; Park et al. 2021
train the DAM on all 20 jointly; the DAM authors' `preprocess.py`,
`loader.py` and `eval.py`), by concern:

* `data`: constants (token ids, file names, the official URL), the record
  types (`Story`, `BabiData`, ...) and `BabiDataError`;
* `source`: where a set is read from (a folder or the archive;
  `find_source`, `BabiSource`; a saved run's folder: `run_data_dir`);
* `download`: the official archive (`fetch`, `find_or_fetch`);
* `encoding`: tokens, lexicon and stories, exactly as the authors'
  preprocess.py (`split_line`, `build_lexicon`, `encode_file`; a line
  id is ASCII digits, `line_id`);
* `dataset`: a whole set read and encoded (`preprocess`, `task_files`);
* `cache`: the preprocessed-data cache and `load`, the entry point;
* `task`: training batches and their Memory Refreshing Loss (`BabiTask`);
* `grading`: test batches and the authors' per-question grading
  (`test_batches`, `grade`, `error_percent`).

Every public name is re-exported here: `from tasks import babi;
babi.load(...)`.
"""

from tasks.babi.cache import CACHE_DIR
from tasks.babi.cache import PREPROCESS_VERSION
from tasks.babi.cache import cache_paths
from tasks.babi.cache import load
from tasks.babi.data import ANSWER
from tasks.babi.data import ARCHIVE_NAME
from tasks.babi.data import BASE_LEXICON
from tasks.babi.data import DEFAULT_DIR
from tasks.babi.data import DEFAULT_SET
from tasks.babi.data import DOT
from tasks.babi.data import DOWNLOAD_HINT
from tasks.babi.data import DOWNLOAD_URL
from tasks.babi.data import FILE_RE
from tasks.babi.data import LENGTH_LIMIT
from tasks.babi.data import PAD
from tasks.babi.data import PROBE_FILE
from tasks.babi.data import QUESTION
from tasks.babi.data import ROOT_NAME
from tasks.babi.data import SETS
from tasks.babi.data import TASK_NAMES
from tasks.babi.data import TASKS
from tasks.babi.data import BabiData
from tasks.babi.data import BabiDataError
from tasks.babi.data import Story
from tasks.babi.data import TaskCounts
from tasks.babi.data import TaskStories
from tasks.babi.data import check_set_name
from tasks.babi.data import check_tasks
from tasks.babi.dataset import preprocess
from tasks.babi.dataset import task_files
from tasks.babi.download import fetch
from tasks.babi.download import find_or_fetch
from tasks.babi.encoding import build_lexicon
from tasks.babi.encoding import encode_file
from tasks.babi.encoding import NOT_A_LINE
from tasks.babi.encoding import lexicon_fingerprint
from tasks.babi.encoding import line_id
from tasks.babi.encoding import num_questions
from tasks.babi.encoding import split_line
from tasks.babi.grading import error_percent
from tasks.babi.grading import grade
from tasks.babi.grading import grade_counts
from tasks.babi.grading import test_batches
from tasks.babi.source import BabiSource
from tasks.babi.source import find_source
from tasks.babi.source import no_run_data_message
from tasks.babi.source import run_data_dir
from tasks.babi.task import BabiTask
from tasks.babi.task import authors_refresh_eligible
from tasks.babi.task import pad_stories
from tasks.babi.task import refresh_eligible

__all__ = [
    'CACHE_DIR', 'PREPROCESS_VERSION', 'cache_paths', 'load', 'ANSWER',
    'ARCHIVE_NAME', 'BASE_LEXICON', 'DEFAULT_DIR', 'DEFAULT_SET', 'DOT',
    'DOWNLOAD_HINT', 'DOWNLOAD_URL', 'FILE_RE', 'LENGTH_LIMIT', 'PAD',
    'PROBE_FILE', 'QUESTION', 'ROOT_NAME', 'SETS', 'TASK_NAMES', 'TASKS',
    'BabiData', 'BabiDataError', 'Story', 'TaskCounts', 'TaskStories',
    'check_set_name', 'check_tasks', 'preprocess', 'task_files', 'fetch',
    'find_or_fetch', 'build_lexicon', 'encode_file', 'NOT_A_LINE',
    'lexicon_fingerprint', 'line_id',
    'num_questions', 'split_line', 'error_percent', 'grade', 'grade_counts',
    'test_batches', 'BabiSource', 'find_source', 'no_run_data_message',
    'run_data_dir', 'BabiTask', 'authors_refresh_eligible', 'pad_stories',
    'refresh_eligible',
]
