"""bAbI data (tasks/babi.py, SPEC 6): tokens, lexicon, stories, sources,
cache, download, training batches with MRL masks, test batches, grading.

Every test writes small bAbI-format files (or archives) into tmp_path; the
download tests serve them from a local http.server on 127.0.0.1. No test
reads files outside the repository or uses the network.
"""

import http.server
import io
import json
import os
import tarfile
import threading

import numpy as np
import pytest

from tasks import babi
from tasks import base

ROOT = babi.ROOT_NAME

QA1_TRAIN = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Daniel? \thallway\t4
1 Sandra journeyed to the office.
2 Where is Sandra? \toffice\t1
"""
QA1_TEST = """\
1 John travelled to the garden.
2 Where is John? \tgarden\t1
"""
QA19_TRAIN = """\
1 The kitchen is north of the garden.
2 The office is west of the garden.
3 How do you go from the office to the kitchen?\te,n\t2 1
"""
QA19_TEST = """\
1 The garden is south of the kitchen.
2 How do you go from the kitchen to the garden?\ts\t1
"""


def task_file(n, split):
  return f'qa{n}_{babi.TASK_NAMES[n]}_{split}.txt'


def write_set(folder, files):
  """Writes {(task, split): text} as bAbI files into `folder`."""
  os.makedirs(folder, exist_ok=True)
  for (n, split), text in files.items():
    with open(os.path.join(folder, task_file(n, split)), 'w') as f:
      f.write(text)
  return folder


def tiny_task(n, split):
  """A tiny valid file for task n: a task-specific word per file."""
  word = 'w' + 'abcdefghijklmnopqrst'[n - 1] + ('tr' if split == 'train'
                                                else 'te')
  story = (f'1 Mary saw the {word}.\n2 John took it.\n'
           f'3 What did Mary see? \t{word}\t1\n')
  return story * (2 if split == 'train' else 1)


def all_tasks(skip=(), extra=None):
  files = {(n, s): tiny_task(n, s) for n in babi.TASKS
           for s in ('train', 'test') if (n, s) not in skip}
  files.update(extra or {})
  return files


def write_tree(tmp_path, files, set_name='en-10k', name='data'):
  """`<tmp>/<name>/tasks_1-20_v1-2/<set>/` holding `files`; returns
  `<tmp>/<name>`."""
  data_dir = tmp_path / name
  write_set(data_dir / ROOT / set_name, files)
  return data_dir


def write_archive(path, files, set_name='en-10k', root=ROOT):
  """A gzip tar at `path` with members <root>/<set>/<file>."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tarfile.open(path, 'w:gz') as tar:
    for (n, split), text in sorted(files.items()):
      data = text.encode()
      info = tarfile.TarInfo(f'{root}/{set_name}/{task_file(n, split)}')
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return path


def archive_bytes(files, set_name='en-10k', root=ROOT):
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
    for (n, split), text in sorted(files.items()):
      data = text.encode()
      info = tarfile.TarInfo(f'{root}/{set_name}/{task_file(n, split)}')
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return buffer.getvalue()


def ids(lexicon, words):
  return [lexicon[w] for w in words.split()]


def assert_same_data(a, b):
  assert list(a.lexicon.items()) == list(b.lexicon.items())
  assert a.counts == b.counts
  assert a.missing_files == b.missing_files
  assert a.task_names == b.task_names
  assert (a.set_name, a.length_limit) == (b.set_name, b.length_limit)
  assert len(a.train) == len(b.train)
  pairs = list(zip(a.train, b.train))
  assert sorted(a.test) == sorted(b.test)
  for t in a.test:
    assert a.test[t].name == b.test[t].name
    assert len(a.test[t].stories) == len(b.test[t].stories)
    pairs += list(zip(a.test[t].stories, b.test[t].stories))
  for x, y in pairs:
    assert x.task == y.task
    for field in ('inputs', 'targets', 'question_mask'):
      u, v = getattr(x, field), getattr(y, field)
      assert u.dtype == v.dtype and np.array_equal(u, v)


# -- tokens, stories, lexicon ------------------------------------------------------


