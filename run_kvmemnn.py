"""Trains the Key-Value Memory Network baseline on bAbI (Miller et al. 2016).

The reference implementation's two scripts are one here:

    single.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
 -> python run_kvmemnn.py --task_id 20 --learning_rate 0.005 --feature_size 40 --epochs 200
    joint.py
 -> python run_kvmemnn.py

With --task_id the model trains on that one task with single.py's defaults;
without it, jointly on all 20 tasks with joint.py's defaults
(`damrun.presets.KVMEMNN`; any flag given explicitly wins). Data: bAbI v1.2
`en` (1k) by default (--babi_set=en-10k for the other set), read by the
project's one bAbI reader (`tasks.babi`) from --data_dir, the folder
train.py reads: `bAbI_data/` by default, holding tasks_1-20_v1-2.tar.gz or
the extracted tasks_1-20_v1-2/ folder; --download fetches the official
archive there (`tasks.babi.find_or_fetch`, as train.py). The reference's
form, the set folder itself (`--data_dir=data/tasks_1-20_v1-2/en/`), is read
too, its set then named by the folder unless --babi_set is given.

Every --evaluation_interval epochs (and at the end) the per-task training,
validation and test accuracies are printed and appended to
info/<name>/metrics.csv; the final ones go to --output_file with the
reference's columns (joint: Task, Training Accuracy, Validation Accuracy,
Testing Accuracy; single task: one appended line "task, test, train, val").
By default the reference's files go into the run directory, under the
reference's names: info/<name>/logs/scores_<time>.csv and
info/<name>/logs/params_<time>.csv (joint), info/<name>/single_scores.csv
(single task); an explicit --output_file / --param_output_file wins.
Checkpoints (model, optimizer, epoch, random streams) go to
info/<name>/checkpoint every evaluation; the same command resumes. Rerunning
a finished run does nothing, unless its scores were not written (the write
failed, the file is gone, or a new --output_file is given): then it writes
them from the final checkpoint. A non-finite loss or weight stops the run
(exit code 1) without saving that state or writing scores.
"""

import contextlib
import json
import math
import os
import sys
import time

from absl import flags

from damrun import cli
from damrun import failures
from damrun import presets

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
flags.DEFINE_string('data_dir', presets.TRAIN['data_dir'], 'bAbI data, the '
                    'folder train.py reads: it holds tasks_1-20_v1-2.tar.gz '
                    'or the extracted tasks_1-20_v1-2/ folder (the set '
                    'folder itself, e.g. the reference\'s '
                    'data/tasks_1-20_v1-2/en/, is read too).')
flags.DEFINE_enum('babi_set', 'en', ['en', 'en-10k'], 'bAbI set (1k or 10k '
                  'training questions per task); when --data_dir is a set '
                  'folder and this flag is not given, that folder\'s set.')
flags.DEFINE_boolean('download', False, 'Download the official bAbI archive '
                     'into --data_dir if no data is there (as train.py).')
flags.DEFINE_string('output_file', None, 'Final accuracies (CSV; default '
                    'in the run directory: logs/scores_<timestamp>.csv '
                    '(joint) or single_scores.csv (single task)).')
flags.DEFINE_string('param_output_file', None, 'Joint: the hyper-parameters '
                    '(default <run directory>/logs/params_<timestamp>.csv).')
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
cli.seeds('random_state')


def _finite_bound(name, strict, note=''):
  """Registers `--<name> must be a finite number > 0` (or >= 0)."""
  def check(value):
    if value is None:  # not given: the preset's value
      return True
    return math.isfinite(value) and (value > 0. if strict else value >= 0.)
  flags.register_validator(
      name, check, message=f'--{name} must be a finite number '
      f'{">" if strict else ">="} 0{note}.')


_finite_bound('learning_rate', strict=True)
_finite_bound('epsilon', strict=True)
_finite_bound('max_grad_norm', strict=True, note=' (the per-tensor clipping '
              'norm)')
_finite_bound('l2_lambda', strict=False, note=' (0: no L2 term)')
_finite_bound('gradient_noise', strict=False, note=' (0: no noise)')
flags.register_validator('keep_prob', lambda v: v is None or 0. < v <= 1.,
                         message='--keep_prob must be in (0, 1].')
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
  return mode, values


def babi_set():
  """--babi_set, or, when not given and --data_dir is a set folder (the
  reference's form, data/tasks_1-20_v1-2/en-10k/), that folder's set."""
  if FLAGS['babi_set'].present:
    return FLAGS.babi_set
  folder = os.path.basename(os.path.normpath(os.path.abspath(
      FLAGS.data_dir)))
  if folder in ('en', 'en-10k') and any(
      name.startswith('qa') and name.endswith('_test.txt')
      for name in _listdir(FLAGS.data_dir)):
    return folder
  return FLAGS.babi_set


