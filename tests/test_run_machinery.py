"""The run machinery (damrun/): the loop and the trainer on a task that has
only the declared interface (`tasks.base.Task`); checkpoints are in
test_checkpoints.py."""

import csv
import json
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from dam import model as model_lib
from dam import optimizers
from damrun import checkpoints
from damrun import loop
from damrun import rundir
from damrun import trainer as trainer_lib
from tasks import base

# -- the loop ------------------------------------------------------------------


class _Counter:
  """A trainable whose unit returns its own number; records reports."""

  def __init__(self, interrupt_at=None):
    self.done, self.reports, self.interrupt_at = 0, [], interrupt_at

  def advance(self):
    if self.done + 1 == self.interrupt_at:
      raise KeyboardInterrupt
    self.done += 1
    return {'unit': float(self.done)}

  def report(self, progress, window):
    self.reports.append((progress.count, progress.total, progress.start,
                         progress.window_count, window['unit']))


def test_loop_reports_and_saves_at_intervals_and_at_the_end():
  counter, saved = _Counter(), []
  done = loop.run(counter, 2, 9, report_interval=3, checkpoint_interval=4,
                  save=saved.append)
  assert done == 9 and counter.done == 7
  # Units 3..9 of a run resumed at 2: reports at 3, 6, 9 (the last), each
  # with the units since the previous report.
  assert counter.reports == [(3, 9, 2, 2, [1.]), (6, 9, 2, 3, [2., 3., 4.]),
                             (9, 9, 2, 6, [5., 6., 7.])]
  assert saved == [4, 8, 9]


def test_loop_beats_between_reports_far_apart(monkeypatch):
  """Units of 25 s (a fake clock), reports every 10 units, a heartbeat
  after a unit ending >= 60 s after the last line: at units 3, 6, 9
  (75 s apart), none at the reports 10 and 15, again at 13."""
  clock = [0.]
  monkeypatch.setattr(loop.time, 'time', lambda: clock[0])

  class Slow(_Counter):

    def __init__(self):
      super().__init__()
      self.beats, self.next_reports = [], []

    def advance(self):
      clock[0] += 25.
      return super().advance()

    def heartbeat(self, progress, next_report):
      self.beats.append((progress.count, progress.window_count))
      self.next_reports.append(next_report)

  slow = Slow()
  loop.run(slow, 0, 15, report_interval=10, checkpoint_interval=100,
           save=lambda n: n, heartbeat_seconds=60.)
  assert [r[0] for r in slow.reports] == [10, 15]
  assert slow.beats == [(3, 0), (6, 0), (9, 0), (13, 10)]
  assert slow.next_reports == [10, 10, 10, 15]  # 15: the last unit
  # Off without heartbeat_seconds (and for a trainable without the method).
  slow = Slow()
  loop.run(slow, 0, 15, 10, 100, save=lambda n: n)
  assert slow.beats == []
  loop.run(_Counter(), 0, 15, 10, 100, save=lambda n: n,
           heartbeat_seconds=60.)


def test_loop_does_nothing_on_a_finished_run():
  counter, saved = _Counter(), []
  assert loop.run(counter, 5, 5, 1, 1, save=saved.append) == 5
  assert counter.done == 0 and not counter.reports and not saved


def test_loop_saves_on_ctrl_c_only_when_asked():
  lines, saved = [], []
  with pytest.raises(KeyboardInterrupt):
    loop.run(_Counter(interrupt_at=4), 0, 10, 100, 100,
             save=lambda n: saved.append(n) or f'ckpt-{n}', log=lines.append)
  assert saved == [3]
  assert lines == ['Interrupted at step 3; saved ckpt-3. Run the same '
                   'command to resume.']
  with pytest.raises(KeyboardInterrupt):
    loop.run(_Counter(interrupt_at=2), 0, 10, 100, 100, save=saved.append,
             save_on_interrupt=False, log=lines.append, unit='epoch')
  assert saved == [3] and len(lines) == 1


def test_loop_rejects_bad_intervals():
  with pytest.raises(ValueError, match='report_interval must be >= 1'):
    loop.run(_Counter(), 0, 1, 0, 1, save=print)
  with pytest.raises(ValueError, match='checkpoint_interval must be >= 1'):
    loop.run(_Counter(), 0, 1, 1, 0, save=print)


# -- the trainer on the declared task interface --------------------------------

