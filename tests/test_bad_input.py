"""Bad input gives a clear message, before any work, and leaves nothing
behind: malformed bAbI lines (both readers), empty test files, eval outputs
of other data, run names and flags that would escape or break the run
directory, empty or corrupt config.json, script argument errors.

Every test writes its own small files into tmp_path.
"""

import json
import os
import subprocess
import sys

import pytest

from damrun import babi_eval
from damrun import rundir
from tasks import babi
from tasks import babi_kv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Malformed lines of a test file (the 3rd line each time) and what the
# message says.
BAD_LINES = {
    'answerless': ('3 What did Mary see? \t\t1', 'without an answer'),
    'no_tab': ('3 What did Mary see?', 'TAB'),
    'junk': ('hello world', 'positive integer id'),
    'no_words': ('3 ###', 'no words'),
}


def _bad_test_file(line):
  return f'1 Mary saw the wate.\n2 John took it.\n{line}\n'


# -- the bAbI reader -----------------------------------------------------------


@pytest.mark.parametrize('kind', sorted(BAD_LINES))
def test_malformed_babi_line_is_refused_with_file_and_line(babi_files,
                                                           tmp_path, kind):
  line, reason = BAD_LINES[kind]
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      extra={(1, 'test'): _bad_test_file(line)}))
  with pytest.raises(babi.BabiDataError) as error:
    babi.load(data_dir, log=None)
  message = str(error.value)
  assert f'{babi_files.task_file(1, "test")}:3' in message
  assert reason in message
  # Refused before any work: no cache was written.
  assert not os.path.exists(data_dir / babi.CACHE_DIR)


def test_empty_babi_test_file_is_refused(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      extra={(20, 'test'): ''}))
  with pytest.raises(babi.BabiDataError,
                     match=babi_files.task_file(20, 'test') + '.*no question'):
    babi.load(data_dir, log=None)


def test_valid_files_still_read(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
  data = babi.load(data_dir, log=None, cache=False)
  assert sum(babi.num_questions(s) for t in data.test.values()
             for s in t.stories) == 20


# -- the KV-MemNN reader -------------------------------------------------------


@pytest.mark.parametrize('kind', ['answerless', 'no_tab', 'junk'])
def test_malformed_kv_line_is_refused_with_file_and_line(kind):
  line, _ = BAD_LINES[kind]
  with pytest.raises(babi.BabiDataError, match=r"x.txt line 3\b"):
    babi_kv.parse_stories(_bad_test_file(line), 'x.txt')


def test_empty_kv_test_file_is_refused(babi_files, tmp_path):
  data_dir = babi_files.write_tree(
      tmp_path, babi_files.all_tasks(extra={(2, 'test'): '\n'}), 'en')
  with pytest.raises(babi.BabiDataError,
                     match=babi_files.task_file(2, 'test') + '.*no question'):
    babi_kv.load_kv(data_dir, [1, 2], set_name='en', random_state=0)


# -- eval outputs --------------------------------------------------------------

RESULTS = {1: ('single-supporting-fact', 10, 9, 10.)}


def _write(root, fingerprint, lines):
  return babi_eval.write_results(
      str(root), 20, RESULTS, 10., 1, 'ckpt-20',
      dict(fingerprint=fingerprint, source='folder x'), log=lines.append)


def test_eval_output_records_data_and_keeps_other_data(tmp_path):
  lines = []
  json_path, csv_path = _write(tmp_path, 'folder:aaaa1111', lines)
  assert json_path == str(tmp_path / 'eval-20.json') and not lines
  with open(json_path) as f:
    assert json.load(f)['data']['fingerprint'] == 'folder:aaaa1111'
  with open(csv_path) as f:
    assert 'data_fingerprint' in f.readline() and 'folder:aaaa1111' in f.read()
  # The same data: the same file. Other data: a new file, the old one kept.
  assert _write(tmp_path, 'folder:aaaa1111', lines)[0] == json_path
  other, _ = _write(tmp_path, 'archive:bbbb2222', lines)
  assert other == str(tmp_path / 'eval-20-databbbb2222.json')
  assert any('kept' in line for line in lines)
  with open(json_path) as f:
    assert json.load(f)['data']['fingerprint'] == 'folder:aaaa1111'


def test_eval_output_of_unrecorded_data_is_not_overwritten(tmp_path):
  old = {'checkpoint': 'ckpt-20', 'step': 20, 'tasks': []}  # no 'data'
  (tmp_path / 'eval-20.json').write_text(json.dumps(old))
  json_path, _ = _write(tmp_path, 'folder:cccc3333', [])
  assert json_path != str(tmp_path / 'eval-20.json')
  assert json.loads((tmp_path / 'eval-20.json').read_text()) == old


# -- the run directory ---------------------------------------------------------


@pytest.mark.parametrize('name', ['', '../x', 'a/../../x', '/tmp/abs', '.'])
def test_run_name_must_stay_inside_info_dir(tmp_path, name):
  with pytest.raises(rundir.RunDirError, match='--name'):
    rundir.RunDirectory(name, str(tmp_path / 'info'))
  assert rundir.RunDirectory('a/b', 'info').root == os.path.join(
      'info', 'a', 'b')


def test_unwritable_info_dir_is_a_message(tmp_path):
  (tmp_path / 'file').write_text('not a folder')
  run_dir = rundir.RunDirectory('r', str(tmp_path / 'file' / 'info'))
  with pytest.raises(rundir.RunDirError, match='writable --info_dir'):
    rundir.check_or_write_config(run_dir, {'a': 1})


@pytest.mark.parametrize('text', ['', '{"a": ', '[1]'])
def test_corrupt_config_json(tmp_path, text):
  run_dir = rundir.RunDirectory('r', str(tmp_path))
  os.makedirs(run_dir.checkpoint)
  with open(run_dir.config, 'w') as f:
    f.write(text)
  # No checkpoint depends on it yet: a new start rewrites it.
  rundir.check_or_write_config(run_dir, {'a': 1})
  assert run_dir.saved_config() == {'a': 1}
  # With checkpoints: a message naming the file; nothing is changed.
  with open(run_dir.config, 'w') as f:
    f.write(text)
  with open(os.path.join(run_dir.checkpoint, 'ckpt-1.index'), 'w') as f:
    f.write('x')
  with pytest.raises(rundir.RunDirError, match='config.json is'):
    rundir.check_or_write_config(run_dir, {'a': 1})
  with open(run_dir.config) as f:
    assert f.read() == text
  assert os.listdir(run_dir.checkpoint) == ['ckpt-1.index']


# -- the scripts' flags --------------------------------------------------------


def _run(args, cwd):
  return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True,
                        text=True, timeout=300, check=False)


