"""A finished or running run, read back: its settings, model and weights.

eval.py and visualize.py rebuild a run's model from what the run saved in
<info_dir>/<name>/ (`damrun.rundir`): config.json (the settings the
checkpoints depend on: model sizes, task), flags.json (every flag of the
training command, when the run has one) and checkpoint/ (the weights).
"""

import collections
import dataclasses
import json
import os

from dam import config as config_lib
from damrun import checkpoints
from damrun import presets
from damrun import rundir
from tasks import registry

SavedRun = collections.namedtuple('SavedRun', ('run_dir', 'config', 'flags'))
SavedRun.__doc__ = """A run directory and what it recorded.

Fields:
  run_dir: its `damrun.rundir.RunDirectory`.
  config: config.json, a dict (task, model sizes, task settings).
  flags: flags.json, a dict of every flag of the training command ({} for
    a run started before flags were recorded).
"""

# The defaults of the scripts that train the registered tasks
# (`tasks.registry`): what a run recorded no flag for.
SCRIPT_DEFAULTS = {'train.py': presets.TRAIN,
                   'run_nfar.py': presets.NTH_FARTHEST,
                   'run_convexhull.py': presets.CONVEX_HULL}


class SavedRunError(Exception):
  """The run cannot be read back (the message says why and what to do)."""


def run_task(config):
  """The task a run's config.json names: its 'task' (every training run
  since the registry) or, in older runs, its 'mode'; None if neither (a
  KV-MemNN run's 'mode' is 'joint' or 'single', not a task)."""
  if not isinstance(config, dict) or config.get('model') == 'KV-MemNN':
    return None
  name = config.get('task', config.get('mode'))
  return name if isinstance(name, str) and name else None


def run_kind(config):
  """What kind of run a config.json describes, for messages about a run
  that is not the kind a script reads: "a run of the task 'NthFarthest'
  (run_nfar.py)", "a KV-MemNN run (run_kvmemnn.py)", ..."""
  if isinstance(config, dict) and config.get('model') == 'KV-MemNN':
    return 'a KV-MemNN run (run_kvmemnn.py)'
  name = run_task(config)
  if name is None:
    return 'a run that names no task in its config.json'
  known = registry.canonical(name)
  if known is None:
    return (f'a run of the task {name!r}, which tasks/registry.py does not '
            f'list')
  return f'a run of the task {known!r} ({registry.entry(known).script})'


def open_run(name, info_dir='info', need_checkpoint=True):
  """The DAM or DNC run <info_dir>/<name>.

  Args:
    name: the run's --name.
    info_dir: the runs' root (--info_dir).
    need_checkpoint: refuse a run without an intact checkpoint.

  Returns:
    `SavedRun`.

  Raises:
    SavedRunError: no such run, a corrupt config.json, a KV-MemNN run (no
      DNC-style memory), or no checkpoint yet.
  """
  try:
    run_dir = rundir.RunDirectory(name, info_dir)
    config = run_dir.saved_config()
  except rundir.RunDirError as e:
    raise SavedRunError(str(e)) from None
  if config is None:
    scripts = registry.scripts()
    raise SavedRunError(
        f'No run at {run_dir.root} (no config.json): pass the --name (and '
        f'--info_dir) of a run trained with {", ".join(scripts[:-1])} or '
        f'{scripts[-1]}.')
  if config.get('model') == 'KV-MemNN':
    raise SavedRunError(
        f'{run_dir.root} is a KV-MemNN run (run_kvmemnn.py): it has no '
        f'DNC-style memory to draw. Its learning curves: python '
        f'visualize.py --curves {run_dir.root}')
  if registry.canonical(config.get('task')) is None:
    raise SavedRunError(
        f'{run_dir.config} names the task {config.get("task")!r}, not one '
        f'of {", ".join(registry.names())} (tasks/registry.py): is this a '
        f'run directory of this project?')
  if need_checkpoint and not checkpoints.intact_steps(run_dir.checkpoint):
    raise SavedRunError(
        f'The run {run_dir.root} has no checkpoint yet (checkpoints are '
        f'saved every --checkpoint_interval steps and at the end): let it '
        f'train longer, or pass the name of a run that has one.')
  flags = {}
  flags_path = os.path.join(run_dir.root, 'flags.json')
  if os.path.exists(flags_path):
    try:
      with open(flags_path) as f:
        flags = json.load(f)
    except (OSError, ValueError) as e:
      raise SavedRunError(f'Cannot read {flags_path}: {e}') from None
  return SavedRun(run_dir, config, flags)


