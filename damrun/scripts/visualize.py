"""Pictures of what a trained DAM or DNC writes, reads and attends to, and
learning curves of runs.

The memory of a run, from its latest checkpoint (or --num), e.g. the run of
the README's first command:

    python visualize.py --name=copy_first

rebuilds the run's model and task from info/<name>/config.json and
flags.json, runs one example in evaluation mode (a generated one, seeded by
--seed; or --example=i of the bAbI test stories, the Convex Hull test files
or the Nth Farthest test set) and writes into info/<name>/plots/
(`damrun.pictures`):

  step<step>_<example>_memory.png    per memory block the write weights and
      each read head's read weights (slots x time), the write and
      allocation gates, the usage; the DAM's attentive gate (blocks x heads
      over time); the DNC's read modes and final link matrix
  step<step>_<example>_sequence.png  inputs, targets and outputs over time
  step<step>_<example>_answers.png   bAbI: questions, predicted and true
      answers (the memory picture has the story's tokens on its time axis,
      questions shaded, answer steps marked with the predicted word)
  step<step>_<example>_points.png    Nth Farthest / Convex Hull: the points
      and the predicted answer
  step<step>_<example>_record.npz    with --record: the arrays behind the
      pictures (keys and shapes: `damrun.pictures.RECORD_KEYS`)

Learning curves of one or more runs, from their metrics.csv:

    python visualize.py --curves info/copy_first info/copy_first_dnc

one panel per metric (loss first, then accuracies), one colour per run
(legend from its model and flags), training solid, held-out dashed, test
sets dotted; --smooth=0.6 smooths (a centred exponential moving average
that ends at the last value; the raw values stay, faint), --log_scale
puts the losses on a log axis, --metrics=loss,bit_accuracy
picks panels. A run that is not there is answered with the runs that are
(in --info_dir) and the command that makes one. A bAbI run's test stories
are read as eval.py reads them (--data_dir, --cache_dir, --download).
"""

import json
import os
import sys

from absl import app
from absl import flags

from damrun import cli
from damrun import scripts

flags.DEFINE_string('name', None, 'Run whose memory to draw: '
                    '<info_dir>/<name>/.')
flags.DEFINE_string('info_dir', 'info', 'Root directory of runs.')
flags.DEFINE_integer('num', None, 'Checkpoint step (default: the newest '
                     'that restores).')
flags.DEFINE_integer('example', None, 'Index of the example in the bAbI test '
                     'stories (tasks in order; see --babi_task), the Convex '
                     'Hull test files (n = 5, then n = 10) or the Nth '
                     'Farthest test set. Default: a generated (algorithmic '
                     'tasks) or randomly picked example, seeded by --seed.')
flags.DEFINE_integer('babi_task', None, 'bAbI: --example indexes this '
                     'task\'s test stories.')
flags.DEFINE_integer('seed', 0, 'Seed of the generated or picked example.')
flags.DEFINE_string('data_dir', None, 'bAbI / Convex Hull data folder '
                    '(default: the run\'s --data_dir; bAbI: else bAbI_data '
                    'when the run\'s folder lacks the data).')
flags.DEFINE_string('cache_dir', None, 'bAbI: folder of the preprocessed-data '
                    'cache (default: the run\'s --cache_dir, else '
                    '<data_dir>/babi_cache), as train.py.')
flags.DEFINE_boolean('download', False, 'bAbI: download the official archive '
                     'if no data is there (into --data_dir, or bAbI_data), '
                     'as train.py.')
flags.DEFINE_string('out', None, 'Output: the pictures\' folder (default '
                    '<info_dir>/<name>/plots), or with --curves the PNG '
                    '(default curves.png).')
flags.DEFINE_boolean('record', False, 'Also save the arrays behind the '
                     'pictures (.npz).')
flags.DEFINE_boolean('curves', False, 'Draw the learning curves of the run '
                     'directories given as arguments (or --name).')
flags.DEFINE_float('smooth', 0., 'Curves: weight in [0, 1) of the centred '
                   'exponential moving average (0: raw).')
flags.DEFINE_boolean('log_scale', False, 'Curves: losses on a log axis.')
flags.DEFINE_list('metrics', None, 'Curves: the metrics to draw, e.g. '
                  'loss,bit_accuracy (default: all).')

