r"""Trains the DAM (or the DNC baseline) on an algorithmic task or bAbI.

The authors' command lines work as written, e.g. their Copy run:

    python train.py --mode=Copy --babi=False --dam=True --num_memory_blocks=2 \
      --p_re=0.1 --batch_size=16 --learning_rate=1e-4 --hidden_size=128 \
      --memory_address_size=64 --memory_length_size=36 --num_read_heads=1 \
      --bit_w=8 --min_length=8 --max_length=32 --training_iteration=10000 \
      --name=copy_dam

--mode takes the tasks that tasks/registry.py lists for train.py, in any
case; each task builds itself from the flags it names
(`tasks.base.Task.flag_args`). With no flags: the Copy task at the
authors' train.py defaults (`damrun.presets.TRAIN`). Checkpoints,
TensorBoard logs, metrics.csv and summary.json go to info/<name>/; running
the same command again resumes from the latest checkpoint.
"""

import sys

from absl import app
from absl import flags

from damrun import cli
from damrun import presets
from damrun import scripts
from tasks import registry

# The tasks of train.py's --mode (any case): the registry's, read when the
# flags are defined (`tasks.registry`).
MODES = tuple(registry.names('train.py'))
_D = presets.TRAIN

# The shared flags (with --embedding_size), the authors' train.py defaults.
cli.define_flags(_D, embedding=True)
# Task flags (the authors' names and defaults).
flags.DEFINE_enum('mode', _D['mode'], MODES, 'Task.', case_sensitive=False)
flags.DEFINE_boolean('babi', False, 'True selects the bAbI task (= '
                     '--mode=bAbI, as in the authors\' README).')
flags.DEFINE_integer('N', _D['N'], 'Segments per item (RepresentationRecall).')
flags.DEFINE_integer('bit_w', _D['bit_w'], 'Bits per vector.')
flags.DEFINE_integer('num_bit', _D['num_bit'],
                     'Stored items (RepresentationRecall).')
flags.DEFINE_integer('item_bit', _D['item_bit'],
                     'Vectors per item (AssociativeRecall).')
flags.DEFINE_integer('min_length', _D['min_length'],
                     'Minimum length (items / queries).')
flags.DEFINE_integer('max_length', _D['max_length'],
                     'Maximum length (items / queries).')
flags.DEFINE_integer('epoch', _D['epoch'], 'bAbI: epochs of this run; a '
                     'checkpoint trained at another --learning_rate is '
                     'fine-tuned for --epoch more epochs.')
flags.DEFINE_string('data_dir', _D['data_dir'], 'bAbI: directory holding '
                    'tasks_1-20_v1-2.tar.gz or the extracted '
                    'tasks_1-20_v1-2/ folder (the preprocessed cache is '
                    'written there too).')
flags.DEFINE_enum('babi_set', _D['babi_set'], ['en-10k', 'en'], 'bAbI: the '
                  'training set (10k or 1k questions per task).')
flags.DEFINE_boolean('download', False, 'bAbI: download the official '
                     'archive into --data_dir if no data is there.')
flags.DEFINE_boolean('return_to_learning_rate', False, 'bAbI: allow a '
                     'command to start a new phase at the learning rate of '
                     'an earlier phase (refused by default: rerunning the '
                     'first command after fine-tuning would train the '
                     'fine-tuned weights at the first rate).')
flags.DEFINE_integer('test_interval', 0, 'bAbI: evaluate the 20 test sets '
                     '(error % per task, mean error, failed tasks, as eval.py) '
                     'every this many epochs and at the end, into '
                     'metrics.csv; 0: never (the authors\' runs).')
flags.DEFINE_integer('row_levels', 1, 'bAbI: the training loop narrows to '
                     'B, B/4, B/16 (this many row counts) as the stories of '
                     'a batch end, so the work follows the real tokens (same '
                     'maths, ~2-3 x faster, more memory; 3 in the bAbI CPU '
                     'suite); 1: every story runs to the longest.')
flags.DEFINE_integer('eval_batches', 0, 'Fresh held-out batches evaluated '
                     '(no dropout, no clipping) at each report; 0: none.')

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

cli.positive_integers('bit_w', 'epoch', 'row_levels')
flags.register_validator('test_interval', lambda v: v >= 0,
                         message='--test_interval must be >= 0 (0: never).')
flags.register_validator('eval_batches', lambda v: v >= 0,
                         message='--eval_batches must be >= 0 (0: none).')
flags.register_multi_flags_validator(
    ['min_length', 'max_length'],
    lambda f: 1 <= f['min_length'] <= f['max_length'],
    message='--min_length must be >= 1 and <= --max_length.')


