"""Files written whole or not at all.

A run's records (config.json, flags.json, phases.json, metrics.csv after a
resume, eval results) and the bAbI cache must never be left half-written by
a kill: each is written to a temporary file in the same folder and renamed
over the target (atomic on POSIX), so a reader sees the old file or the new
one.
"""

import json
import os
import tempfile


def write_atomic(path, write, mode='w', newline=None):
  """Writes `path` through `write(file)`, atomically.

  Args:
    path: the file to (over)write; its folder must exist.
    write: fn(file object) writing the content.
    mode: 'w' (text) or 'wb' (binary).
    newline: passed to the text file (e.g. '' for csv); None in binary.

  Raises:
    OSError: the folder is not writable (the target is untouched and no
      temporary file is left behind).
  """
  folder = os.path.dirname(path) or '.'
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path),
                             suffix='.tmp')
  try:
    with os.fdopen(fd, mode, newline=newline) as f:
      write(f)
      f.flush()
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