def test_split_line_tokens():
  assert babi.split_line('1 Mary moved to the bathroom.') == (
      True, ['mary', 'moved', 'to', 'the', 'bathroom', '.'])
  # Question: line id and supporting-fact ids dropped, answer kept.
  assert babi.split_line('13 Where is Mary? \tbathroom\t1') == (
      False, ['where', 'is', 'mary', '?', 'bathroom'])
  # Comma-separated multi-word answer, no space before the tab.
  assert babi.split_line('3 How do you go from A to B?\tn,s\t2 1') == (
      False, ['how', 'do', 'you', 'go', 'from', 'a', 'to', 'b', '?', 'n',
              's'])
  # Non-alphabetic tokens dropped (e.g. "John's", digits); '11' is not 1.
  assert babi.split_line("11 John's cat, the Dog.") == (
      False, ['cat', 'the', 'dog', '.'])
  assert babi.split_line('') == (False, [])


def test_encode_file_stories_targets_and_question_mask():
  lexicon = babi.build_lexicon([QA1_TRAIN])
  stories, dropped = babi.encode_file(QA1_TRAIN, lexicon, task=1)
  assert dropped == 0 and len(stories) == 2
  first = stories[0]
  words = ('mary moved to the bathroom . john went to the hallway . '
           'where is mary ? - daniel went back to the hallway . '
           'where is daniel ? -')
  expected = [babi.ANSWER if w == '-' else lexicon[w] for w in words.split()]
  assert first.inputs.dtype == np.int32 and first.targets.dtype == np.int32
  assert first.inputs.tolist() == expected
  targets = list(expected)
  targets[16], targets[-1] = lexicon['bathroom'], lexicon['hallway']
  assert first.targets.tolist() == targets
  assert first.question_mask.dtype == bool
  assert first.question_mask.astype(int).tolist() == (
      [0] * 12 + [1] * 4 + [0] + [0] * 7 + [1] * 4 + [0])
  assert first.task == 1
  second = stories[1]
  assert second.inputs.tolist() == ids(
      lexicon, 'sandra journeyed to the office . where is sandra ?') + [3]
  assert second.targets[-1] == lexicon['office']
  assert second.question_mask.astype(int).tolist() == [0] * 6 + [1] * 4 + [0]
  assert babi.num_questions(first) == 2 and babi.num_questions(second) == 1


def test_multi_word_answer_gives_one_dash_per_word():
  lexicon = babi.build_lexicon([QA19_TRAIN])
  (story,), _ = babi.encode_file(QA19_TRAIN, lexicon, task=19)
  assert story.inputs[-2:].tolist() == [babi.ANSWER, babi.ANSWER]
  assert story.targets[-2:].tolist() == [lexicon['e'], lexicon['n']]
  assert story.inputs[-3] == babi.QUESTION
  mask = story.question_mask.astype(int).tolist()
  # 2 statements of 8 tokens, question of 11 tokens, 2 answers.
  assert mask == [0] * 16 + [1] * 11 + [0, 0]
  assert np.array_equal(story.targets[:-2], story.inputs[:-2])


def test_text_before_first_story_is_an_error():
  lexicon = babi.build_lexicon(['2 Mary went away.'])
  with pytest.raises(babi.BabiDataError, match='line id 1'):
    babi.encode_file('2 Mary went away.\n', lexicon, 1, name='x.txt')


def test_lexicon_order_is_fixed_file_order(tmp_path):
  # Task 10 sorts before task 2 as a string: the order must be numeric,
  # train before test.
  files = {
      (2, 'train'): '1 Zed saw Ann.\n2 Who? \tann\t1\n',
      (2, 'test'): '1 Bob, Cy left.\n2 Who? \tbob\t1\n',
      (10, 'train'): '1 Dee 42 met Zed.\n2 Why? \tno\t1\n',
      (10, 'test'): '1 Eve met Fay.\n2 Why? \tyes\t1\n',
  }
  data_dir = write_tree(tmp_path, files)
  data = babi.preprocess(data_dir, tasks=(2, 10))
  assert list(data.lexicon) == [
      '<PAD>', '.', '?', '-', 'zed', 'saw', 'ann', 'who', 'bob', 'cy',
      'left', 'dee', 'met', 'why', 'no', 'eve', 'fay', 'yes']
  assert list(data.lexicon.values()) == list(range(18))
  assert data.vocab_size == 18
  assert sorted(data.test) == [2, 10]
  assert data.task_names == {2: babi.TASK_NAMES[2], 10: babi.TASK_NAMES[10]}


