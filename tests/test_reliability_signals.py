"""No record lost or silently wrong under signals, full disks and bad
settings: two signals never save a half-applied update, a stop ends in one
line and exit code 128 + the signal, the NaN stop says what is true,
TensorBoard reads each step once after a resume, and a full disk, a
read-only folder, a batch larger than the machine, a malformed TF_CONFIG
or an --out under a file end in one line naming the problem and the fix.

In-process wherever possible (each subprocess pays ~5 s of TensorFlow's
import); the signal drills are deterministic: the test sends the signals
itself at the most dangerous moment (right after an update, before its
step count), instead of racing a timer.
"""

import errno
import importlib
import os
import signal
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator

from damrun import build
from damrun import checkpoints
from damrun import cli
from damrun import failures
from damrun import loop
from damrun import reporting
from damrun import stop_signals
from test_bench import _peer  # pylint: disable=unused-import (the fixture)
from test_kvmemnn_guards import _tiny_trainer
from test_run_machinery import _EchoTask, _echo_trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
K = ('--hidden_size=16', '--memory_address_size=8', '--memory_length_size=8',
     '--batch_size=4', '--bit_w=8', '--min_length=4', '--max_length=8',
     '--seed=7', '--nojit_compile')


def _tensors(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if not key.startswith('save_counter')}


def _signal_after_update(trainer, task, at, signum=signal.SIGTERM):
  """Makes step `at` send `signum` right after its update returns, before
  the step counter moves: where a raising handler did the most harm."""
  update = trainer._train_step  # pylint: disable=protected-access

  def update_then_signal(batch):
    metrics = update(batch)
    if task.batches == at:
      os.kill(os.getpid(), signum)
    return metrics

  trainer._train_step = update_then_signal  # pylint: disable=protected-access


# -- D3: two signals -------------------------------------------------------------


def test_two_signals_save_the_whole_step_the_reference_saved(tmp_path):
  reference = _echo_trainer(str(tmp_path / 'reference'), _EchoTask(),
                            total_steps=4)
  reference.train()
  lines = []
  task = _EchoTask(signal_at=4)  # the first signal: while batch 4 is drawn
  trainer = _echo_trainer(str(tmp_path / 'stopped'), task, lines=lines,
                          checkpoint_interval=100)
  _signal_after_update(trainer, task, at=4)  # the second
  with pytest.raises(KeyboardInterrupt):
    trainer.train()
  assert lines[-1].startswith('Interrupted at step 4; saved ')
  saved = trainer.checkpoints.latest
  assert saved.endswith('ckpt-4'), saved  # ckpt-3 holding 4 updates before
  expected = _tensors(os.path.join(reference.run_dir.checkpoint, 'ckpt-4'))
  got = _tensors(saved)
  assert set(got) == set(expected)
  for key, value in expected.items():  # weights, slots, step, data stream
    np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_a_kv_memnn_stop_waits_for_the_epoch_and_saves(babi_files, tmp_path):
  trainer, run_dir = _tiny_trainer(babi_files, tmp_path, 0.001, epochs=3)
  lines = trainer.log.__self__  # the list its lines go to
  update, calls = trainer._train_step, []  # pylint: disable=protected-access

  def update_then_signal(*batch):
    result = update(*batch)
    calls.append(int(trainer.epoch.numpy()))
    if calls.count(1) in (1, 2):  # twice in epoch 2, mid-epoch
      os.kill(os.getpid(), signal.SIGINT)
    return result

  trainer._train_step = update_then_signal  # pylint: disable=protected-access
  with pytest.raises(KeyboardInterrupt):
    trainer.train()
  # Epoch 2 ran whole; its checkpoint's epoch and Adam step agree.
  assert lines[-1] == (f'Interrupted at epoch 2; saved '
                       f'{run_dir.checkpoint}/ckpt-2. Run the same command '
                       f'to resume.')
  saved = tf.train.load_checkpoint(trainer.checkpoints.latest)
  assert saved.get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE') == 2
  assert int(trainer.optimizer.step.numpy()) == 2 * trainer.num_batches


# -- D17: how a stopped script ends ----------------------------------------------


class _Units:
  """A trainable whose unit sends the signals of `signals` {unit: [signum]}
  (as a terminal plus a supervisor do); records the units done."""

  def __init__(self, signals):
    self.signals, self.done, self.stop_signal = signals, 0, None

  def advance(self):
    stop_signals.check(self)
    for signum in self.signals.get(self.done + 1, ()):
      os.kill(os.getpid(), signum)
    self.done += 1
    return {}

  def report(self, progress, window):
    del progress, window


