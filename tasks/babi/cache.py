"""The preprocessed-data cache and `load`, the entry point of the data.

Cache: `<data_dir>/babi_cache/` (or `cache_dir`), files
`<set>-len<limit>-v<PREPROCESS_VERSION>.npz` (arrays) + `.json` (lexicon,
counts, key), no pickle, keyed by PREPROCESS_VERSION, the set, the length
limit, the task selection and a sha256 fingerprint of the source (the
archive's bytes, or the names and contents of the set folder's qa files). A
changed key rebuilds it; an unwritable `data_dir` works without a cache and
says so.
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
      log(f'bAbI cache {npz_path} unreadable ({type(e).__name__}: {e}); '
          f'rebuilding it.')
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
