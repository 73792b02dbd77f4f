"""The kill drill: a real train.py process killed at random moments (also
while it writes a checkpoint, and between a report and a checkpoint) and
resumed by the same command ends exactly where an uninterrupted run ends:
every saved tensor, the data stream and metrics.csv."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = ('--mode=Copy', '--hidden_size=16', '--memory_address_size=8',
         '--memory_length_size=8', '--batch_size=4', '--bit_w=4',
         '--min_length=2', '--max_length=4', '--p_re=0.3',
         '--training_iteration=40', '--report_interval=4',
         '--checkpoint_interval=5', '--nojit_compile')


def _start(info_dir, log):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'train.py'), f'--info_dir={info_dir}',
       '--name=drill', *FLAGS],
      stdout=log, stderr=subprocess.STDOUT, env=env, cwd=info_dir)


def _wait_for(predicate, process, timeout=60.):
  """Polls `predicate` (every ~0.5 ms) until true or the process ends."""
  end = time.time() + timeout
  while time.time() < end and process.poll() is None:
    if predicate():
      return True
    time.sleep(0.0005)
  return False


def _progress_lines(path):
  with open(path) as f:
    return sum(line.startswith('[') for line in f)


def _temp_dirs(directory):
  if not os.path.isdir(directory):
    return []
  return [name for name in os.listdir(directory) if name.endswith('_temp')]


def _tensors(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()}


def _rows(path):
  with open(path) as f:
    return [(row['step'], row['train_loss']) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
  reference = tmp_path / 'reference'
  drilled = tmp_path / 'drilled'
  reference.mkdir()
  drilled.mkdir()
  with open(tmp_path / 'reference.log', 'w') as log:
    assert _start(str(reference), log).wait(timeout=120) == 0

  rng = np.random.default_rng(16)
  checkpoint_dir = str(drilled / 'drill' / 'checkpoint')
  # The moments: during a checkpoint write (a ckpt-<n>_temp/ folder is
  # there), a random time after a report (before the next checkpoint or
  # after it), SIGTERM (as a cluster's preemption), then the same command
  # to the end.
  cases = ['temp', 'random', 'sigterm', None]
  outcomes = []
  for number, case in enumerate(cases):
    log_path = tmp_path / f'drilled-{number}.log'
    with open(log_path, 'w') as log:
      process = _start(str(drilled), log)
      if case == 'temp':
        _wait_for(lambda: _temp_dirs(checkpoint_dir), process)
        process.kill()
      elif case is not None:
        before = _progress_lines(log_path)
        _wait_for(lambda: _progress_lines(log_path) > before, process)
        time.sleep(rng.uniform(0., 0.4))
        process.send_signal(signal.SIGTERM if case == 'sigterm'
                            else signal.SIGKILL)
      code = process.wait(timeout=120)
    with open(log_path) as f:
      text = f.read()
    outcomes.append((case, code, text))
    if case == 'sigterm' and code != 0:
      assert 'SIGTERM received' in text, text[-2000:]
      assert 'Interrupted at step' in text, text[-2000:]
      # A clean stop: the loop's line and exit code 143 (128 + SIGTERM),
      # no traceback.
      assert code == 143 and 'Traceback' not in text, (code, text[-2000:])
    if code == 0:
      break
  print('\n'.join(f'{case}: rc {code}; ' + ' / '.join(
      line for line in text.splitlines()
      if line.startswith(('Resumed', 'Interrupted', 'Warning', 'SIGTERM',
                           'Done', 'train.py')))
                   for case, code, text in outcomes))
  assert outcomes[-1][1] == 0, outcomes[-1][2][-3000:]
  assert 'Traceback' not in outcomes[-1][2]
  # Every killed process's rerun resumed or started afresh; none refused.
  for case, code, text in outcomes:
    assert code in (0, -signal.SIGKILL, -signal.SIGINT, 130, 143, 1), (
        case, code, text[-2000:])
    assert 'cannot be restored' not in text and 'refus' not in text.lower()

  final = str(reference / 'drill' / 'checkpoint' / 'ckpt-40')
  expected, got = _tensors(final), _tensors(
      str(drilled / 'drill' / 'checkpoint' / 'ckpt-40'))
  assert set(expected) == set(got)
  for key, value in expected.items():
    if key.startswith('save_counter'):
      continue  # how many saves the processes made, not the run's state
    if isinstance(value, bytes):  # the data stream's state
      assert value == got[key], key
    else:
      np.testing.assert_array_equal(value, got[key], err_msg=key)
  # metrics.csv: every report once (a report's window mean after a resume
  # covers only the steps since the restored checkpoint).
  steps = [step for step, _ in _rows(reference / 'drill' / 'metrics.csv')]
  assert [step for step, _ in _rows(
      drilled / 'drill' / 'metrics.csv')] == steps
