"""The scripts' flags, in groups, and one way to run a training script.

Every script defines its flags from these groups with its defaults from
`damrun.presets` (the authors' values), then its own task flags:

* model (`define_model_flags`): hidden_size H, memory_address_size N,
  memory_length_size W, num_write_heads Wh, num_read_heads R, keep_prob,
  num_memory_blocks K, dam, clip_value, mlp_sizes; with `embedding=True`
  also embedding_size (token inputs: bAbI);
* optimisation (`define_optimisation_flags`): optimizer, learning_rate,
  max_grad_norm, momentum, optimizer_epsilon, p_re;
* loop and run (`define_loop_flags`, `define_run_dir_flags`,
  `define_test_set_flags`): batch_size, training_iteration,
  report_interval, checkpoint_interval, jit_compile, keep_checkpoints,
  seed, memory_pictures; name, info_dir (and, for bAbI, cache_dir);
  eval_interval, eval_batch_size;
* precision and quirks (`define_precision_flags`): tf32,
  reproduce_quirks;
* data parallelism (`define_strategy_flags`): strategy, cpu_devices.

`define_flags(preset)` defines the five groups (train.py, run_nfar.py,
run_convexhull.py); eval.py and run_kvmemnn.py take the groups whose flags
mean the same for them. `positive_integers(...)` is the one validator of
positive-integer flags. Flag names are the authors' (Park et al. 2021 code),
plus ours: seed, info_dir, cache_dir, jit_compile, keep_checkpoints,
memory_pictures, optimizer, mlp_sizes, tf32, reproduce_quirks, strategy,
cpu_devices. Values that would break a run (an inf learning rate, a --name
leaving --info_dir, ...) are refused when the flags are parsed, before
anything is written; `run_main` prints a script's own argument errors as
one line.

`run(task, ...)` builds the model, the optimizer and the
`damrun.trainer.Trainer` from the flags and trains. This module imports
neither TensorFlow nor the model at import time, so `--help` and flag
errors answer at once.
"""

import contextlib
import dataclasses
import math
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS

# -- validators ----------------------------------------------------------------


def positive_integers(*names):
  """Registers `--<name> must be a positive integer.` for each flag.

  A flag whose value is None (its default "not given") passes.
  """
  for name in names:
    flags.register_validator(name, lambda v: v is None or v >= 1,
                             message=f'--{name} must be a positive integer.')


def _parse_sizes(text):
  """'256,256' -> (256, 256); '' -> (); None if malformed."""
  parts = [p.strip() for p in (text or '').split(',') if p.strip()]
  try:
    sizes = tuple(int(p) for p in parts)
  except ValueError:
    return None
  return sizes if all(s > 0 for s in sizes) else None


# -- the flag groups -----------------------------------------------------------


def define_model_flags(defaults, embedding=False):
  """The model group: the DAM's / DNC's sizes (defaults: a preset dict)."""
  d = defaults
  flags.DEFINE_integer('hidden_size', d['hidden_size'],
                       'LSTM controller units H.')
  flags.DEFINE_integer('memory_address_size', d['memory_address_size'],
                       'Slots per memory block N.')
  flags.DEFINE_integer('memory_length_size', d['memory_length_size'],
                       'Word size W.')
  flags.DEFINE_integer('num_write_heads', d['num_write_heads'],
                       'Write heads (per block).')
  flags.DEFINE_integer('num_read_heads', d['num_read_heads'],
                       'Read heads R.')
  flags.DEFINE_float('keep_prob', d['keep_prob'],
                     'Bypass dropout keep probability (DAM, training only).')
  flags.DEFINE_integer('num_memory_blocks', d['num_memory_blocks'],
                       'Memory blocks K (DAM).')
  flags.DEFINE_boolean('dam', d['dam'], 'True: DAM; False: the DNC baseline.')
  flags.DEFINE_float('clip_value', d.get('clip_value', 20.),
                     'Controller/output clipping in training (0: off).')
  flags.DEFINE_string('mlp_sizes', d.get('mlp_sizes', ''),
                      'Comma-separated widths of the ReLU MLP before the '
                      'output layer ("": none).')
  if embedding:
    flags.DEFINE_integer('embedding_size', d['embedding_size'],
                         'Word embedding size (bAbI).')
    positive_integers('embedding_size')
  positive_integers('hidden_size', 'memory_address_size',
                    'memory_length_size', 'num_write_heads', 'num_read_heads',
                    'num_memory_blocks')
  flags.register_validator('keep_prob', lambda v: 0. < v <= 1.,
                           message='--keep_prob must be in (0, 1].')
  flags.register_validator('clip_value', lambda v: v >= 0.,
                           message='--clip_value must be >= 0 (0: off).')
  flags.register_validator(
      'mlp_sizes', lambda v: _parse_sizes(v) is not None,
      message='--mlp_sizes must be comma-separated positive integers, e.g. '
      '"256,256", or "" for none.')


