"""Evaluates a bAbI checkpoint on the 20 test tasks (the authors' eval.py).

    python eval.py --dam=True --num_memory_blocks=2 --hidden_size=256 \
      --memory_address_size=128 --memory_length_size=48 --num_read_heads=4 \
      --name=babi_dam --num=97600

restores info/<name>/checkpoint/ckpt-<num> (the latest checkpoint without
--num), runs every test story of every task through the dynamic-batch core
(no dropout, no clipping), counts a question right only when all its answer
tokens are right, and prints the per-task error table, the mean error and
the number of failed tasks (error > 5 %). The same results go to
info/<name>/eval-<step>.json and .csv.

The model is rebuilt from the configuration saved with the checkpoint
(info/<name>/config.json); model flags given here that disagree with it are
reported by name instead of failing on a tensor shape.
"""

import csv
import json
import os
import sys
import time

from absl import app
from absl import flags

from dam import cli

# The authors' eval.py flags and defaults.
flags.DEFINE_integer('embedding_size', 64, 'Word embedding size.')
flags.DEFINE_integer('hidden_size', 256, 'LSTM controller units H.')
flags.DEFINE_integer('memory_address_size', 128, 'Slots per memory block N.')
flags.DEFINE_integer('memory_length_size', 48, 'Word size W.')
flags.DEFINE_integer('num_write_heads', 1, 'Write heads (per block).')
flags.DEFINE_integer('num_read_heads', 4, 'Read heads R.')
flags.DEFINE_float('keep_prob', 1.0, 'Unused at evaluation (no dropout); '
                   'accepted for the authors\' command lines.')
flags.DEFINE_integer('num_memory_blocks', 2, 'Memory blocks K (DAM).')
flags.DEFINE_boolean('dam', True, 'True: DAM; False: the DNC baseline.')
flags.DEFINE_integer('batch_size', 200, 'Stories per evaluation batch.')
flags.DEFINE_string('name', 'model', 'Run name: info/<name>/checkpoint.')
flags.DEFINE_integer('num', None, 'Checkpoint step to evaluate (default: '
                     'the latest).')
# Ours.
flags.DEFINE_string('info_dir', 'info', 'Root directory of runs.')
flags.DEFINE_string('data_dir', 'bAbI_data', 'Directory holding '
                    'tasks_1-20_v1-2.tar.gz or the extracted folder.')
flags.DEFINE_boolean('download', False, 'Download the official archive into '
                     '--data_dir if no data is there.')

FLAGS = flags.FLAGS

# eval.py flag -> config.json key, for the mismatch check.
MODEL_FLAGS = ('embedding_size', 'hidden_size', 'memory_address_size',
               'memory_length_size', 'num_write_heads', 'num_read_heads',
               'num_memory_blocks', 'dam')


class EvalError(Exception):
  """A problem with the run directory, the checkpoint or the flags."""


def read_config(run_root):
  """The training configuration saved beside the checkpoints."""
  path = os.path.join(run_root, 'config.json')
  if not os.path.exists(path):
    raise EvalError(f'No run at {run_root} (no config.json): train one with '
                    f'`python train.py --mode=bAbI --name=...` or pass the '
                    f'right --name / --info_dir.')
  with open(path) as f:
    config = json.load(f)
  if config.get('mode') != 'bAbI':
    raise EvalError(f'The run in {run_root} is a {config.get("mode")!r} run, '
                    f'not bAbI: eval.py evaluates bAbI checkpoints.')
  return config


def check_flags(config):
  """Model flags given on the command line must match the checkpoint's."""
  expected = dict(config)
  if not expected.get('dam', True):
    expected['num_memory_blocks'] = FLAGS.num_memory_blocks  # unused by DNC
  differences = [
      f'--{name}={getattr(FLAGS, name)} but the checkpoint was trained with '
      f'{expected[name]}'
      for name in MODEL_FLAGS
      if FLAGS[name].present and getattr(FLAGS, name) != expected.get(name)]
  if differences:
    raise EvalError('Model flags disagree with the checkpoint\'s '
                    'configuration:\n  ' + '\n  '.join(differences) +
                    '\nDrop them (the saved configuration is used) or pass '
                    'the values it was trained with.')


