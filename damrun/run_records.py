"""A run folder's records, guarded: one process at a time, and checked
before a start writes anything.

`hold(run_dir)` takes the run's lock (an OS lock, fcntl.flock, on
<run>/.lock) for as long as a process trains in it: a second process
training the same --name is refused at once, and the lock goes with the
process that held it (a kill -9 leaves no stale lock). `check(run_dir)`
refuses a start whose records are damaged (flags.json, phases.json,
metrics.csv, the checkpoint/ folder) or whose checkpoint/ folder is gone
while its records remain, each with one message naming the file, what is
wrong and the fix, before anything is written.

A start runs: `hold`, `check`, the checks of config.json
(`damrun.rundir.check_config`) and of the flags
(`damrun.resume_flags.check_changes`), and only when all pass, the writes.
"""

import contextlib
import csv
import fcntl
import json
import os
import socket

from damrun import rundir

LOCK_NAME = '.lock'

# The records of a run that trained (or started to): with any of them
# there, checkpoint/ (made at the start, `rundir.write_config`) must be too.
TRAINING_RECORDS = ('flags.json', 'history.jsonl', 'metrics.csv',
                    'summary.json', 'phases.json')


class RunLockedError(rundir.RunDirError):
  """Another process holds the run's lock; nothing was changed."""


def lock_path(run_dir):
  """<run>/.lock, the file the lock is taken on."""
  return os.path.join(run_dir.root, LOCK_NAME)


def _holder(path):
  """'pid 123 on host' as the holder wrote it in the lock file, or ''."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      return f.read().strip()
  except OSError:
    return ''


@contextlib.contextmanager
def hold(run_dir):
  """Holds the lock of `run_dir` (creating its folder) while in the block.

  Raises:
    RunLockedError: another process holds it (naming it); nothing was
      written.
    rundir.RunDirError: the folder cannot be created.
  """
  path = lock_path(run_dir)
  try:
    os.makedirs(run_dir.root, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise rundir.RunDirError(
        f'Cannot write the run directory {run_dir.root} ({e.strerror or e}): '
        f'choose a writable --info_dir (now {run_dir.info_dir}) or fix its '
        f'permissions.') from e
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _holder(path)
      raise RunLockedError(
          f'Another process ({holder or "see " + path}) is training the run '
          f'in {run_dir.root}: two processes would write its records at '
          f'once. Wait for it to end (or stop it), or pass a new --name; '
          f'nothing was changed.') from None
    os.ftruncate(fd, 0)
    os.write(fd, f'pid {os.getpid()} on {socket.gethostname()}\n'.encode())
    yield path
  finally:
    os.close(fd)  # releases the lock


def begin(run_dir, config, new_config):
  """The first writes of a start that passed every check: config.json (if
  `new_config`, see `rundir.check_config`) and the checkpoint/ folder.

  checkpoint/ is made at the start of a run, so that a run whose records
  are there and whose checkpoint/ is not has lost it (`check`).

  Raises:
    rundir.RunDirError: the run directory cannot be written.
  """
  if new_config:
    rundir.write_config(run_dir, config)
  try:
    os.makedirs(run_dir.checkpoint, exist_ok=True)
  except OSError as e:
    raise rundir.RunDirError(
        f'Cannot write the run directory {run_dir.root} ({e.strerror or e}): '
        f'choose a writable --info_dir (now {run_dir.info_dir}) or fix its '
        f'permissions.') from e


def _problem(path, what, fix):
  return rundir.RunDirError(f'{path} {what}. {fix}; nothing was changed.')


def _check_checkpoint_folder(run_dir):
  """D2: checkpoint/ a file, or gone while the run's records remain."""
  if os.path.lexists(run_dir.checkpoint) and not os.path.isdir(
      run_dir.checkpoint):
    raise _problem(
        run_dir.checkpoint, 'is a file, not the folder of the run\'s '
        'checkpoints', 'Move it away (and put the checkpoint folder back if '
        'you have it), or pass a new --name to start a new run')
  if os.path.isdir(run_dir.checkpoint):
    return
  records = [name for name in TRAINING_RECORDS
             if os.path.exists(os.path.join(run_dir.root, name))]
  if records:
    raise _problem(
        run_dir.checkpoint, f'is missing, but the run has records of its '
        f'training ({", ".join(records)}): starting again from step 0 would '
        f'overwrite them', 'Put the checkpoint folder back to resume, or to '
        f'start over delete {run_dir.root} (or pass a new --name)')


