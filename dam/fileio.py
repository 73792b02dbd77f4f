"""Files written whole or not at all, and append-only files kept whole.

A run's records (config.json, flags.json, phases.json, summary.json,
metrics.csv when a row adds a column, eval results) and the bAbI cache must
never be left half-written by a kill or a full disk: each is written to a
temporary file in the same folder and renamed over the target (atomic on
POSIX), so a reader sees the old file or the new one. Append-only files
(metrics.csv rows, history.jsonl, the KV-MemNN single-task scores) are
first cut back to their last whole line (a kill during an append leaves a
partial one), so that the new line never merges with it.

`fault_hook(path)` is called just before each of these writes changes its
target: the seam through which the tests inject a full disk or a kill. By
default it reads the environment variable DAM_INJECT_FAULT
('<file name>:enospc' raises OSError(ENOSPC), '<file name>:kill' ends the
process at once as kill -9 would), so that a drill can inject them into a
script run as a subprocess; unset, it does nothing.
"""

import errno
import json
import os
import tempfile

FAULT_VARIABLE = 'DAM_INJECT_FAULT'


def env_fault(path):
  """The default `fault_hook`: the fault DAM_INJECT_FAULT names for files
  called like `path`, if any (see module docstring)."""
  spec = os.environ.get(FAULT_VARIABLE)
  if not spec:
    return
  name, _, action = spec.rpartition(':')
  if name != os.path.basename(path):
    return
  if action == 'kill':
    os._exit(137)  # pylint: disable=protected-access
  if action == 'enospc':
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


fault_hook = env_fault


def write_atomic(path, write, mode='w', newline=None):
  """Writes `path` through `write(file)`, atomically.

  Args:
    path: the file to (over)write; its folder must exist.
    write: fn(file object) writing the content.
    mode: 'w' (text) or 'wb' (binary).
    newline: passed to the text file (e.g. '' for csv); None in binary.

  Raises:
    OSError: the folder is not writable or the disk is full (the target is
      untouched and no temporary file is left behind).
  """
  folder = os.path.dirname(path) or '.'
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path),
                             suffix='.tmp')
  try:
    encoding = None if 'b' in mode else 'utf-8'
    with os.fdopen(fd, mode, newline=newline, encoding=encoding) as f:
      write(f)
      f.flush()
      fault_hook(path)
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json_atomic(path, value, **dump_options):
  """`write_atomic` of `json.dump(value, file, **dump_options)`."""
  write_atomic(path, lambda f: json.dump(value, f, **dump_options))


def repair_tail(path, chunk=4096):
  """Cuts the file at `path` back to its last whole line ('\\n'-ended).

  A process killed (or a disk filled) during an append leaves a partial
  last line; the next append would glue its line to it. A missing or
  empty file, one ending in a newline, or one that is not a regular file
  (a device, e.g. /dev/full) is left alone.

  Returns:
    The number of bytes cut off.
  """
  if not os.path.isfile(path):
    return 0
  f = open(path, 'r+b')
  with f:
    size = f.seek(0, os.SEEK_END)
    end = size
    while end > 0:
      start = max(0, end - chunk)
      f.seek(start)
      block = f.read(end - start)
      if end == size and block.endswith(b'\n'):
        return 0
      newline = block.rfind(b'\n')
      if newline >= 0:
        end = start + newline + 1
        break
      end = start
    f.truncate(end)
    f.flush()
    os.fsync(f.fileno())
    return size - end


def append_line(path, text):
  """Appends `text` (one or more whole lines, '\\n'-ended) to `path`.

  The file is cut back to its last whole line first (`repair_tail`) and
  synced after, so that a kill or a full disk loses at most this line.
  """
  if not text.endswith('\n'):
    raise ValueError(f'append_line needs whole lines, got {text[-20:]!r}.')
  repair_tail(path)
  fault_hook(path)
  with open(path, 'a', encoding='utf-8', newline='') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


def last_line(path):
  """The last whole line of `path` (without its newline), or None (also
  for what is not a regular file)."""
  if not os.path.isfile(path):
    return None
  with open(path, 'rb') as f:
    lines = f.read().split(b'\n')
  whole = lines[:-1]  # the piece after the last '\n' is not a whole line
  return whole[-1].decode('utf-8', errors='replace') if whole else None
