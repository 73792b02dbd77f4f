"""Trains the Key-Value Memory Network baseline on bAbI (Miller et al. 2016).

The reference implementation's two scripts are one here:

    single.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
 -> python run_kvmemnn.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
    joint.py
 -> python run_kvmemnn.py

With --task_id the model trains on that one task with single.py's defaults;
without it, jointly on all 20 tasks with joint.py's defaults
(`dam.presets.KVMEMNN`; any flag given explicitly wins). Data: bAbI v1.2
`en` (1k) by default, read by the project's one bAbI reader (`tasks.babi`)
from --data_dir (the reference's `data/tasks_1-20_v1-2/en/`, or a folder
holding the archive).

Every --evaluation_interval epochs (and at the end) the per-task training,
validation and test accuracies are printed and appended to
info/<name>/metrics.csv; the final ones go to --output_file with the
reference's columns (joint: Task, Training Accuracy, Validation Accuracy,
Testing Accuracy; single task: one appended line "task, test, train, val").
Checkpoints (model, optimizer, epoch, random streams) go to
info/<name>/checkpoint every evaluation; the same command resumes.
"""

import os
import sys
import time

from absl import app
from absl import flags

from dam import cli
from dam import presets

TIMESTAMP = str(int(time.time()))

flags.DEFINE_integer('task_id', None, 'bAbI task 1..20 (single-task '
                     'training, single.py); none: joint training on all 20 '
                     '(joint.py).')
# None in these flags = the mode's preset (joint.py or single.py).
flags.DEFINE_float('learning_rate', None, 'Adam learning rate (decayed by '
                   '0.96 every decay_steps steps, staircase).')
flags.DEFINE_float('epsilon', None, 'Adam epsilon (TF1 rule).')
flags.DEFINE_float('l2_lambda', None, 'Weight of the L2 term.')
flags.DEFINE_float('keep_prob', None, 'Dropout keep probability (GRU '
                   'reader).')
flags.DEFINE_float('max_grad_norm', None, 'Per-tensor gradient clipping.')
flags.DEFINE_integer('evaluation_interval', None, 'Epochs between '
                     'evaluations.')
flags.DEFINE_integer('batch_size', None, 'Batch size.')
flags.DEFINE_integer('hops', None, 'Key-addressing hops.')
flags.DEFINE_integer('epochs', None, 'Training epochs.')
flags.DEFINE_integer('embedding_size', None, 'Word embedding size d.')
flags.DEFINE_integer('memory_size', None, 'Memory slots (most recent '
                     'sentences).')
flags.DEFINE_integer('feature_size', None, 'Feature size F.')
flags.DEFINE_integer('decay_steps', None, 'Learning-rate decay period '
                     '(joint.py 90000, single.py 20000).')
flags.DEFINE_integer('random_state', None, 'Seed of the train/validation '
                     'split, the initial weights, the batch order and the '
                     'gradient noise (none: drawn once and saved with the '
                     'run).')
flags.DEFINE_string('data_dir', 'data/tasks_1-20_v1-2/en/', 'bAbI data: the '
                    'set folder, the tasks_1-20_v1-2 folder, or a folder '
                    'holding tasks_1-20_v1-2.tar.gz.')
flags.DEFINE_enum('babi_set', 'en', ['en', 'en-10k'], 'bAbI set when '
                  '--data_dir is not the set folder itself.')
flags.DEFINE_string('output_file', None, 'Final accuracies (CSV).')
flags.DEFINE_string('param_output_file', None, 'Joint: the hyper-parameters '
                    '(default logs/params_<timestamp>.csv).')
flags.DEFINE_enum('reader', 'bow', ['bow', 'simple_gru'], 'Sentence reader.')
flags.DEFINE_boolean('mix_tasks', None, 'True: reshuffle the training '
                     'examples every epoch so that batches mix tasks. False: '
                     'the reference\'s batches, contiguous slices of the '
                     'task-ordered training set in shuffled order (one or '
                     'two tasks per batch). Default: False, or True with '
                     '--noreproduce_quirks.')
flags.DEFINE_float('gradient_noise', 1e-3, 'Stddev of the Gaussian gradient '
                   'noise.')
cli.define_run_dir_flags(None, 'Run name: info/<name>/ (default '
                         'kvmemnn_joint or kvmemnn_task<N>).')
cli.define_precision_flags()

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too.

flags.register_validator('task_id', lambda v: v is None or 1 <= v <= 20,
                         message='--task_id must be in 1..20.')
cli.positive_integers('evaluation_interval', 'batch_size', 'hops', 'epochs',
                      'embedding_size', 'memory_size', 'feature_size',
                      'decay_steps')


def settings():
  """The hyper-parameters: the mode's preset, overridden by given flags."""
  mode = 'joint' if FLAGS.task_id is None else 'single'
  values = dict(presets.KVMEMNN[mode])
  values['output_file'] = values['output_file'].format(timestamp=TIMESTAMP)
  for key in values:
    if getattr(FLAGS, key) is not None:
      values[key] = getattr(FLAGS, key)
  if not 0. < values['keep_prob'] <= 1.:
    raise app.UsageError('--keep_prob must be in (0, 1].')
  return mode, values