CONTRACT = {'batch_size', 'input_size', 'output_size', 'vocab_size',
            'max_time', 'report_metrics', 'next_batch', 'batch_specs', 'loss',
            'progress', 'get_state', 'set_state'}


class _EchoTask(base.Task):
  """Predict the input at every step; 4 batches per epoch.

  next_batch number `nan_at` has NaN targets; number `interrupt_at` raises
  KeyboardInterrupt (as Ctrl-C during a step).
  """

  input_size = output_size = 3
  max_time = 5
  report_metrics = (('mse', 'mse'),)

  def __init__(self, nan_at=None, interrupt_at=None, signal_at=None,
               signum=signal.SIGTERM):
    super().__init__(batch_size=2, p_re=0., seed=0)
    self.batches, self.nan_at, self.interrupt_at = 0, nan_at, interrupt_at
    self.signal_at, self.signum = signal_at, signum

  def next_batch(self):
    self.batches += 1
    if self.batches == self.interrupt_at:
      raise KeyboardInterrupt
    if self.batches == self.signal_at:  # a signal while a step runs
      os.kill(os.getpid(), self.signum)
    seq_len = self._rng.integers(2, self.max_time + 1, size=2).astype(np.int32)
    time = int(seq_len.max())
    inputs = self._rng.normal(size=[2, time, 3]).astype(np.float32)
    steps = (np.arange(time)[None] < seq_len[:, None]).astype(np.float32)
    inputs *= steps[..., None]
    targets = inputs * (np.nan if self.batches == self.nan_at else 1.)
    return base.Batch(inputs, targets, seq_len, steps, np.zeros_like(steps))

  def loss(self, logits, batch):
    error = tf.reduce_sum(tf.square(logits - batch.targets), -1)
    mse = tf.reduce_sum(error * batch.answer_mask) / tf.reduce_sum(
        batch.answer_mask)
    return dict(loss=mse, mse=mse)

  def progress(self):
    return self.batches / 4

  def get_state(self):
    return dict(super().get_state(), batches=self.batches)

  def set_state(self, state):
    super().set_state(state)
    self.batches = state['batches']


class _Recorder:
  """Passes attribute reads through to a task and records their names."""

  def __init__(self, task):
    object.__setattr__(self, '_task', task)
    object.__setattr__(self, 'names', set())

  def __getattr__(self, name):
    self.names.add(name)
    return getattr(self._task, name)


def _echo_trainer(directory, task, total_steps=6, lines=None,
                  learning_rate=1e-2, checkpoint_interval=2, flags=None,
                  phase_steps=None, keep_checkpoints=5):
  tf.random.set_seed(0)
  core = model_lib.build_core(3, use_dam=False, hidden_size=8,
                              memory_size=4, word_size=3)
  return trainer_lib.Trainer(
      model_lib.SequenceModel(core), task,
      optimizers.make_optimizer('adam', learning_rate),
      rundir.RunDirectory('run', directory),
      trainer_lib.Settings(total_steps=total_steps, report_interval=3,
                           checkpoint_interval=checkpoint_interval,
                           phase_steps=phase_steps,
                           keep_checkpoints=keep_checkpoints),
      config=None if flags is None else {'flags': flags},
      log=(lines if lines is not None else []).append)


def test_trainer_reads_only_the_declared_task_interface(tmp_path):
  task = _Recorder(_EchoTask())
  lines = []
  trainer = _echo_trainer(str(tmp_path), task, lines=lines)
  summary = trainer.train()
  assert task.names <= CONTRACT, task.names - CONTRACT
  assert summary['steps'] == 6
  # progress() gives the epoch of the line and of metrics.csv.
  assert lines[0].startswith('[3/6] epoch 0.75 loss ')
  assert ' mse ' in lines[0]
  with open(trainer.run_dir.metrics) as f:
    rows = list(csv.DictReader(f))
  assert [float(r['epoch']) for r in rows] == [0.75, 1.5]
  assert float(rows[-1]['train_mse']) > 0.
  with open(trainer.run_dir.summary) as f:
    assert json.load(f)['final']['epoch'] == 1.5


def test_nan_loss_stops_naming_the_last_good_checkpoint(tmp_path):
  trainer = _echo_trainer(str(tmp_path), _EchoTask(nan_at=3))
  with pytest.raises(FloatingPointError,
                     match='loss became nan at step 3; the last good '
                     'checkpoint is .*ckpt-2'):
    trainer.train()


