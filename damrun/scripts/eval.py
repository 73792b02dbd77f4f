r"""Evaluates a bAbI checkpoint on the 20 test tasks (the authors' eval.py).

    python eval.py --dam=True --num_memory_blocks=2 --hidden_size=256 \
      --memory_address_size=128 --memory_length_size=48 --num_read_heads=4 \
      --name=babi_dam --num=97600

restores info/<name>/checkpoint/ckpt-<num> (without --num the newest
checkpoint that restores: a corrupt newer one is skipped with a warning),
runs every test story of every task through the dynamic-batch core
(no dropout, no clipping), counts a question right only when all its answer
tokens are right, and prints the per-task error table, the mean error and
the number of failed tasks (error > 5 %). The same results go to
info/<name>/eval-<step>.json and .csv, with the fingerprint of the test
data; an earlier evaluation of that step on other data is kept (the new one
goes to eval-<step>-data<fingerprint>.json/.csv). Malformed data files are
refused (file:line) before the model is built.

The model is rebuilt from the configuration saved with the checkpoint
(info/<name>/config.json); model flags given here that disagree with it are
reported by name instead of failing on a tensor shape. The test data are
read from --data_dir; without it, from the folder the run was trained on
(its flags.json), or bAbI_data when that folder is not there (a released
run); the lexicon must be the run's.
"""

import json
import os
import sys

from absl import flags

from dam import config as config_lib
from damrun import cli
from damrun import presets
from damrun import scripts

_D = presets.EVAL

# The authors' eval.py flags and defaults: the model group (used to check
# the saved configuration; keep_prob and clip_value act only in training).
cli.define_model_flags(_D, embedding=True)
flags.DEFINE_integer('batch_size', _D['batch_size'],
                     'Stories per evaluation batch.')
cli.define_run_dir_flags(_D['name'], 'Run name: info/<name>/checkpoint.',
                         cache_dir=True)
flags.DEFINE_integer('num', None, 'Checkpoint step to evaluate (default: '
                     'the latest).')
# Ours.
flags.DEFINE_string('data_dir', _D['data_dir'], 'Directory holding '
                    'tasks_1-20_v1-2.tar.gz or the extracted folder. Not '
                    'given: the run\'s own (recorded in its flags.json) if '
                    'the data are there, else this default.')
flags.DEFINE_boolean('download', False, 'Download the official archive into '
                     '--data_dir (not given: the default folder) if no data '
                     'is there.')
cli.define_precision_flags(quirks=False)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

cli.positive_integers('batch_size')

# Model flags checked against config.json (same names there).
MODEL_FLAGS = ('embedding_size', 'hidden_size', 'memory_address_size',
               'memory_length_size', 'num_write_heads', 'num_read_heads',
               'num_memory_blocks', 'dam', 'memory', 'mlp_sizes')


class EvalError(Exception):
  """A problem with the run directory or the flags."""


def read_config(run_dir):
  """The training configuration saved beside the checkpoints."""
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  try:
    config = run_dir.saved_config()
  except rundir.RunDirError as e:
    raise EvalError(str(e)) from None
  if config is None:
    raise EvalError(f'No run at {run_dir.root} (no config.json): train one '
                    f'with `python train.py --mode=bAbI --name=...` or pass '
                    f'the right --name / --info_dir.')
  from damrun import saved  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top
  from tasks import registry  # pylint: disable=g-import-not-at-top
  name = registry.canonical(saved.run_task(config))
  if name is None or registry.get(name) is not babi.BabiTask:
    raise EvalError(f'The run in {run_dir.root} is {saved.run_kind(config)}, '
                    f'not a {registry.name_of(babi.BabiTask)} run of '
                    f'train.py: eval.py evaluates the DAM\'s or the DNC\'s '
                    f'bAbI checkpoints.')
  return config


def data_dir(run_dir, set_name):
  """--data_dir when given; else the folder the run trained on (flags.json's
  data_dir) if it holds the set, else the default (`babi.run_data_dir`),
  with a note when the default replaces the run's.

  Raises:
    EvalError: neither holds the set, and no --download.
  """
  from tasks import babi  # pylint: disable=g-import-not-at-top
  if FLAGS['data_dir'].present:
    return FLAGS.data_dir
  recorded = recorded_data_dir(run_dir)
  chosen = babi.run_data_dir(recorded, set_name, default=FLAGS.data_dir)
  if chosen is None:
    if FLAGS.download:
      return FLAGS.data_dir
    raise EvalError(babi.no_run_data_message(recorded, set_name,
                                             FLAGS.data_dir))
  if recorded and chosen != recorded:
    print(f'The run\'s data folder {recorded} holds no bAbI {set_name!r} '
          f'set; reading {chosen} instead.', file=sys.stderr)
  return chosen


