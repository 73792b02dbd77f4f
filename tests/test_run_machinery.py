"""The run machinery (dam/run/): the loop, checkpoints, and the trainer on a
task that has only the declared interface (`tasks.base.Task`)."""

import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dam import model as model_lib
from dam import optimizers
from dam.run import checkpoints
from dam.run import loop
from dam.run import rundir
from dam.run import trainer as trainer_lib
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


# -- checkpoints ---------------------------------------------------------------


def _saved(directory, values=(1., 2.)):
  """A Checkpoints with one variable and a data state, saved at step 3."""
  variable = tf.Variable(values)
  state = {'position': 7}
  store = checkpoints.Checkpoints(
      directory, {'v': variable}, get_state=lambda: state,
      set_state=state.update)
  return store, variable, state


def test_checkpoints_resume_restores_variables_and_data_state(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  assert store.resume() is None  # a new run
  path = store.save(3)
  assert path.endswith('ckpt-3') and store.latest == path
  again, variable, state = _saved(directory, (0., 0.))
  state['position'] = 0
  assert again.resume() == path
  np.testing.assert_array_equal(variable.numpy(), [1., 2.])
  assert state == {'position': 7}


def test_restore_names_the_file_for_every_kind_of_bad_checkpoint(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  path = store.save(3)
  # Another model: a variable of another shape.
  other = tf.train.Checkpoint(v=tf.Variable([1., 2., 3.]))
  with pytest.raises(checkpoints.CheckpointError,
                     match=r'Cannot restore the checkpoint .*ckpt-3: .*\n'
                     'It is corrupt or was written by another model'):
    checkpoints.restore(other, path)
  # Only part of what the file holds: refused unless partial.
  part = tf.train.Checkpoint(w=tf.Variable([1., 2.]))
  with pytest.raises(checkpoints.CheckpointError):
    checkpoints.restore(part, path)
  checkpoints.restore(tf.train.Checkpoint(v=tf.Variable([0., 0.])), path,
                      partial=True)
  # A truncated data file, found by `resume`, which says what to do.
  for name in os.listdir(directory):
    if name.startswith('ckpt-3.data'):
      with open(os.path.join(directory, name), 'r+b') as f:
        f.truncate(8)
  again, _, _ = _saved(directory)
  with pytest.raises(checkpoints.CheckpointError,
                     match='(?s)Cannot restore the checkpoint .*ckpt-3.*'
                     'Delete .* or pass a new --name; nothing was '
                     'overwritten'):
    again.resume()
  assert os.path.exists(path + '.index')


def test_resume_refuses_checkpoint_files_without_their_index(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  store.save(3)
  os.remove(os.path.join(directory, 'checkpoint'))
  again, _, _ = _saved(directory)
  with pytest.raises(checkpoints.CheckpointError,
                     match='no readable "checkpoint" index file'):
    again.resume()


def test_checkpoint_path_by_step(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  with pytest.raises(checkpoints.CheckpointError, match='No checkpoint in'):
    checkpoints.checkpoint_path(directory)
  store, _, _ = _saved(directory)
  store.save(1)
  store.save(3)
  assert checkpoints.checkpoint_path(directory).endswith('ckpt-3')
  assert checkpoints.checkpoint_path(directory, 1) == os.path.join(
      directory, 'ckpt-1')
  with pytest.raises(checkpoints.CheckpointError,
                     match='No checkpoint at step 2 .*available steps: 1, 3'):
    checkpoints.checkpoint_path(directory, 2)


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

  def __init__(self, nan_at=None, interrupt_at=None):
    super().__init__(batch_size=2, p_re=0., seed=0)
    self.batches, self.nan_at, self.interrupt_at = 0, nan_at, interrupt_at

  def next_batch(self):
    self.batches += 1
    if self.batches == self.interrupt_at:
      raise KeyboardInterrupt
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


def _echo_trainer(directory, task, total_steps=6, lines=None):
  tf.random.set_seed(0)
  core = model_lib.build_core(3, use_dam=False, hidden_size=8,
                              memory_size=4, word_size=3)
  return trainer_lib.Trainer(
      model_lib.SequenceModel(core), task,
      optimizers.make_optimizer('adam', 1e-2),
      rundir.RunDirectory('run', directory),
      trainer_lib.Settings(total_steps=total_steps, report_interval=3,
                           checkpoint_interval=2),
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