def _run_main(monkeypatch, main):
  """damrun.cli.run_main(main) in this process: its exit code."""
  monkeypatch.setattr(sys, 'argv', ['script.py'])
  with pytest.raises(SystemExit) as ended:
    cli.run_main(main)
  return ended.value.code


def test_a_stopped_script_ends_in_one_line_and_128_plus_the_signal(
    monkeypatch, capfd):
  units, saved = _Units({3: [signal.SIGTERM, signal.SIGINT]}), []
  # Whatever handled SIGINT before is put back (SIG_IGN when the tests run
  # in a background job, Python's default_int_handler otherwise).
  before = signal.getsignal(signal.SIGINT)

  def main(argv):
    del argv
    with stop_signals.stop_at_a_step_boundary(units):
      loop.run(units, 0, 10, 100, 100, save=lambda n: saved.append(n) or
               f'ckpt-{n}')
    return 0

  assert _run_main(monkeypatch, main) == 143  # SIGTERM came first
  out = capfd.readouterr()  # the handlers write to the file descriptor
  assert units.done == 3 and saved == [3]
  assert out.out.splitlines()[-1] == ('Interrupted at step 3; saved ckpt-3. '
                                      'Run the same command to resume.')
  assert 'SIGINT received again: still stopping' in out.out
  assert 'Traceback' not in out.out + out.err
  assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_before_training_stops_at_once_in_one_line(monkeypatch,
                                                             capfd):
  def main(argv):
    del argv
    os.kill(os.getpid(), signal.SIGINT)
    raise AssertionError('not stopped')

  assert _run_main(monkeypatch, main) == 130
  out = capfd.readouterr()
  assert out.out.strip() == ('script.py: stopped by SIGINT before training '
                             'started; nothing new was saved. The same '
                             'command starts again (from the newest '
                             'checkpoint, if any).')


def test_train_py_stopped_by_two_sigterms_exits_143_without_traceback(
    tmp_path):
  process = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'train.py'), *K, '--name=dt',
       '--training_iteration=100000', '--report_interval=5',
       '--checkpoint_interval=50', f'--info_dir={tmp_path}'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
  lines = []
  for line in process.stdout:  # the first progress line: training runs
    lines.append(line)
    if line.startswith('['):
      process.send_signal(signal.SIGTERM)
      process.send_signal(signal.SIGTERM)
      break
  lines += process.stdout.readlines()
  assert process.wait(timeout=120) == 143, ''.join(lines)
  text = ''.join(lines)
  assert 'Traceback' not in text, text
  last = lines[-1].strip()
  assert last.startswith('Interrupted at step ') and last.endswith(
      'Run the same command to resume.'), text
  step = int(last.split()[3].rstrip(';'))
  assert checkpoints.intact_steps(str(tmp_path / 'dt' / 'checkpoint'))[
      -1] == step


# -- D22: the NaN stop without a checkpoint --------------------------------------


def test_a_nan_before_any_checkpoint_says_there_is_none(tmp_path):
  trainer = _echo_trainer(str(tmp_path), _EchoTask(nan_at=1))
  with pytest.raises(FloatingPointError) as raised:
    trainer.train()
  message = str(raised.value)
  assert 'None' not in message and 'that checkpoint' not in message
  assert 'saved no checkpoint yet' in message
  assert '--learning_rate' in message and 'new --name' in message


# -- D7: what TensorBoard reads after a resume -----------------------------------


def _tensorboard_scalars(log_dir, tag):
  """[(step, value)] of `tag` as TensorBoard's event accumulator reads the
  run's log folder (purging orphaned data, its default)."""
  accumulator = plugin_event_accumulator.EventAccumulator(
      log_dir, purge_orphaned_data=True)
  accumulator.Reload()
  return [(event.step, float(tf.make_ndarray(event.tensor_proto)))
          for event in accumulator.Tensors(tag)]


