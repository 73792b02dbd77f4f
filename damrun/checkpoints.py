"""Checkpoints of a run: save, restore, resume (with the data streams).

`restore` is the one function that reads a checkpoint into objects, for
training (resume), evaluation (eval.py) and the KV-MemNN baseline alike; it
turns every error TensorFlow raises on a corrupt, truncated or foreign
checkpoint into a `CheckpointError` naming the file. `Checkpoints` keeps a
run's checkpoints in <run>/checkpoint/ (tf.train.CheckpointManager) together
with a JSON string of the data streams' state (the tasks' random
generators, the epoch order), so that a resumed run continues the same
stream. `checkpoint_path` picks a checkpoint by step; `restore_newest`
restores the newest checkpoint that restores, skipping (and naming) a
corrupt latest one and ignoring what an interrupted write leaves behind
(ckpt-<n>_temp/ folders, an index without its data).
"""

import json
import os
import re
import shutil

import tensorflow as tf

from damrun import failures


class CheckpointError(RuntimeError):
  """A checkpoint cannot be found or read; nothing was changed."""


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (a full disk, a read-only folder):
  its partial files are removed, the checkpoints before it are intact.
  `note` names the newest one (`damrun.failures` prints it)."""


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


_INDEX = re.compile(r'ckpt-(\d+)\.index$')
_DATA = re.compile(r'ckpt-(\d+)\.data-(\d+)-of-(\d+)$')


def available_steps(directory):
  """The steps of the checkpoints ckpt-<step>.index in `directory`."""
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return sorted(int(m.group(1)) for m in map(_INDEX.match, names) if m)


def intact_steps(directory):
  """The steps whose index and every data shard are in `directory`.

  An interrupted write leaves a ckpt-<n>_temp/ folder, or an index without
  its data; those steps are not listed.
  """
  names = set(os.listdir(directory)) if os.path.isdir(directory) else set()
  shards = {}
  for m in map(_DATA.match, names):
    if m:
      shards.setdefault(int(m.group(1)), set()).add(
          (int(m.group(2)), int(m.group(3))))
  intact = []
  for step in available_steps(directory):
    parts = shards.get(step, set())
    counts = {count for _, count in parts}
    if len(counts) == 1 and {i for i, _ in parts} == set(
        range(counts.pop())):
      intact.append(step)
  return intact


def restore_newest(checkpoint, directory, partial=False, log=print):
  """Restores the newest checkpoint in `directory` that restores.

  Checkpoints that do not restore (corrupt, truncated) are skipped, each
  named in a warning through `log`; the leftovers of an interrupted write
  are ignored (see `intact_steps`). Used on resume and by eval.py without
  --num.

  Args:
    checkpoint: the objects to fill (a tf.train.Checkpoint).
    directory: the run's checkpoint folder.
    partial: see `restore`.
    log: where the warnings go.

  Returns:
    The restored checkpoint's prefix, or None when `directory` holds no
    intact checkpoint (nothing was restored).

  Raises:
    CheckpointError: there are intact checkpoints but none restores
      (naming each and why); nothing was changed on disk.
  """
  failures = []
  for step in reversed(intact_steps(directory)):
    path = os.path.join(directory, f'ckpt-{step}')
    try:
      restore(checkpoint, path, partial)
    except CheckpointError as e:
      failures.append(str(e).splitlines()[0])
      log(f'Warning: skipping {path}: {failures[-1]}')
      continue
    if failures:
      log(f'Warning: restored the older checkpoint {path}; the newer ones '
          f'above cannot be read (kept on disk, not used).')
    return path
  if failures:
    raise CheckpointError(
        f'No checkpoint in {directory} can be restored:\n  ' +
        '\n  '.join(failures) +
        '\nThey are corrupt or were written by another model. Check the '
        'flags against config.json, or pass a new --name to start a new '
        'run; nothing was changed.')
  return None


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
    state = _state_or_none(directory)
    if state is not None and state.model_checkpoint_path:
      return state.model_checkpoint_path
    step = available[-1]
  if step not in available:
    raise CheckpointError(
        f'No checkpoint at step {step} in {directory}; available steps: '
        f'{", ".join(map(str, available))}.')
  return os.path.join(directory, f'ckpt-{step}')


def _state_or_none(directory):
  """The checkpoint state file of `directory` (tf.train's `checkpoint`
  text file), or None if absent or damaged (the ckpt-<n> files are then
  scanned instead, as `intact_steps` does)."""
  try:
    return tf.train.get_checkpoint_state(directory)
  except (ValueError, tf.errors.OpError):  # e.g. bytes that are not UTF-8
    return None


def _manager(checkpoint, directory, keep):
  """tf.train.CheckpointManager of `directory`; a damaged state file (which
  it reads and would fail on) is rebuilt from the intact checkpoints, with
  a warning, so that their rotation goes on."""
  if os.path.isdir(directory) and os.path.exists(
      os.path.join(directory, 'checkpoint')) and _state_or_none(
          directory) is None:
    steps = intact_steps(directory)
    paths = [os.path.join(directory, f'ckpt-{step}') for step in steps]
    print(f'Warning: the checkpoint state file {directory}/checkpoint is '
          f'damaged; rebuilt from the checkpoint files there '
          f'({", ".join(os.path.basename(p) for p in paths) or "none"}).',
          flush=True)
    if paths:
      tf.compat.v1.train.update_checkpoint_state(
          directory, paths[-1], all_model_checkpoint_paths=paths)
    else:
      os.remove(os.path.join(directory, 'checkpoint'))
  return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep)


class Checkpoints:
  """The checkpoints of one run, with the data streams' state.

  The checkpoint holds `objects` under their names (the checkpoint keys)
  and, under `state_key`, the JSON of `get_state()` at each save; `resume`
  hands it back to `set_state`.
  """

  def __init__(self, directory, objects, keep=5, state_key='data_state',
               get_state=None, set_state=None, restore_directory=None):
    """Creates the checkpoint (nothing is read or written yet).

    Args:
      directory: where the checkpoints go (`RunDirectory.checkpoint`).
      objects: dict name -> trackable (model, optimizer, counters).
      keep: how many checkpoints to keep (None: all).
      state_key: the checkpoint key of the data state string.
      get_state: fn() -> JSON-serialisable data state (None: none saved).
      set_state: fn(state) restoring a `get_state()` value.
      restore_directory: where `resume` looks (default `directory`): a
        multi-worker run's other workers resume from the chief's
        checkpoints and write theirs to their own folder.
    """
    self.directory = directory
    self.restore_directory = restore_directory or directory
    self._get_state, self._set_state = get_state, set_state
    self._state = tf.Variable('', dtype=tf.string, trainable=False,
                              name=state_key)
    self.checkpoint = tf.train.Checkpoint(**objects,
                                          **{state_key: self._state})
    self.manager = _manager(self.checkpoint, directory, keep)
    self._latest = None

  @property
  def latest(self):
    """The prefix of the checkpoint the run stands on (the last restored or
    written), or None."""
    return self._latest

  def resume(self, log=print):
    """Restores the newest checkpoint that restores, and the data state.

    A corrupt latest checkpoint is skipped with a warning naming it (see
    `restore_newest`); leftovers of an interrupted write are ignored.

    Returns:
      The restored checkpoint's prefix, or None for a new run.

    Raises:
      CheckpointError: checkpoints are there but none restores; nothing
        was changed.
    """
    latest = restore_newest(self.checkpoint, self.restore_directory, log=log)
    if latest is None:
      return None
    self._latest = latest
    state = self._state.numpy().decode()
    if state and self._set_state is not None:
      self._set_state(json.loads(state))
    return latest

  def keep(self, path):
    """Exempts the checkpoint `path` from rotation (a phase's last one)."""
    if not path:
      return
    name = os.path.basename(path)
    # tf.train.CheckpointManager deletes, past max_to_keep, the checkpoints
    # it tracks in _maybe_delete (it has no public exemption per file).
    tracked = getattr(self.manager, '_maybe_delete', {})
    for key in [key for key in tracked if os.path.basename(key) == name]:
      del tracked[key]

  def save(self, number):
    """Writes checkpoint ckpt-<number> with the current data state."""
    if self._get_state is not None:
      self._state.assign(json.dumps(self._get_state()))
    try:
      self._latest = self.manager.save(checkpoint_number=number)
    except (OSError, tf.errors.OpError) as e:
      error = self._write_error(number, e)
      if error is None:
        raise
      raise error from e
    return self._latest

  def _write_error(self, number, error):
    """The CheckpointWriteError of a failed save of ckpt-<number> (None:
    not a failure to write a file); removes what the save left."""
    os_error = failures.as_os_error(error)
    if os_error is None:
      return None
    prefix = os.path.join(self.directory, f'ckpt-{number}')
    shutil.rmtree(prefix + '_temp', ignore_errors=True)
    result = CheckpointWriteError(os_error.errno, os_error.strerror, prefix)
    result.note = (f'ckpt-{number} was not written; the newest checkpoint '
                   f'is {self._latest or "none yet"}.')
    return result