def recorded_data_dir(run_dir):
  """The --data_dir the run was trained with (its flags.json), or None."""
  try:
    with open(os.path.join(run_dir.root, 'flags.json')) as f:
      recorded = json.load(f).get('data_dir')
  except (OSError, ValueError, AttributeError):
    return None
  return recorded if isinstance(recorded, str) and recorded else None


def check_flags(config):
  """Model flags given on the command line must match the checkpoint's."""
  expected = dict(config, mlp_sizes=','.join(
      str(size) for size in config.get('mlp_sizes', ())))
  if config.get('memory') is not None or 'dam' in config:
    expected['memory'] = config_lib.memory_of(config)
    core = config_lib.CORES.get(expected['memory'])
    if core is not None and 'num_blocks' not in core.takes:  # the DNC's K
      expected['num_memory_blocks'] = FLAGS.num_memory_blocks  # is unused
  given = {name: getattr(FLAGS, name) for name in MODEL_FLAGS}
  given['mlp_sizes'] = ','.join(str(size) for size in cli.mlp_sizes())
  differences = [
      f'--{name}={getattr(FLAGS, name)} but the checkpoint was trained with '
      f'{expected[name]}'
      for name in MODEL_FLAGS
      if FLAGS[name].present and given[name] != expected.get(name)]
  if differences:
    raise EvalError('Model flags disagree with the checkpoint\'s '
                    'configuration:\n  ' + '\n  '.join(differences) +
                    '\nDrop them (the saved configuration is used) or pass '
                    'the values it was trained with.')


def restore_model(config, directory, step=None):
  """The model of `config` with the weights of a checkpoint in `directory`.

  Args:
    config: the run's config.json.
    directory: the run's checkpoint folder.
    step: the checkpoint's step (--num); None: the newest checkpoint that
      restores (corrupt newer ones are skipped, each named in a warning).

  Returns:
    (model, checkpoint prefix).

  Raises:
    damrun.checkpoints.CheckpointError: no such checkpoint, or it (with
      `step`; else every one) is unreadable.
  """
  from damrun import saved  # pylint: disable=g-import-not-at-top
  model = saved.build_model(config, config['vocab_size'],
                            vocab_size=config['vocab_size'],
                            embedding_size=config['embedding_size'])
  path = saved.restore(model, directory, step,
                       log=lambda line: print(line, file=sys.stderr))
  return model, path


def main(argv):
  cli.check_no_arguments(argv)
  from damrun import babi_eval  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top
  cli.set_precision()
  run_dir = rundir.RunDirectory(FLAGS.name, FLAGS.info_dir)
  try:
    config = read_config(run_dir)
    check_flags(config)
    if FLAGS.num is not None:  # an absent step: say so before any work
      checkpoints.checkpoint_path(run_dir.checkpoint, FLAGS.num)
    elif not checkpoints.available_steps(run_dir.checkpoint):
      raise EvalError(f'No checkpoint in {run_dir.checkpoint}.')
    set_name = config.get('babi_set', 'en-10k')
    folder = data_dir(run_dir, set_name)
    data = babi.load(folder, set_name,
                     length_limit=config.get('length_limit', 800),
                     download=FLAGS.download, cache_dir=FLAGS.cache_dir)
    if babi.lexicon_fingerprint(data.lexicon) != config.get('lexicon_sha'):
      raise EvalError(
          f'The bAbI data in {folder} give another lexicon than the '
          f'one this model was trained with ({data.vocab_size} words): use '
          f'the same data (and set) as for training.')
    data_info = dict(
        fingerprint=babi.find_source(folder, set_name).fingerprint(),
        source=data.source, set=set_name, lexicon_sha=config['lexicon_sha'])
    model, path = restore_model(config, run_dir.checkpoint, FLAGS.num)
  except (EvalError, checkpoints.CheckpointError, babi.BabiDataError) as e:
    print(f'eval.py: {e}', file=sys.stderr)
    return 2
  step = int(path.rsplit('-', 1)[-1])
  print(f'Evaluating {path} ({config_lib.label(config)}, step '
        f'{step}) on {sum(len(s.stories) for s in data.test.values())} test '
        f'stories of {len(data.test)} tasks; {cli.precision_note()}.',
        flush=True)
  results = babi_eval.evaluate(model, data, FLAGS.batch_size)
  table, mean, failed = babi_eval.report(results)
  print('\n' + table)
  json_path, csv_path = babi_eval.write_results(
      run_dir.root, step, results, mean, failed, path, data_info)
  print(f'\nWritten {json_path} and {csv_path}')
  return 0


def run():
  """`python eval.py` and the console script `dam-eval`."""
  scripts.run(sys.modules[__name__])