@pytest.mark.slow
def test_ctrl_c_saves_and_the_same_command_resumes(tmp_path):
  lines = []
  trainer = _echo_trainer(str(tmp_path), _EchoTask(interrupt_at=6),
                          lines=lines)
  with pytest.raises(KeyboardInterrupt):
    trainer.train()
  assert lines[-1].startswith('Interrupted at step 5; saved ')
  assert lines[-1].endswith('ckpt-5. Run the same command to resume.')
  task = _EchoTask()
  resumed = _echo_trainer(str(tmp_path), task)
  assert resumed.restored_from.endswith('ckpt-5')
  assert int(resumed.step.numpy()) == 5
  assert task.batches == 6  # the data stream continues after batch 6
  assert resumed.train()['steps'] == 6


def test_an_exploded_update_is_never_checkpointed(tmp_path):
  good = _echo_trainer(str(tmp_path), _EchoTask(), total_steps=2)
  good.train()
  # Resumed at a learning rate that explodes the weights in one step.
  lines = []
  bad = _echo_trainer(str(tmp_path), _EchoTask(), total_steps=4,
                      learning_rate=1e8, checkpoint_interval=1, lines=lines)
  with pytest.raises(FloatingPointError,
                     match=r'At step 3 the weight .* exploded .*not saved\. '
                     r'The last good checkpoint is .*ckpt-2\. Start a new '
                     r'--name'):
    bad.train()
  directory = bad.run_dir.checkpoint
  assert checkpoints.available_steps(directory) == [2]
  # The named checkpoint resumes: finite, moderate weights.
  again = _echo_trainer(str(tmp_path), _EchoTask(), total_steps=4)
  assert again.restored_from.endswith('ckpt-2')
  again.check_state()
  assert again.train()['steps'] == 4


def test_an_exploded_first_update_writes_no_checkpoint(tmp_path):
  bad = _echo_trainer(str(tmp_path), _EchoTask(), learning_rate=1e8,
                      checkpoint_interval=1)
  with pytest.raises(FloatingPointError,
                     match='exploded .*The run has saved no checkpoint yet'):
    bad.train()
  assert checkpoints.available_steps(bad.run_dir.checkpoint) == []


def _steps_in(path):
  with open(path) as f:
    return [int(row['step']) for row in csv.DictReader(f)]


def test_resume_drops_rows_written_after_the_restored_checkpoint(tmp_path):
  first = _echo_trainer(str(tmp_path), _EchoTask())  # saves at 2, 4, 6
  first.train()
  run = first.run_dir
  assert _steps_in(run.metrics) == [3, 6]
  # As if killed after the report at step 3, before the checkpoint at 4.
  for name in os.listdir(run.checkpoint):
    if name.startswith(('ckpt-4', 'ckpt-6')):
      os.remove(os.path.join(run.checkpoint, name))
  resumed = _echo_trainer(str(tmp_path), _EchoTask())
  assert resumed.restored_from.endswith('ckpt-2')
  resumed.train()
  assert _steps_in(run.metrics) == [3, 6]  # not 3, 6, 3, 6
  # TensorBoard is told to purge the events after step 2.
  starts = []
  for name in sorted(os.listdir(run.log)):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(run.log, name)):
      if event.HasField('session_log'):
        starts.append(event.step)
  assert set(starts) == {3}  # what TensorBoard reads: test_reliability_signals


def test_rerunning_a_finished_command_keeps_the_final_numbers(tmp_path):
  first = _echo_trainer(str(tmp_path), _EchoTask())
  summary = first.train()
  final = summary['final']
  assert final['step'] == 6
  lines = []
  again = _echo_trainer(str(tmp_path), _EchoTask(), lines=lines)
  assert again.finished
  assert again.train()['final'] == final
  # One line says so; the training's speed and wall time stay.
  assert len(lines) == 1 and lines[0].startswith('Already trained: the run')
  assert 'at step 6 of 6' in lines[0] and '--training_iteration' in lines[0]
  with open(again.run_dir.summary) as f:
    saved = json.load(f)
  assert saved['final'] == final
  for key in ('steps_per_sec', 'wall_time_s', 'start_step'):
    assert saved[key] == summary[key], key


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_after_the_step_under_way_and_saves(tmp_path,
                                                           signum):
  # SIGTERM (a cluster's preemption) as Ctrl-C; neither may leave a
  # checkpoint whose update, data stream and step count disagree.
  lines = []
  task = _EchoTask(signal_at=4, signum=signum)
  trainer = _echo_trainer(str(tmp_path), task, lines=lines)
  previous = signal.getsignal(signum)
  with pytest.raises(KeyboardInterrupt):
    trainer.train()
  assert signal.getsignal(signum) == previous
  assert lines[-1].startswith('Interrupted at step 4; saved ')
  assert lines[-1].endswith('ckpt-4. Run the same command to resume.')
  assert int(trainer.optimizer.step.numpy()) == 4  # updates == steps
  assert task.batches == 4  # batches drawn == steps
  resumed = _echo_trainer(str(tmp_path), _EchoTask())
  assert resumed.restored_from.endswith('ckpt-4')
  assert int(resumed.optimizer.step.numpy()) == 4