FLAGS = flags.FLAGS

flags.register_validator('smooth', lambda v: 0. <= v < 1.,
                         message='--smooth must be in [0, 1).')
flags.register_validator('example', lambda v: v is None or v >= 0,
                         message='--example must be >= 0.')
cli.seeds('seed')


class VisualizeError(Exception):
  """A problem the user can fix (the message says how)."""


# Shown when a run is missing: the command that makes one.
_MAKE_ONE = ('python train.py --name={name} (the Copy task; the README '
             'lists the command of every task)')


def _runs_in(info_dir, wanted):
  """Names of the folders in `info_dir` holding the file `wanted`
  (config.json: a run to draw; metrics.csv: one with curves), KV-MemNN runs
  left out for config.json (no memory to draw); and the sub-folders that
  hold such runs in turn ({folder: count}, e.g. info/suite)."""
  def runs(folder):
    found = []
    try:
      names = sorted(os.listdir(folder))
    except OSError:
      return found
    for name in names:
      path = os.path.join(folder, name, wanted)
      if os.path.isfile(path) and not (wanted == 'config.json' and
                                       _is_kvmemnn(path)):
        found.append(name)
    return found

  direct = runs(info_dir)
  nested = {}
  try:
    names = sorted(os.listdir(info_dir))
  except OSError:
    names = []
  for name in names:
    if name not in direct and os.path.isdir(os.path.join(info_dir, name)):
      count = len(runs(os.path.join(info_dir, name)))
      if count:
        nested[name] = count
  return direct, nested


def _is_kvmemnn(config_path):
  try:
    with open(config_path) as f:
      return json.load(f).get('model') == 'KV-MemNN'
  except (OSError, ValueError, AttributeError):
    return False


def _runs_there(wanted, example):
  """What `--info_dir` holds: the runs there (up to 12 named) and how to
  use one (`example`: a format string of a run path or name), or that it
  holds none."""
  info_dir = FLAGS.info_dir
  direct, nested = _runs_in(info_dir, wanted)
  what = 'runs' if wanted == 'config.json' else 'runs with learning curves'
  parts = []
  if direct:
    shown = ', '.join(direct[:12]) + (f' and {len(direct) - 12} more'
                                      if len(direct) > 12 else '')
    parts.append(f'The {what} in {info_dir}/: {shown} (e.g. '
                 f'{example.format(info_dir=info_dir, run=direct[0])}).')
  for folder, count in nested.items():
    folder = os.path.join(info_dir, folder)
    noun = what if count != 1 else what.replace('runs', 'run', 1)
    parts.append(f'{folder}/ holds {count} {noun} (--info_dir={folder}).')
  if not parts:
    parts.append(f'{info_dir}/ holds no {what} yet.' if os.path.isdir(
        info_dir) else f'There is no {info_dir}/ folder yet: no run here.')
  return ' '.join(parts)


def no_run_message(name):
  """--name of no run: the runs that exist and the command that makes one."""
  return (f'No run {name!r} in {FLAGS.info_dir}/ (no config.json there). '
          f'{_runs_there("config.json", "python visualize.py --name={run}")} '
          f'Make this one with a training script: '
          f'{_MAKE_ONE.format(name=name)}.')


def no_curves_message(run_dir):
  """--curves of a folder without metrics.csv: the runs that have one and
  the command that makes one."""
  name = os.path.basename(os.path.normpath(run_dir))
  parent = os.path.dirname(os.path.normpath(run_dir))
  make = _MAKE_ONE.format(name=name)
  if parent and os.path.abspath(parent) != os.path.abspath(FLAGS.info_dir):
    make = make.replace('python train.py ',
                        f'python train.py --info_dir={parent} ')
  there = _runs_there('metrics.csv', 'python visualize.py --curves '
                      '{info_dir}/{run}')
  return (f'No metrics.csv in {run_dir}: no run there has reported yet. '
          f'{there} Make one with a training script: {make}.')


def _run_dir(run_dir):
  """A --curves argument as a folder: a path, or a name under --info_dir."""
  if not os.path.isdir(run_dir) and os.path.isdir(
      os.path.join(FLAGS.info_dir, run_dir)):
    return os.path.join(FLAGS.info_dir, run_dir)
  return run_dir


