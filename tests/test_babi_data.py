"""bAbI data (tasks/babi/: data, source, encoding, dataset, cache, download):
tokens, lexicon, stories, sources, cache, and a task built from loaded
data (the download: test_babi_download.py).

Every test writes small bAbI-format files (or archives) into tmp_path. No
test reads files outside the repository or uses the network.
"""

import json
import os

import numpy as np
import pytest

from tasks import babi

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


# -- tokens, stories, lexicon --------------------------------------------------


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


def test_lexicon_order_is_fixed_file_order(babi_files, tmp_path):
  # Task 10 sorts before task 2 as a string: the order must be numeric,
  # train before test.
  files = {
      (2, 'train'): '1 Zed saw Ann.\n2 Who? \tann\t1\n',
      (2, 'test'): '1 Bob, Cy left.\n2 Who? \tbob\t1\n',
      (10, 'train'): '1 Dee 42 met Zed.\n2 Why? \tno\t1\n',
      (10, 'test'): '1 Eve met Fay.\n2 Why? \tyes\t1\n',
  }
  data_dir = babi_files.write_tree(tmp_path, files)
  data = babi.preprocess(data_dir, tasks=(2, 10))
  assert list(data.lexicon) == [
      '<PAD>', '.', '?', '-', 'zed', 'saw', 'ann', 'who', 'bob', 'cy',
      'left', 'dee', 'met', 'why', 'no', 'eve', 'fay', 'yes']
  assert list(data.lexicon.values()) == list(range(18))
  assert data.vocab_size == 18
  assert sorted(data.test) == [2, 10]
  assert data.task_names == {2: babi.TASK_NAMES[2], 10: babi.TASK_NAMES[10]}


def test_preprocess_counts_long_story_dropped_from_train_kept_in_test(babi_files, 
    tmp_path):
  files = {(1, 'train'): QA1_TRAIN, (1, 'test'): QA1_TRAIN + QA1_TEST,
           (19, 'train'): QA19_TRAIN, (19, 'test'): QA19_TEST}
  data_dir = babi_files.write_tree(tmp_path, files)
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
  # Per-task counts: (task, name, train stories, train questions, dropped,
  # test stories, test questions).
  assert [(t, data.task_names[t], c.train_stories, c.train_questions,
           c.dropped, c.test_stories, c.test_questions)
          for t, c in sorted(data.counts.items())] == [
              (1, 'single-supporting-fact', 1, 1, 1, 3, 4),
              (19, 'path-finding', 0, 0, 1, 1, 1)]


# -- sources -------------------------------------------------------------------


def test_archive_and_folder_give_identical_data(babi_files, tmp_path):
  files = babi_files.all_tasks(extra={(1, 'train'): QA1_TRAIN, (19, 'test'): QA19_TEST})
  folder_dir = babi_files.write_tree(tmp_path, files, name='folder')
  archive_dir = tmp_path / 'archive'
  babi_files.write_archive(str(archive_dir / babi.ARCHIVE_NAME), files)
  from_folder = babi.preprocess(folder_dir)
  from_archive = babi.preprocess(archive_dir)
  assert babi.find_source(folder_dir).kind == 'folder'
  assert babi.find_source(archive_dir).kind == 'archive'
  assert from_archive.source.startswith('archive ')
  assert from_folder.source.startswith('folder ')
  assert_same_data(from_folder, from_archive)
  assert len(from_folder.test) == 20 and from_folder.missing_files == []


def test_data_dir_may_be_parent_root_or_set_folder(babi_files, tmp_path):
  files = babi_files.all_tasks()
  parent = babi_files.write_tree(tmp_path, files)
  babi_files.write_set(parent / ROOT / 'en', babi_files.all_tasks(extra={(5, 'test'): QA1_TEST}))
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
  assert '\n' not in message  # one line: the fix first, then where it looked
  assert message.index('--download') < message.index('looked for')
  assert not os.listdir(tmp_path)  # nothing written, no download


def test_a_saved_run_reads_its_own_folder_else_the_default(babi_files,
                                                           tmp_path,
                                                           monkeypatch):
  """eval.py and visualize.py without --data_dir: the run's recorded folder
  when the set is there, else bAbI_data (every script's default, as
  damrun/presets.py), else a message with the flags that supply it."""
  from damrun import presets  # pylint: disable=import-outside-toplevel
  assert babi.DEFAULT_DIR == presets.TRAIN['data_dir'] == presets.EVAL[
      'data_dir']
  monkeypatch.chdir(tmp_path)
  recorded = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                   name='recorded')
  assert babi.run_data_dir(str(recorded), 'en-10k') == str(recorded)
  assert babi.run_data_dir(str(recorded), 'en') is None  # no en set there
  assert babi.run_data_dir('/nowhere', 'en-10k') is None
  babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                        name=babi.DEFAULT_DIR)
  assert babi.run_data_dir('/nowhere', 'en-10k') == babi.DEFAULT_DIR
  assert babi.run_data_dir(None, 'en-10k') == babi.DEFAULT_DIR
  message = babi.no_run_data_message('/nowhere', 'en')
  assert '/nowhere' in message and f'nor {babi.DEFAULT_DIR}/' in message
  assert '--data_dir=<folder holding tasks_1-20_v1-2/' in message
  assert '--download' in message and babi.DOWNLOAD_URL in message
  assert 'neither' not in babi.no_run_data_message(babi.DEFAULT_DIR, 'en')