@pytest.mark.parametrize('flag, message', [
    ('--name=', '--name must not be empty'),
    ('--name=../x', 'leaves --info_dir'),
    ('--name=/tmp/h3_abs_run', 'absolute path'),
    ('--keep_checkpoints=-1', '--keep_checkpoints must be >= 0'),
    ('--learning_rate=inf', '--learning_rate must be a finite number'),
    ('--learning_rate=nan', '--learning_rate must be a finite number'),
    ('--max_grad_norm=inf', '--max_grad_norm must be a finite number'),
    ('--max_grad_norm=nan', '--max_grad_norm must be a finite number'),
    ('--momentum=-0.5', '--momentum must be a finite number >= 0'),
    ('--optimizer_epsilon=-1e-3', '--optimizer_epsilon must be a finite'),
])
def test_bad_flags_are_refused_before_anything_is_written(tmp_path, flag,
                                                          message):
  result = _run([os.path.join(ROOT, 'train.py'), flag,
                 '--training_iteration=1', '--nojit_compile'], tmp_path)
  assert result.returncode != 0
  assert message in result.stderr and 'Traceback' not in result.stderr
  assert os.listdir(tmp_path) == []  # no info/ (no config.json)


def test_eval_argument_error_is_one_line_without_help(tmp_path):
  result = _run([os.path.join(ROOT, 'eval.py'), 'stray'], tmp_path)
  assert result.returncode != 0
  assert "Unexpected arguments: ['stray']" in result.stderr
  assert 'flags:' not in result.stdout + result.stderr  # not the --help
  assert len((result.stdout + result.stderr).strip().splitlines()) <= 3