def curves(run_dirs, out):
  """--curves: the learning curves of `run_dirs` into the PNG `out`."""
  for run_dir in run_dirs:
    if not os.path.isfile(os.path.join(_run_dir(run_dir), 'metrics.csv')):
      raise VisualizeError(no_curves_message(run_dir))
  from damrun import plots  # pylint: disable=g-import-not-at-top
  from damrun import pictures  # pylint: disable=g-import-not-at-top
  try:
    figure = pictures.learning_curves(
        run_dirs, FLAGS.info_dir, smooth=FLAGS.smooth,
        log_scale=FLAGS.log_scale, metrics=FLAGS.metrics)
  except pictures.PictureError as e:
    raise VisualizeError(str(e)) from None
  try:
    plots.save_png(figure, out)
  except OSError as e:
    raise VisualizeError(_cannot_write(out, e)) from None
  return [out]


def memory(name):
  """--name: the pictures of one example (see the module docstring)."""
  if not os.path.isfile(os.path.join(FLAGS.info_dir, name, 'config.json')):
    raise VisualizeError(no_run_message(name))
  _check_out(FLAGS.out, folder=True)
  from dam import config as config_lib  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import pictures  # pylint: disable=g-import-not-at-top
  from damrun import saved  # pylint: disable=g-import-not-at-top
  try:
    run = saved.open_run(name, FLAGS.info_dir)
    # The bAbI data flags of this command over the run's recorded ones.
    run = run._replace(flags=dict(
        run.flags, download=FLAGS.download,
        **({'cache_dir': FLAGS.cache_dir} if FLAGS.cache_dir else {})))
    if FLAGS.num is not None:  # an absent step: say so before any work
      checkpoints.checkpoint_path(run.run_dir.checkpoint, FLAGS.num)
    task = pictures.task_data(run, FLAGS.seed, FLAGS.data_dir)
    example = pictures.example(task, FLAGS.example, FLAGS.seed,
                               FLAGS.babi_task)
    loaded = pictures.load(run, FLAGS.num, FLAGS.seed, FLAGS.data_dir,
                           log=lambda line: print(line, file=sys.stderr),
                           task=task)
  except (saved.SavedRunError, checkpoints.CheckpointError) as e:
    raise VisualizeError(str(e)) from None
  print(f'{config_lib.label(run.config)} {run.run_dir.root}, '
        f'{loaded.checkpoint}: {example.info["description"]}.', flush=True)
  out = FLAGS.out or os.path.join(run.run_dir.root, 'plots')
  try:
    return pictures.draw(loaded, example, out, record=FLAGS.record)
  except OSError as e:
    raise VisualizeError(_cannot_write(out, e)) from None


def _check_out(out, folder):
  """Raises VisualizeError if --out cannot be written (before any work)."""
  from damrun import failures  # pylint: disable=g-import-not-at-top
  problem = out and failures.path_problem(out, '--out', folder)
  if problem:
    raise VisualizeError(problem)


def _cannot_write(out, error):
  """The message of an OSError writing the pictures to `out`."""
  where = f' ({error.filename})' if error.filename else ''
  return (f'cannot write the pictures to --out={out}: '
          f'{error.strerror or error}{where}. Give another --out (a '
          f'writable folder with free space).')


def main(argv):
  try:
    if FLAGS.curves:
      run_dirs = list(argv[1:]) or ([os.path.join(FLAGS.info_dir, FLAGS.name)]
                                    if FLAGS.name else [])
      if not run_dirs:
        raise app.UsageError('--curves needs run directories: python '
                             'visualize.py --curves info/<run> [info/<run> '
                             '...]')
      _check_out(FLAGS.out, folder=False)
      written = curves(run_dirs, FLAGS.out or 'curves.png')
    else:
      cli.check_no_arguments(argv)
      if not FLAGS.name:
        raise app.UsageError('Pass --name=<run> (the memory of a run) or '
                             '--curves <run directories> (learning curves).')
      written = memory(FLAGS.name)
  except VisualizeError as e:
    print(f'visualize.py: {e}', file=sys.stderr)
    return 2
  for path in written:
    print(f'Wrote {path}')
  return 0


def run():
  """`python visualize.py` and the console script `dam-visualize`."""
  scripts.run(sys.modules[__name__])