def _listdir(folder):
  try:
    return os.listdir(folder)
  except OSError:
    return []


def read_summary(path):
  """The run's summary.json as a dict ({} if missing or unreadable)."""
  try:
    with open(path) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return {}
  return summary if isinstance(summary, dict) else {}


def scores_written(summary, output_file, explicit):
  """Whether a finished run's scores are already where they should be.

  `summary['output_file']` is set only after a successful write; the file
  must still exist and, when --output_file is given, be that file.
  """
  written = summary.get('output_file')
  if not written or not os.path.isfile(written):
    return False
  return not explicit or os.path.abspath(written) == os.path.abspath(
      output_file)


def write_outputs(mode, task_ids, results, output_file):
  """The final accuracies in the reference's format (see module doc;
  `damrun.kvmemnn.write_scores`)."""
  from damrun import kvmemnn as kv_run  # pylint: disable=g-import-not-at-top
  kv_run.write_scores(mode, task_ids, results, output_file)


def write_params(hp, params_file, random_state):
  """Joint: the hyper-parameters to --param_output_file (the reference's
  params file); False (with the message printed) if it cannot be written."""
  try:
    os.makedirs(os.path.dirname(params_file) or '.', exist_ok=True)
    with open(params_file, 'w') as f:
      for key, value in sorted(dict(hp, reader=FLAGS.reader,
                                    random_state=random_state,
                                    data_dir=FLAGS.data_dir).items()):
        f.write(f'{key.upper()}={value}\n')
  except OSError as e:
    print(f'run_kvmemnn.py: cannot write --param_output_file='
          f'{params_file}: {e.strerror or e}.', file=sys.stderr)
    return False
  return True


