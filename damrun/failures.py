"""What a script says when the machine, not the run, fails it: one line
naming the problem and the fix, instead of a traceback (`damrun.cli.run_main`).

* A full disk, a read-only or unwritable folder, a path through a file:
  an OSError (or TensorFlow's error of the same write, e.g. a checkpoint's
  "No space left on device") -> `message`.
* Out of memory (MemoryError, TensorFlow's OOM) -> `message`.
* A batch that cannot fit in this machine's memory at all: refused before
  anything is built (`check_batch_fits`), not ~a minute later by a
  MemoryError.

Nothing of the run is lost: a checkpoint is written whole or not at all
(`damrun.checkpoints`), and the same command resumes from the newest one.
"""

import errno
import os

_RESUME = ('run the same command: a training run resumes from its newest '
           'checkpoint')

# TensorFlow's write errors carry the C library's text, not an errno.
_TEXTS = {'No space left on device': errno.ENOSPC,
          'Read-only file system': errno.EROFS,
          'Permission denied': errno.EACCES,
          'Not a directory': errno.ENOTDIR}


def as_os_error(error):
  """`error` as an OSError (TensorFlow's file errors too), or None."""
  if isinstance(error, OSError):
    return error
  if not type(error).__module__.startswith('tensorflow'):
    return None
  text = str(getattr(error, 'message', '') or error)
  for strerror, number in _TEXTS.items():
    if strerror in text:
      return OSError(number, strerror, _tf_path(text))
  return None


def _tf_path(text):
  """The file a TensorFlow error message names (its word with a '/'), or
  None."""
  for word in text.replace(';', ' ').split():
    if '/' in word and not word.startswith(('{{', '[')):
      return word.rstrip(':,.')
  return None


def os_error_message(error):
  """One line for an OSError: what failed where, and the fix."""
  path = error.filename
  where = f' ({path})' if path else ''
  what = error.strerror or str(error)
  note = getattr(error, 'note', '')
  note = f' {note}' if note else ''
  if error.errno in (errno.ENOSPC, errno.EDQUOT):
    return (f'the disk is full{where}: {what}.{note} Free some space (or give '
            f'another --info_dir) and {_RESUME}.')
  if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
    return (f'cannot write{where}: {what}.{note} Give a writable --info_dir '
            f'(or --out), or make the folder writable, and {_RESUME}.')
  if error.errno in (errno.ENOTDIR, errno.EEXIST):
    return (f'cannot make the folder{where}: {what} (a part of that path is '
            f'a file, not a folder).{note} Give another path.')
  return f'{what}{where}.{note}'


def out_of_memory_message(error):
  """One line for a MemoryError or TensorFlow's OOM."""
  del error
  return ('out of memory: the batch, the model or the sequences are too '
          'large for this machine. Lower --batch_size (or the model sizes, '
          'the sequence lengths) and start a new --name, or free memory and '
          f'{_RESUME}.')


def message(error):
  """The one-line message of `error` (module doc), or None: not a failure
  of the machine (the caller re-raises it)."""
  if isinstance(error, MemoryError) or type(error).__name__ == (
      'ResourceExhaustedError') and 'OOM' in str(error):
    return out_of_memory_message(error)
  os_error = as_os_error(error)
  if os_error is not None:
    return os_error_message(os_error)
  return None


def physical_memory_bytes():
  """This machine's memory (bytes), or None if unknown."""
  try:
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError, AttributeError):
    return None


def batch_bytes(batch_size, max_time, step_floats, state_floats):
  """A lower bound of a training batch's memory, in bytes (float32).

  Args:
    batch_size: B.
    max_time: the longest sequence, T.
    step_floats: numbers per example and time step that the batch holds
      (inputs, targets, masks).
    state_floats: numbers of one example's state at one time step (the
      memory: blocks x N x W; the controller).
  """
  return 4 * batch_size * (max_time * step_floats + state_floats)


def check_batch_fits(flag, batch_size, needed, available=None):
  """Raises ValueError if `needed` bytes (`batch_bytes`, a lower bound)
  exceed this machine's memory: such a run could only end in a MemoryError
  (after its setup, ~a minute on; or the machine swapping)."""
  available = physical_memory_bytes() if available is None else available
  if available is None or needed <= available:
    return
  raise ValueError(
      f'--{flag}={batch_size} needs at least {needed / 2**30:,.1f} GiB for '
      f'one batch (its sequences and memory), more than this machine\'s '
      f'{available / 2**30:,.1f} GiB: lower --{flag}.')


def path_problem(path, flag, folder=False):
  """Why `path` (a file, or with `folder` a folder to make) cannot be
  written, as far as can be told before writing; None if it can.

  `flag` names the flag in the message, e.g. '--out'.
  """
  if os.path.exists(path) and os.path.isdir(path) != folder:
    return (f'{flag}={path} is a {"file" if folder else "folder"}; give '
            f'a {"folder" if folder else "file"} path.')
  ancestor = os.path.abspath(path if folder and os.path.isdir(path)
                             else os.path.dirname(os.path.abspath(path)))
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    return (f'{flag}={path} cannot be made: {ancestor} is a file, not a '
            f'folder. Give a path in a folder.')
  if not os.access(ancestor, os.W_OK | os.X_OK):
    return (f'{flag}={path} cannot be written: the folder {ancestor} is not '
            f'writable. Give a path in a writable folder.')
  return None