def settings(run):
  """A run's settings: flag name -> value, its flags.json over its
  config.json over the defaults of the script that trains its task
  (`SCRIPT_DEFAULTS`), what `tasks.base.Task.reopen` reads."""
  script = registry.entry(run.config['task']).script
  return {**SCRIPT_DEFAULTS.get(script, {}), **run.config, **run.flags}


def task_class(run):
  """The task class of a run (`tasks.registry`)."""
  return registry.get(run.config['task'])


def model_settings(config, flags=None):
  """The `dam.config.ModelConfig` of a run: its config.json (the model it
  trained: memory, or dam without it; sizes) with its flags.json (keep_prob,
  clip_value: training-only settings, recorded for completeness; absent
  ones take their defaults). The dropout stream is left unseeded, as a
  reopened model is not trained (a checkpoint restores the stream).

  Raises:
    KeyError: config.json lacks a model setting.
    ValueError: it names an unknown memory.
  """
  merged = {**(flags or {}), **config, 'memory': config.get('memory')}
  model = config_lib.ModelConfig.from_settings(merged)
  return dataclasses.replace(model, seed=None)


def build_model(config, output_size, input_size=None, vocab_size=None,
                embedding_size=None, flags=None):
  """The model of a run's configuration, with its variables created.

  Args:
    config: config.json (dam or memory, hidden_size, memory_address_size,
      memory_length_size, num_read_heads, num_write_heads,
      num_memory_blocks, mlp_sizes).
    output_size: O.
    input_size: D of feature inputs [B, T, D] (not with `vocab_size`).
    vocab_size: V for token inputs [B, T] (bAbI), else None.
    embedding_size: the embedding width with `vocab_size`.
    flags: flags.json (keep_prob, clip_value: training-only settings,
      recorded for completeness), or None.

  Returns:
    A built `dam.model.SequenceModel`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import model as model_lib  # pylint: disable=g-import-not-at-top
  core = model_settings(config, flags).build_core(output_size)
  if vocab_size:
    model = model_lib.SequenceModel(core, vocab_size, embedding_size)
    model(tf.zeros([1, 1], tf.int32), tf.ones([1], tf.int32))
  else:
    model = model_lib.SequenceModel(core)
    model(tf.zeros([1, 1, input_size]), tf.ones([1], tf.int32))
  return model


def restore(model, directory, step=None, log=print):
  """Fills `model` (built) with the weights of a checkpoint in `directory`.

  Args:
    model: the run's model, its variables created.
    directory: the run's checkpoint folder.
    step: the checkpoint's step; None: the newest checkpoint that restores
      (corrupt newer ones are skipped, each named through `log`).

  Returns:
    The checkpoint prefix restored.

  Raises:
    damrun.checkpoints.CheckpointError: no such checkpoint, or it (with
      `step`; else every one) is unreadable.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  checkpoint = tf.train.Checkpoint(model=model)
  if step is not None:
    path = checkpoints.checkpoint_path(directory, step)
    return checkpoints.restore(checkpoint, path, partial=True)
  path = checkpoints.restore_newest(checkpoint, directory, partial=True,
                                    log=log)
  if path is None:
    raise checkpoints.CheckpointError(f'No checkpoint in {directory}.')
  return path
