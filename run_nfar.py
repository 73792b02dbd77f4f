r"""Trains the DAM (or the DNC baseline) on the Nth Farthest task
(Park et al. 2021, experiments, "Nth Farthest"; the task of Santoro et al.
2018).

The authors' command works as written:

    python run_nfar.py --dam=True --num_memory_blocks=6 --p_re=0.3 \
      --batch_size=1600 --learning_rate=1e-4 --hidden_size=1024 \
      --memory_address_size=16 --memory_length_size=128 --num_read_heads=4 \
      --training_iteration=300000 --name=nfar_dam

Defaults are the authors' (their run_nfar.py; `damrun.presets.NTH_FARTHEST`):
K=6 blocks of 16 x 128, R=4, H=1024, a ReLU MLP 4 x 256 before the output
layer, batch 1600, Adam(1e-4), p_re 0.3, 100,000 iterations, a report and a
checkpoint every 1,000. The output layer is [input reconstruction (MRL head,
40), class logits (8)]. Every --eval_interval steps (default: every report)
the model is evaluated on a fixed test set of 3,200 examples, by default as
the authors measured it: on the training graph (bypass dropout and clipping
on, no update); --noreproduce_quirks evaluates without dropout or clipping;
test accuracy goes to the progress line, metrics.csv, TensorBoard and
summary.json in info/<name>/.
"""

import sys

from absl import app
from absl import flags

from damrun import cli
from damrun import presets

_D = presets.NTH_FARTHEST

cli.define_flags(_D)
flags.DEFINE_integer('num_vectors', _D['num_vectors'],
                     'Vectors per example (and labels).')
flags.DEFINE_integer('vector_size', _D['vector_size'],
                     'Dimensions of each vector.')
flags.DEFINE_integer('test_examples', _D['test_examples'],
                     'Size of the fixed test set.')
cli.define_test_set_flags(_D['eval_batch_size'])

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

cli.positive_integers('num_vectors', 'vector_size', 'test_examples')


def main(argv):
  cli.check_no_arguments(argv)
  from damrun import resume_flags  # pylint: disable=g-import-not-at-top
  from damrun import trainer  # pylint: disable=g-import-not-at-top
  from tasks import nth_farthest  # pylint: disable=g-import-not-at-top
  from tasks import registry  # pylint: disable=g-import-not-at-top
  try:
    task = nth_farthest.NthFarthestTask.from_flags(
        FLAGS.flag_values_dict(), FLAGS.batch_size, FLAGS.p_re, FLAGS.seed)
    test = task.test_set(FLAGS.test_examples)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  config = dict(num_vectors=FLAGS.num_vectors, vector_size=FLAGS.vector_size,
                flags=resume_flags.flag_record(FLAGS,
                                               (sys.argv[0], cli.__name__)))
  return cli.run(
      task, registry.name_of(nth_farthest.NthFarthestTask), config,
      evaluation=trainer.Evaluation(
          sets={'test': lambda: nth_farthest.iterate_batches(
              test, FLAGS.eval_batch_size)},
          interval=FLAGS.eval_interval,
          training=FLAGS.reproduce_quirks),
      picture=next(nth_farthest.iterate_batches(test, 1)))


if __name__ == '__main__':
  cli.run_main(main)