def run_flags():
  """Every flag of this script, recorded in the run (flags.json) and
  checked on resume (`damrun.resume_flags.CHANGEABLE_FLAGS`)."""
  from damrun import resume_flags  # pylint: disable=g-import-not-at-top
  # Filed under the program's name by `damrun.scripts.run`, else (imported)
  # under this module's.
  return resume_flags.flag_record(FLAGS,
                                  (sys.argv[0], __name__, cli.__name__))


def make_task(mode, seed, batch_size=None):
  """The task `mode` (`tasks.registry`) with its arguments from the flags
  (`tasks.base.Task.from_flags`)."""
  return registry.get(mode).from_flags(
      FLAGS.flag_values_dict(), batch_size or FLAGS.batch_size, FLAGS.p_re,
      seed)


def train_babi():
  """train.py --mode=bAbI (or --babi=True): joint training on 20 tasks."""
  from tasks import babi  # pylint: disable=g-import-not-at-top
  try:
    data = babi.load(FLAGS.data_dir, FLAGS.babi_set, download=FLAGS.download,
                     cache_dir=FLAGS.cache_dir)
  except babi.BabiDataError as e:
    print(f'train.py: {e}', file=sys.stderr)
    return 2
  try:
    task = babi.BabiTask.from_data(data, FLAGS.batch_size, p_re=FLAGS.p_re,
                                   seed=FLAGS.seed,
                                   reproduce_quirks=FLAGS.reproduce_quirks)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  steps_per_epoch = task.steps_per_epoch
  # The stories and the lexicon: in the loader's line (`tasks.babi.cache`).
  print(f'bAbI {FLAGS.babi_set}: {steps_per_epoch} steps per epoch of '
        f'{FLAGS.batch_size}.', flush=True)
  name = registry.name_of(babi.BabiTask)
  config = dict(mode=name, embedding_size=FLAGS.embedding_size,
                vocab_size=data.vocab_size, babi_set=FLAGS.babi_set,
                lexicon_sha=babi.lexicon_fingerprint(data.lexicon),
                length_limit=data.length_limit,
                reproduce_quirks=FLAGS.reproduce_quirks,
                flags=run_flags())
  phase_steps = FLAGS.epoch * steps_per_epoch
  if FLAGS['training_iteration'].present:  # a short trial run
    phase_steps = min(phase_steps, FLAGS.training_iteration)
  # TensorBoard's memory picture: the first test story of the first task.
  picture = (babi.test_batches(data.test[min(data.test)].stories[:1], 1)[0]
             if data.test else None)
  evaluation = None
  if FLAGS.test_interval:
    from damrun import babi_eval  # pylint: disable=g-import-not-at-top
    from damrun import trainer  # pylint: disable=g-import-not-at-top
    evaluation = trainer.Evaluation(
        interval=FLAGS.test_interval * steps_per_epoch,
        test=lambda model: babi_eval.test_row(
            model, data, presets.EVAL['batch_size']))
  return cli.run(
      task, name, config, evaluation=evaluation, phase_steps=phase_steps,
      checkpoint_interval=(FLAGS.checkpoint_interval or 1) * steps_per_epoch,
      time_bucket=100,  # XLA: <= 8 compiled lengths (stories <= 800).
      embedding_size=FLAGS.embedding_size, picture=picture,
      row_levels=FLAGS.row_levels)


def main(argv):
  cli.check_no_arguments(argv)
  from tasks import babi  # pylint: disable=g-import-not-at-top
  mode = registry.name_of(babi.BabiTask) if FLAGS.babi else FLAGS.mode
  if registry.get(mode) is babi.BabiTask:
    return train_babi()
  from damrun import trainer  # pylint: disable=g-import-not-at-top
  try:
    task = make_task(mode, FLAGS.seed)
    eval_task = (make_task(mode, FLAGS.seed + 1_000_003)
                 if FLAGS.eval_batches > 0 else None)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  config = dict(mode=mode, N=FLAGS.N, bit_w=FLAGS.bit_w, num_bit=FLAGS.num_bit,
                item_bit=FLAGS.item_bit, flags=run_flags())
  # TensorBoard's memory picture: one fixed example from its own stream.
  picture = make_task(mode, FLAGS.seed + 2_000_003, 1).next_batch()
  # The authors saved algorithmic runs only at the end (their
  # checkpoint_interval counted bAbI epochs); we save every 1,000 steps.
  return cli.run(task, mode, config,
                 evaluation=trainer.Evaluation(task=eval_task,
                                               batches=FLAGS.eval_batches),
                 checkpoint_interval=FLAGS.checkpoint_interval or 1000,
                 picture=picture)


def run():
  """`python train.py` and the console script `dam-train`."""
  scripts.run(sys.modules[__name__])
