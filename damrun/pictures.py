"""What visualize.py draws: a trained run's model on one example.

`load(run, ...)` rebuilds the task and the model of a saved run
(`damrun.saved`) and restores its weights; `example(...)` picks one
example of the run's task (a seeded one, or --example=i of the bAbI test
stories / the Convex Hull test files / the Nth Farthest test set);
`draw(...)` runs the model on it in evaluation mode, recording every step
(`dam.record`), and writes the pictures (`damrun.plots`):

  <prefix>_memory.png    per block: write weights, read weights (slots x
                         time), write and allocation gates, usage; the
                         DAM's attentive gate (blocks x heads over time);
                         the DNC's read modes and final link matrix
  <prefix>_sequence.png  inputs, targets and outputs over time (not bAbI)
  <prefix>_answers.png   bAbI: each question with the predicted and the
                         true answer word
  <prefix>_points.png    Nth Farthest / Convex Hull: the points and the
                         predicted answer
  <prefix>_record.npz    with `record=True`: the arrays behind them
                         (`RECORD_KEYS`)

Nothing here is particular to a task: the run's task class
(`tasks.registry`) rebuilds itself over its test data, picks the example,
activates the outputs and gives the arrays of its own picture
(`tasks.base.Task`: `reopen`, `example`, `activate`, `picture`,
`picture_arrays`); `FIGURES` maps a picture kind to its figure. A task that
declares no picture gets the memory and sequence pictures.

`learning_curves(run_dirs)` draws runs' metrics.csv (visualize.py --curves)
and `memory_picture(recorder, batch)` is the memory figure as an RGB array, which
the training loop logs to TensorBoard (`damrun.trainer`).
"""

import collections
import json
import os

import numpy as np

from dam import config as config_lib
from damrun import saved
from tasks import registry

# The arrays of <prefix>_record.npz (one example; T its length, K blocks, N
# slots, W word size, Wh write heads per block, R read heads, D input and
# O output channels). Keys the model does not have are absent.
RECORD_KEYS = {
    'inputs': '[T, D] float inputs, or [T] int token ids (bAbI)',
    'targets': '[T, O] float targets, or [T] int token ids (bAbI)',
    'answer_mask': '[T] 1 on the answer steps',
    'logits': '[T, O] the model\'s outputs y_t',
    'outputs': '[T, O] activated outputs (sigmoid bits; softmax classes)',
    'write_weights': '[T, K, Wh, N] ww_t',
    'read_weights': '[T, K, R, N] wr_t (DAM: gated g c)',
    'usage': '[T, K, N] u_t',
    'write_gate': '[T, K, Wh] g^w_t',
    'allocation_gate': '[T, K, Wh] g^a_t',
    'free_gates': '[T, K, R] f_t',
    'attentive_gate': '[T, K, R] g_t, DAM only (sums to 1 over K)',
    'read_mode': '[T, R, 1 + 2 Wh] pi_t, DNC only (backward x Wh, forward x '
                 'Wh, content)',
    'link': '[K, Wh, N, N] the final link matrix L, DNC only',
    'memory': '[K, N, W] the final memory M',
}

# The tasks' own pictures (`tasks.base.Task.picture`): kind -> (the file
# name's part, the `damrun.plots` function drawing it from the task's
# `picture_arrays`). A task that declares none gets the generic pictures:
# memory, and sequence (inputs, targets and outputs over time).
FIGURES = {
    'babi_answers': ('answers', 'babi_answers_figure'),
    'nth_farthest': ('points', 'nth_farthest_figure'),
    'convex_hull': ('points', 'convex_hull_figure'),
}

Example = collections.namedtuple('Example', ('batch', 'name', 'info'))
Example.__doc__ = """One example of a run's task.

Fields:
  batch: a `tasks.base.Batch` of ONE example (NumPy).
  name: its file-name part, e.g. 'seed0', 'test5-3', 'task1-0'.
  info: dict of what the task's picture needs (`tasks.base.Task.example`;
    bAbI: 'lexicon' id -> word, 'question_mask'; Convex Hull: 'points',
    'hull') and 'description', one line saying which example it is.
"""

Loaded = collections.namedtuple('Loaded', ('run', 'model', 'checkpoint',
                                           'step', 'task'))
Loaded.__doc__ = """A saved run with its model restored.

Fields:
  run: `damrun.saved.SavedRun`.
  model: the `dam.model.SequenceModel` with the checkpoint's weights.
  checkpoint: the checkpoint prefix restored.
  step: its training step.
  task: `TaskData`, what `example` draws from.
"""

TaskData = collections.namedtuple('TaskData', ('name', 'input_size',
                                               'output_size', 'vocab_size',
                                               'source'))
