"""The run directory <info_dir>/<name>/ and its config.json check.

Layout: checkpoint/ (the checkpoints), log/ (TensorBoard), config.json (the
settings a checkpoint depends on, checked on resume), metrics.csv (one row
per report), summary.json (the final numbers).
"""

import json
import os


class RunDirectory:
  """Paths of one run: <root>/<name>/{checkpoint,log,config.json,...}."""

  def __init__(self, name, root='info'):
    if not name:
      raise ValueError('--name must not be empty: it names the run directory '
                       f'{root}/<name>.')
    self.root = os.path.join(root, name)
    self.checkpoint = os.path.join(self.root, 'checkpoint')
    self.log = os.path.join(self.root, 'log')
    self.config = os.path.join(self.root, 'config.json')
    self.metrics = os.path.join(self.root, 'metrics.csv')
    self.summary = os.path.join(self.root, 'summary.json')

  def saved_config(self):
    """The config.json of an existing run, else None."""
    if not os.path.exists(self.config):
      return None
    with open(self.config) as f:
      return json.load(f)


class ConfigMismatchError(ValueError):
  """Flags that change the model differ from the checkpoint's."""


def check_or_write_config(run_dir, config):
  """Writes config.json on a new run; on resume, checks it is unchanged.

  Args:
    run_dir: `RunDirectory`.
    config: dict of the settings a checkpoint depends on (model sizes,
      task, ...); JSON-serialisable.

  Raises:
    ConfigMismatchError: naming every differing setting.
  """
  config = json.loads(json.dumps(config))
  saved = run_dir.saved_config()
  if saved is not None:
    differences = [f'{key}: checkpoint has {saved.get(key)!r}, flags give '
                   f'{config.get(key)!r}'
                   for key in sorted(set(saved) | set(config))
                   if saved.get(key) != config.get(key)]
    if differences:
      raise ConfigMismatchError(
          f'The run in {run_dir.root} was started with other settings:\n  ' +
          '\n  '.join(differences) +
          '\nUse the same flags to resume it, or pass a new --name to start '
          'a new run.')
    return
  os.makedirs(run_dir.root, exist_ok=True)
  with open(run_dir.config, 'w') as f:
    json.dump(config, f, indent=2, sort_keys=True)