def define_optimisation_flags(defaults):
  """The optimisation group: optimizer, its settings, clipping, p_re."""
  d = defaults
  flags.DEFINE_enum('optimizer', d['optimizer'], ['rmsprop', 'adam'],
                    'rmsprop: TF1 RMSProp (mean square starts at ones); '
                    'adam: Adam (beta1 0.9, beta2 0.999, eps 1e-8).')
  flags.DEFINE_float('learning_rate', d['learning_rate'], 'Learning rate.')
  flags.DEFINE_float('max_grad_norm', d['max_grad_norm'],
                     'Global-norm gradient clipping (<= 0: off).')
  flags.DEFINE_float('momentum', d['momentum'], 'RMSProp momentum.')
  flags.DEFINE_float('optimizer_epsilon', d['optimizer_epsilon'],
                     'RMSProp epsilon.')
  flags.DEFINE_float('p_re', d['p_re'],
                     'Memory refreshing probability (0: no MRL).')
  flags.register_validator('p_re', lambda v: 0. <= v <= 1.,
                           message='--p_re must be in [0, 1].')
  flags.register_validator(
      'learning_rate', lambda v: math.isfinite(v) and v > 0.,
      message='--learning_rate must be a finite number > 0.')
  flags.register_validator(
      'max_grad_norm', math.isfinite,
      message='--max_grad_norm must be a finite number (<= 0: off).')
  for name in ('momentum', 'optimizer_epsilon'):
    flags.register_validator(
        name, lambda v: math.isfinite(v) and v >= 0.,
        message=f'--{name} must be a finite number >= 0.')


def define_run_dir_flags(name, name_help='Run name: files go to '
                         '<info_dir>/<name>/.', cache_dir=False):
  """--name and --info_dir: the run directory <info_dir>/<name>/.

  A --name that is empty, absolute or leaves --info_dir ('../x') is refused
  (`damrun.rundir.name_problem`). With `cache_dir` (the bAbI scripts) also
  --cache_dir, the folder of the preprocessed bAbI cache.
  """
  flags.DEFINE_string('name', name, name_help)
  flags.DEFINE_string('info_dir', 'info', 'Root directory of runs.')
  if cache_dir:
    flags.DEFINE_string(
        'cache_dir', None, 'bAbI: folder of the preprocessed-data cache '
        '(default: <data_dir>/babi_cache). A read-only --data_dir works '
        'without it: the cache is then skipped, with a note.')

  def name_ok(values):
    from damrun import rundir  # pylint: disable=g-import-not-at-top
    if values['name'] is None:  # a script's own default (run_kvmemnn.py)
      return True
    problem = rundir.name_problem(values['name'], values['info_dir'])
    if problem:
      raise flags.ValidationError(problem)
    return True

  flags.register_multi_flags_validator(['name', 'info_dir'], name_ok)


def define_loop_flags(defaults, cache_dir=False):
  """The loop and run group: batch, length of the run, reports, files.

  `cache_dir`: also --cache_dir (see `define_run_dir_flags`).
  """
  d = defaults
  flags.DEFINE_integer('batch_size', d['batch_size'], 'Batch size.')
  flags.DEFINE_integer('training_iteration', d['training_iteration'],
                       'Training steps (bAbI, which counts --epoch: given '
                       'explicitly, it caps the run, for short trials).')
  flags.DEFINE_integer('report_interval', d['report_interval'],
                       'Steps between progress lines.')
  flags.DEFINE_integer('checkpoint_interval', d['checkpoint_interval'],
                       'Steps between checkpoints.')
  define_run_dir_flags(d['name'], cache_dir=cache_dir)
  flags.DEFINE_integer('seed', 0, 'Seed of the data, MRL masks, initial '
                       'weights and dropout.')
  flags.DEFINE_boolean('jit_compile', d['jit_compile'],
                       'Compile the training and evaluation steps with XLA '
                       '(the fastest mode on CPU, see bench/; '
                       '--nojit_compile: plain tf.function).')
  flags.DEFINE_integer('keep_checkpoints', 5, 'Checkpoints kept (0: all).')
  flags.DEFINE_float('checkpoint_minutes', 15., 'Also save a checkpoint '
                     'after the first step that ends this many minutes after '
                     'the last save, so a kill loses at most that much (0: '
                     'by --checkpoint_interval only).')
  flags.DEFINE_boolean('memory_pictures', True, 'Log a picture of the memory '
                       'on one fixed example to TensorBoard at each '
                       'evaluation (visualize.py draws any checkpoint); '
                       '--nomemory_pictures: none.')
  positive_integers('batch_size', 'report_interval', 'checkpoint_interval')
  flags.register_validator('checkpoint_minutes', lambda v: v >= 0,
                           message='--checkpoint_minutes must be >= 0 (0: '
                           'off).')
  flags.register_validator('keep_checkpoints', lambda v: v >= 0,
                           message='--keep_checkpoints must be >= 0 (0: keep '
                           'all).')
  flags.register_validator('training_iteration', lambda v: v >= 0,
                           message='--training_iteration must be >= 0.')


