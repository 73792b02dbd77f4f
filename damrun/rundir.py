"""The run directory <info_dir>/<name>/ and its config.json check.

Layout: checkpoint/ (the checkpoints), log/ (TensorBoard), config.json (the
settings a checkpoint depends on, checked on resume), metrics.csv (one row
per report), summary.json (the final numbers).
"""

import json
import os

from dam import fileio


def name_problem(name, root='info'):
  """Why `name` cannot name a run directory under `root`, or None.

  A run name must be non-empty, relative and stay inside `root` once
  joined ('a/b' is fine; '../x', '/tmp/x', 'a/../../x' are not); `root`
  must not be empty (that would write into the current folder).
  """
  if not root or not root.strip():
    return ('--info_dir must not be empty: it is the folder of the runs '
            '(default info); give a folder, e.g. --info_dir=. to write the '
            'run into the current one deliberately.')
  if not name or not name.strip():
    return (f'--name must not be empty: it names the run directory '
            f'{root}/<name>.')
  if os.path.isabs(name) or os.path.splitdrive(name)[0]:
    return (f'--name={name} is an absolute path: give a name relative to '
            f'--info_dir ({root}); to write elsewhere set --info_dir.')
  parts = os.path.normpath(name).split(os.sep)
  if '..' in name.replace('\\', '/').split('/') or parts[0] in ('..', '.'):
    return (f'--name={name} leaves --info_dir ({root}): use a plain name '
            f'(no ".." and not "."); to write elsewhere set --info_dir.')
  return None


class ConfigMismatchError(ValueError):
  """Flags that change the model differ from the checkpoint's."""


class RunDirError(ConfigMismatchError):
  """The run directory cannot be used: bad name, unwritable, corrupt
  config.json. A `ConfigMismatchError`, so that every caller handling that
  one reports this one as a message too."""


class RunDirectory:
  """Paths of one run: <root>/<name>/{checkpoint,log,config.json,...}."""

  def __init__(self, name, root='info'):
    problem = name_problem(name, root)
    if problem:
      raise RunDirError(problem)
    self.info_dir = root
    self.root = os.path.join(root, name)
    self.checkpoint = os.path.join(self.root, 'checkpoint')
    self.log = os.path.join(self.root, 'log')
    self.config = os.path.join(self.root, 'config.json')
    self.metrics = os.path.join(self.root, 'metrics.csv')
    self.summary = os.path.join(self.root, 'summary.json')

  def has_checkpoints(self):
    """True when checkpoint/ holds any file."""
    try:
      return any(os.scandir(self.checkpoint))
    except OSError:
      return False

  def saved_config(self):
    """The config.json of an existing run, else None.

    An empty or corrupt config.json (e.g. a write interrupted by a kill)
    counts as absent when the run has no checkpoint yet: nothing depends on
    it and the next start rewrites it.

    Raises:
      RunDirError: config.json is unreadable or corrupt and checkpoints
        depend on it.
    """
    try:
      with open(self.config) as f:
        text = f.read()
    except (FileNotFoundError, NotADirectoryError):
      return None
    except OSError as e:
      raise RunDirError(f'Cannot read {self.config}: {e}') from e
    try:
      config = json.loads(text)
      if not isinstance(config, dict):
        raise ValueError(f'a JSON {type(config).__name__}, not an object')
    except ValueError as e:
      if not self.has_checkpoints():
        return None
      what = 'empty' if not text.strip() else f'not valid JSON ({e})'
      raise RunDirError(
          f'{self.config} is {what}. It records the settings the checkpoints '
          f'in {self.checkpoint} were trained with: put back a copy of it '
          f'(e.g. the config.json of a run started with the same flags), or '
          f'pass a new --name to start a new run. The checkpoints are kept.'
      ) from None
    return config


def check_config(run_dir, config, log=print):
  """Whether config.json must be written (a new run, or one no checkpoint
  depends on); checks it on resume. Writes nothing.

  A config.json that no checkpoint depends on (a start that stopped before
  its first checkpoint) may differ: it is replaced, with a note through
  `log`.

  Args:
    run_dir: `RunDirectory`.
    config: dict of the settings a checkpoint depends on (model sizes,
      task, ...); JSON-serialisable.

  Raises:
    ConfigMismatchError: naming every differing setting.
    RunDirError: config.json is corrupt and checkpoints depend on it.
  """
  config = json.loads(json.dumps(config))
  saved = run_dir.saved_config()
  if saved is None:
    return True
  differences = [f'{key}: checkpoint has {saved.get(key)!r}, flags give '
                 f'{config.get(key)!r}'
                 for key in sorted(set(saved) | set(config))
                 if saved.get(key) != config.get(key)]
  if differences and not run_dir.has_checkpoints():
    log(f'Note: {run_dir.config} (no checkpoint depends on it) had other '
        f'settings: replaced.')
    return True
  if differences:
    raise ConfigMismatchError(
        f'The run in {run_dir.root} was started with other settings:\n  ' +
        '\n  '.join(differences) +
        '\nUse the same flags to resume it, or pass a new --name to start '
        'a new run.')
  return False


def write_config(run_dir, config):
  """Writes config.json (atomically: a kill leaves the old state or the
  whole file, never an empty one).

  Raises:
    RunDirError: the run directory cannot be created or written (e.g. an
      unwritable --info_dir).
  """
  try:
    os.makedirs(run_dir.root, exist_ok=True)
    fileio.write_json_atomic(run_dir.config, json.loads(json.dumps(config)),
                             indent=2, sort_keys=True)
  except OSError as e:
    raise RunDirError(
        f'Cannot write the run directory {run_dir.root} ({e.strerror or e}): '
        f'choose a writable --info_dir (now {run_dir.info_dir}) or fix its '
        f'permissions.') from e


def check_or_write_config(run_dir, config, log=print):
  """`check_config`, then `write_config` if it must be written.

  Raises:
    ConfigMismatchError, RunDirError: see `check_config` and
      `write_config`.
  """
  if check_config(run_dir, config, log):
    write_config(run_dir, config)