def test_missing_train_file_is_recorded_not_fatal(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(skip={(3, 'train')}))
  data = babi.load(data_dir, log=None)
  assert data.missing_files == [babi_files.task_file(3, 'train')]
  assert data.counts[3].train_stories == 0
  assert data.counts[3].test_stories == 1
  assert data.test[3].name == 'three-supporting-facts'
  assert {s.task for s in data.train} == set(babi.TASKS) - {3}
  # The words of the missing file are simply absent from the lexicon.
  assert 'wctr' not in data.lexicon and 'wcte' in data.lexicon
  # Cached: same record.
  assert babi.load(data_dir, log=None).missing_files == data.missing_files


def test_missing_test_file_or_all_train_files_is_an_error(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(skip={(7, 'test')}), name='a')
  with pytest.raises(babi.BabiDataError, match=babi_files.task_file(7, 'test')):
    babi.load(data_dir, log=None)
  no_train = babi_files.all_tasks(skip={(n, 'train') for n in babi.TASKS})
  data_dir = babi_files.write_tree(tmp_path, no_train, name='b')
  with pytest.raises(babi.BabiDataError, match='No bAbI training file'):
    babi.load(data_dir, log=None)


def test_archive_without_the_set_or_corrupt_is_an_error(babi_files, tmp_path):
  babi_files.write_archive(str(tmp_path / 'a' / babi.ARCHIVE_NAME), babi_files.all_tasks(),
                set_name='en')
  with pytest.raises(babi.BabiDataError, match='holds no'):
    babi.load(tmp_path / 'a', log=None)
  os.makedirs(tmp_path / 'b')
  (tmp_path / 'b' / babi.ARCHIVE_NAME).write_bytes(b'not a gzip file')
  with pytest.raises(babi.BabiDataError, match='corrupt'):
    babi.load(tmp_path / 'b', log=None)


# -- cache ---------------------------------------------------------------------


def _forbid_preprocessing(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError('the source was read again')
  monkeypatch.setattr(babi.dataset, 'preprocess', fail)
  monkeypatch.setattr(babi.BabiSource, 'read_files', fail)


def test_cache_written_then_reused_without_reading_source(babi_files, tmp_path,
                                                          monkeypatch):
  files = babi_files.all_tasks(skip={(3, 'train')},
                    extra={(1, 'train'): QA1_TRAIN, (19, 'train'): QA19_TRAIN})
  babi_files.write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
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
  assert any('missing' in m and babi_files.task_file(3, 'train') in m for m in messages)
  _forbid_preprocessing(monkeypatch)
  second = babi.load(tmp_path, log=None)
  assert second.cache == 'loaded ' + npz
  assert_same_data(first, second)
  assert second.source == first.source


def test_cache_rebuilt_when_source_version_or_limit_changes(babi_files, tmp_path,
                                                            monkeypatch):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
  first = babi.load(data_dir, log=None)
  assert first.cache.startswith('written')
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  calls = []
  real = babi.dataset.preprocess

  def counting(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)

  monkeypatch.setattr(babi.dataset, 'preprocess', counting)
  # A changed source file.
  babi_files.write_set(data_dir / ROOT / 'en-10k', {(2, 'test'): QA1_TRAIN})
  changed = babi.load(data_dir, log=None)
  assert calls == [1] and changed.cache.startswith('written')
  assert changed.counts[2].test_stories == 2
  assert 'bathroom' in changed.lexicon and 'bathroom' not in first.lexicon
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  assert calls == [1]
  # A new preprocessing version.
  monkeypatch.setattr(babi.cache, 'PREPROCESS_VERSION',
                      babi.PREPROCESS_VERSION + 1)
  assert babi.load(data_dir, log=None).cache.startswith('written')
  assert calls == [1, 1]
  assert babi.load(data_dir, log=None).cache.startswith('loaded')
  # Another length limit is another key.
  short = babi.load(data_dir, length_limit=10, log=None)
  assert short.cache.startswith('written') and calls == [1, 1, 1]
  assert short.dropped > 0 and changed.dropped == 0


def test_cache_same_name_other_fingerprint_is_rebuilt(babi_files, tmp_path):
  files = babi_files.all_tasks()
  babi_files.write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
  babi.load(tmp_path, log=None)
  files[(4, 'train')] = QA1_TRAIN
  babi_files.write_archive(str(tmp_path / babi.ARCHIVE_NAME), files)
  data = babi.load(tmp_path, log=None)
  assert data.cache.startswith('written')
  assert data.counts[4].train_stories == 2 and 'sandra' in data.lexicon


def test_unwritable_cache_works_without_cache(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
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


# -- a task from loaded data ---------------------------------------------------


def test_task_from_data(babi_files, tmp_path):
  data = babi.load(babi_files.write_tree(tmp_path, babi_files.all_tasks()), log=None,
                   length_limit=50)
  task = babi.BabiTask.from_data(data, batch_size=8, p_re=0.1, seed=0)
  assert task.steps_per_epoch == 5  # 40 stories
  assert task.input_size == data.vocab_size and task.max_time == 50
  specs = task.batch_specs(8)
  assert [s.dtype.name for s in specs] == ['int32', 'int32', 'int32',
                                           'float32', 'float32']