def write_outputs(mode, task_ids, results, output_file):
  """The final accuracies in the reference's format (see module doc)."""
  os.makedirs(os.path.dirname(output_file) or '.', exist_ok=True)
  if mode == 'joint':
    with open(output_file, 'w') as f:
      f.write('Task,Training Accuracy,Validation Accuracy,Testing Accuracy\n')
      for t in task_ids:
        f.write(f'{t},{results["train"][t]:.2f},{results["val"][t]:.2f},'
                f'{results["test"][t]:.2f}\n')
  else:
    with open(output_file, 'a') as f:
      t = task_ids[0]
      f.write(f'{t}, {results["test"][t]:.2f}, {results["train"][t]:.2f}, '
              f'{results["val"][t]:.2f}\n')


def main(argv):
  cli.check_no_arguments(argv)
  import numpy as np  # pylint: disable=g-import-not-at-top
  from dam import kvmemnn  # pylint: disable=g-import-not-at-top
  from dam.run import checkpoints  # pylint: disable=g-import-not-at-top
  from dam.run import kvmemnn as kv_run  # pylint: disable=g-import-not-at-top
  from dam.run import reporting  # pylint: disable=g-import-not-at-top
  from dam.run import rundir  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top
  from tasks import babi_kv  # pylint: disable=g-import-not-at-top

  mode, hp = settings()
  cli.set_precision()
  mix_tasks = (FLAGS.mix_tasks if FLAGS.mix_tasks is not None
               else not FLAGS.reproduce_quirks)
  task_ids = list(range(1, 21)) if mode == 'joint' else [FLAGS.task_id]
  name = FLAGS.name or ('kvmemnn_joint' if mode == 'joint'
                        else f'kvmemnn_task{FLAGS.task_id}')
  run_dir = rundir.RunDirectory(name, FLAGS.info_dir)
  random_state = FLAGS.random_state
  if random_state is None:  # Draw once; a resumed run reuses the saved one.
    random_state = (run_dir.saved_config() or {}).get(
        'random_state', int(np.random.SeedSequence().entropy % 2**31))
  try:
    data = babi_kv.load_kv(FLAGS.data_dir, task_ids, set_name=FLAGS.babi_set,
                           memory_size=hp['memory_size'],
                           random_state=random_state)
  except (babi.BabiDataError, ValueError) as e:
    print(f'run_kvmemnn.py: {e}', file=sys.stderr)
    return 2
  config = dict(model='KV-MemNN', mode=mode, task_ids=task_ids,
                reader=FLAGS.reader, random_state=random_state,
                mix_tasks=mix_tasks,
                vocab_size=data.vocab_size, sentence_size=data.sentence_size,
                memory_slots=data.memory_size,
                **{k: hp[k] for k in ('embedding_size', 'feature_size',
                                      'hops', 'batch_size', 'memory_size')})
  try:
    rundir.check_or_write_config(run_dir, config)
  except rundir.ConfigMismatchError as e:
    print(f'run_kvmemnn.py: {e}', file=sys.stderr)
    return 2
  if mode == 'joint':
    params_file = FLAGS.param_output_file or f'logs/params_{TIMESTAMP}.csv'
    os.makedirs(os.path.dirname(params_file) or '.', exist_ok=True)
    with open(params_file, 'w') as f:
      for key, value in sorted(dict(hp, reader=FLAGS.reader,
                                    random_state=random_state,
                                    data_dir=FLAGS.data_dir).items()):
        f.write(f'{key.upper()}={value}\n')
  print(f'KV-MemNN ({mode}, tasks {task_ids[0]}..{task_ids[-1]}): vocabulary '
        f'{data.vocab_size}, sentence size {data.sentence_size}, memory '
        f'{data.memory_size} slots (longest story {data.max_story_size}, '
        f'mean {data.mean_story_size}); train {len(data.train.A)}, '
        f'validation {len(data.val.A)}, test {len(data.test.A)}; '
        f'random_state {random_state}.', flush=True)

  model = kvmemnn.KVMemNN(
      data.vocab_size, data.sentence_size, data.memory_size,
      embedding_size=hp['embedding_size'], feature_size=hp['feature_size'],
      hops=hp['hops'], reader=FLAGS.reader, keep_prob=hp['keep_prob'],
      seed=random_state)
  trainer = kv_run.KVTrainer(model, data, task_ids, hp, run_dir,
                             random_state, mix_tasks, FLAGS.gradient_noise)
  try:
    restored = trainer.resume()
  except checkpoints.CheckpointError as e:
    print(f'run_kvmemnn.py: {e}', file=sys.stderr)
    return 2
  if restored:
    print(f'Resumed from {restored} at epoch {int(trainer.epoch.numpy())}.',
          flush=True)
  if trainer.num_batches < 1:
    print(f'run_kvmemnn.py: {len(data.train.A)} training examples are too '
          f'few for --batch_size={hp["batch_size"]}.', file=sys.stderr)
    return 2
  start = time.time()
  results = trainer.train()
  if results is None:
    print(f'Nothing to do: the run in {run_dir.root} has finished its '
          f'{hp["epochs"]} epochs.')
    return 0
  output_file = hp['output_file']
  write_outputs(mode, task_ids, results, output_file)
  reporting.write_summary(run_dir.summary, dict(
      mode=mode, epochs=hp['epochs'], settings=hp, random_state=random_state,
      results=results, wall_time_s=time.time() - start,
      output_file=output_file))
  print(f'Final accuracies written to {output_file}; summary in '
        f'{run_dir.summary}.')
  return 0


if __name__ == '__main__':
  app.run(main)