def read_json_record(path, kind, what):
  """The JSON value of the run record `path`, or None if absent.

  Raises:
    rundir.RunDirError: it is not UTF-8 JSON of type `kind` (list or
      dict); `what` says what the file holds, for the message.
  """
  try:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  except FileNotFoundError:
    return None
  except (OSError, UnicodeDecodeError) as e:
    raise _problem(path, f'cannot be read ({e})',
                   f'It holds {what}: put back a copy of it') from None
  try:
    value = json.loads(text)
  except ValueError as e:
    state = 'empty' if not text.strip() else f'not valid JSON ({e})'
    raise _problem(path, f'is {state}',
                   f'It holds {what}: put back a copy of it') from None
  if not isinstance(value, kind):
    raise _problem(
        path, f'holds a JSON {type(value).__name__}, not a JSON '
        f'{"list" if kind is list else "object"}',
        f'It holds {what}: put back a copy of it')
  return value


def _check_metrics(run_dir):
  """D10: metrics.csv must be UTF-8 text with a 'step' column."""
  path = run_dir.metrics
  fix = (f'Move it away (e.g. rename it metrics.csv.damaged): the run then '
         f'writes a new one from the step it resumes at')
  try:
    with open(path, newline='', encoding='utf-8') as f:
      header = next(csv.reader(f), None)
      for _ in f:
        pass
  except FileNotFoundError:
    return
  except UnicodeDecodeError as e:
    raise _problem(path, f'is not text (byte {e.start} is not UTF-8): it '
                   f'is damaged', fix) from None
  except (OSError, csv.Error) as e:
    raise _problem(path, f'cannot be read ({e})', fix) from None
  if header is not None and 'step' not in header:
    raise _problem(path, f'has no "step" column (header {header[:5]}): it '
                   f'is not the metrics of a run', fix)


def check(run_dir):
  """Refuses a start on damaged or orphaned records (see module doc).

  flags.json and phases.json are checked here only when checkpoints depend
  on them (a run without one may start over with other flags: its
  flags.json is replaced; `damrun.resume_flags.check_changes`).

  Raises:
    rundir.RunDirError: naming the file, the problem and the fix.
  """
  if not os.path.isdir(run_dir.root):
    return
  _check_checkpoint_folder(run_dir)
  _check_metrics(run_dir)
  if run_dir.has_checkpoints():
    read_json_record(os.path.join(run_dir.root, 'flags.json'), dict,
                     'the flags the run was started with (the first line of '
                     'history.jsonl has them too)')
    read_phases(os.path.join(run_dir.root, 'phases.json'))


PHASE_KEYS = ('learning_rate', 'end_step', 'checkpoint')


def read_phases(path):
  """The finished phases listed in phases.json ([] if absent).

  Raises:
    rundir.RunDirError: it is damaged (see `read_json_record`) or an entry
      lacks learning_rate, end_step or checkpoint.
  """
  what = ('the finished learning-rate phases of the run (their last '
          'checkpoints are kept)')
  phases = read_json_record(path, list, what)
  for entry in phases or ():
    if not isinstance(entry, dict) or any(k not in entry for k in PHASE_KEYS):
      raise _problem(path, f'has an entry without {", ".join(PHASE_KEYS)}: '
                     f'{entry!r}', f'It holds {what}: put back a copy of it')
  return phases or []
