"""Trains the DAM (or the DNC baseline) on the Nth Farthest task (SPEC 5).

The authors' command works as written:

    python run_nfar.py --dam=True --num_memory_blocks=6 --p_re=0.3 \
      --batch_size=1600 --learning_rate=1e-4 --hidden_size=1024 \
      --memory_address_size=16 --memory_length_size=128 --num_read_heads=4 \
      --training_iteration=300000 --name=nfar_dam

Defaults are the authors' (their run_nfar.py): K=6 blocks of 16 x 128, R=4,
H=1024, a ReLU MLP 4 x 256 before the output layer, batch 1600, Adam(1e-4),
p_re 0.3, 100,000 iterations, a report and a checkpoint every 1,000. The
output layer is [input reconstruction (MRL head, 40), class logits (8)].
Every --eval_interval steps (default: every report) the model is evaluated
on a fixed test set of 3,200 examples, by default as the authors measured it:
on the training graph (bypass dropout and clipping on, no update);
--noreproduce_quirks evaluates without dropout or clipping; test
accuracy goes to the progress line, metrics.csv, TensorBoard and
summary.json in info/<name>/.
"""

import functools
import os
import sys

from absl import app
from absl import flags

from dam import cli

cli.define_flags(
    num_memory_blocks=6, p_re=0.3, batch_size=1600, learning_rate=1e-4,
    hidden_size=1024, memory_address_size=16, memory_length_size=128,
    num_read_heads=4, training_iteration=100000, report_interval=1000,
    checkpoint_interval=1000, name='nfar', optimizer='adam',
    mlp_sizes='256,256,256,256')
flags.DEFINE_integer('num_vectors', 8, 'Vectors per example (and labels).')
flags.DEFINE_integer('vector_size', 16, 'Dimensions of each vector.')
flags.DEFINE_integer('test_examples', 3200, 'Size of the fixed test set.')
flags.DEFINE_integer('eval_interval', None, 'Steps between test-set '
                     'evaluations (also at the end); default: every '
                     '--report_interval, as the authors.')
flags.DEFINE_integer('eval_batch_size', 800, 'Batch size of the test-set '
                     'evaluation.')

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

for _flag in ('num_vectors', 'vector_size', 'test_examples', 'eval_interval',
              'eval_batch_size'):
  flags.register_validator(_flag, lambda v: v is None or v >= 1,
                           message=f'--{_flag} must be a positive integer.')


def main(argv):
  cli.check_no_arguments(argv)
  from dam import losses  # pylint: disable=g-import-not-at-top
  from tasks import nth_farthest  # pylint: disable=g-import-not-at-top
  try:
    task = nth_farthest.NthFarthestTask(
        batch_size=FLAGS.batch_size, num_vectors=FLAGS.num_vectors,
        vector_size=FLAGS.vector_size, p_re=FLAGS.p_re, seed=FLAGS.seed)
    test = task.test_set(FLAGS.test_examples)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  loss_fn = functools.partial(losses.mrl_softmax_loss,
                              reconstruction_size=task.reconstruction_size)
  config = dict(num_vectors=FLAGS.num_vectors, vector_size=FLAGS.vector_size)
  return cli.run(
      task, loss_fn, 'NthFarthest', config,
      eval_sets={'test': lambda: nth_farthest.iterate_batches(
          test, FLAGS.eval_batch_size)},
      eval_interval=FLAGS.eval_interval,
      eval_training=FLAGS.reproduce_quirks,
      report_metrics=(('mrl_loss', 'mrl'), ('answer_accuracy', 'acc')))


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  app.run(main)
