"""run_kvmemnn.py's guards: bad settings, non-finite training, its files.

The KV-MemNN baseline (Miller et al. 2016) must stop on a non-finite loss
without saving that state or writing scores, refuse meaningless optimiser
settings with one-line messages, keep the reference's files in the run
directory, and write a finished run's scores again when they were not
written.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dam import kvmemnn
from damrun import presets
from damrun import kvmemnn as kv_run
from damrun import rundir
from tasks import babi_kv


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')


def _script(*flags, cwd, timeout=300):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'run_kvmemnn.py'), *flags],
      capture_output=True, text=True, env=ENV, timeout=timeout, cwd=str(cwd))


@pytest.mark.parametrize('flag, message', [
    ('--learning_rate=-0.01', '--learning_rate must be a finite number > 0'),
    ('--learning_rate=0', '--learning_rate must be a finite number > 0'),
    ('--learning_rate=inf', '--learning_rate must be a finite number > 0'),
    ('--learning_rate=nan', '--learning_rate must be a finite number > 0'),
    ('--epsilon=-0.1', '--epsilon must be a finite number > 0'),
    ('--epsilon=0', '--epsilon must be a finite number > 0'),
    ('--l2_lambda=-0.2', '--l2_lambda must be a finite number >= 0'),
    ('--l2_lambda=nan', '--l2_lambda must be a finite number >= 0'),
    ('--gradient_noise=-0.001', '--gradient_noise must be a finite number >= 0'),
    ('--gradient_noise=inf', '--gradient_noise must be a finite number >= 0'),
    ('--max_grad_norm=-1', '--max_grad_norm must be a finite number > 0'),
    ('--keep_prob=0', '--keep_prob must be in (0, 1]'),
])
def test_bad_optimiser_settings_are_refused_in_one_line(flag, message,
                                                        tmp_path):
  # A missing data folder: were the flag accepted, the data error would come.
  result = _script(flag, f'--data_dir={tmp_path / "none"}', cwd=tmp_path,
                   timeout=120)
  assert result.returncode != 0
  assert message in result.stderr, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  # The reason alone, without the whole --help (the module docstring).
  assert 'Trains the Key-Value' not in result.stderr + result.stdout
  assert not (tmp_path / 'info').exists()


def _tiny_trainer(babi_files, tmp_path, learning_rate, epochs):
  """A joint KVTrainer on the tiny 20-task files, run directory tmp/info/r."""
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                   set_name='en')
  task_ids = list(range(1, 21))
  data = babi_kv.load_kv(str(data_dir), task_ids, set_name='en',
                         memory_size=4, random_state=0)
  hp = dict(presets.KVMEMNN['joint'], learning_rate=learning_rate,
            evaluation_interval=1, batch_size=4, epochs=epochs,
            embedding_size=8, feature_size=6, memory_size=4)
  model = kvmemnn.KVMemNN(data.vocab_size, data.sentence_size,
                          data.memory_size, embedding_size=8, feature_size=6,
                          hops=hp['hops'], seed=0)
  run_dir = rundir.RunDirectory('r', str(tmp_path / 'info'))
  os.makedirs(run_dir.root, exist_ok=True)
  lines = []
  trainer = kv_run.KVTrainer(model, data, task_ids, hp, run_dir, 0, False,
                             1e-3, log=lines.append)
  return trainer, run_dir


def _checkpoint_values(directory):
  """{prefix: [arrays of every float tensor]} of the checkpoints there."""
  out = {}
  if not os.path.isdir(directory):
    return out
  for name in sorted(os.listdir(directory)):
    if name.startswith('ckpt-') and name.endswith('.index'):
      prefix = os.path.join(directory, name[:-len('.index')])
      reader = tf.train.load_checkpoint(prefix)
      out[prefix] = [reader.get_tensor(k) for k in
                     reader.get_variable_to_shape_map()
                     if reader.get_variable_to_dtype_map()[k].is_floating]
  return out


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_good_checkpoints(babi_files,
                                                             tmp_path):
  good, run_dir = _tiny_trainer(babi_files, tmp_path, 0.001, epochs=2)
  assert good.resume() is None
  assert good.train() is not None
  kept = _checkpoint_values(run_dir.checkpoint)
  assert [os.path.basename(p) for p in kept] == ['ckpt-1', 'ckpt-2']
  # The same run resumed with an absurd rate (its 3 kept checkpoints
  # would all be rotated out by 4 more epochs).
  bad, _ = _tiny_trainer(babi_files, tmp_path, 1e8, epochs=6)
  assert bad.resume().endswith('ckpt-2')
  with pytest.raises(FloatingPointError) as raised:
    bad.train()
  message = str(raised.value)
  assert 'ckpt-2' in message and '--learning_rate' in message
  after = _checkpoint_values(run_dir.checkpoint)
  assert list(after) == list(kept)  # none added, none rotated out
  for prefix, values in kept.items():
    for a, b in zip(values, after[prefix]):
      np.testing.assert_array_equal(a, b)
  for values in after.values():
    assert all(np.all(np.isfinite(v)) for v in values)
  # No row of a non-finite state (0.00 accuracies) in metrics.csv.
  with open(run_dir.metrics) as f:
    assert len(f.read().splitlines()) == 1 + 2


def test_no_checkpoint_of_non_finite_weights(babi_files, tmp_path):
  trainer, run_dir = _tiny_trainer(babi_files, tmp_path, 0.001, epochs=2)
  trainer.model.TK.assign(np.full(trainer.model.TK.shape, np.nan))
  with pytest.raises(FloatingPointError, match='non-finite'):
    trainer.save(1)
  assert not _checkpoint_values(run_dir.checkpoint)


@pytest.mark.slow
def test_nan_run_exits_non_zero_without_scores(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                   set_name='en')
  cwd = tmp_path / 'cwd'
  cwd.mkdir()
  result = _script(f'--data_dir={data_dir}', '--epochs=3',
                   '--evaluation_interval=1', '--batch_size=4',
                   '--embedding_size=8', '--feature_size=6',
                   '--memory_size=4', '--random_state=0',
                   '--learning_rate=1e8', f'--info_dir={tmp_path / "info"}',
                   cwd=cwd)
  assert result.returncode == 1, result.stderr[-3000:]
  assert 'The loss became nan' in result.stderr
  assert 'Traceback' not in result.stderr
  run_root = tmp_path / 'info' / 'kvmemnn_joint'
  # The reference's logs/ go to the run directory, not the current one.
  assert os.listdir(cwd) == []
  logs = sorted(os.listdir(run_root / 'logs'))
  assert len(logs) == 1 and logs[0].startswith('params_'), logs
  assert not (run_root / 'summary.json').exists()
  assert not _checkpoint_values(run_root / 'checkpoint')


def _single_task_data(babi_files, tmp_path):
  story = babi_files.tiny_task(1, 'train')
  return babi_files.write_tree(
      tmp_path, {(1, 'train'): story * 10,
                 (1, 'test'): babi_files.tiny_task(1, 'test')}, set_name='en')


@pytest.mark.slow
def test_scores_in_run_directory_and_a_lost_write_is_redone(babi_files,
                                                            tmp_path):
  data_dir = _single_task_data(babi_files, tmp_path)
  cwd = tmp_path / 'cwd'
  cwd.mkdir()
  flags = [f'--data_dir={data_dir}', '--task_id=1', '--epochs=2',
           '--evaluation_interval=1', '--batch_size=4', '--embedding_size=8',
           '--feature_size=6', '--memory_size=4', '--random_state=0',
           f'--info_dir={tmp_path / "info"}']
  first = _script(*flags, cwd=cwd)
  assert first.returncode == 0, first.stderr[-3000:]
  run_root = tmp_path / 'info' / 'kvmemnn_task1'
  scores = run_root / 'single_scores.csv'
  assert os.listdir(cwd) == []  # nothing written relative to the cwd
  line = scores.read_text()
  assert line.count('\n') == 1 and line.startswith('1, ')
  # Finished and written: nothing to do, nothing appended.
  again = _script(*flags, cwd=cwd)
  assert again.returncode == 0 and 'Nothing to do' in again.stdout
  assert scores.read_text() == line
  # The scores are lost: the rerun writes them again, from the checkpoint.
  scores.unlink()
  redo = _script(*flags, cwd=cwd)
  assert redo.returncode == 0, redo.stderr[-3000:]
  assert 'Nothing to do' not in redo.stdout
  assert scores.read_text() == line
  # A new --output_file of the finished run gets them too.
  other = tmp_path / 'other.csv'
  moved = _script(*flags, f'--output_file={other}', cwd=cwd)
  assert moved.returncode == 0, moved.stderr[-3000:]
  assert other.read_text() == line


@pytest.mark.slow
def test_output_file_under_a_file_is_refused_before_training(babi_files,
                                                            tmp_path):
  data_dir = _single_task_data(babi_files, tmp_path)
  blocker = tmp_path / 'afile'
  blocker.write_text('x')
  refused = _script(f'--data_dir={data_dir}', '--task_id=1', '--epochs=1',
                    '--batch_size=4', '--memory_size=4',
                    f'--info_dir={tmp_path / "info"}',
                    f'--output_file={blocker / "scores.csv"}', cwd=tmp_path)
  assert refused.returncode == 2
  assert 'is a file, not a folder' in refused.stderr
  assert 'Traceback' not in refused.stderr
  assert '[epoch' not in refused.stdout  # refused before any training
  assert not (tmp_path / 'info' / 'kvmemnn_task1' / 'checkpoint').exists()
  assert blocker.read_text() == 'x'


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='needs /dev/full')
def test_a_failed_scores_write_is_redone_by_the_rerun(babi_files, tmp_path):
  data_dir = _single_task_data(babi_files, tmp_path)
  flags = [f'--data_dir={data_dir}', '--task_id=1', '--epochs=1',
           '--evaluation_interval=1', '--batch_size=4', '--embedding_size=8',
           '--feature_size=6', '--memory_size=4', '--random_state=0',
           f'--info_dir={tmp_path / "info"}']
  # /dev/full: the write fails at the end (no space left on the device).
  failed = _script(*flags, '--output_file=/dev/full', cwd=tmp_path)
  assert failed.returncode == 1
  assert 'cannot write the scores' in failed.stderr
  assert 'Traceback' not in failed.stderr
  # The same command tries again (not "Nothing to do") ...
  again = _script(*flags, '--output_file=/dev/full', cwd=tmp_path)
  assert again.returncode == 1 and 'Nothing to do' not in again.stdout
  assert 'cannot write the scores' in again.stderr
  # ... and with a path that works, writes them without training again.
  scores = tmp_path / 'scores.csv'
  fixed = _script(*flags, f'--output_file={scores}', cwd=tmp_path)
  assert fixed.returncode == 0, fixed.stderr[-3000:]
  assert '[epoch' not in fixed.stdout
  assert scores.read_text().startswith('1, ')
  done = _script(*flags, f'--output_file={scores}', cwd=tmp_path)
  assert done.returncode == 0 and 'Nothing to do' in done.stdout
  assert scores.read_text().count('\n') == 1


@pytest.mark.slow
def test_data_folder_is_train_py_s_and_the_reference_form_still_reads(
    babi_files, tmp_path):
  """Without --data_dir the folder train.py reads (bAbI_data/), named with
  the flag that fetches it; the reference's set folder
  (data/tasks_1-20_v1-2/en-10k/) reads its own set without --babi_set."""
  missing = _script('--task_id=1', '--epochs=1',
                    f'--info_dir={tmp_path / "info"}', cwd=tmp_path)
  assert missing.returncode == 2 and 'Traceback' not in missing.stderr
  assert 'data_dir=bAbI_data' in missing.stderr
  assert '--download' in missing.stderr  # run_kvmemnn.py has it
  babi_files.write_set(
      tmp_path / 'data' / 'tasks_1-20_v1-2' / 'en-10k',
      {(1, 'train'): babi_files.tiny_task(1, 'train') * 10,
       (1, 'test'): babi_files.tiny_task(1, 'test')})
  reference = _script('--data_dir=data/tasks_1-20_v1-2/en-10k/',
                      '--task_id=1', '--epochs=1', '--batch_size=4',
                      '--embedding_size=8', '--feature_size=6',
                      '--memory_size=4', '--random_state=0',
                      f'--info_dir={tmp_path / "info"}', cwd=tmp_path)
  assert reference.returncode == 0, reference.stderr[-3000:]
  # --babi_set given explicitly wins: the en-10k folder is not set 'en'.
  other = _script('--data_dir=data/tasks_1-20_v1-2/en-10k/', '--babi_set=en',
                  '--task_id=1', '--epochs=1', '--name=other',
                  f'--info_dir={tmp_path / "info"}', cwd=tmp_path)
  assert other.returncode == 2 and "'en-10k' set folder" in other.stderr
