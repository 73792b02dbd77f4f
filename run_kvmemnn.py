"""Trains the Key-Value Memory Network baseline on bAbI (SPEC 7).

The reference implementation's two scripts are one here:

    single.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
 -> python run_kvmemnn.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
    joint.py
 -> python run_kvmemnn.py

With --task_id the model trains on that one task with single.py's defaults;
without it, jointly on all 20 tasks with joint.py's defaults (see DEFAULTS:
any flag given explicitly wins). Data: bAbI v1.2 `en` (1k) by default, read
by the project's one bAbI reader (`tasks.babi`) from --data_dir (the
reference's `data/tasks_1-20_v1-2/en/`, or a folder holding the archive).

Every --evaluation_interval epochs (and at the end) the per-task training,
validation and test accuracies are printed and appended to
info/<name>/metrics.csv; the final ones go to --output_file with the
reference's columns (joint: Task, Training Accuracy, Validation Accuracy,
Testing Accuracy; single task: one appended line "task, test, train, val").
Checkpoints (model, optimizer, epoch, random streams) go to
info/<name>/checkpoint every evaluation; the same command resumes.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

from dam import cli

TIMESTAMP = str(int(time.time()))

# joint.py and single.py defaults (SPEC 7); None in the flag = take these.
DEFAULTS = {
    'joint': dict(learning_rate=0.001, epsilon=0.1, l2_lambda=0.1,
                  keep_prob=1.0, max_grad_norm=20.0, evaluation_interval=20,
                  batch_size=50, hops=3, epochs=200, embedding_size=40,
                  memory_size=50, feature_size=50, decay_steps=90000,
                  output_file=f'logs/scores_{TIMESTAMP}.csv'),
    'single': dict(learning_rate=0.001, epsilon=0.1, l2_lambda=0.2,
                   keep_prob=1.0, max_grad_norm=20.0, evaluation_interval=50,
                   batch_size=32, hops=3, epochs=100, embedding_size=30,
                   memory_size=20, feature_size=40, decay_steps=20000,
                   output_file='single_scores.csv'),
}

flags.DEFINE_integer('task_id', None, 'bAbI task 1..20 (single-task '
                     'training, single.py); none: joint training on all 20 '
                     '(joint.py).')
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
flags.DEFINE_string('name', None, 'Run name: info/<name>/ (default '
                    'kvmemnn_joint or kvmemnn_task<N>).')
flags.DEFINE_string('info_dir', 'info', 'Root directory of runs.')

cli.define_tf32_flag()
cli.define_quirks_flag()

FLAGS = flags.FLAGS

flags.register_validator('task_id', lambda v: v is None or 1 <= v <= 20,
                         message='--task_id must be in 1..20.')
for _flag in ('evaluation_interval', 'batch_size', 'hops', 'epochs',
              'embedding_size', 'memory_size', 'feature_size', 'decay_steps'):
  flags.register_validator(_flag, lambda v: v is None or v >= 1,
                           message=f'--{_flag} must be a positive integer.')


def settings():
  """The hyper-parameters: the mode's defaults, overridden by given flags."""
  mode = 'joint' if FLAGS.task_id is None else 'single'
  values = dict(DEFAULTS[mode])
  for key in values:
    if getattr(FLAGS, key) is not None:
      values[key] = getattr(FLAGS, key)
  if not 0. < values['keep_prob'] <= 1.:
    raise app.UsageError('--keep_prob must be in (0, 1].')
  return mode, values