def test_tensorboard_shows_each_step_once_with_the_resumed_value(tmp_path):
  first = _echo_trainer(str(tmp_path), _EchoTask())  # saves at 2, 4, 6
  first.train()
  run = first.run_dir
  for name in os.listdir(run.checkpoint):  # killed after the report at 3
    if name.startswith(('ckpt-4', 'ckpt-6')):
      os.remove(os.path.join(run.checkpoint, name))
  resumed = _echo_trainer(str(tmp_path), _EchoTask(), learning_rate=0.3)
  assert resumed.restored_from.endswith('ckpt-2')
  resumed.train()
  rows = [(row['step'], row['train_loss']) for row in resumed._reports.reporter.history]  # pylint: disable=protected-access
  scalars = _tensorboard_scalars(run.log, 'train_loss')
  assert [step for step, _ in scalars] == [3, 6]
  np.testing.assert_allclose([value for _, value in scalars],
                             [loss for _, loss in rows], rtol=1e-6)
  # A second resume purges again (the START events keep working).
  reporting.write_purge_event(run.log, 5)
  assert [step for step, _ in _tensorboard_scalars(run.log, 'train_loss')
         ] == [3]


# -- D12: the machine's failures, one line each -----------------------------------


def test_a_full_disk_during_a_save_keeps_the_last_checkpoint(tmp_path,
                                                            monkeypatch):
  trainer = _echo_trainer(str(tmp_path), _EchoTask(), total_steps=2)
  trainer.train()  # ckpt-2
  trainer.step.assign(3)
  temp = os.path.join(trainer.run_dir.checkpoint, 'ckpt-3_temp')

  def full_disk(**unused):
    os.makedirs(temp)  # what TensorFlow leaves, then its error
    raise tf.errors.ResourceExhaustedError(
        None, None, f'{temp}/part-00000-of-00001.data-00000-of-00001.tmp; '
        'No space left on device [Op:SaveV2]')

  monkeypatch.setattr(trainer.checkpoints.manager, 'save', full_disk)
  with pytest.raises(OSError) as raised:
    trainer.save()
  assert raised.value.errno == errno.ENOSPC
  message = failures.message(raised.value)
  assert '\n' not in message and message.startswith('the disk is full (')
  assert (f'ckpt-3 was not written; the newest checkpoint is '
          f'{trainer.checkpoints.latest}.') in message
  assert 'Free some space' in message and 'run the same command' in message
  assert not os.path.exists(temp)  # the partial write is gone
  assert checkpoints.intact_steps(trainer.run_dir.checkpoint) == [2]


@pytest.mark.parametrize('error, says', [
    (PermissionError(errno.EACCES, 'Permission denied', 'info/r/config.json'),
     'cannot write (info/r/config.json): Permission denied. Give a writable '
     '--info_dir'),
    (OSError(errno.EROFS, 'Read-only file system', 'info/r/metrics.csv'),
     'cannot write (info/r/metrics.csv): Read-only file system.'),
    (tf.errors.PermissionDeniedError(
        None, None, 'info/r/log/events.out; Read-only file system'),
     'cannot write (info/r/log/events.out): Read-only file system.'),
    (MemoryError(), 'out of memory: '),
])
def test_machine_failures_are_one_line_naming_the_fix(error, says):
  message = failures.message(error)
  assert says in message and '\n' not in message
  assert failures.message(ValueError('a bug')) is None  # re-raised


def test_a_read_only_run_folder_ends_in_one_line(monkeypatch, capfd):
  def main(argv):
    del argv
    raise OSError(errno.EROFS, 'Read-only file system', 'info/r/flags.json')

  assert _run_main(monkeypatch, main) == 1
  out = capfd.readouterr()
  assert out.err.startswith('script.py: cannot write (info/r/flags.json)')
  assert len(out.err.splitlines()) == 1 and 'Traceback' not in out.err


def test_a_batch_beyond_the_machine_is_refused_at_once(tmp_path):
  with pytest.raises(ValueError, match=r'--batch_size=100000000 needs at '
                     r'least [\d,.]+ GiB for one batch .* more than this '
                     r'machine\'s 24.0 GiB: lower --batch_size\.'):
    failures.check_batch_fits('batch_size', 100_000_000,
                              failures.batch_bytes(100_000_000, 18, 20, 72),
                              available=24 * 2**30)
  failures.check_batch_fits('batch_size', 4, failures.batch_bytes(
      4, 18, 20, 72), available=24 * 2**30)
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), *K,
       '--batch_size=100000000', '--name=big', f'--info_dir={tmp_path}'],
      capture_output=True, text=True, env=ENV, timeout=120)
  assert result.returncode == 1, result.stderr[-2000:]  # a UsageError's
  assert 'train.py: --batch_size=100000000 needs at least' in result.stderr
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'big').exists()  # refused before anything