def main(argv):
  cli.check_no_arguments(argv)
  import numpy as np  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  from damrun import run_records  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
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
  # The reference's files, in the run directory unless given explicitly.
  if FLAGS.output_file is None:
    hp['output_file'] = os.path.join(run_dir.root, hp['output_file'])
  params_file = FLAGS.param_output_file or os.path.join(
      run_dir.root, 'logs', f'params_{TIMESTAMP}.csv')
  for path, flag in ((hp['output_file'], '--output_file'),
                     (params_file, '--param_output_file')):
    problem = failures.path_problem(path, flag)
    if problem and (flag == '--output_file' or mode == 'joint'):
      print(f'run_kvmemnn.py: {problem}', file=sys.stderr)
      return 2
  random_state = FLAGS.random_state
  seed_note = ''
  if random_state is None:  # Draw once; a resumed run reuses the saved one.
    # Unseeded by default, as the reference's scripts; the drawn seed is
    # printed and saved (config.json, summary.json) so a run can be repeated.
    try:
      saved = run_dir.saved_config() or {}
    except rundir.RunDirError as e:
      print(f'run_kvmemnn.py: {e}', file=sys.stderr)
      return 2
    random_state = saved.get('random_state')
    seed_note = ' (the run\'s, from config.json)'
    if random_state is None:
      random_state = int(np.random.SeedSequence().entropy % 2**31)
      seed_note = (f' (drawn: --random_state={random_state} repeats this '
                   f'run)')
  try:
    source = babi.find_or_fetch(FLAGS.data_dir, babi_set(), FLAGS.download)
    data = babi_kv.load_kv(source, task_ids, memory_size=hp['memory_size'],
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
  # The run folder is locked while this process trains in it, and every
  # check of its records comes before the first write (`damrun.run_records`).
  with contextlib.ExitStack() as held:
    try:
      held.enter_context(run_records.hold(run_dir))
      trainer, restored = _start(run_dir, config, data, task_ids, hp,
                                 random_state, mix_tasks)
    except (rundir.ConfigMismatchError, checkpoints.CheckpointError) as e:
      print(f'run_kvmemnn.py: {e}', file=sys.stderr)
      return 2
    try:
      return _train_and_score(mode, task_ids, hp, run_dir, trainer, restored,
                              data, (random_state, seed_note), params_file)
    except reporting.RecordWriteError as e:  # A full disk.
      print(f'run_kvmemnn.py: {e}', file=sys.stderr)
      return 1


def run_flags(hp, random_state, mix_tasks):
  """The run's settings recorded in flags.json and checked on resume
  (`damrun.resume_flags`, as the other scripts): every flag, with the
  preset's values where a flag was not given."""
  from damrun import resume_flags  # pylint: disable=g-import-not-at-top
  values = resume_flags.flag_record(FLAGS,
                                    (sys.argv[0], __name__, cli.__name__))
  values.update({key: value for key, value in hp.items() if key in values})
  values.update(random_state=random_state, mix_tasks=mix_tasks,
                babi_set=babi_set())
  return values


def _start(run_dir, config, data, task_ids, hp, random_state, mix_tasks):
  """Checks the run's records, config.json and flags, restores the newest
  checkpoint, and only then writes the start's records.

  Returns:
    (the `damrun.kvmemnn.KVTrainer`, the checkpoint restored or None).

  Raises:
    rundir.ConfigMismatchError, checkpoints.CheckpointError: a refused
      start; nothing was written.
  """
  from dam import kvmemnn  # pylint: disable=g-import-not-at-top
  from damrun import kvmemnn as kv_run  # pylint: disable=g-import-not-at-top
  from damrun import resume_flags  # pylint: disable=g-import-not-at-top
  from damrun import run_records  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  run_records.check(run_dir)
  new_config = rundir.check_config(run_dir, config)
  model = kvmemnn.KVMemNN(
      data.vocab_size, data.sentence_size, data.memory_size,
      embedding_size=hp['embedding_size'], feature_size=hp['feature_size'],
      hops=hp['hops'], reader=FLAGS.reader, keep_prob=hp['keep_prob'],
      seed=random_state)
  trainer = kv_run.KVTrainer(model, data, task_ids, hp, run_dir,
                             random_state, mix_tasks, FLAGS.gradient_noise)
  restored = trainer.resume()
  flags_now = run_flags(hp, random_state, mix_tasks)
  changes = resume_flags.check_changes(
      run_dir.root, flags_now, phased=False, finished=trainer.finished,
      restored=restored is not None)
  run_records.begin(run_dir, config, new_config)
  resume_flags.record(run_dir.root, flags_now, int(trainer.epoch.numpy()),
                      restored, changes, print)
  return trainer, restored


def _train_and_score(mode, task_ids, hp, run_dir, trainer, restored, data,
                     seed, params_file):
  """Trains the remaining epochs (or evaluates a finished run whose scores
  were not written), writes the scores and summary.json; the exit code.

  `seed`: (random_state, the note on where it comes from)."""
  random_state, seed_note = seed
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  previous = read_summary(run_dir.summary)
  if trainer.finished:
    if scores_written(previous, hp['output_file'],
                      FLAGS.output_file is not None):
      print(f'Nothing to do: the run in {run_dir.root} has finished its '
            f'{hp["epochs"]} epochs; its scores are in '
            f'{previous["output_file"]}.')
      return 0
    if FLAGS.output_file is None and previous.get('output_file'):
      hp['output_file'] = previous['output_file']  # write it again there
  if mode == 'joint' and not write_params(hp, params_file, random_state):
    return 2
  print(f'KV-MemNN ({mode}, tasks {task_ids[0]}..{task_ids[-1]}): vocabulary '
        f'{data.vocab_size}, sentence size {data.sentence_size}, memory '
        f'{data.memory_size} slots (longest story {data.max_story_size}, '
        f'mean {data.mean_story_size}); train {len(data.train.A)}, '
        f'validation {len(data.val.A)}, test {len(data.test.A)}; '
        f'random_state {random_state}{seed_note}.', flush=True)
  if restored:
    print(trainer.resumed_line(restored), flush=True)
  if trainer.num_batches < 1:
    print(f'run_kvmemnn.py: {len(data.train.A)} training examples are too '
          f'few for --batch_size={hp["batch_size"]}.', file=sys.stderr)
    return 2
  start = time.time()
  if trainer.finished:  # Its scores were not written: from the checkpoint.
    print(f'The run has finished its {hp["epochs"]} epochs but its scores '
          f'were not written; evaluating {restored}.', flush=True)
    results = trainer.evaluate()
    wall_time_s = previous.get('wall_time_s')
  else:
    try:
      results = trainer.train()
    except FloatingPointError as e:
      print(f'run_kvmemnn.py: {e}', file=sys.stderr)
      return 1
    wall_time_s = time.time() - start
  output_file = hp['output_file']
  summary = dict(mode=mode, epochs=hp['epochs'], settings=hp,
                 random_state=random_state, results=results,
                 wall_time_s=wall_time_s, output_file=None)
  try:
    write_outputs(mode, task_ids, results, output_file)
  except OSError as e:
    reporting.write_summary(run_dir.summary, summary)
    print(f'run_kvmemnn.py: cannot write the scores to --output_file='
          f'{output_file}: {e.strerror or e}. The trained run is kept in '
          f'{run_dir.root}; fix the path (or give another --output_file) and '
          f'run the same command to write them.', file=sys.stderr)
    return 1
  summary['output_file'] = output_file
  reporting.write_summary(run_dir.summary, summary)
  print(f'Final accuracies written to {output_file}; summary in '
        f'{run_dir.summary}.')
  return 0


if __name__ == '__main__':
  cli.run_main(main)