def test_preprocess_counts_long_story_dropped_from_train_kept_in_test(
    tmp_path):
  files = {(1, 'train'): QA1_TRAIN, (1, 'test'): QA1_TRAIN + QA1_TEST,
           (19, 'train'): QA19_TRAIN, (19, 'test'): QA19_TEST}
  data_dir = write_tree(tmp_path, files)
  full = babi.preprocess(data_dir, tasks=(1, 19))
  lengths = [len(s.inputs) for s in full.train]
  assert lengths == [29, 11, 29]  # qa1 story 1, qa1 story 2, qa19
  data = babi.preprocess(data_dir, length_limit=28, tasks=(1, 19))
  assert [len(s.inputs) for s in data.train] == [11]
  assert [s.task for s in data.train] == [1]
  assert data.counts[1] == babi.TaskCounts(
      train_stories=1, train_questions=1, dropped=1, test_stories=3,
      test_questions=4, longest_train=11, longest_test=29)
  assert data.counts[19].dropped == 1 and data.counts[19].train_stories == 0
  assert data.dropped == 2
  # Test keeps every story, long ones included, in file order.
  assert [len(s.inputs) for s in data.test[1].stories] == [29, 11, 11]
  assert [len(s.inputs) for s in data.test[19].stories] == [20]
  assert data.test[1].name == 'single-supporting-fact'
  # Train = all train files joined, task order.
  assert [s.task for s in full.train] == [1, 1, 19]
  summary = babi.summary_table(data)
  assert summary.rows == [(1, 'single-supporting-fact', 1, 1, 1, 3, 4),
                          (19, 'path-finding', 0, 0, 1, 1, 1)]
  assert summary.totals == (1, 1, 2, 4, 5)
  assert summary.lexicon_size == data.vocab_size
  text = babi.format_summary(data)
  assert 'path-finding' in text and 'lexicon' in text


# -- sources -----------------------------------------------------------------------


def test_archive_and_folder_give_identical_data(tmp_path):
  files = all_tasks(extra={(1, 'train'): QA1_TRAIN, (19, 'test'): QA19_TEST})
  folder_dir = write_tree(tmp_path, files, name='folder')
  archive_dir = tmp_path / 'archive'
  write_archive(str(archive_dir / babi.ARCHIVE_NAME), files)
  from_folder = babi.preprocess(folder_dir)
  from_archive = babi.preprocess(archive_dir)
  assert babi.find_source(folder_dir).kind == 'folder'
  assert babi.find_source(archive_dir).kind == 'archive'
  assert from_archive.source.startswith('archive ')
  assert from_folder.source.startswith('folder ')
  assert_same_data(from_folder, from_archive)
  assert len(from_folder.test) == 20 and from_folder.missing_files == []


def test_data_dir_may_be_parent_root_or_set_folder(tmp_path):
  files = all_tasks()
  parent = write_tree(tmp_path, files)
  write_set(parent / ROOT / 'en', all_tasks(extra={(5, 'test'): QA1_TEST}))
  reference = babi.preprocess(parent)
  for data_dir in (parent / ROOT, parent / ROOT / 'en-10k'):
    source = babi.find_source(data_dir)
    assert source.kind == 'folder'
    assert source.path == str(parent / ROOT / 'en-10k')
    assert_same_data(babi.preprocess(data_dir), reference)
  en = babi.preprocess(parent, set_name='en')
  assert en.set_name == 'en' and reference.set_name == 'en-10k'
  assert 'travelled' in en.lexicon and 'travelled' not in reference.lexicon
  assert 'wete' not in en.lexicon and 'wete' in reference.lexicon
  with pytest.raises(babi.BabiDataError, match="'en' set folder"):
    babi.find_source(parent / ROOT / 'en', 'en-10k')
  with pytest.raises(ValueError, match='Unknown bAbI set'):
    babi.find_source(parent, 'hn')


