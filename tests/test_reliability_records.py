"""The run folder's records under kills, full disks, concurrent runs and
damaged files: no record lost or silently wrong.

Failures are injected through `dam.fileio.fault_hook` (in process: a full
disk as OSError(ENOSPC), a kill as a BaseException that nothing catches)
and, for a script run as a subprocess, through the environment variable it
reads by default (DAM_INJECT_FAULT='metrics.csv:kill' ends the process as
kill -9 would, at the moment the file would change).
"""

import csv
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from dam import fileio
from dam import model as model_lib
from dam import optimizers
from damrun import kvmemnn as kv_run
from damrun import reporting
from damrun import run_records
from damrun import rundir
from damrun import trainer as trainer_lib
from test_run_machinery import _EchoTask  # pylint: disable=g-bad-import-order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
M = ('--hidden_size=16', '--memory_address_size=8', '--memory_length_size=8',
     '--batch_size=4', '--bit_w=8', '--min_length=4', '--max_length=8',
     '--seed=7', '--report_interval=10', '--checkpoint_interval=10',
     '--nojit_compile')
FLAGS = dict(seed=0, p_re=0.1, learning_rate=1e-2, training_iteration=4)


class _Killed(BaseException):
  """A kill -9 in process: no handler catches it (as none sees a kill)."""


def _fault(name, error):
  """A `fileio.fault_hook` raising `error` at the write of files `name`."""
  def hook(path):
    if os.path.basename(path) == name:
      raise error
  return hook


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _snapshot(folder):
  """{relative path: bytes} of every file under `folder` (lock excluded)."""
  out = {}
  for base, _, names in os.walk(folder):
    for name in names:
      if name != run_records.LOCK_NAME:
        path = os.path.join(base, name)
        with open(path, 'rb') as f:
          out[os.path.relpath(path, folder)] = f.read()
  return out


def _steps(path):
  with open(path, newline='') as f:
    return [int(row['step']) for row in csv.DictReader(f)]