def per_task_accuracy(predict, split, task_ids, batch_size=1000):
  """dict task -> accuracy of `predict` on the examples of that task."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  predictions = np.concatenate([
      predict(split.S[i:i + batch_size], split.Q[i:i + batch_size])
      for i in range(0, len(split.A), batch_size)])
  right = predictions == split.A
  return {t: float(right[split.task == t].mean()) for t in task_ids}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import kvmemnn  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  from dam import training  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top
  from tasks import babi_kv  # pylint: disable=g-import-not-at-top

  mode, hp = settings()
  cli.set_precision()
  mix_tasks = (FLAGS.mix_tasks if FLAGS.mix_tasks is not None
               else not FLAGS.reproduce_quirks)
  task_ids = list(range(1, 21)) if mode == 'joint' else [FLAGS.task_id]
  name = FLAGS.name or ('kvmemnn_joint' if mode == 'joint'
                        else f'kvmemnn_task{FLAGS.task_id}')
  run_dir = training.RunDirectory(name, FLAGS.info_dir)
  random_state = FLAGS.random_state
  if random_state is None:  # Draw once; a resumed run reuses the saved one.
    saved = {}
    if os.path.exists(run_dir.config):
      with open(run_dir.config) as f:
        saved = json.load(f)
    random_state = saved.get('random_state',
                             int(np.random.SeedSequence().entropy % 2**31))
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
    training.check_or_write_config(run_dir, config)
  except training.ConfigMismatchError as e:
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
  variables = model.trainable_variables
  learning_rate = tf.Variable(hp['learning_rate'], trainable=False,
                              dtype=tf.float32, name='learning_rate')
  optimizer = optimizers.TF1Adam(learning_rate, epsilon=hp['epsilon'])
  optimizer._initialize(variables)  # pylint: disable=protected-access
  noise = tf.random.Generator.from_seed(random_state + 1)
  epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
  order_state = tf.Variable('', dtype=tf.string, trainable=False)
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                   epoch=epoch, noise=noise,
                                   order_state=order_state)
  manager = tf.train.CheckpointManager(checkpoint, run_dir.checkpoint,
                                       max_to_keep=3)
  shuffle_rng = np.random.default_rng(random_state)
  if manager.latest_checkpoint:
    try:
      checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
      print(f'run_kvmemnn.py: cannot restore {manager.latest_checkpoint}: '
            f'{type(e).__name__}; it is corrupt or from another model. '
            f'Delete {run_dir.checkpoint} or pass a new --name; nothing was '
            f'changed.', file=sys.stderr)
      return 2
    shuffle_rng.bit_generator.state = json.loads(order_state.numpy().decode())
    print(f'Resumed from {manager.latest_checkpoint} at epoch '
          f'{int(epoch.numpy())}.', flush=True)

  batch_size = hp['batch_size']
  decay_steps, base_rate = hp['decay_steps'], hp['learning_rate']
  spec = [tf.TensorSpec([batch_size, data.memory_size, data.sentence_size],
                        tf.int32),
          tf.TensorSpec([batch_size, data.sentence_size], tf.int32),
          tf.TensorSpec([batch_size], tf.int32)]

  @tf.function(input_signature=spec)
  def train_step(stories, queries, answers):
    # exponential_decay(staircase) of the step count before this update.
    exponent = tf.math.floordiv(optimizer.step, decay_steps)
    learning_rate.assign(base_rate * tf.pow(0.96, tf.cast(exponent,
                                                          tf.float32)))
    with tf.GradientTape() as tape:
      logits = model(stories, queries, training=True)
      total, cross_entropy = kvmemnn.loss(model, logits, answers,
                                          hp['l2_lambda'])
    grads = kvmemnn.process_gradients(
        model, tape.gradient(total, variables), hp['max_grad_norm'],
        FLAGS.gradient_noise, noise)
    optimizer.apply(grads, variables)
    return total, cross_entropy

  @tf.function(input_signature=[
      tf.TensorSpec([None, data.memory_size, data.sentence_size], tf.int32),
      tf.TensorSpec([None, data.sentence_size], tf.int32)])
  def predict_step(stories, queries):
    return tf.argmax(model(stories, queries), -1, output_type=tf.int32)

  def predict(stories, queries):
    return predict_step(stories, queries).numpy()

  n_train = len(data.train.A)
  num_batches = len(range(0, n_train - batch_size, batch_size))
  if num_batches < 1:
    print(f'run_kvmemnn.py: {n_train} training examples are too few for '
          f'--batch_size={batch_size}.', file=sys.stderr)
    return 2
  results = None
  start = time.time()
  first_epoch = int(epoch.numpy())
  for e in range(first_epoch + 1, hp['epochs'] + 1):
    costs = []
    for rows in babi_kv.epoch_batches(shuffle_rng, n_train, batch_size,
                                      mix_tasks):
      _, cross_entropy = train_step(data.train.S[rows], data.train.Q[rows],
                                    data.train.A[rows])
      costs.append(float(cross_entropy))
    epoch.assign(e)
    rate = (e - first_epoch) / (time.time() - start)
    print(f'[epoch {e}/{hp["epochs"]}] cost {np.mean(costs):.4f} | '
          f'{rate * num_batches:.1f} steps/s, ETA '
          f'{(hp["epochs"] - e) / rate / 60:.1f} min', flush=True)
    if e % hp['evaluation_interval'] == 0 or e == hp['epochs']:
      results = {split: per_task_accuracy(predict, getattr(data, split),
                                          task_ids)
                 for split in ('train', 'val', 'test')}
      elapsed = time.time() - start
      mean = {k: float(np.mean(list(v.values()))) for k, v in results.items()}
      print(f'Evaluation at epoch {e}: mean accuracy train '
            f'{mean["train"]:.3f} validation {mean["val"]:.3f} test '
            f'{mean["test"]:.3f} | lr {float(learning_rate.numpy()):.2e} | '
            f'{elapsed / 60:.1f} min', flush=True)
      for t in task_ids:
        print(f'  task {t:>2}: train {results["train"][t]:.2f} validation '
              f'{results["val"][t]:.2f} test {results["test"][t]:.2f}')
      row = {'epoch': e, 'step': int(optimizer.step.numpy()),
             'wall_time_s': round(elapsed, 2), 'cost': float(np.mean(costs))}
      for split, accs in results.items():
        row.update({f'{split}_task{t}': a for t, a in accs.items()})
        row[f'{split}_mean'] = mean[split]
      training.append_csv_row(run_dir.metrics, row)
      order_state.assign(json.dumps(shuffle_rng.bit_generator.state))
      manager.save(checkpoint_number=e)
  if results is None:
    print(f'Nothing to do: the run in {run_dir.root} has finished its '
          f'{hp["epochs"]} epochs.')
    return 0
  output_file = hp['output_file'] if FLAGS.output_file is None else (
      FLAGS.output_file)
  os.makedirs(os.path.dirname(output_file) or '.', exist_ok=True)
  if mode == 'joint':
    with open(output_file, 'w') as f:
      f.write('Task,Training Accuracy,Validation Accuracy,Testing Accuracy\n')
      for t in task_ids:
        f.write(f'{t},{results["train"][t]:.2f},{results["val"][t]:.2f},'
                f'{results["test"][t]:.2f}\n')
  else:
    with open(output_file, 'a') as f:
      t = FLAGS.task_id
      f.write(f'{t}, {results["test"][t]:.2f}, {results["train"][t]:.2f}, '
              f'{results["val"][t]:.2f}\n')
  summary = dict(mode=mode, epochs=hp['epochs'], settings=hp,
                 random_state=random_state, results=results,
                 wall_time_s=time.time() - start, output_file=output_file)
  with open(run_dir.summary, 'w') as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  print(f'Final accuracies written to {output_file}; summary in '
        f'{run_dir.summary}.')
  return 0


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  app.run(main)