def define_test_set_flags(eval_batch_size):
  """--eval_interval and --eval_batch_size of a fixed test set."""
  flags.DEFINE_integer('eval_interval', None, 'Steps between test-set '
                       'evaluations (also at the end); default: every '
                       '--report_interval, as the authors.')
  flags.DEFINE_integer('eval_batch_size', eval_batch_size, 'Batch size of '
                       'the test-set evaluation.')
  positive_integers('eval_interval', 'eval_batch_size')


def define_strategy_flags():
  """--strategy and --cpu_devices: data-parallel training (tf.distribute)."""
  flags.DEFINE_enum(
      'strategy', 'default', ['default', 'mirrored', 'multi_worker'],
      'default: one device; mirrored: tf.distribute.MirroredStrategy over the '
      'GPUs of this host (without GPUs: over the CPU devices, see '
      '--cpu_devices); multi_worker: tf.distribute.MultiWorkerMirroredStrategy '
      'over the hosts of TF_CONFIG. The global batch (--batch_size) is split '
      'evenly across the replicas; a step is the single-device step on the '
      'global batch (docs/distributed.md).')
  flags.DEFINE_integer(
      'cpu_devices', 0, 'Split the CPU into this many logical devices (to try '
      '--strategy=mirrored without GPUs); 0: as TensorFlow sees it.')
  flags.register_validator('cpu_devices', lambda v: v >= 0,
                           message='--cpu_devices must be >= 0.')


def define_precision_flags(quirks=True):
  """--tf32 (default False) and, with `quirks`, --reproduce_quirks (True)."""
  flags.DEFINE_boolean(
      'tf32', False, 'Allow TensorFloat-32 matmuls and convolutions on '
      'Ampere/Hopper GPUs (TensorFlow\'s default, ~10 mantissa bits). Off by '
      'default: full FP32, as the authors\' TF 1.12 / CUDA 9 runs. No effect '
      'on CPUs.')
  if quirks:
    flags.DEFINE_boolean(
        'reproduce_quirks', True, 'Reproduce the behaviours of the original '
        'code that a corrected version would drop (the published numbers '
        'came from them); --noreproduce_quirks turns all of them off. See '
        'docs/faithfulness.md for the list and their measured effect.')


def define_flags(defaults, embedding=False):
  """The five groups with a script's preset (`damrun.presets`) as defaults.

  `embedding`: also --embedding_size (see `define_model_flags`) and
  --cache_dir (`define_run_dir_flags`): the token task, bAbI.
  """
  define_model_flags(defaults, embedding)
  define_optimisation_flags(defaults)
  define_loop_flags(defaults, cache_dir=embedding)
  define_precision_flags()
  define_strategy_flags()


# -- reading the flags ---------------------------------------------------------


def set_precision(tf32=None):
  """Applies --tf32 (or `tf32`) to TensorFlow; returns the setting.

  TensorFlow (>= 2.4) runs float32 matmuls as TF32 on Ampere and newer
  GPUs unless told otherwise; the authors' numbers are full FP32.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf32 = FLAGS.tf32 if tf32 is None else bool(tf32)
  tf.config.experimental.enable_tensor_float_32_execution(tf32)
  return tf32


def precision_note():
  """One line saying what the matmul precision is (for the log)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.experimental.tensor_float_32_execution_enabled():
    return 'TF32 matmuls allowed on GPUs (--tf32)'
  return 'full FP32 (TF32 off; --tf32 allows it on GPUs)'


