r"""Trains the DAM (or the DNC baseline) on the Convex Hull task
(Park et al. 2021, experiments, "Convex Hull"; the data of Vinyals et al.
2015).

The authors' command works as written:

    python run_convexhull.py --dam=True --num_memory_blocks=6 --p_re=0.3 \
      --batch_size=128 --learning_rate=1e-4 --hidden_size=256 \
      --memory_address_size=20 --memory_length_size=64 --num_read_heads=4 \
      --training_iteration=300000 --name=convexhull_dam

Data: the Pointer Networks files in --data_dir (default `Convexhull_data`,
the authors' directory): the training file convex_hull_5-50_train.txt (or its
extracted name all_lengths_data_shuffled.txt; only examples with <= --max_n
points are used) and the test files convex_hull_5_test.txt and
convex_hull_10_test.txt. Without the originals, generate compatible files
(the same format and hull convention) with

    python run_convexhull.py --generate_data --data_dir=Convexhull_data

which writes only the missing files (a real convex_hull_5_test.txt already in
--data_dir is kept as it is) and prints which it wrote and which it kept
(exit code 2 when all three exist and nothing is written).
Points follow --data_distribution: 'uniform' (default, i.i.d. uniform) or
'drop_interior' (n + 1 uniform points minus one non-hull point). NEITHER is
the distribution of the Pointer Networks files, which is not uniform (59.9 %
of their 5-point hulls have 5 vertices, 34 % for uniform points) and for
which no exact process was found; 'drop_interior' is the closest candidate
(docs/convex_hull_data.md).

Defaults are the authors' (their run_convexhull.py;
`damrun.presets.CONVEX_HULL`): K=6 blocks of 20 x 64, R=4, H=256, a ReLU MLP
2 x 256 before the output layer, batch 128, TF1 RMSProp(1e-4), p_re 0.3,
100,000 iterations, a report every 1,000 and a checkpoint every 10,000.
Every --eval_interval steps (default: every report) the model is evaluated
on both test files, by default as the authors measured it: on the training
graph (bypass dropout and clipping on, no update); --noreproduce_quirks
evaluates without dropout or clipping; the exact-sequence accuracy (every
hull label and the end token right) at N = 5 and N = 10 goes to the
progress line, metrics.csv, TensorBoard and summary.json in info/<name>/.
"""

import sys

from absl import app
from absl import flags

from damrun import cli
from damrun import presets

_D = presets.CONVEX_HULL

cli.define_flags(_D)
flags.DEFINE_string('data_dir', _D['data_dir'], 'Directory of the Pointer '
                    'Networks convex hull files.')
flags.DEFINE_integer('max_n', _D['max_n'], 'Largest point count trained on '
                     '(labels 0..max_n).')
flags.DEFINE_boolean('generate_data', False, 'Write the missing ones of a '
                     'compatible training file and the two test files into '
                     '--data_dir (existing files are kept), then exit.')
flags.DEFINE_enum('data_distribution', 'uniform',
                  ['uniform', 'drop_interior'], 'Point distribution of '
                  '--generate_data: uniform = i.i.d. uniform in [0, 1)^2 '
                  '(default); drop_interior = n + 1 uniform points minus one '
                  'point that is not a hull vertex (else the one nearest the '
                  'border), closer to the Pointer Networks files but not '
                  'their (unknown) distribution.')
flags.DEFINE_integer('num_train_examples', 100_000, 'Training lines written '
                     'by --generate_data (point counts 5..--max_n).')
flags.DEFINE_integer('num_test_examples', 10_000, 'Lines per test file '
                     'written by --generate_data.')
flags.DEFINE_integer('test_examples', 0, 'Evaluate on the first this many '
                     'examples of each test file (0: all).')
cli.define_test_set_flags(_D['eval_batch_size'])

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

cli.positive_integers('num_train_examples', 'num_test_examples')
flags.register_validator('test_examples', lambda v: v >= 0,
                         message='--test_examples must be >= 0 (0: all).')
flags.register_validator('max_n', lambda v: v >= 10,
                         message='--max_n must be >= 10: the test sets have '
                         '10 points, labelled 1..10.')


def generate(convex_hull):
  """--generate_data: writes the missing files; returns the exit code."""
  try:
    files = convex_hull.generate_dataset(
        FLAGS.data_dir, num_train=FLAGS.num_train_examples, train_min_n=5,
        train_max_n=FLAGS.max_n, num_test=FLAGS.num_test_examples,
        seed=FLAGS.seed, distribution=FLAGS.data_distribution)
  except (OSError, ValueError) as e:
    print(f'run_convexhull.py: {e}', file=sys.stderr)
    return 2
  described = {files.train: f'{FLAGS.num_train_examples} examples, 5..'
                            f'{FLAGS.max_n} points'}
  described.update({path: f'{FLAGS.num_test_examples} examples, n = {n}'
                    for n, path in files.test.items()})
  for path in files.written:
    print(f'Wrote {path} ({described[path]}, {FLAGS.data_distribution} '
          f'points).')
  for path in files.kept:
    print(f'Kept existing {path} (not modified).')
  if not files.written:  # as before: exit code 2 when there is nothing to do
    print(f'run_convexhull.py: Not overwriting existing Convex Hull data '
          f'files {files.kept}: all present, nothing written.',
          file=sys.stderr)
    return 2
  print(f'Train with: python run_convexhull.py --data_dir={FLAGS.data_dir}')
  return 0


def main(argv):
  cli.check_no_arguments(argv)
  from tasks import convex_hull  # pylint: disable=g-import-not-at-top
  if FLAGS.generate_data:
    return generate(convex_hull)
  try:
    dataset = convex_hull.load_dataset(FLAGS.data_dir, max_n=FLAGS.max_n)
  except (FileNotFoundError, ValueError) as e:
    print(f'run_convexhull.py: {e}', file=sys.stderr)
    return 2
  try:
    task = convex_hull.ConvexHullTask(dataset.train,
                                      batch_size=FLAGS.batch_size,
                                      max_n=FLAGS.max_n, p_re=FLAGS.p_re,
                                      seed=FLAGS.seed)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  limit = FLAGS.test_examples or None
  test_sets = {
      f'test{n}': convex_hull.encode_test(
          convex_hull.Examples(examples.points[:limit],
                               examples.hulls[:limit]),
          FLAGS.eval_batch_size, max_n=FLAGS.max_n)
      for n, examples in sorted(dataset.test.items())}
  counts = {n: len(group.points) for n, group in task.examples.items()}
  print(f'Training examples by point count: {counts}; test examples: ' +
        ', '.join(f'{name} {sum(len(b.inputs) for b in batches)}'
                  for name, batches in test_sets.items()), flush=True)
  from damrun import resume_flags  # pylint: disable=g-import-not-at-top
  from damrun import trainer  # pylint: disable=g-import-not-at-top
  from tasks import registry  # pylint: disable=g-import-not-at-top
  return cli.run(
      task, registry.name_of(convex_hull.ConvexHullTask),
      dict(max_n=FLAGS.max_n,
           flags=resume_flags.flag_record(FLAGS,
                                          (sys.argv[0], cli.__name__))),
      evaluation=trainer.Evaluation(
          sets={name: (lambda batches=batches: batches)
                for name, batches in test_sets.items()},
          interval=FLAGS.eval_interval, training=FLAGS.reproduce_quirks),
      picture=test_sets['test5'][0])


if __name__ == '__main__':
  cli.run_main(main)