def _trainer(directory, flags=FLAGS, total_steps=4, config=None, lines=None,
             phase_steps=None, learning_rate=1e-2, evaluation=None):
  """A tiny DNC trainer on the echo task in <directory>/run."""
  tf.random.set_seed(0)
  core = model_lib.build_core(3, use_dam=False, hidden_size=8,
                              memory_size=4, word_size=3)
  return trainer_lib.Trainer(
      model_lib.SequenceModel(core), _EchoTask(),
      optimizers.make_optimizer('adam', learning_rate),
      rundir.RunDirectory('run', str(directory)),
      trainer_lib.Settings(total_steps=total_steps, report_interval=2,
                           checkpoint_interval=2, phase_steps=phase_steps,
                           keep_checkpoints=1),
      evaluation=evaluation, config=dict(config or {}, flags=flags),
      log=(lines if lines is not None else []).append)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A finished 4-step run (checkpoints at 2 and 4, rows at 2 and 4)."""
  folder = tmp_path_factory.mktemp('trained')
  _trainer(folder).train()
  return folder


@pytest.fixture
def run_copy(trained, tmp_path):
  """A copy of the finished run to damage: <tmp>/run."""
  shutil.copytree(trained / 'run', tmp_path / 'run')
  return tmp_path


# -- D1, D11: metrics.csv ------------------------------------------------------


def _rows(n):
  return [{'step': 10 * i, 'train_loss': 1. / i} for i in range(1, n + 1)]


@pytest.mark.parametrize('error', [ENOSPC, _Killed()], ids=['enospc', 'kill'])
def test_a_row_adding_a_column_never_empties_metrics_csv(tmp_path,
                                                        monkeypatch, error):
  path = str(tmp_path / 'metrics.csv')
  for row in _rows(4):
    reporting.append_csv_row(path, row)
  before = _snapshot(tmp_path)
  monkeypatch.setattr(fileio, 'fault_hook', _fault('metrics.csv', error),
                      raising=False)
  new_row = {'step': 50, 'train_loss': .1, 'eval_loss': .2}
  with pytest.raises(type(error)) as raised:
    reporting.append_csv_row(path, new_row)
  assert _snapshot(tmp_path) == before  # no rows lost, no temporary file
  if error is ENOSPC:
    assert isinstance(raised.value, reporting.RecordWriteError)
    assert 'metrics.csv: No space left on device' in str(raised.value)
    assert 'run the same command to resume' in str(raised.value)
  monkeypatch.setattr(fileio, 'fault_hook', lambda path: None)
  reporting.append_csv_row(path, new_row)
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  assert [int(r['step']) for r in rows] == [10, 20, 30, 40, 50]
  assert [r['eval_loss'] for r in rows] == ['', '', '', '', '0.2']


def test_a_row_cut_by_a_kill_is_repaired_before_the_next_append(tmp_path):
  path = str(tmp_path / 'metrics.csv')
  for row in _rows(3):
    reporting.append_csv_row(path, row)
  with open(path, 'r+b') as f:  # truncate -s -8 metrics.csv
    f.truncate(os.path.getsize(path) - 8)
  reporting.append_csv_row(path, {'step': 40, 'train_loss': .25})
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  assert [(r['step'], r['train_loss']) for r in rows] == [
      ('10', '1.0'), ('20', '0.5'), ('40', '0.25')]
  # Also on resume: drop_rows_after cuts the partial row first.
  with open(path, 'ab') as f:
    f.write(b'50,0.1')
  assert reporting.drop_rows_after(path, 40) == 0
  assert _steps(path) == [10, 20, 40]
  # history.jsonl, the other append-only record.
  history = tmp_path / 'history.jsonl'
  history.write_text('{"step": 0}\n{"st')
  fileio.append_line(str(history), '{"step": 4}\n')
  assert history.read_text() == '{"step": 0}\n{"step": 4}\n'


def _train_py(info_dir, *flags, env=None):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), *M, '--name=mc',
       f'--info_dir={info_dir}', *flags], capture_output=True, text=True,
      env=env or ENV, timeout=300, cwd=str(info_dir))


def test_a_kill_during_the_rewrite_loses_no_row_of_the_resumed_run(
    run_copy, monkeypatch):
  # A resume whose rows add columns (held-out evaluation, as
  # --eval_batches): the first row rewrites metrics.csv.
  metrics = run_copy / 'run' / 'metrics.csv'
  before = metrics.read_bytes()
  longer = dict(FLAGS, training_iteration=6)
  evaluation = trainer_lib.Evaluation(task=_EchoTask(), batches=1)
  monkeypatch.setattr(fileio, 'fault_hook', _fault('metrics.csv', _Killed()),
                      raising=False)
  with pytest.raises(_Killed):
    _trainer(run_copy, longer, 6, evaluation=evaluation).train()
  assert metrics.read_bytes() == before
  monkeypatch.setattr(fileio, 'fault_hook', lambda path: None)
  _trainer(run_copy, longer, 6, evaluation=evaluation).train()
  with open(metrics, newline='') as f:
    rows = list(csv.DictReader(f))
  assert [int(r['step']) for r in rows] == [2, 4, 6]
  assert [bool(r['eval_loss']) for r in rows] == [False, False, True]


def test_a_full_disk_stops_train_py_with_one_line(tmp_path):
  full = _train_py(tmp_path, '--training_iteration=10',
                   env=dict(ENV, DAM_INJECT_FAULT='metrics.csv:enospc'))
  assert full.returncode == 1, full.stderr[-2000:]
  assert 'Traceback' not in full.stderr
  last = full.stderr.strip().splitlines()[-1]
  assert last.startswith(f'{os.path.join(ROOT, "train.py")}: Cannot write ')
  assert 'metrics.csv: No space left on device. The file is as it was' in last
  assert 'run the same command to resume' in last
  assert not (tmp_path / 'mc' / 'metrics.csv').exists()


# -- D4: summary.json and the KV-MemNN scores ----------------------------------


def test_a_kill_while_summary_json_is_written_keeps_the_old_one(
    tmp_path, monkeypatch):
  path = str(tmp_path / 'summary.json')
  reporting.write_summary(path, {'final': {'step': 40}})
  monkeypatch.setattr(fileio, 'fault_hook',
                      _fault('summary.json', _Killed()), raising=False)
  with pytest.raises(_Killed):
    reporting.write_summary(path, {'final': {'step': 60}})
  with open(path) as f:
    assert json.load(f) == {'final': {'step': 40}}
  assert os.listdir(tmp_path) == ['summary.json']


def test_a_rerun_after_a_kill_appends_no_duplicate_score_line(tmp_path):
  path = str(tmp_path / 'single_scores.csv')
  results = {split: {3: accuracy} for split, accuracy in
             (('train', .91), ('val', .82), ('test', .73))}
  with open(path, 'w') as f:
    f.write('1, 0.50, 0.60, 0.70\n2, 0.4')  # task 2's line cut by a kill
  kv_run.write_scores('single', [3], results, path)
  # Killed after the line, before summary.json: the rerun writes it again.
  kv_run.write_scores('single', [3], results, path)
  with open(path) as f:
    assert f.read() == '1, 0.50, 0.60, 0.70\n3, 0.73, 0.91, 0.82\n'


# -- D2, D8, D9, D10, D24: starts that must change nothing, or may start over --


def test_a_run_without_its_checkpoint_folder_is_refused(run_copy):
  run = run_copy / 'run'
  shutil.rmtree(run / 'checkpoint')
  before = _snapshot(run)
  with pytest.raises(rundir.RunDirError,
                     match=r'checkpoint is missing, but the run has records '
                     r'.*metrics.csv.*Put the checkpoint folder back.*delete '
                     r'.*nothing was changed'):
    _trainer(run_copy)
  assert _snapshot(run) == before
  (run / 'checkpoint').write_text('not a folder')
  before = _snapshot(run)
  with pytest.raises(rundir.RunDirError,
                     match='checkpoint is a file, not the folder'):
    _trainer(run_copy)
  assert _snapshot(run) == before


def test_a_refused_start_writes_no_config_json(run_copy):
  run = run_copy / 'run'
  os.remove(run / 'config.json')
  before = _snapshot(run)
  with pytest.raises(rundir.ConfigMismatchError, match='--seed'):
    _trainer(run_copy, flags=dict(FLAGS, seed=5), config={'memory': 'dam'})
  assert _snapshot(run) == before  # no config.json of the refused command
  # The right command resumes, and puts config.json back.
  again = _trainer(run_copy)
  assert again.restored_from.endswith('ckpt-4')
  assert (run / 'config.json').exists()


def test_a_start_without_a_checkpoint_may_start_over_with_other_flags(
    tmp_path):
  _trainer(tmp_path)  # a start killed before its first checkpoint
  lines = []
  other = dict(FLAGS, seed=5, p_re=0.)
  trainer = _trainer(tmp_path, flags=other, lines=lines)
  assert trainer.restored_from is None
  assert any('flags.json (no checkpoint depends on it) had other flags: '
             'replaced' in line for line in lines), lines
  with open(tmp_path / 'run' / 'flags.json') as f:
    assert json.load(f) == other


_DAMAGES = {
    'flags.json truncated': ('flags.json', b'{"seed": 0, "p_re"',
                             'flags.json is not valid JSON'),
    'flags.json a list': ('flags.json', b'[]',
                          'flags.json holds a JSON list, not a JSON object'),
    'phases.json truncated': ('phases.json', b'[{"learning_rate": 0.0',
                              'phases.json is not valid JSON'),
    'metrics.csv binary': ('metrics.csv', b'\x00\xff\xfe\x80garbage',
                           'metrics.csv is not text'),
}


@pytest.mark.parametrize('case', sorted(_DAMAGES))
def test_a_damaged_record_is_one_message_naming_it(run_copy, case):
  name, content, message = _DAMAGES[case]
  run = run_copy / 'run'
  (run / name).write_bytes(content)
  before = _snapshot(run)
  with pytest.raises(rundir.RunDirError) as raised:
    _trainer(run_copy)
  text = str(raised.value)
  assert message in text, text
  assert str(run / name) in text and 'nothing was changed' in text
  assert '\n' not in text
  assert _snapshot(run) == before


def test_a_damaged_checkpoint_state_file_falls_back_to_the_files(run_copy):
  state = run_copy / 'run' / 'checkpoint' / 'checkpoint'
  state.write_bytes(b'\xff\xfe\x00 not a checkpoint state')
  trainer = _trainer(run_copy, total_steps=6, flags=dict(
      FLAGS, training_iteration=6))
  assert trainer.restored_from.endswith('ckpt-4')
  assert trainer.train()['steps'] == 6
  assert tf.train.get_checkpoint_state(str(state.parent)) is not None


def test_a_kill_after_phases_json_adds_no_second_entry(tmp_path):
  def phase(learning_rate):
    return _trainer(tmp_path, flags=dict(FLAGS, learning_rate=learning_rate),
                    phase_steps=2, learning_rate=learning_rate)
  phase(1e-2).train()
  phase(1e-3)  # writes phases.json, then is killed before its checkpoint
  assert phase(1e-3).train()['steps'] == 4
  with open(tmp_path / 'run' / 'phases.json') as f:
    phases = json.load(f)
  assert [p['end_step'] for p in phases] == [2]


# -- D5: one process per run ---------------------------------------------------


def test_a_second_holder_of_a_run_is_refused(tmp_path):
  run_dir = rundir.RunDirectory('run', str(tmp_path))
  with run_records.hold(run_dir):
    with pytest.raises(run_records.RunLockedError,
                       match=rf'Another process \(pid {os.getpid()} on .*\) is '
                       r'training the run .*nothing was changed'):
      with run_records.hold(run_dir):
        pass
  with run_records.hold(run_dir):  # released at the end of the block
    pass
  # A holder killed with -9 leaves no stale lock.
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time\n'
       'from damrun import run_records, rundir\n'
       'with run_records.hold(rundir.RunDirectory("run", sys.argv[1])):\n'
       '  print("held", flush=True); time.sleep(60)\n', str(tmp_path)],
      stdout=subprocess.PIPE, text=True, cwd=ROOT)
  assert holder.stdout.readline() == 'held\n'
  with pytest.raises(run_records.RunLockedError):
    with run_records.hold(run_dir):
      pass
  holder.kill()
  holder.wait()
  with run_records.hold(run_dir):
    pass


def test_train_py_refuses_a_run_another_process_trains(tmp_path):
  run_dir = rundir.RunDirectory('mc', str(tmp_path))
  with run_records.hold(run_dir):
    refused = _train_py(tmp_path, '--training_iteration=20')
  assert refused.returncode == 2
  assert 'Another process (pid' in refused.stderr
  assert 'Traceback' not in refused.stderr
  assert os.listdir(run_dir.root) == [run_records.LOCK_NAME]


# -- D6 (and D5): run_kvmemnn.py -----------------------------------------------


def _kvmemnn(data_dir, info_dir, *flags):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'run_kvmemnn.py'),
       f'--data_dir={data_dir}', '--task_id=1', '--evaluation_interval=1',
       '--batch_size=4', '--embedding_size=8', '--feature_size=6',
       '--memory_size=4', '--random_state=0', f'--info_dir={info_dir}',
       *flags], capture_output=True, text=True, env=ENV, timeout=300,
      cwd=str(info_dir))


def test_run_kvmemnn_checks_its_flags_on_resume_and_its_lock(babi_files,
                                                             tmp_path):
  story = babi_files.tiny_task(1, 'train')
  data_dir = babi_files.write_tree(
      tmp_path, {(1, 'train'): story * 10,
                 (1, 'test'): babi_files.tiny_task(1, 'test')}, set_name='en')
  first = _kvmemnn(data_dir, tmp_path, '--epochs=1')
  assert first.returncode == 0, first.stderr[-2000:]
  run = tmp_path / 'kvmemnn_task1'
  before = _snapshot(run)
  changed = _kvmemnn(data_dir, tmp_path, '--epochs=2', '--learning_rate=0.01',
                     '--l2_lambda=0.5', '--gradient_noise=0.01',
                     '--decay_steps=7')
  assert changed.returncode == 2, changed.stderr[-2000:]
  for line in ('--learning_rate: the run has 0.001, the flags give 0.01',
               '--l2_lambda: the run has 0.2, the flags give 0.5',
               '--gradient_noise: the run has 0.001, the flags give 0.01',
               '--decay_steps: the run has 20000, the flags give 7'):
    assert line in changed.stderr, changed.stderr
  assert 'epochs' not in changed.stderr  # the run's length may change
  assert _snapshot(run) == before
  with run_records.hold(rundir.RunDirectory('kvmemnn_task1', str(tmp_path))):
    locked = _kvmemnn(data_dir, tmp_path, '--epochs=2')
  assert locked.returncode == 2 and 'Another process' in locked.stderr
  assert _snapshot(run) == before


# -- D20: --info_dir -----------------------------------------------------------


def test_an_empty_info_dir_is_refused(tmp_path):
  with pytest.raises(rundir.RunDirError, match='--info_dir must not be empty'):
    rundir.RunDirectory('run', '')
  refused = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), '--info_dir=',
       '--training_iteration=1'], capture_output=True, text=True, env=ENV,
      timeout=120, cwd=str(tmp_path))
  assert refused.returncode != 0
  assert '--info_dir must not be empty' in refused.stderr
  assert 'Traceback' not in refused.stderr
  assert os.listdir(tmp_path) == []

