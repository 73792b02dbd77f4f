"""Checkpoints of a run: save, restore, resume (with the data streams).

`restore` is the one function that reads a checkpoint into objects, for
training (resume), evaluation (eval.py) and the KV-MemNN baseline alike; it
turns every error TensorFlow raises on a corrupt, truncated or foreign
checkpoint into a `CheckpointError` naming the file. `Checkpoints` keeps a
run's checkpoints in <run>/checkpoint/ (tf.train.CheckpointManager) together
with a JSON string of the data streams' state (the tasks' random
generators, the epoch order), so that a resumed run continues the same
stream. `checkpoint_path` picks a checkpoint by step.
"""

import json
import os

import tensorflow as tf


class CheckpointError(RuntimeError):
  """A checkpoint cannot be found or read; nothing was changed."""


# What TensorFlow raises on a corrupt or foreign checkpoint: OpError (e.g.
# DataLossError, NotFoundError), ValueError / AssertionError (objects that do
# not match), IndexError / KeyError (its reader on a truncated data file).
RESTORE_ERRORS = (tf.errors.OpError, ValueError, AssertionError, IndexError,
                  KeyError)


def restore(checkpoint, path, partial=False):
  """Restores `checkpoint` (a tf.train.Checkpoint) from the prefix `path`.

  Args:
    checkpoint: the objects to fill (their variables must exist).
    path: a checkpoint prefix, e.g. info/run/checkpoint/ckpt-20.
    partial: the file may hold more than `checkpoint` asks for (eval.py
      restores only the model of a training checkpoint).

  Returns:
    `path`.

  Raises:
    CheckpointError: naming the file and the first line of the error.
  """
  try:
    status = checkpoint.restore(path)
    if partial:
      status = status.expect_partial()
    status.assert_existing_objects_matched()
  except RESTORE_ERRORS as e:
    first_line = str(e).splitlines()[0] if str(e) else ''
    raise CheckpointError(
        f'Cannot restore the checkpoint {path}: {type(e).__name__}: '
        f'{first_line}\nIt is corrupt or was written by another model.'
    ) from e
  return path


def available_steps(directory):
  """The steps of the checkpoints ckpt-<step>.index in `directory`."""
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return sorted(int(name[len('ckpt-'):-len('.index')]) for name in names
                if name.startswith('ckpt-') and name.endswith('.index'))


def checkpoint_path(directory, step=None):
  """The checkpoint prefix at `step` (None: the latest) in `directory`.

  Raises:
    CheckpointError: no checkpoint, or none at `step` (listing the steps
      there are).
  """
  available = available_steps(directory)
  if not available:
    raise CheckpointError(f'No checkpoint in {directory}.')
  if step is None:
    state = tf.train.get_checkpoint_state(directory)
    if state is not None and state.model_checkpoint_path:
      return state.model_checkpoint_path
    step = available[-1]
  if step not in available:
    raise CheckpointError(
        f'No checkpoint at step {step} in {directory}; available steps: '
        f'{", ".join(map(str, available))}.')
  return os.path.join(directory, f'ckpt-{step}')


class Checkpoints:
  """The checkpoints of one run, with the data streams' state.

  The checkpoint holds `objects` under their names (the checkpoint keys)
  and, under `state_key`, the JSON of `get_state()` at each save; `resume`
  hands it back to `set_state`.
  """

  def __init__(self, directory, objects, keep=5, state_key='data_state',
               get_state=None, set_state=None):
    """Creates the checkpoint (nothing is read or written yet).

    Args:
      directory: where the checkpoints go (`RunDirectory.checkpoint`).
      objects: dict name -> trackable (model, optimizer, counters).
      keep: how many checkpoints to keep (None: all).
      state_key: the checkpoint key of the data state string.
      get_state: fn() -> JSON-serialisable data state (None: none saved).
      set_state: fn(state) restoring a `get_state()` value.
    """
    self.directory = directory
    self._get_state, self._set_state = get_state, set_state
    self._state = tf.Variable('', dtype=tf.string, trainable=False,
                              name=state_key)
    self.checkpoint = tf.train.Checkpoint(**objects,
                                          **{state_key: self._state})
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                              max_to_keep=keep)

  @property
  def latest(self):
    """The latest checkpoint's prefix, or None."""
    return self.manager.latest_checkpoint

  def resume(self):
    """Restores the latest checkpoint and the data state, if there is one.

    Returns:
      The restored checkpoint's prefix, or None for a new run.

    Raises:
      CheckpointError: the checkpoint is unreadable, or checkpoint files
        lie there without their index; nothing was changed.
    """
    latest = self.latest
    if latest is None:
      if os.path.isdir(self.directory) and any(
          name.startswith('ckpt') for name in os.listdir(self.directory)):
        raise CheckpointError(
            f'{self.directory} holds checkpoint files but no readable '
            f'"checkpoint" index file. Restore the index (or move the files '
            f'away) to resume, or pass a new --name; nothing was changed.')
      return None
    try:
      restore(self.checkpoint, latest)
    except CheckpointError as e:
      raise CheckpointError(
          f'{e} Delete {self.directory} to start over, or pass a new --name; '
          f'nothing was overwritten.') from e.__cause__
    state = self._state.numpy().decode()
    if state and self._set_state is not None:
      self._set_state(json.loads(state))
    return latest

  def save(self, number):
    """Writes checkpoint ckpt-<number> with the current data state."""
    if self._get_state is not None:
      self._state.assign(json.dumps(self._get_state()))
    return self.manager.save(checkpoint_number=number)