def test_eval_takes_cache_dir_and_refuses_malformed_data_first(babi_files,
                                                               tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      extra={(1, 'test'): _bad_test_file(BAD_LINES['answerless'][0])}))
  run = tmp_path / 'info' / 'b'
  os.makedirs(run / 'checkpoint')
  (run / 'checkpoint' / 'ckpt-20.index').write_text('not read')
  (run / 'config.json').write_text(json.dumps(dict(mode='bAbI')))
  result = _run([os.path.join(ROOT, 'eval.py'), '--name=b',
                 f'--data_dir={data_dir}', f'--cache_dir={tmp_path / "c"}'],
                tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'{babi_files.task_file(1, "test")}:3' in result.stderr
  assert 'without an answer' in result.stderr


def test_eval_corrupt_config_is_a_message(tmp_path):
  run = tmp_path / 'info' / 'b'
  os.makedirs(run / 'checkpoint')
  (run / 'checkpoint' / 'ckpt-20.index').write_text('x')
  (run / 'config.json').write_text('')
  result = _run([os.path.join(ROOT, 'eval.py'), '--name=b'], tmp_path)
  assert result.returncode == 2
  assert 'config.json is empty' in result.stderr
  assert 'Traceback' not in result.stderr


# -- eval.py without --num: the newest checkpoint that restores ----------------


def test_eval_without_num_falls_back_past_a_corrupt_checkpoint(babi_files,
                                                              tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from dam import model as model_lib  # pylint: disable=import-outside-toplevel
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
  data = babi.load(data_dir, log=None, cache=False)
  config = dict(mode='bAbI', vocab_size=data.vocab_size, dam=True,
                hidden_size=8, memory_address_size=4, memory_length_size=4,
                num_read_heads=1, num_write_heads=1, num_memory_blocks=2,
                mlp_sizes=[], embedding_size=4, babi_set='en-10k',
                lexicon_sha=babi.lexicon_fingerprint(data.lexicon))
  run = tmp_path / 'info' / 'b'
  os.makedirs(run / 'checkpoint')
  (run / 'config.json').write_text(json.dumps(config))
  core = model_lib.build_core(data.vocab_size, hidden_size=8, memory_size=4,
                              word_size=4, num_reads=1, num_blocks=2)
  model = model_lib.SequenceModel(core, data.vocab_size, 4)
  model(tf.zeros([1, 1], tf.int32), tf.ones([1], tf.int32))
  checkpoint = tf.train.Checkpoint(model=model)
  checkpoint.save_counter.assign(0)  # saved by training checkpoints too
  for step in (10, 20):
    checkpoint.write(str(run / 'checkpoint' / f'ckpt-{step}'))
  newest = run / 'checkpoint' / 'ckpt-20.data-00000-of-00001'
  with open(newest, 'r+b') as f:
    f.truncate(8)
  eval_py = os.path.join(ROOT, 'eval.py')
  cache_dir = tmp_path / 'cache'
  result = _run([eval_py, '--name=b', f'--data_dir={data_dir}',
                 f'--cache_dir={cache_dir}'], tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'ckpt-20' in result.stderr and 'skipping' in result.stderr
  assert (run / 'eval-10.json').exists() and newest.exists()
  # The bAbI cache went to --cache_dir; the data folder is untouched.
  assert any(name.endswith('.npz') for name in os.listdir(cache_dir))
  assert not (data_dir / babi.CACHE_DIR).exists()
  # With --num the asked checkpoint or nothing.
  result = _run([eval_py, '--name=b', '--num=20', f'--data_dir={data_dir}'],
                tmp_path)
  assert result.returncode == 2 and 'Cannot restore' in result.stderr


def test_config_of_a_start_without_checkpoint_does_not_block(tmp_path):
  # E.g. the config.json a start that failed before its first checkpoint
  # (old code: --keep_checkpoints=-1) left behind.
  run_dir = rundir.RunDirectory('r', str(tmp_path))
  rundir.check_or_write_config(run_dir, {'hidden_size': 24})
  lines = []
  rundir.check_or_write_config(run_dir, {'hidden_size': 32}, lines.append)
  assert run_dir.saved_config() == {'hidden_size': 32}
  assert 'no checkpoint depends on it' in lines[0]
  os.makedirs(run_dir.checkpoint)
  with open(os.path.join(run_dir.checkpoint, 'ckpt-2.index'), 'w') as f:
    f.write('x')
  with pytest.raises(rundir.ConfigMismatchError, match='hidden_size'):
    rundir.check_or_write_config(run_dir, {'hidden_size': 24})
  assert run_dir.saved_config() == {'hidden_size': 32}
