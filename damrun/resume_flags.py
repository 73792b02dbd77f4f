"""The scripts' flags recorded in a run, and which of them a resume may change.

A training script's flags go to <run>/flags.json at the start. On resume a
flag that differs from the recorded value is refused if it would alter the
maths or the data stream; the others (run length, reporting, where files
are) are accepted, and each start of the run appends a line with its step
and the accepted changes to <run>/history.jsonl. --memory and --dam may
change together when they name the same memory (--dam=False, then
--memory=dnc).
"""

import json
import os
import time

from dam import config as config_lib
from dam import fileio
from damrun import run_records
from damrun import rundir


# Flags a resumed run may change (run length, reporting, where files are);
# any other recorded flag that differs refuses the resume. The learning
# rate may change only in phased runs (bAbI fine-tuning).
CHANGEABLE_FLAGS = frozenset({
    'training_iteration', 'epoch', 'report_interval', 'checkpoint_interval',
    'checkpoint_minutes', 'test_interval', 'row_levels',
    'keep_checkpoints', 'eval_batches', 'eval_interval', 'info_dir', 'name',
    'data_dir', 'cache_dir', 'download', 'jit_compile', 'generate_data',
    'return_to_learning_rate', 'test_examples', 'eval_batch_size',
    'memory_pictures', 'strategy', 'cpu_devices', 'tf_logs',
    # run_kvmemnn.py's (its joint scores file is named by the start time)
    'epochs', 'evaluation_interval', 'output_file', 'param_output_file'})


def flag_record(flag_values, modules):
  """{name: value} of the flags the `modules` define (module names, e.g.
  sys.argv[0] and 'damrun.cli'): the 'flags' entry of a Trainer's config."""
  by_module = flag_values.flags_by_module_dict()
  return {flag.name: flag.value for module in modules
          for flag in by_module.get(module, ())}


def _memory(flag_values):
  """The memory that flags {name: value} name (--memory, else --dam), or
  None (neither flag)."""
  try:
    return config_lib.memory_of(flag_values)
  except KeyError:
    return None


def flags_path(run_root):
  """<run>/flags.json: the flags the run was started with."""
  return os.path.join(run_root, 'flags.json')


def history_path(run_root):
  """<run>/history.jsonl: one line per start of the run with its step and
  the flag changes accepted then."""
  return os.path.join(run_root, 'history.jsonl')


def check_changes(run_root, flags, phased, finished, restored=True,
                  log=print):
  """The accepted flag changes {name: [old, new]}; raises on others.

  A run that resumes no checkpoint (`restored` False: a start that stopped
  before its first one) may start over with any flags: nothing depends on
  its flags.json, which `record` replaces (with a note through `log`).

  Args:
    run_root: the run directory.
    flags: this start's flags ({name: value}), or None (none recorded).
    phased: the run trains in learning-rate phases (the learning rate may
      change).
    finished: the restored step is the run's last (a finished run is only
      evaluated again, so --reproduce_quirks, which switches the
      evaluation mode of Nth Farthest / Convex Hull, may change).
    restored: a checkpoint was restored.
    log: where the note on a replaced flags.json goes.

  Raises:
    damrun.rundir.ConfigMismatchError: naming every refused change.
    damrun.rundir.RunDirError: flags.json is damaged (not a JSON object)
      and a checkpoint depends on it.
  """
  path = flags_path(run_root)
  if flags is None or not os.path.exists(path):
    return {}
  if not restored:
    if _read_or_none(path) != json.loads(json.dumps(flags)):
      log(f'Note: {path} (no checkpoint depends on it) had other flags: '
          f'replaced.')
    return {}
  saved = run_records.read_json_record(
      path, dict, 'the flags the run was started with (the first line of '
      'history.jsonl has them too)')
  new = json.loads(json.dumps(flags))
  changes = {name: [saved[name], new[name]] for name in sorted(new)
             if name in saved and saved[name] != new[name]}
  allowed = set(CHANGEABLE_FLAGS)
  if phased:
    allowed.add('learning_rate')
  elif finished:
    allowed.add('reproduce_quirks')
  memory = _memory(saved)
  if memory is not None and memory == _memory(new):
    allowed.update(('memory', 'dam'))  # one memory spelled two ways
  refused = [f'--{name}: the run has {old!r}, the flags give {value!r}'
             for name, (old, value) in changes.items()
             if name not in allowed]
  if refused:
    raise rundir.ConfigMismatchError(
        f'The run in {run_root} was trained with other flags '
        f'(recorded in {path}), which change its maths or its '
        f'data stream:\n  ' + '\n  '.join(refused) +
        '\nResume it with the recorded values, or pass a new --name to '
        'start a new run; nothing was changed.')
  return changes


def _read_or_none(path):
  """The JSON in `path`, or None if it cannot be read."""
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def record(run_root, flags, step, restored_from, changes, log):
  """Writes flags.json and the history line of this start.

  Args:
    run_root: the run directory.
    flags: this start's flags, or None (nothing is written).
    step: the step the run starts from.
    restored_from: the checkpoint resumed from, or None (a new run).
    changes: the accepted changes (`check_changes`), each logged.
    log: where the lines on accepted changes go.
  """
  if flags is None:
    return
  path = flags_path(run_root)
  history = history_path(run_root)
  entry = dict(time=time.strftime('%Y-%m-%dT%H:%M:%S%z'), step=step,
               event='resume' if restored_from else 'start',
               checkpoint=restored_from, changes=changes)
  if not restored_from:
    entry['flags'] = flags
  for name, (old, new) in changes.items():
    log(f'Flag change accepted at step {entry["step"]}: --{name} '
        f'{old!r} -> {new!r} (logged in {history}).')
  fileio.write_json_atomic(path, flags, indent=2, sort_keys=True)
  fileio.append_line(history, json.dumps(entry, sort_keys=True) + '\n')