def test_missing_data_error_names_file_and_download_hint(tmp_path):
  with pytest.raises(babi.BabiDataError) as info:
    babi.load(tmp_path, log=None)
  message = str(info.value)
  assert isinstance(info.value, FileNotFoundError)
  assert babi.ARCHIVE_NAME in message and babi.DOWNLOAD_URL in message
  assert str(tmp_path) in message and '--download' in message
  assert babi.DOWNLOAD_HINT in message
  assert os.path.join(str(tmp_path), ROOT, 'en-10k') in message
  assert not os.listdir(tmp_path)  # nothing written, no download


def test_missing_train_file_is_recorded_not_fatal(tmp_path):
  data_dir = write_tree(tmp_path, all_tasks(skip={(3, 'train')}))
  data = babi.load(data_dir, log=None)
  assert data.missing_files == [task_file(3, 'train')]
  assert data.counts[3].train_stories == 0
  assert data.counts[3].test_stories == 1
  assert data.test[3].name == 'three-supporting-facts'
  assert {s.task for s in data.train} == set(babi.TASKS) - {3}
  # The words of the missing file are simply absent from the lexicon.
  assert 'wctr' not in data.lexicon and 'wcte' in data.lexicon
  # Cached: same record.
  assert babi.load(data_dir, log=None).missing_files == data.missing_files


def test_missing_test_file_or_all_train_files_is_an_error(tmp_path):
  data_dir = write_tree(tmp_path, all_tasks(skip={(7, 'test')}), name='a')
  with pytest.raises(babi.BabiDataError, match=task_file(7, 'test')):
    babi.load(data_dir, log=None)
  no_train = all_tasks(skip={(n, 'train') for n in babi.TASKS})
  data_dir = write_tree(tmp_path, no_train, name='b')
  with pytest.raises(babi.BabiDataError, match='No bAbI training file'):
    babi.load(data_dir, log=None)


def test_archive_without_the_set_or_corrupt_is_an_error(tmp_path):
  write_archive(str(tmp_path / 'a' / babi.ARCHIVE_NAME), all_tasks(),
                set_name='en')
  with pytest.raises(babi.BabiDataError, match='holds no'):
    babi.load(tmp_path / 'a', log=None)
  os.makedirs(tmp_path / 'b')
  (tmp_path / 'b' / babi.ARCHIVE_NAME).write_bytes(b'not a gzip file')
  with pytest.raises(babi.BabiDataError, match='corrupt'):
    babi.load(tmp_path / 'b', log=None)


# -- cache -------------------------------------------------------------------------