def test_a_malformed_tf_config_is_named(tmp_path):
  assert build.tf_config_problem('{"cluster": ').startswith('not JSON')
  assert build.tf_config_problem('[1]') == 'a JSON list, not an object'
  assert build.tf_config_problem('{"cluster": {"worker": ["h:1"]}, "task": '
                                 '{"type": "worker", "index": 0}}') is None
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'), *K,
       '--strategy=multi_worker', '--name=tfc', f'--info_dir={tmp_path}'],
      capture_output=True, text=True, timeout=120,
      env=dict(ENV, TF_CONFIG='{"cluster": '))
  assert result.returncode == 1, result.stderr[-2000:]  # a UsageError's
  assert 'train.py: TF_CONFIG is malformed: not JSON (' in result.stderr
  assert 'Traceback' not in result.stderr


def test_visualize_out_under_a_file_is_refused_before_any_work(tmp_path):
  (tmp_path / 'run').mkdir()
  (tmp_path / 'run' / 'config.json').write_text('{}')
  (tmp_path / 'afile').write_text('')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'visualize.py'), '--name=run',
       f'--info_dir={tmp_path}', f'--out={tmp_path}/afile/plots'],
      capture_output=True, text=True, env=ENV, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip() == (
      f'visualize.py: --out={tmp_path}/afile/plots cannot be made: '
      f'{tmp_path}/afile is a file, not a folder. Give a path in a folder.')


# -- bench/peer.py: the peer in its own process, no ratio of a busy machine --------

_FAKE_PEER = '''
import json, os, sys, time
import numpy as np
spec = json.load(open(sys.argv[-1]))
inputs = np.load(spec['batch'])['inputs']
print(json.dumps({'ready': {'parameters': int(inputs.size), 'threads': 1,
                            'pid': os.getpid(), 'torch': 'fake'}}), flush=True)
for line in sys.stdin:
  calls = json.loads(line)['calls']
  start = time.perf_counter()
  time.sleep(0.002 * calls)
  print(json.dumps({'seconds': time.perf_counter() - start}), flush=True)
'''


def _fake_peer(tmp_path, text=_FAKE_PEER):
  from bench import peer_process  # pylint: disable=g-import-not-at-top
  script = tmp_path / 'fake_peer.py'
  script.write_text(text)
  task = types.SimpleNamespace(vocab_size=None, input_size=3, output_size=3)
  batch = types.SimpleNamespace(inputs=np.zeros([2, 5, 3], np.float32),
                                targets=np.zeros([2, 5, 3], np.float32),
                                answer_mask=np.ones([2, 5], np.float32))
  return peer_process.start_peer({'hidden_size': 4}, task, batch,
                                 command=[sys.executable, str(script)])


def test_the_peer_is_timed_in_its_own_process(peer, tmp_path):
  with _fake_peer(tmp_path) as fake:
    assert fake.info['pid'] != os.getpid()
    assert fake.info['parameters'] == 2 * 5 * 3  # it read the batch
    out = peer.time_rounds({'ours': lambda: None, 'peer': fake}, rounds=3,
                           min_time=0.01)
  assert len(out['peer']['samples_ms']) == 3
  assert all(1.5 < ms < 50. for ms in out['peer']['samples_ms'])
  assert 'torch' not in sys.modules  # never in TensorFlow's process
  from bench import peer_process  # pylint: disable=g-import-not-at-top
  with pytest.raises(peer_process.PeerError, match='no torch here'):
    _fake_peer(tmp_path, 'import json\nprint(json.dumps({"error": '
               '"no torch here"}))\n')


def test_a_ratio_whose_rounds_spread_over_2x_is_not_printed(peer, capsys):
  assert peer.spread_problem([5., 7., 9.9]) is None
  timings = {'dnc': dict(samples_ms=[100., 100., 100.]),
             'peer': dict(samples_ms=[680., 1370., 6000.])}  # a busy machine
  ratios = peer.summarise(timings, {}, 1e12)
  refused = ratios['peer/dnc']['refused']
  assert refused.startswith('its rounds spread 8.8 x (6.80-60.00), more '
                            'than 2 x: the machine\'s load changed')
  peer._print(dict(config='copy', batch_size=16, time_steps=66,  # pylint: disable=protected-access
                   contenders=timings, ratios=ratios))
  printed = capsys.readouterr().out
  assert f'peer/dnc not reported: {refused}.' in printed
  assert '13.70 x' not in printed and ' x (rounds' not in printed
  table = importlib.import_module('bench.table')
  assert table.peer_columns({'results': [dict(
      config='copy', contenders=timings, ratios=ratios)]}) == {
          ('copy', 'dnc'): (1370., 'not reported: rounds 6.80-60.00 x')}