def checkpoint_path(checkpoint_dir, step):
  """The checkpoint prefix at `step` (None: latest), or a clear error."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  state = tf.train.get_checkpoint_state(checkpoint_dir)
  available = sorted(
      int(name[len('ckpt-'):-len('.index')])
      for name in (os.listdir(checkpoint_dir)
                   if os.path.isdir(checkpoint_dir) else [])
      if name.startswith('ckpt-') and name.endswith('.index'))
  if not available:
    raise EvalError(f'No checkpoint in {checkpoint_dir}.')
  if step is None:
    if state is not None and state.model_checkpoint_path:
      return state.model_checkpoint_path
    step = available[-1]
  if step not in available:
    raise EvalError(f'No checkpoint at step {step} in {checkpoint_dir}; '
                    f'available steps: {", ".join(map(str, available))}.')
  return os.path.join(checkpoint_dir, f'ckpt-{step}')


def restore_model(config, path):
  """The model of `config` with the weights of checkpoint `path`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import training  # pylint: disable=g-import-not-at-top
  core = training.build_core(
      config['vocab_size'], use_dam=config['dam'],
      hidden_size=config['hidden_size'],
      memory_size=config['memory_address_size'],
      word_size=config['memory_length_size'],
      num_reads=config['num_read_heads'], num_writes=config['num_write_heads'],
      num_blocks=config['num_memory_blocks'],
      mlp_sizes=tuple(config.get('mlp_sizes', ())))
  model = training.SequenceModel(core, config['vocab_size'],
                                 config['embedding_size'])
  model(tf.zeros([1, 1], tf.int32), tf.ones([1], tf.int32))
  try:
    status = tf.train.Checkpoint(model=model).restore(path)
    status.expect_partial().assert_existing_objects_matched()
  except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
    raise EvalError(f'Cannot restore {path}: {type(e).__name__}: '
                    f'{str(e).splitlines()[0] if str(e) else ""}\nThe '
                    f'checkpoint is corrupt or from another model.') from e
  return model


def evaluate(model, data, batch_size, log=print):
  """Per-task results: dict task -> (name, questions, right, error %)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                tf.TensorSpec([None], tf.int32)])
  def predict(inputs, seq_len):  # Dynamic batch: ragged last batch, any T.
    return tf.argmax(model(inputs, seq_len, training=False), axis=-1,
                     output_type=tf.int32)

  results = {}
  for task in sorted(data.test):
    name, stories = data.test[task]
    start = time.time()
    questions = right = 0
    for batch in babi.test_batches(stories, batch_size):
      q, r = babi.grade_counts(predict(batch.inputs, batch.seq_len).numpy(),
                               batch)
      questions, right = questions + q, right + r
    error = babi.error_percent(questions, right)
    results[task] = (name, questions, right, error)
    log(f'  qa{task} {name}: {error:.2f} % error ({questions} questions, '
        f'{time.time() - start:.1f} s)')
  return results


def report(results):
  """The authors' table: task, error %, mean error, failed tasks."""
  errors = [r[3] for r in results.values()]
  mean = sum(errors) / len(errors)
  failed = sum(e > 5. for e in errors)
  lines = [f'{"Task":<27}Result', '-' * 35]
  lines += [f'{name.replace("-", " "):<27}{error:.2f}%'
            for name, _, _, error in results.values()]
  lines += ['-' * 35, f'{"Mean Err.":<27}{mean:.2f}%',
            f'{"Failed (err. > 5%)":<27}{failed}']
  return '\n'.join(lines), mean, failed


def write_results(run_root, step, results, mean, failed, checkpoint):
  """info/<name>/eval-<step>.json and .csv."""
  base = os.path.join(run_root, f'eval-{step}')
  rows = [dict(task=task, name=name, questions=q, right=r,
               error_percent=round(e, 4))
          for task, (name, q, r, e) in results.items()]
  with open(base + '.json', 'w') as f:
    json.dump(dict(checkpoint=checkpoint, step=step, tasks=rows,
                   mean_error_percent=mean, failed_tasks=failed), f, indent=2)
  with open(base + '.csv', 'w', newline='') as f:
    out = csv.DictWriter(f, fieldnames=list(rows[0]))
    out.writeheader()
    out.writerows(rows)
  return base + '.json', base + '.csv'


cli.define_tf32_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  from tasks import babi  # pylint: disable=g-import-not-at-top
  cli.set_precision()
  run_root = os.path.join(FLAGS.info_dir, FLAGS.name)
  try:
    config = read_config(run_root)
    check_flags(config)
    path = checkpoint_path(os.path.join(run_root, 'checkpoint'), FLAGS.num)
    data = babi.load(FLAGS.data_dir, config.get('babi_set', 'en-10k'),
                     length_limit=config.get('length_limit', 800),
                     download=FLAGS.download)
    if babi.lexicon_fingerprint(data.lexicon) != config.get('lexicon_sha'):
      raise EvalError(
          f'The bAbI data in {FLAGS.data_dir} give another lexicon than the '
          f'one this model was trained with ({data.vocab_size} words): use '
          f'the same data (and set) as for training.')
    model = restore_model(config, path)
  except (EvalError, babi.BabiDataError) as e:
    print(f'eval.py: {e}', file=sys.stderr)
    return 2
  step = int(path.rsplit('-', 1)[-1])
  print(f'Evaluating {path} ({"DAM" if config["dam"] else "DNC"}, step '
        f'{step}) on {sum(len(s.stories) for s in data.test.values())} test '
        f'stories of {len(data.test)} tasks; {cli.precision_note()}.',
        flush=True)
  results = evaluate(model, data, FLAGS.batch_size)
  table, mean, failed = report(results)
  print('\n' + table)
  json_path, csv_path = write_results(run_root, step, results, mean, failed,
                                      path)
  print(f'\nWritten {json_path} and {csv_path}')
  return 0


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  app.run(main)
