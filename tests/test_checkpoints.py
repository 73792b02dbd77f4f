"""Checkpoints (damrun/checkpoints.py): resume restores variables and the
data state; bad, interrupted or corrupt checkpoints are named or skipped to
the newest intact one, and nothing already saved is lost."""

import os

import numpy as np
import pytest
import tensorflow as tf

from damrun import checkpoints


def _saved(directory, values=(1., 2.)):
  """A Checkpoints with one variable and a data state, saved at step 3."""
  variable = tf.Variable(values)
  state = {'position': 7}
  store = checkpoints.Checkpoints(
      directory, {'v': variable}, get_state=lambda: state,
      set_state=state.update)
  return store, variable, state


def _assert_a_fresh_store_resumes(directory, path):
  """A new store over `directory` (variables zeroed, data position 0)
  resumes from `path`, the checkpoint `_saved` wrote: [1, 2], position 7."""
  again, variable, state = _saved(directory, (0., 0.))
  state['position'] = 0
  assert again.resume() == path
  np.testing.assert_array_equal(variable.numpy(), [1., 2.])
  assert state == {'position': 7}


def test_checkpoints_resume_restores_variables_and_data_state(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  assert store.resume() is None  # a new run
  path = store.save(3)
  assert path.endswith('ckpt-3') and store.latest == path
  _assert_a_fresh_store_resumes(directory, path)


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
                     match='(?s)No checkpoint in .* can be restored.*'
                     'Cannot restore the checkpoint .*ckpt-3.*'
                     'pass a new --name .*nothing was changed') as error:
    again.resume(log=lambda line: None)
  assert 'Delete' not in str(error.value)  # never advise deleting data
  assert os.path.exists(path + '.index')


def test_resume_without_the_checkpoint_index_file_uses_the_files(tmp_path):
  # A kill after TF renamed ckpt-3's files, before it wrote "checkpoint".
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  path = store.save(3)
  os.remove(os.path.join(directory, 'checkpoint'))
  again, variable, _ = _saved(directory, (0., 0.))
  assert again.resume() == path
  np.testing.assert_array_equal(variable.numpy(), [1., 2.])


def _leftovers_of_an_interrupted_write(directory, step):
  """What a kill during TF's write of ckpt-<step> leaves: its temporary
  folder, and (killed right after the index) an index without data."""
  os.makedirs(os.path.join(directory, f'ckpt-{step}_temp'))
  with open(os.path.join(directory, f'ckpt-{step}_temp',
                         'part-00000-of-00001.data-00000-of-00001'),
            'wb') as f:
    f.write(b'\0' * 10)
  with open(os.path.join(directory, f'ckpt-{step}.index'), 'wb') as f:
    f.write(b'\0' * 10)


def test_an_interrupted_first_write_starts_fresh(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  os.makedirs(directory)
  _leftovers_of_an_interrupted_write(directory, 50)
  store, variable, _ = _saved(directory, (5., 6.))
  assert store.resume() is None  # a new run, not a refusal
  np.testing.assert_array_equal(variable.numpy(), [5., 6.])
  assert store.save(50).endswith('ckpt-50')  # the write then succeeds
  again, variable, _ = _saved(directory, (0., 0.))
  assert again.resume().endswith('ckpt-50')
  np.testing.assert_array_equal(variable.numpy(), [5., 6.])


def test_an_interrupted_later_write_resumes_from_the_newest_intact(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, _, _ = _saved(directory)
  path = store.save(3)
  _leftovers_of_an_interrupted_write(directory, 6)
  _assert_a_fresh_store_resumes(directory, path)


def test_a_corrupt_latest_checkpoint_falls_back_to_the_newest_good(tmp_path):
  directory = str(tmp_path / 'checkpoint')
  store, variable, _ = _saved(directory)
  older = store.save(3)
  variable.assign([3., 4.])
  newer = store.save(6)
  for name in os.listdir(directory):
    if name.startswith('ckpt-6.data'):
      with open(os.path.join(directory, name), 'r+b') as f:
        f.truncate(8)
  lines = []
  again, variable, _ = _saved(directory, (0., 0.))
  assert again.resume(log=lines.append) == older
  assert again.latest == older
  np.testing.assert_array_equal(variable.numpy(), [1., 2.])
  assert any(line.startswith(f'Warning: skipping {newer}: Cannot restore')
             for line in lines), lines
  assert os.path.exists(newer + '.index')  # kept on disk
  # The same fallback for eval.py (only the model, any objects).
  model = tf.Variable([0., 0.])
  assert checkpoints.restore_newest(
      tf.train.Checkpoint(v=model), directory, partial=True,
      log=lines.append) == older
  np.testing.assert_array_equal(model.numpy(), [1., 2.])


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
