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

`learning_curves(run_dirs)` draws runs' metrics.csv (visualize.py --curves)
and `memory_picture(recorder, batch)` is the memory figure as an RGB array, which
the training loop logs to TensorBoard (`damrun.trainer`).
"""

import collections
import json
import os

import numpy as np

from damrun import presets
from damrun import saved

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

Example = collections.namedtuple('Example', ('batch', 'name', 'info'))
Example.__doc__ = """One example of a run's task.

Fields:
  batch: a `tasks.base.Batch` of ONE example (NumPy).
  name: its file-name part, e.g. 'seed0', 'test5-3', 'task1-0'.
  info: dict of what the task's picture needs (bAbI: 'lexicon' id -> word,
    'question_mask'; Nth Farthest / Convex Hull: see `_points_figure`) and
    'description', one line saying which example it is.
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
  name: config.json's task ('Copy', ..., 'bAbI').
  input_size, output_size: D and O (bAbI: V, V).
  vocab_size: V for bAbI, else None.
  source: the generator (algorithmic tasks), the fixed test set (Nth
    Farthest), {n: `tasks.convex_hull.Examples`} (Convex Hull) or the
    `tasks.babi.BabiData` (bAbI).
"""


class PictureError(saved.SavedRunError):
  """An example or its data cannot be had (the message says why)."""


def _flag(run, name, default):
  return run.flags.get(name, run.config.get(name, default))


def _algorithmic_task(run, seed):
  from tasks import TASKS  # pylint: disable=g-import-not-at-top
  config, mode = run.config, run.config['task']
  kwargs = dict(batch_size=1, bit_w=config['bit_w'], p_re=0., seed=seed)
  defaults = presets.TRAIN
  lengths = dict(min_length=_flag(run, 'min_length', defaults['min_length']),
                 max_length=_flag(run, 'max_length', defaults['max_length']))
  if mode == 'AssociativeRecall':
    kwargs['item_bit'] = config['item_bit']
  elif mode == 'RepresentationRecall':
    kwargs.update(N=config['N'], num_bit=config['num_bit'])
  return TASKS[mode](**kwargs, **lengths)


def task_data(run, seed=0, data_dir=None):
  """The task of `run` (see `TaskData`).

  Args:
    run: `damrun.saved.SavedRun`.
    seed: seed of the generated example (algorithmic tasks).
    data_dir: bAbI / Convex Hull data folder; None: the run's --data_dir.

  Raises:
    PictureError: the data cannot be found or do not match the run.
  """
  name = run.config['task']
  if name in ('Copy', 'AssociativeRecall', 'RepresentationRecall'):
    task = _algorithmic_task(run, seed)
    return TaskData(name, task.input_size, task.output_size, None, task)
  if name == 'NthFarthest':
    from tasks import nth_farthest  # pylint: disable=g-import-not-at-top
    num_vectors, vector_size = run.config['num_vectors'], run.config[
        'vector_size']
    test = nth_farthest.test_set(_flag(run, 'test_examples', 3200),
                                 num_vectors, vector_size)
    input_size = vector_size + 3 * num_vectors
    return TaskData(name, input_size, input_size + num_vectors, None, test)
  data_dir = data_dir or _flag(run, 'data_dir', None)
  if name == 'ConvexHull':
    from tasks import convex_hull  # pylint: disable=g-import-not-at-top
    tests = {}
    for n, file_name in sorted(convex_hull.TEST_FILES.items()):
      path = os.path.join(data_dir or presets.CONVEX_HULL['data_dir'], file_name)
      if not os.path.isfile(path):
        raise PictureError(
            f'The Convex Hull test file {path} is missing: pass '
            f'--data_dir=<the folder the run trained from> (it holds '
            f'{" and ".join(convex_hull.TEST_FILES.values())}).')
      try:
        groups = convex_hull.read_file(path)
      except ValueError as e:
        raise PictureError(str(e)) from None
      tests[n] = groups[n]
    num_labels = run.config['max_n'] + 1
    return TaskData(name, num_labels + 2, 2 * num_labels + 2, None, tests)
  from tasks import babi  # pylint: disable=g-import-not-at-top
  try:
    data = babi.load(data_dir or presets.TRAIN['data_dir'], run.config['babi_set'],
                     length_limit=run.config.get('length_limit', 800),
                     cache_dir=_flag(run, 'cache_dir', None))
  except babi.BabiDataError as e:
    raise PictureError(f'{e}\n(pass --data_dir=<the bAbI data the run '
                       f'trained on>)') from None
  if babi.lexicon_fingerprint(data.lexicon) != run.config.get('lexicon_sha'):
    raise PictureError(
        f'The bAbI data in {data_dir} give another lexicon than the one '
        f'{run.run_dir.root} was trained with: pass the --data_dir of its '
        f'training data.')
  return TaskData(name, data.vocab_size, data.vocab_size, data.vocab_size,
                  data)


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


def _pick(index, count, what):
  if not 0 <= index < count:
    raise PictureError(f'--example={index} is out of range: {what} has '
                       f'{count} examples (0..{count - 1}).')
  return index


def example(task, index=None, seed=0, babi_task=None):
  """One example of `task` (a `TaskData`).

  Args:
    task: the run's `TaskData`.
    index: --example: the index in the bAbI test stories (tasks 1..20 in
      order, or of `babi_task`), the Convex Hull test files (the n = 5 file,
      then n = 10) or the Nth Farthest test set; None: a generated example
      (algorithmic tasks) or one picked with `seed`.
    seed: see `index`.
    babi_task: bAbI only: restrict `index` to this task's test stories.

  Returns:
    `Example`.

  Raises:
    PictureError: an index out of range, --example for a generated task,
      --babi_task for another task.
  """
  from tasks import base  # pylint: disable=g-import-not-at-top
  if babi_task is not None and task.name != 'bAbI':
    raise PictureError(f'--babi_task is for bAbI runs; this is a '
                       f'{task.name} run.')
  if task.name in ('Copy', 'AssociativeRecall', 'RepresentationRecall'):
    if index is not None:
      raise PictureError(
          f'--example picks an example of a fixed test set (bAbI, Convex '
          f'Hull, Nth Farthest); {task.name} examples are generated: pass '
          f'--seed instead.')
    return Example(task.source.next_batch(), f'seed{seed}',
                   dict(description=f'{task.name} example of seed {seed}'))
  rng = np.random.default_rng(seed)
  if task.name == 'NthFarthest':
    count = len(task.source.seq_len)
    i = (_pick(index, count, 'the Nth Farthest test set') if index is not None
         else int(rng.integers(count)))
    batch = base.Batch(*(a[i:i + 1] for a in task.source))
    return Example(batch, f'test-{i}', dict(
        description=f'Nth Farthest test example {i}'))
  if task.name == 'ConvexHull':
    from tasks import convex_hull  # pylint: disable=g-import-not-at-top
    listed = [(n, i) for n, group in sorted(task.source.items())
              for i in range(len(group.points))]
    j = (_pick(index, len(listed), 'the Convex Hull test files (n = 5, then '
               'n = 10)') if index is not None
         else int(rng.integers(len(listed))))
    n, i = listed[j]
    group = task.source[n]
    one = convex_hull.Examples(group.points[i:i + 1], group.hulls[i:i + 1])
    max_n = (task.output_size - 2) // 2 - 1
    batch = convex_hull.encode_test(one, 1, max_n=max_n)[0]
    return Example(batch, f'test{n}-{i}', dict(
        description=f'Convex Hull test example {i} of n = {n}',
        points=group.points[i], hull=group.hulls[i]))
  from tasks import babi  # pylint: disable=g-import-not-at-top
  data = task.source
  if babi_task is not None and babi_task not in data.test:
    raise PictureError(f'--babi_task={babi_task}: the test data have tasks '
                       f'{sorted(data.test)}.')
  listed = [(t, i) for t in sorted(data.test)
            if babi_task is None or t == babi_task
            for i in range(len(data.test[t].stories))]
  what = ('the bAbI test stories' if babi_task is None else
          f'bAbI task {babi_task}\'s test stories')
  j = (_pick(index, len(listed), what) if index is not None
       else int(rng.integers(len(listed))))
  t, i = listed[j]
  batch = babi.test_batches([data.test[t].stories[i]], 1)[0]
  words = {i: w for w, i in data.lexicon.items()}
  return Example(batch, f'task{t}-{i}', dict(
      description=f'bAbI task {t} ({data.task_names[t]}) test story {i}',
      lexicon=words, question_mask=np.asarray(
          data.test[t].stories[i].question_mask, bool)))


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


def _sigmoid(x):
  return 1. / (1. + np.exp(-x))


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _runs(mask):
  """(start, end) of the runs of True in a bool [T]."""
  edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _babi_pictures(plots, example_, logits, title):
  """bAbI: the memory figure's time labels (the story's tokens, '-> word'
  at each answer step with the predicted word), question spans, answer
  marks, and the answers figure."""
  batch, info = example_.batch, example_.info
  length = int(batch.seq_len[0])
  tokens = batch.inputs[0, :length]
  words = [info['lexicon'].get(int(i), '?') for i in tokens]
  answers = np.flatnonzero(tokens == 3)  # tasks.babi.ANSWER
  spans = _runs(info['question_mask'][:length])
  predicted = logits.argmax(-1)
  questions = []
  for start, end in spans:
    after = answers[answers >= end]
    next_question = [s for s, _ in spans if s > start]
    stop = next_question[0] if next_question else length
    steps = after[after < stop]
    questions.append(dict(
        question=' '.join(words[start:end]),
        target=','.join(info['lexicon'][int(batch.targets[0, s])]
                        for s in steps),
        predicted=','.join(info['lexicon'].get(int(predicted[s]), '?')
                           for s in steps)))
  # On the time axis each answer step '-' shows the predicted word.
  labels = list(words)
  for step in answers:
    labels[step] = '-> ' + info['lexicon'].get(int(predicted[step]), '?')
  memory_args = dict(time_labels=labels, spans=spans, marks=list(answers))
  figures = {'answers': plots.babi_answers_figure(questions, title=title)}
  return memory_args, figures


def _points_figure(plots, task, example_, logits, title):
  """Nth Farthest / Convex Hull: the points and the predicted answer."""
  batch = example_.batch
  if task.name == 'NthFarthest':
    num = task.output_size - task.input_size
    dv = task.input_size - 3 * num
    first = batch.inputs[0]
    return plots.nth_farthest_figure(
        first[:, :dv], first[:, dv:dv + num].argmax(-1),
        int(first[0, dv + num:dv + 2 * num].argmax()),
        int(first[0, dv + 2 * num:].argmax()),
        int(batch.targets[0, -1, task.input_size:].argmax()),
        _softmax(logits[-1, task.input_size:]), title=title)
  answer = np.flatnonzero(batch.answer_mask[0] > 0)
  predicted = logits[answer, task.input_size:].argmax(-1)
  tour = [int(label) for label in predicted]
  if 0 in tour:
    tour = tour[:tour.index(0)]
  hull = [int(i) + 1 for i in example_.info['hull']]
  return plots.convex_hull_figure(example_.info['points'], hull + hull[:1],
                                  tour, title=title)


def activated(task, logits):
  """The outputs as a reader sees them: sigmoid bits (algorithmic tasks),
  softmax classes (bAbI), the reconstruction head as is with the softmax
  of the class head (Nth Farthest, Convex Hull)."""
  if task.name == 'bAbI':
    return _softmax(logits)
  if task.name in ('NthFarthest', 'ConvexHull'):
    d = task.input_size
    return np.concatenate([logits[:, :d], _softmax(logits[:, d:])], -1)
  return _sigmoid(logits)


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
  model_name = 'DAM' if loaded.run.config['dam'] else 'DNC'
  title = (f'{model_name}, {os.path.basename(loaded.run.run_dir.root)}, '
           f'step {loaded.step}: {example_.info["description"]}')
  prefix = os.path.join(out_dir, f'step{loaded.step}_{example_.name}')
  figures, memory_args = {}, {}
  outputs = activated(task, logits)
  if task.name == 'bAbI':
    memory_args, figures = _babi_pictures(plots, example_, logits, title)
  else:
    figures['sequence'] = plots.sequence_figure(
        batch.inputs[0, :length], batch.targets[0, :length], outputs,
        answer_mask=batch.answer_mask[0, :length], title=title)
    if task.name in ('NthFarthest', 'ConvexHull'):
      figures['points'] = _points_figure(plots, task, example_, logits, title)
  figures['memory'] = plots.memory_figure(one, title=title, **memory_args)
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for kind in ('memory', 'sequence', 'answers', 'points'):
    if kind in figures:
      path = f'{prefix}_{kind}.png'
      plots.save_png(figures[kind], path)
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
  if 'dam' not in config:
    return name
  parts = ([f'DAM K={config.get("num_memory_blocks")}'] if config['dam']
           else ['DNC'])
  for flag, short in (('p_re', 'p_re'), ('learning_rate', 'lr')):
    if isinstance(flags.get(flag), (int, float)):
      parts.append(f'{short} {flags[flag]:g}')
  return f'{name} ({", ".join(parts)})'


def learning_curves(run_dirs, info_dir='info', smooth=0., log_scale=False,
                    metrics=None):
  """The learning-curve figure of runs (`damrun.plots.curves_figure`).

  Args:
    run_dirs: run directories (e.g. info/copy_dam), or names under
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
          f'reported at least once (e.g. info/copy_dam).')
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