def make_strategy():
  """The --strategy's `tf.distribute` strategy (None for 'default'), after
  splitting the CPU into --cpu_devices logical devices.

  Must run before TensorFlow initialises its devices (the first op).

  Raises:
    app.UsageError: --cpu_devices after TensorFlow started, or
      multi_worker without TF_CONFIG.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if FLAGS.cpu_devices:
    cpu = tf.config.list_physical_devices('CPU')[0]
    try:
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.cpu_devices)
    except RuntimeError as e:
      raise app.UsageError(f'--cpu_devices: {e}') from e
  if FLAGS.strategy == 'default':
    return None
  if FLAGS.strategy == 'mirrored':
    devices = ([d.name for d in tf.config.list_logical_devices('GPU')] or
               [d.name for d in tf.config.list_logical_devices('CPU')])
    return tf.distribute.MirroredStrategy(devices)
  if 'TF_CONFIG' not in os.environ:
    raise app.UsageError(
        '--strategy=multi_worker needs TF_CONFIG, the cluster and this '
        'worker\'s place in it, e.g. TF_CONFIG=\'{"cluster": {"worker": '
        '["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
        '"index": 0}}\' (docs/distributed.md).')
  return tf.distribute.MultiWorkerMirroredStrategy()


def worker(strategy):
  """(is_chief, task id) of this process in a multi-worker `strategy`
  ((True, 0) otherwise): the chief is task 'chief', or worker 0 of a
  cluster without one."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True, 0
  task_type, task_id = resolver.task_type, resolver.task_id or 0
  has_chief = 'chief' in resolver.cluster_spec().as_dict()
  chief = task_type == 'chief' or (task_type == 'worker' and task_id == 0
                                   and not has_chief)
  return chief, task_id


def mlp_sizes():
  """The --mlp_sizes flag as a tuple of ints."""
  return _parse_sizes(FLAGS.mlp_sizes)


def model_config():
  """The shared settings a checkpoint depends on (for config.json)."""
  return dict(
      dam=FLAGS.dam, hidden_size=FLAGS.hidden_size,
      memory_address_size=FLAGS.memory_address_size,
      memory_length_size=FLAGS.memory_length_size,
      num_write_heads=FLAGS.num_write_heads,
      num_read_heads=FLAGS.num_read_heads,
      num_memory_blocks=FLAGS.num_memory_blocks if FLAGS.dam else 1,
      mlp_sizes=list(mlp_sizes()), batch_size=FLAGS.batch_size,
      optimizer=FLAGS.optimizer)


def run_main(main):
  """`absl.app.run(main)`, with a `app.UsageError` raised by `main` printed
  as one line (`<script>: <reason>`) instead of the script's whole help."""

  def main_with_messages(argv):
    try:
      return main(argv)
    except app.UsageError as e:
      print(f'{sys.argv[0]}: {e}\nPass --help to see the flags.',
            file=sys.stderr)
      return e.exitcode

  app.run(main_with_messages)


