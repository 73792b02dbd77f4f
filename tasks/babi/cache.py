"""The preprocessed-data cache and `load`, the entry point of the data.

Cache: `<data_dir>/babi_cache/` (or `cache_dir`), files
`<set>-len<limit>-v<PREPROCESS_VERSION>.npz` (arrays) + `.json` (lexicon,
counts, key), no pickle, keyed by PREPROCESS_VERSION, the set, the length
limit, the task selection and a sha256 fingerprint of the source (the
archive's bytes, or the names and contents of the set folder's qa files). A
changed key rebuilds it; an unwritable `data_dir` works without a cache and
says so. A cache of the right key is checked before it is used
(`_check_cache`: the lexicon, every array's dtype and shape, every token
id within the lexicon, the stories' counts): a damaged or tampered one
would otherwise load and crash training later (an embedding lookup past
the lexicon). It is rebuilt from the text files with a one-line note, as
an unreadable one: the text files are the truth, the cache only saves time.
"""

import json
import os
import time
import uuid

import numpy as np

from dam import fileio
from tasks import base
from tasks.babi import dataset
from tasks.babi.data import ANSWER
from tasks.babi.data import BASE_LEXICON
from tasks.babi.data import DEFAULT_SET
from tasks.babi.data import DOWNLOAD_URL
from tasks.babi.data import LENGTH_LIMIT
from tasks.babi.data import TASKS
from tasks.babi.data import BabiData
from tasks.babi.data import Story
from tasks.babi.data import TaskCounts
from tasks.babi.data import TaskStories
from tasks.babi.data import check_set_name
from tasks.babi.data import check_tasks
from tasks.babi.download import find_or_fetch

PREPROCESS_VERSION = 2  # bump when the encoding or the cache layout changes
CACHE_DIR = 'babi_cache'


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
  fileio.write_atomic(npz_path, lambda f: np.savez(f, **arrays), mode='wb')
  fileio.write_json_atomic(json_path, meta, indent=1)


# The arrays of one split ('train_' or 'test_' + name) and their kinds
# (numpy dtype.kind: 'i' signed, 'u' unsigned integer, 'b' bool).
_ARRAY_KINDS = {'inputs': 'iu', 'answers': 'iu', 'question_mask': 'b',
                'offsets': 'iu', 'task': 'iu'}


def _check_split(arrays, prefix, vocab_size, tasks):
  """Raises ValueError naming what is wrong with one split's arrays (see
  `_pack`); returns its number of stories per task {task: count}."""
  for name, kinds in _ARRAY_KINDS.items():
    array = arrays.get(prefix + name)
    if array is None or array.ndim != 1 or array.dtype.kind not in kinds:
      raise ValueError(f'{prefix}{name} is missing or not a 1-D array of '
                       f'{"bools" if kinds == "b" else "integers"}')
  inputs, offsets = arrays[prefix + 'inputs'], arrays[prefix + 'offsets']
  if (len(offsets) != len(arrays[prefix + 'task']) + 1 or offsets[0] != 0 or
      offsets[-1] != len(inputs) or np.any(np.diff(offsets) < 1)):
    raise ValueError(f'{prefix}offsets do not split the {len(inputs)} tokens '
                     f'into the {len(arrays[prefix + "task"])} stories')
  if len(arrays[prefix + 'question_mask']) != len(inputs):
    raise ValueError(f'{prefix}question_mask is not as long as the inputs')
  for name in ('inputs', 'answers'):
    ids = arrays[prefix + name]
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
      raise ValueError(f'{prefix}{name} hold token ids outside the lexicon '
                       f'of {vocab_size} words')
  if np.count_nonzero(inputs == ANSWER) != len(arrays[prefix + 'answers']):
    raise ValueError(f'{prefix}answers are not one per answer token')
  task, count = np.unique(arrays[prefix + 'task'], return_counts=True)
  if not set(task.tolist()) <= set(tasks):
    raise ValueError(f'{prefix}task holds tasks outside {sorted(tasks)}')
  return dict(zip(task.tolist(), count.tolist()))


def _check_cache(meta, arrays):
  """Raises ValueError naming what is wrong with a cache of the right key
  (its .json `meta` and .npz `arrays`; see the module doc)."""
  lexicon = meta.get('lexicon')
  if (not isinstance(lexicon, list) or
      not all(isinstance(w, str) for w in lexicon) or
      len(set(lexicon)) != len(lexicon) or
      lexicon[:len(BASE_LEXICON)] != [w for w, _ in BASE_LEXICON]):
    raise ValueError('the lexicon is not a list of distinct words starting '
                     'with the base tokens')
  tasks = {int(t) for t in meta['task_names']}
  if set(meta['counts']) != set(meta['task_names']):
    raise ValueError('the counts and the task names name other tasks')
  for prefix, field in (('train_', 'train_stories'),
                        ('test_', 'test_stories')):
    stories = _check_split(arrays, prefix, len(lexicon), tasks)
    for t in tasks:
      if stories.get(t, 0) != meta['counts'][str(t)][field]:
        raise ValueError(f'task {t} has {stories.get(t, 0)} {prefix[:-1]} '
                         f'stories, its counts say '
                         f'{meta["counts"][str(t)][field]}')


def _load_cache(key, npz_path, json_path):
  """The cached `BabiData` of `key`, or None (no cache / other key).

  Raises:
    Exception: the cache is unreadable or invalid (`_check_cache`).
  """
  try:
    with open(json_path, 'rb') as f:
      meta = json.loads(f.read().decode())
  except (OSError, ValueError):
    return None
  if not isinstance(meta, dict) or meta.get('key') != key:
    return None
  with np.load(npz_path, allow_pickle=False) as npz:
    arrays = {k: npz[k] for k in npz.files}
  if str(arrays['cache_id']) != meta['cache_id']:
    raise ValueError('the .npz and .json files are from different builds')
  _check_cache(meta, arrays)
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
  source = find_or_fetch(data_dir, set_name, download, url=url, log=log)
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
      log(f'bAbI cache {npz_path} unreadable or invalid '
          f'({type(e).__name__}: {e}); rebuilding it from the text files.')
      data = None
    if data is not None:
      log(f'bAbI {set_name}: loaded the cache {npz_path} '
          f'({time.perf_counter() - start:.2f} s).')
      _log_notes(data, log)
      return data
  log(f'bAbI {set_name}: preprocessing {source.description} ...')
  data = dataset.preprocess(source, set_name, length_limit, tasks)
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
          f'(preprocessing again next time; --cache_dir=<a writable folder> '
          f'keeps it there).')
  _log_notes(data, log)
  return data


def _log_notes(data, log):
  log(f'bAbI {data.set_name}: {len(data.train)} training stories, '
      f'{data.dropped} dropped (> {data.length_limit} tokens), lexicon '
      f'{data.vocab_size} words.')
  if data.missing_files:
    log(f'bAbI {data.set_name}: WARNING missing files (not used): '
        f'{", ".join(data.missing_files)}')
