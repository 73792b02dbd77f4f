"""Pictures of what a trained DAM or DNC writes, reads and attends to, and
learning curves of runs.

The memory of a run, from its latest checkpoint (or --num):

    python visualize.py --name=copy_dam

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

    python visualize.py --curves info/copy_dam info/copy_dnc --out=curves.png

one panel per metric (loss first, then accuracies), one colour per run
(legend from its model and flags), training solid, held-out dashed, test
sets dotted; --smooth=0.6 smooths (TensorBoard's moving average),
--log_scale puts the losses on a log axis, --metrics=loss,bit_accuracy
picks panels.
"""

import os
import sys

from absl import app
from absl import flags

from damrun import cli

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
                    '(default: the run\'s --data_dir).')
flags.DEFINE_string('out', None, 'Output: the pictures\' folder (default '
                    '<info_dir>/<name>/plots), or with --curves the PNG '
                    '(default curves.png).')
flags.DEFINE_boolean('record', False, 'Also save the arrays behind the '
                     'pictures (.npz).')
flags.DEFINE_boolean('curves', False, 'Draw the learning curves of the run '
                     'directories given as arguments (or --name).')
flags.DEFINE_float('smooth', 0., 'Curves: moving-average weight in [0, 1) '
                   '(0: raw).')
flags.DEFINE_boolean('log_scale', False, 'Curves: losses on a log axis.')
flags.DEFINE_list('metrics', None, 'Curves: the metrics to draw, e.g. '
                  'loss,bit_accuracy (default: all).')

FLAGS = flags.FLAGS

flags.register_validator('smooth', lambda v: 0. <= v < 1.,
                         message='--smooth must be in [0, 1).')
flags.register_validator('example', lambda v: v is None or v >= 0,
                         message='--example must be >= 0.')


class VisualizeError(Exception):
  """A problem the user can fix (the message says how)."""


def curves(run_dirs, out):
  """--curves: the learning curves of `run_dirs` into the PNG `out`."""
  from damrun import plots  # pylint: disable=g-import-not-at-top
  from damrun import pictures  # pylint: disable=g-import-not-at-top
  try:
    figure = pictures.learning_curves(
        run_dirs, FLAGS.info_dir, smooth=FLAGS.smooth,
        log_scale=FLAGS.log_scale, metrics=FLAGS.metrics)
  except pictures.PictureError as e:
    raise VisualizeError(str(e)) from None
  plots.save_png(figure, out)
  return [out]


def memory(name):
  """--name: the pictures of one example (see the module docstring)."""
  from dam import config as config_lib  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import pictures  # pylint: disable=g-import-not-at-top
  from damrun import saved  # pylint: disable=g-import-not-at-top
  try:
    run = saved.open_run(name, FLAGS.info_dir)
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
  return pictures.draw(loaded, example, out, record=FLAGS.record)


def main(argv):
  try:
    if FLAGS.curves:
      run_dirs = list(argv[1:]) or ([os.path.join(FLAGS.info_dir, FLAGS.name)]
                                    if FLAGS.name else [])
      if not run_dirs:
        raise app.UsageError('--curves needs run directories: python '
                             'visualize.py --curves info/<run> [info/<run> '
                             '...]')
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


if __name__ == '__main__':
  cli.run_main(main)