def check_no_arguments(argv):
  """Rejects stray positional arguments (a flag without '--' or a lost '\\')."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]} (a flag missing '
                         f'its "--", or a line break without "\\"?)')


def build_model(output_size, vocab_size=None, embedding_size=None,
                row_levels=1):
  """The DAM (`--dam=True`) or DNC core from the model flags, unrolled.

  Args:
    output_size: O, width of the core's output.
    vocab_size: with token inputs (bAbI), the embedding's vocabulary; None
      for vector inputs.
    embedding_size: the embedding's width (with `vocab_size`).
    row_levels: see `dam.model.SequenceModel` (training on sequences of
      unequal lengths).

  Returns:
    A `dam.model.SequenceModel`.
  """
  from dam import model as model_lib  # pylint: disable=g-import-not-at-top
  core = model_lib.build_core(
      output_size, use_dam=FLAGS.dam, hidden_size=FLAGS.hidden_size,
      memory_size=FLAGS.memory_address_size,
      word_size=FLAGS.memory_length_size, num_reads=FLAGS.num_read_heads,
      num_writes=FLAGS.num_write_heads, num_blocks=FLAGS.num_memory_blocks,
      keep_prob=FLAGS.keep_prob, clip_value=FLAGS.clip_value,
      mlp_sizes=mlp_sizes(), seed=FLAGS.seed)
  if vocab_size:
    return model_lib.SequenceModel(core, vocab_size, embedding_size,
                                   row_levels=row_levels)
  return model_lib.SequenceModel(core, row_levels=row_levels)


def run(task, task_name, config, evaluation=None, checkpoint_interval=None,
        phase_steps=None, time_bucket=None, embedding_size=None,
        picture=None, row_levels=1):
  """Builds the model, the optimizer and the trainer from the flags; trains.

  Args:
    task: the training task (`tasks.base.Task`); its `output_size` is the
      core's output width, its `vocab_size` (if any) the embedding's.
    task_name: for messages and config.json.
    config: task settings saved in config.json with `model_config()`.
    evaluation: a `damrun.trainer.Evaluation` (held-out batches, fixed
      test sets), or None.
    checkpoint_interval: steps between checkpoints (default:
      --checkpoint_interval).
    phase_steps: see `damrun.trainer.Settings` (bAbI epochs, fine-tuning).
    time_bucket: with XLA, pad the time axis to a multiple of this (None:
      to the task's longest length).
    embedding_size: the embedding width of a token task (bAbI).
    picture: a `Batch` of one fixed example whose memory picture goes to
      TensorBoard at each evaluation (with --memory_pictures).
    row_levels: see `dam.model.SequenceModel`.

  Returns:
    The process exit code: 0; 1 when training stopped on a non-finite loss
    or exploded weights (nothing bad was saved); 2 on a refused resume.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import rundir  # pylint: disable=g-import-not-at-top
  from damrun import trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  run_dir = rundir.RunDirectory(FLAGS.name, FLAGS.info_dir)
  if picture is not None and FLAGS.memory_pictures:
    evaluation = dataclasses.replace(
        evaluation or trainer_lib.Evaluation(), picture=picture)
  strategy = make_strategy()
  replicas = strategy.num_replicas_in_sync if strategy else 1
  chief, task_id = worker(strategy)
  restore_directory = None

  def log(line):
    print(line, flush=True)

  if not chief:
    # Another worker of a multi-worker run: it resumes from the chief's
    # checkpoints and writes its files (checkpoints included: every worker
    # must save) to <run>/worker<id>/; the chief reports.
    restore_directory = run_dir.checkpoint
    run_dir = rundir.RunDirectory(os.path.join(FLAGS.name,
                                               f'worker{task_id}'),
                                  FLAGS.info_dir)
    log = lambda line: None  # pylint: disable=unnecessary-lambda-assignment
  if task.batch_size % replicas:
    from damrun import steps  # pylint: disable=g-import-not-at-top
    try:
      steps.check_divisible(task.batch_size, strategy)
    except ValueError as e:
      raise app.UsageError(str(e)) from e
  set_precision()
  tf.random.set_seed(FLAGS.seed)
  with strategy.scope() if strategy else contextlib.nullcontext():
    model = build_model(task.output_size, task.vocab_size, embedding_size,
                        row_levels)
    optimizer = optimizers.make_optimizer(
        FLAGS.optimizer, FLAGS.learning_rate, momentum=FLAGS.momentum,
        epsilon=FLAGS.optimizer_epsilon)
  settings = trainer_lib.Settings(
      total_steps=FLAGS.training_iteration,
      max_grad_norm=FLAGS.max_grad_norm,
      report_interval=FLAGS.report_interval,
      checkpoint_interval=checkpoint_interval or FLAGS.checkpoint_interval,
      keep_checkpoints=FLAGS.keep_checkpoints or None,
      phase_steps=phase_steps, jit_compile=FLAGS.jit_compile,
      time_bucket=time_bucket,
      checkpoint_seconds=60. * FLAGS.checkpoint_minutes or None)
  try:
    trainer = trainer_lib.Trainer(
        model, task, optimizer, run_dir, settings, evaluation,
        config=dict(task=task_name, **model_config(), **config),
        run_info=dict(
            tf32=tf.config.experimental.tensor_float_32_execution_enabled(),
            reproduce_quirks=FLAGS.reproduce_quirks,
            strategy=FLAGS.strategy, replicas=replicas),
        log=log, strategy=strategy, restore_directory=restore_directory)
  except (rundir.ConfigMismatchError, checkpoints.CheckpointError) as e:
    print(f'{sys.argv[0]}: {e}', file=sys.stderr)
    return 2
  params = sum(int(tf.size(v)) for v in trainer.variables)
  replicas_note = (f'; {replicas} replicas (--strategy={FLAGS.strategy})'
                   if strategy else '')
  log(f'{"DAM" if FLAGS.dam else "DNC"} on {task_name}: {params:,} '
      f'parameters; run directory {run_dir.root}; {precision_note()}; '
      f'{"" if FLAGS.reproduce_quirks else "no "}original-code quirks'
      f'{" (--noreproduce_quirks)" if not FLAGS.reproduce_quirks else ""}'
      f'{replicas_note}.')
  try:
    summary = trainer.train()
  except FloatingPointError as e:  # A non-finite loss or exploded weights.
    print(f'{sys.argv[0]}: {e}', file=sys.stderr)
    return 1
  log(f'Done: {summary["steps"]} steps, {summary["steps_per_sec"] or 0:.2f} '
      f'steps/s; summary in {run_dir.summary}')
  return 0