TaskData.__doc__ = """The task of a run, for drawing examples.

Fields:
  name: config.json's task, a `tasks.registry` name ('Copy', ..., 'bAbI').
  input_size, output_size: D and O (bAbI: V, V).
  vocab_size: V for bAbI, else None.
  source: the task reopened over the run's test data, one example per
    batch (`tasks.base.Task.reopen`): the generator of a generated task,
    or the task holding its fixed test set (Nth Farthest, Convex Hull,
    bAbI).
"""


class PictureError(saved.SavedRunError):
  """An example or its data cannot be had (the message says why)."""


def task_data(run, seed=0, data_dir=None):
  """The task of `run` (see `TaskData`): its registered class
  (`tasks.registry`) reopened over its test data
  (`tasks.base.Task.reopen`) with the run's settings
  (`damrun.saved.settings`).

  Args:
    run: `damrun.saved.SavedRun`.
    seed: seed of the generated example (generated tasks).
    data_dir: the data folder of a task read from files; None: the run's
      --data_dir.

  Raises:
    PictureError: the data cannot be found or do not match the run.
  """
  name = registry.canonical(run.config['task'])
  try:
    task = saved.task_class(run).reopen(saved.settings(run), seed, data_dir)
  except (OSError, ValueError) as e:
    raise PictureError(str(e)) from None
  return TaskData(name, task.input_size, task.output_size, task.vocab_size,
                  task)


def load(run, step=None, seed=0, data_dir=None, log=print, task=None):
  """The run's task and model with the weights of checkpoint `step`.

  `task`: the run's `TaskData` if already made (else `task_data`).

  Raises:
    PictureError / damrun.saved.SavedRunError: see `task_data`.
    damrun.checkpoints.CheckpointError: the checkpoint is missing or does
      not restore.
  """
  task = task or task_data(run, seed, data_dir)
  model = saved.build_model(run.config, task.output_size, task.input_size,
                            task.vocab_size, run.config.get('embedding_size'),
                            run.flags)
  path = saved.restore(model, run.run_dir.checkpoint, step, log=log)
  return Loaded(run, model, path, int(path.rsplit('-', 1)[-1]), task)


def example(task, index=None, seed=0, babi_task=None):
  """One example of `task` (a `TaskData`; `tasks.base.Task.example`).

  Args:
    task: the run's `TaskData`.
    index: --example: the index in the task's fixed test set (bAbI: the
      test stories of tasks 1..20 in order, or of `babi_task`; Convex Hull:
      the n = 5 file, then n = 10; Nth Farthest: its test set); None: a
      generated example or one picked with `seed`.
    seed: see `index`.
    babi_task: bAbI only: restrict `index` to this task's test stories.

  Returns:
    `Example`.

  Raises:
    PictureError: an index out of range, --example for a generated task,
      --babi_task for another task.
  """
  source = task.source
  if babi_task is not None and not source.has_subtasks:
    raise PictureError(f'--babi_task is for bAbI runs; this is a '
                       f'{task.name} run.')
  if index is not None and not source.fixed_examples:
    raise PictureError(
        f'--example picks an example of a fixed test set; {task.name} '
        f'examples are generated: pass --seed instead.')
  try:
    batch, name, info = source.example(index, seed, babi_task)
  except ValueError as e:
    raise PictureError(str(e)) from None
  info = dict(info)
  info.setdefault('description', f'{task.name} example of seed {seed}')
  return Example(batch, name, info)