def _forbid_preprocessing(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError('the source was read again')
  monkeypatch.setattr(babi, 'preprocess', fail)
  monkeypatch.setattr(babi.BabiSource, 'read_files', fail)


def test_cache_written_then_reused_without_reading_source(tmp_path,
                                                          monkeypatch):
  files = all_tasks(skip={(3, 'train')},
                    extra={(1, 'train'): QA1_TRAIN, (19, 'train'): QA19_TRAIN})
  write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
  messages = []
  first = babi.load(tmp_path, log=messages.append)
  npz, meta = babi.cache_paths(tmp_path, 'en-10k', babi.LENGTH_LIMIT)
  assert os.path.isfile(npz) and os.path.isfile(meta)
  assert os.path.dirname(npz) == str(tmp_path / babi.CACHE_DIR)
  assert first.cache == 'written ' + npz
  with open(meta) as f:
    key = json.load(f)['key']
  assert key['preprocess_version'] == babi.PREPROCESS_VERSION
  assert key['fingerprint'].startswith('archive:')
  assert any('missing' in m and task_file(3, 'train') in m for m in messages)
  _forbid_preprocessing(monkeypatch)
  second = babi.load(tmp_path, log=None)
  assert second.cache == 'loaded ' + npz
  assert_same_data(first, second)
  assert second.source == first.source


def test_cache_rebuilt_when_source_version_or_limit_changes(tmp_path,
                                                            monkeypatch):
  data_dir = write_tree(tmp_path, all_tasks())
  first = babi.load(data_dir, log=None)
  assert first.cache.startswith('written')
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  calls = []
  real = babi.preprocess

  def counting(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)

  monkeypatch.setattr(babi, 'preprocess', counting)
  # A changed source file.
  write_set(data_dir / ROOT / 'en-10k', {(2, 'test'): QA1_TRAIN})
  changed = babi.load(data_dir, log=None)
  assert calls == [1] and changed.cache.startswith('written')
  assert changed.counts[2].test_stories == 2
  assert 'bathroom' in changed.lexicon and 'bathroom' not in first.lexicon
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  assert calls == [1]
  # A new preprocessing version.
  monkeypatch.setattr(babi, 'PREPROCESS_VERSION', babi.PREPROCESS_VERSION + 1)
  assert babi.load(data_dir, log=None).cache.startswith('written')
  assert calls == [1, 1]
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  # Another length limit is another key.
  short = babi.load(data_dir, length_limit=10, log=None)
  assert short.cache.startswith('written') and calls == [1, 1, 1]
  assert short.dropped > 0 and changed.dropped == 0


def test_cache_same_name_other_fingerprint_is_rebuilt(tmp_path):
  files = all_tasks()
  write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
  babi.load(tmp_path, log=None)
  files[(4, 'train')] = QA1_TRAIN
  write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
  data = babi.load(tmp_path, log=None)
  assert data.cache.startswith('written')
  assert data.counts[4].train_stories == 2 and 'sandra' in data.lexicon


def test_unwritable_cache_works_without_cache(tmp_path):
  data_dir = write_tree(tmp_path, all_tasks())
  (data_dir / babi.CACHE_DIR).write_text('a file where the cache dir goes')
  messages = []
  data = babi.load(data_dir, log=messages.append)
  assert data.cache.startswith('not written')
  assert any('without a cache' in m for m in messages)
  assert len(data.train) == 40
  assert babi.load(data_dir, log=None, cache=False).cache == 'disabled'
  elsewhere = tmp_path / 'elsewhere'
  written = babi.load(data_dir, log=None, cache_dir=elsewhere)
  npz, _ = babi.cache_paths(data_dir, 'en-10k', babi.LENGTH_LIMIT,
                            cache_dir=elsewhere)
  assert written.cache == 'written ' + npz and os.path.isfile(npz)
  assert babi.load(data_dir, log=None,
                   cache_dir=elsewhere).cache == 'loaded ' + npz


# -- download ----------------------------------------------------------------------


@pytest.fixture
def server(monkeypatch):
  """(routes dict path -> bytes, base URL) of a local HTTP server."""
  monkeypatch.setenv('no_proxy', '*')
  monkeypatch.setenv('NO_PROXY', '*')
  routes = {}

  class Handler(http.server.BaseHTTPRequestHandler):

    def do_GET(self):  # pylint: disable=invalid-name
      body = routes.get(self.path)
      if body is None:
        self.send_error(404, 'Not Found')
        return
      self.send_response(200)
      self.send_header('Content-Type', 'application/gzip')
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  try:
    yield routes, f'http://127.0.0.1:{httpd.server_address[1]}'
  finally:
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_download_from_local_server_then_load(tmp_path, server, capsys):
  routes, url = server
  body = archive_bytes(all_tasks(skip={(3, 'train')}))
  routes['/babi.tar.gz'] = body
  data_dir = tmp_path / 'new' / 'dir'
  data = babi.load(data_dir, download=True, url=url + '/babi.tar.gz',
                   log=None)
  archive = data_dir / babi.ARCHIVE_NAME
  assert archive.read_bytes() == body
  assert sorted(os.listdir(data_dir)) == [babi.CACHE_DIR, babi.ARCHIVE_NAME]
  err = capsys.readouterr().err
  assert '\r' in err and '100.0%' in err and babi.ARCHIVE_NAME in err
  assert data.source.startswith('archive ')
  assert data.missing_files == [task_file(3, 'train')]
  # Data present: no second download (the route is gone).
  routes.clear()
  assert babi.load(data_dir, download=True, url=url + '/babi.tar.gz',
                   log=None).cache.startswith('loaded')


def test_download_http_404_fails_cleanly(tmp_path, server):
  _, url = server
  with pytest.raises(babi.BabiDataError) as info:
    babi.load(tmp_path, download=True, url=url + '/missing.tar.gz', log=None)
  message = str(info.value)
  assert '404' in message and babi.ARCHIVE_NAME in message
  assert str(tmp_path) in message
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('body,reason', [
    (b'\x1f\x8b\x08 this is not really gzip' * 50, 'not a valid gzip tar'),
    (archive_bytes(all_tasks(), set_name='en'), 'does not contain'),
])
def test_download_bad_archive_fails_and_leaves_no_file(tmp_path, server, body,
                                                       reason):
  routes, url = server
  routes['/babi.tar.gz'] = body
  with pytest.raises(babi.BabiDataError, match=reason) as info:
    babi.fetch(tmp_path, url=url + '/babi.tar.gz', progress=io.StringIO(),
               log=None)
  assert 'by hand' in str(info.value)
  assert os.listdir(tmp_path) == []


def test_download_network_error(tmp_path, server):
  _, url = server
  port = int(url.rsplit(':', 1)[1])
  # A closed port on localhost: connection refused.
  import socket  # pylint: disable=import-outside-toplevel
  sock = socket.socket()
  sock.bind(('127.0.0.1', 0))
  closed = sock.getsockname()[1]
  sock.close()
  assert closed != port
  with pytest.raises(babi.BabiDataError, match='network error'):
    babi.fetch(tmp_path, url=f'http://127.0.0.1:{closed}/x.tar.gz',
               progress=io.StringIO(), log=None, timeout=5)
  assert os.listdir(tmp_path) == []


# -- training batches --------------------------------------------------------------


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
    inputs, targets, seq_len, loss_mask, original = batch
    assert inputs.dtype == targets.dtype == seq_len.dtype == np.int32
    assert loss_mask.dtype == original.dtype == np.float32
    assert inputs.shape == (8, seq_len.max()) == loss_mask.shape
    answers = inputs == babi.ANSWER
    np.testing.assert_array_equal(original, answers.astype(np.float32))
    np.testing.assert_array_equal(targets[~answers], inputs[~answers])
    assert np.all(targets[answers] > babi.ANSWER)
    pad = np.arange(inputs.shape[1])[None] >= seq_len[:, None]
    assert np.all(inputs[pad] == 0) and np.all(loss_mask[pad] == 0)
    assert np.all(inputs[~pad] != 0)
    sampled = (loss_mask > 0) & ~answers
    assert np.all(loss_mask[sampled] == 1.)
    sampled_tokens = set(inputs[sampled].tolist())
    assert not sampled_tokens & question_words
    assert babi.DOT not in sampled_tokens and babi.PAD not in sampled_tokens
    alpha = max(1., sampled.sum() / answers.sum())
    np.testing.assert_allclose(loss_mask[answers], alpha, rtol=1e-6)
    assert task.last_alpha == pytest.approx(alpha)
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
  np.testing.assert_array_equal(batch.loss_mask * (1 - batch.original_mask),
                                eligible.astype(np.float32))
  assert batch.loss_mask[batch.original_mask == 1][0] == pytest.approx(
      eligible.sum() / batch.original_mask.sum())
  zero = babi.BabiTask(stories, len(lexicon), batch_size=4, p_re=0., seed=0)
  for _ in range(5):
    batch = zero.next_batch()
    np.testing.assert_array_equal(batch.loss_mask, batch.original_mask)


def test_sampled_fraction_close_to_p_re():
  stories, lexicon = synthetic_stories(64, seed=1)
  task = babi.BabiTask(stories, len(lexicon), batch_size=16, p_re=0.3,
                       seed=5, reproduce_quirks=False)
  sampled = eligible = 0
  for _ in range(100):
    batch = task.next_batch()
    answers = batch.original_mask == 1
    sampled += int(((batch.loss_mask > 0) & ~answers).sum())
    qm = np.zeros(batch.inputs.shape, bool)
    for b, q in zip(*np.nonzero(batch.inputs == babi.QUESTION)):
      qm[b, q - 3:q + 1] = True  # where ask <person> ?
    eligible += int(babi.refresh_eligible(batch.inputs, qm).sum())
  assert eligible > 10000
  assert sampled / eligible == pytest.approx(0.3, abs=0.02)


def test_authors_mrl_mask_known_answer():
  # Three stories, p_re = 1 (every candidate sampled). Lexicon ids: PAD 0,
  # '.' 1, '?' 2, '-' 3, words 4+. Story c is in batch row 2.
  a = [4, 5, 6, 1, 7, 2, 3]         # w w w . q ? -
  b = [7, 1, 8, 9, 2, 3, 3]         # w . q q ? - -
  c = [4, 7, 1, 5, 8, 2, 3, 6, 2, 3]  # w w . q q ? - q ? -
  stories = [babi.Story(np.array(s), np.array(s), np.array(
      [t not in (1, 3) and i > s.index(1) for i, t in enumerate(s)]), 1)
             for s in (a, b, c)]
  inputs, _, qmask, _ = babi.pad_stories(stories)
  original = (inputs == babi.ANSWER).astype(np.float32)  # 5 answers
  rng = np.random.default_rng(0)
  mask, alpha = babi.mrl_loss_mask(inputs, qmask, original, 1.0, rng,
                                   reproduce_quirks=True)
  # The authors' loader: rows 0 and 1 never refreshed; in row 2 every token
  # but '.' and padding is sampled, questions and '?' included (7 tokens);
  # the two sampled '-' count in alpha = (7 + 2) / 5 = 1.8, then carry it.
  assert alpha == pytest.approx(1.8)
  np.testing.assert_array_equal(mask[:2], np.float32(1.8) * original[:2])
  np.testing.assert_array_equal(
      mask[2], np.float32([1, 1, 0, 1, 1, 1, 1.8, 1, 1, 1.8]))
  # The corrected loss: statements only ('w w' of each story before its
  # first '.', rows 0..2: 3 + 1 + 2 = 6 tokens), alpha = max(1, 6 / 5).
  mask, alpha = babi.mrl_loss_mask(inputs, qmask, original, 1.0, rng,
                                   reproduce_quirks=False)
  assert alpha == pytest.approx(1.2)
  np.testing.assert_array_equal(
      mask[2], np.float32([1, 1, 0, 0, 0, 0, 1.2, 0, 0, 1.2]))
  np.testing.assert_array_equal(
      mask[0], np.float32([1, 1, 1, 0, 0, 0, 1.2, 0, 0, 0]))
  # p_re = 0: the plain answer mask in both variants.
  for quirks in (True, False):
    mask, alpha = babi.mrl_loss_mask(inputs, qmask, original, 0.0, rng,
                                     reproduce_quirks=quirks)
    np.testing.assert_array_equal(mask, original)
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
    answers = q.original_mask == 1
    assert not q.loss_mask[:2][~answers[:2]].any()  # rows 0, 1: no refresh
    alphas.append(quirky.last_alpha)
    assert fixed.last_alpha >= 1.
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


def test_task_from_data(tmp_path):
  data = babi.load(write_tree(tmp_path, all_tasks()), log=None,
                   length_limit=50)
  task = babi.BabiTask.from_data(data, batch_size=8, p_re=0.1, seed=0)
  assert task.steps_per_epoch == 5  # 40 stories
  assert task.input_size == data.vocab_size and task.max_time == 50
  specs = task.batch_specs(8)
  assert [s.dtype.name for s in specs] == ['int32', 'int32', 'int32',
                                           'float32', 'float32']


# -- test batches and grading ------------------------------------------------------


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
    np.testing.assert_array_equal(b.loss_mask, b.original_mask)
    np.testing.assert_array_equal(b.original_mask,
                                  (b.inputs == babi.ANSWER).astype(float))


def test_grading():
  lexicon = babi.build_lexicon([QA1_TRAIN, QA19_TRAIN])
  one, _ = babi.encode_file(QA1_TRAIN, lexicon, 1)
  two, _ = babi.encode_file(QA19_TRAIN, lexicon, 19)
  (batch,) = babi.test_batches(one + two, 8)  # questions: 2, 1, 1 (2 words)
  perfect = batch.targets.copy()
  perfect[batch.original_mask == 0] = 0  # non-answer predictions ignored
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
