"""Trains the DAM (or the DNC baseline) on an algorithmic task.

The authors' command lines work as written, e.g. their Copy run:

    python train.py --mode=Copy --babi=False --dam=True --num_memory_blocks=2 \
      --p_re=0.1 --batch_size=16 --learning_rate=1e-4 --hidden_size=128 \
      --memory_address_size=64 --memory_length_size=36 --num_read_heads=1 \
      --bit_w=8 --min_length=8 --max_length=32 --training_iteration=10000 \
      --name=copy_dam

With no flags: the Copy task at the authors' sizes. Checkpoints, TensorBoard
logs, metrics.csv and summary.json go to info/<name>/; running the same
command again resumes from the latest checkpoint.
"""

import functools
import os
import sys

from absl import app
from absl import flags

from dam import cli

MODES = ('Copy', 'AssociativeRecall', 'RepresentationRecall', 'bAbI')

# The shared flags, with the authors' train.py defaults.
cli.define_flags(memory_length_size=24, checkpoint_interval=None)
# Task flags (the authors' names and defaults).
flags.DEFINE_enum('mode', 'Copy', MODES, 'Task.', case_sensitive=False)
flags.DEFINE_boolean('babi', False, 'True selects the bAbI task (= '
                     '--mode=bAbI, as in the authors\' README).')
flags.DEFINE_integer('embedding_size', 64, 'Word embedding size (bAbI).')
flags.DEFINE_integer('N', 4, 'Segments per item (RepresentationRecall).')
flags.DEFINE_integer('bit_w', 8, 'Bits per vector.')
flags.DEFINE_integer('num_bit', 8, 'Stored items (RepresentationRecall).')
flags.DEFINE_integer('item_bit', 3, 'Vectors per item (AssociativeRecall).')
flags.DEFINE_integer('min_length', 8, 'Minimum length (items / queries).')
flags.DEFINE_integer('max_length', 32, 'Maximum length (items / queries).')
flags.DEFINE_integer('epoch', 50, 'Training epochs (bAbI).')
flags.DEFINE_integer('eval_batches', 0, 'Fresh held-out batches evaluated '
                     '(no dropout, no clipping) at each report; 0: none.')

FLAGS = flags.FLAGS

for _flag in ('bit_w', 'embedding_size', 'epoch'):
  flags.register_validator(_flag, lambda v: v >= 1,
                           message=f'--{_flag} must be a positive integer.')
flags.register_multi_flags_validator(
    ['min_length', 'max_length'],
    lambda f: 1 <= f['min_length'] <= f['max_length'],
    message='--min_length must be >= 1 and <= --max_length.')


def make_task(mode, seed, batch_size=None):
  """The task generator of `mode` from the flags."""
  from tasks import associative_recall  # pylint: disable=g-import-not-at-top
  from tasks import copy as copy_task  # pylint: disable=g-import-not-at-top
  from tasks import representation_recall  # pylint: disable=g-import-not-at-top
  batch_size = batch_size or FLAGS.batch_size
  common = dict(batch_size=batch_size, min_length=FLAGS.min_length,
                max_length=FLAGS.max_length, p_re=FLAGS.p_re, seed=seed)
  if mode == 'Copy':
    return copy_task.CopyTask(bit_w=FLAGS.bit_w, **common)
  if mode == 'AssociativeRecall':
    return associative_recall.AssociativeRecallTask(
        bit_w=FLAGS.bit_w, item_bit=FLAGS.item_bit, **common)
  return representation_recall.RepresentationRecallTask(
      N=FLAGS.N, bit_w=FLAGS.bit_w, num_bit=FLAGS.num_bit, **common)


def main(argv):
  cli.check_no_arguments(argv)
  mode = 'bAbI' if FLAGS.babi else FLAGS.mode
  if mode == 'bAbI':
    raise app.UsageError(
        'The bAbI task (--mode=bAbI / --babi=True) is not yet available in '
        'this version; the algorithmic tasks are: Copy, AssociativeRecall, '
        'RepresentationRecall.')
  from dam import losses  # pylint: disable=g-import-not-at-top
  try:
    task = make_task(mode, FLAGS.seed)
    eval_task = (make_task(mode, FLAGS.seed + 1_000_003)
                 if FLAGS.eval_batches > 0 else None)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  loss_fn = functools.partial(losses.sigmoid_loss,
                              answer_channels=task.answer_channels)
  config = dict(mode=mode, N=FLAGS.N, bit_w=FLAGS.bit_w, num_bit=FLAGS.num_bit,
                item_bit=FLAGS.item_bit)
  # The authors saved algorithmic runs only at the end (their
  # checkpoint_interval counted bAbI epochs); we save every 1,000 steps.
  return cli.run(task, loss_fn, mode, config, eval_task=eval_task,
                 eval_batches=FLAGS.eval_batches,
                 checkpoint_interval=FLAGS.checkpoint_interval or 1000)


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  app.run(main)