class Recorder:
  """Runs a model on batches of one example, recorded (`dam.record`), in
  evaluation mode; compiled once (tf.function) and reused across lengths."""

  def __init__(self, model):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from dam import record as record_lib  # pylint: disable=g-import-not-at-top
    self._model = model
    self._record_of = record_lib.recording_of
    self._run = tf.function(record_lib.record_model, autograph=False,
                            reduce_retracing=True)

  def __call__(self, batch):
    """(logits [T, O] NumPy, the `dam.record.recording_of` dict) of the
    first example of `batch` (T its length)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    length = int(batch.seq_len[0])
    recording = self._run(self._model, tf.convert_to_tensor(batch.inputs[:1]),
                          tf.convert_to_tensor(batch.seq_len[:1], tf.int32))
    one = self._record_of(recording, 0, length)
    return one['outputs'], one


def activated(task, logits):
  """The outputs as a reader sees them (`tasks.base.Task.activate`):
  sigmoid bits (algorithmic tasks), softmax classes (bAbI), the
  reconstruction head as is with the softmax of the class head (Nth
  Farthest, Convex Hull)."""
  return task.source.activate(logits)


def draw(loaded, example_, out_dir, record=False):
  """Runs the model on the example and writes its pictures into `out_dir`.

  Args:
    loaded: `Loaded`.
    example_: `Example`.
    out_dir: the folder of the PNGs (created).
    record: also write <prefix>_record.npz (`RECORD_KEYS`).

  Returns:
    list of the written paths.
  """
  from damrun import plots  # pylint: disable=g-import-not-at-top
  task, batch = loaded.task, example_.batch
  logits, one = Recorder(loaded.model)(batch)
  length = int(batch.seq_len[0])
  model_name = config_lib.label(loaded.run.config)
  title = (f'{model_name}, {os.path.basename(loaded.run.run_dir.root)}, '
           f'step {loaded.step}: {example_.info["description"]}')
  prefix = os.path.join(out_dir, f'step{loaded.step}_{example_.name}')
  source, figures = task.source, {}
  outputs = activated(task, logits)
  if source.sequence_picture:
    figures['sequence'] = plots.sequence_figure(
        batch.inputs[0, :length], batch.targets[0, :length], outputs,
        answer_mask=batch.answer_mask[0, :length], title=title)
  picture_args = dict(source.picture_arrays(batch, example_.info, logits))
  memory_args = picture_args.pop('memory', {})
  if source.picture is not None:
    part, function = FIGURES[source.picture]
    figures[part] = getattr(plots, function)(**picture_args, title=title)
  figures['memory'] = plots.memory_figure(one, title=title, **memory_args)
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for part in ('memory', 'sequence',
               *dict.fromkeys(part for part, _ in FIGURES.values())):
    if part in figures:
      path = f'{prefix}_{part}.png'
      plots.save_png(figures[part], path)
      written.append(path)
  if record:
    arrays = dict(inputs=batch.inputs[0, :length],
                  targets=batch.targets[0, :length],
                  answer_mask=batch.answer_mask[0, :length],
                  logits=logits, outputs=outputs)
    arrays.update({k: v for k, v in one.items()  # its 'outputs' are logits
                   if v is not None and k in RECORD_KEYS and k != 'outputs'})
    path = f'{prefix}_record.npz'
    np.savez_compressed(path, **arrays)
    written.append(path)
  return written


def memory_picture(recorder, batch, title=''):
  """The memory figure of the first example of `batch` as an RGB array
  [1, H, W, 3] uint8 (for `tf.summary.image`); `recorder` a `Recorder`."""
  from damrun import plots  # pylint: disable=g-import-not-at-top
  _, one = recorder(batch)
  return plots.figure_to_rgb(plots.memory_figure(one, title=title))[None]


def run_label(run_dir):
  """The legend entry of a run: its name, model and main settings, e.g.
  'copy_dam (DAM K=2, p_re 0.1, lr 0.0001)', from config.json and
  flags.json (the name alone when they are missing)."""
  name = os.path.basename(os.path.normpath(run_dir))
  records = {}
  for record in ('config', 'flags'):
    try:
      with open(os.path.join(run_dir, f'{record}.json')) as f:
        records[record] = json.load(f)
    except (OSError, ValueError):
      records[record] = {}
  config, flags = records['config'], records['flags']
  if not isinstance(config, dict) or not isinstance(flags, dict):
    return name
  if config.get('model') == 'KV-MemNN':
    return f'{name} (KV-MemNN)'
  if 'dam' not in config and 'memory' not in config:
    return name
  parts = [config_lib.label(config, blocks=True)]
  for flag, short in (('p_re', 'p_re'), ('learning_rate', 'lr')):
    if isinstance(flags.get(flag), (int, float)):
      parts.append(f'{short} {flags[flag]:g}')
  return f'{name} ({", ".join(parts)})'


def learning_curves(run_dirs, info_dir='info', smooth=0., log_scale=False,
                    metrics=None):
  """The learning-curve figure of runs (`damrun.plots.curves_figure`).

  Args:
    run_dirs: run directories (e.g. info/copy_first), or names under
      `info_dir`.
    info_dir: where bare names are looked up.
    smooth, log_scale, metrics: see `damrun.plots.curves_figure`.

  Returns:
    The matplotlib figure.

  Raises:
    PictureError: a run without a readable metrics.csv, or nothing to draw.
  """
  from damrun import plots  # pylint: disable=g-import-not-at-top
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  runs = []
  for run_dir in run_dirs:
    if not os.path.isdir(run_dir) and os.path.isdir(
        os.path.join(info_dir, run_dir)):
      run_dir = os.path.join(info_dir, run_dir)  # a bare --name
    path = os.path.join(run_dir, 'metrics.csv')
    if not os.path.isfile(path):
      raise PictureError(
          f'No metrics.csv in {run_dir}: give the directories of runs that '
          f'reported at least once (e.g. info/copy_first).')
    try:
      columns = reporting.read_metrics(path)
    except (OSError, ValueError) as e:
      raise PictureError(f'Cannot read {path}: {e}') from None
    runs.append((run_label(run_dir), columns))
  try:
    return plots.curves_figure(runs, smooth=smooth, log_scale=log_scale,
                               metrics=metrics)
  except ValueError as e:
    raise PictureError(str(e)) from None