_FLAGS = dict(seed=0, p_re=0.1, keep_prob=0.9, learning_rate=1e-2,
              training_iteration=6, report_interval=3)


def test_resume_refuses_changed_flags_naming_them(tmp_path):
  _echo_trainer(str(tmp_path), _EchoTask(), flags=_FLAGS).train()
  changed = dict(_FLAGS, seed=999, p_re=0.9, keep_prob=0.3,
                 learning_rate=1e-3, training_iteration=8)
  with pytest.raises(rundir.ConfigMismatchError) as error:
    _echo_trainer(str(tmp_path), _EchoTask(), flags=changed)
  message = str(error.value)
  for line in ('--seed: the run has 0, the flags give 999',
               '--p_re: the run has 0.1, the flags give 0.9',
               '--keep_prob: the run has 0.9, the flags give 0.3',
               '--learning_rate: the run has 0.01, the flags give 0.001'):
    assert line in message
  assert 'training_iteration' not in message  # run length may change
  with open(tmp_path / 'run' / 'flags.json') as f:
    assert json.load(f) == _FLAGS  # nothing was changed


def test_run_length_changes_are_logged_with_their_step(tmp_path):
  _echo_trainer(str(tmp_path), _EchoTask(), flags=_FLAGS).train()
  lines = []
  longer = dict(_FLAGS, training_iteration=8)
  summary = _echo_trainer(str(tmp_path), _EchoTask(), total_steps=8,
                          flags=longer, lines=lines).train()
  assert ('Flag change accepted at step 6: --training_iteration 6 -> 8 '
          '(logged in ') in lines[0]
  with open(summary['history']) as f:
    history = [json.loads(line) for line in f]
  assert [h['event'] for h in history] == ['start', 'resume']
  assert history[0]['flags'] == _FLAGS
  assert history[1]['step'] == 6
  assert history[1]['changes'] == {'training_iteration': [6, 8]}
  with open(tmp_path / 'run' / 'summary.json') as f:
    assert json.load(f)['history'] == summary['history']


def test_phases_keep_their_last_checkpoint_and_refuse_going_back(tmp_path):
  first = dict(_FLAGS)
  second = dict(_FLAGS, learning_rate=1e-3)
  def phase(flags, lines=None):
    return _echo_trainer(str(tmp_path), _EchoTask(), phase_steps=2,
                         checkpoint_interval=1, keep_checkpoints=1,
                         learning_rate=flags['learning_rate'], flags=flags,
                         lines=lines)
  assert phase(first).train()['steps'] == 2
  lines = []
  assert phase(second, lines).train()['steps'] == 4  # fine-tuning
  assert any(line.startswith('Fine-tuning') for line in lines)
  directory = str(tmp_path / 'run' / 'checkpoint')
  # The first phase's last checkpoint survives the rotation (keep 1).
  assert checkpoints.available_steps(directory) == [2, 4]
  # The first command again: refused, nothing changed.
  with pytest.raises(rundir.ConfigMismatchError,
                     match='(?s)trained at learning rate 0.01 until step 2 '
                     '.*then at 0.001 up to step 4.*'
                     '--return_to_learning_rate'):
    phase(first)
  assert checkpoints.available_steps(directory) == [2, 4]
  # Asked for explicitly, it starts a third phase from step 4.
  again = phase(dict(first, return_to_learning_rate=True))
  assert again.train()['steps'] == 6
  assert checkpoints.available_steps(directory) == [2, 4, 6]
