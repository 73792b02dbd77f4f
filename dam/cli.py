"""What the task scripts share: the authors' flags and one way to run them.

`train.py`, `run_nfar.py` and `run_convexhull.py` are thin front ends: each
calls `define_flags(...)` with its own defaults (the authors' values for
that task), defines its task-specific flags, builds its task and loss, and
hands them to `run(...)`, which builds the core (`--dam=True` DAM,
`--dam=False` DNC), the optimizer and the `dam.training.Trainer`, and
trains.

Flag names are the authors' (hidden_size, memory_address_size,
memory_length_size, num_write_heads, num_read_heads, keep_prob,
num_memory_blocks, dam, learning_rate, max_grad_norm, momentum,
optimizer_epsilon, clip_value, p_re, batch_size, training_iteration,
report_interval, checkpoint_interval, name) plus ours (seed, info_dir,
jit_compile, keep_checkpoints, optimizer).
"""

import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS

# The authors' defaults of train.py (Copy sizes); scripts override some.
DEFAULTS = dict(
    hidden_size=128, memory_address_size=64, memory_length_size=36,
    num_write_heads=1, num_read_heads=1, keep_prob=0.9, num_memory_blocks=2,
    dam=True, clip_value=20., learning_rate=1e-4, max_grad_norm=50.,
    momentum=0.9, optimizer_epsilon=1e-10, p_re=0.0, batch_size=16,
    training_iteration=10000, report_interval=500, checkpoint_interval=1000,
    name='model', optimizer='rmsprop', mlp_sizes='', jit_compile=True)


def define_flags(**overrides):
  """Defines the shared flags with the authors' defaults (`DEFAULTS`).

  Args:
    **overrides: defaults that differ for this script, e.g.
      `hidden_size=1024` for Nth Farthest.

  Raises:
    KeyError: an override names no shared flag.
  """
  unknown = set(overrides) - set(DEFAULTS)
  if unknown:
    raise KeyError(f'No shared flag(s) {sorted(unknown)}.')
  d = dict(DEFAULTS, **overrides)
  # Model.
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
  flags.DEFINE_float('clip_value', d['clip_value'],
                     'Controller/output clipping in training (0: off).')
  flags.DEFINE_string('mlp_sizes', d['mlp_sizes'],
                      'Comma-separated widths of the ReLU MLP before the '
                      'output layer ("": none).')
  # Optimisation.
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
  # Loop.
  flags.DEFINE_integer('batch_size', d['batch_size'], 'Batch size.')
  flags.DEFINE_integer('training_iteration', d['training_iteration'],
                       'Training steps (bAbI, which counts --epoch: given '
                       'explicitly, it caps the run, for short trials).')
  flags.DEFINE_integer('report_interval', d['report_interval'],
                       'Steps between progress lines.')
  flags.DEFINE_integer('checkpoint_interval', d['checkpoint_interval'],
                       'Steps between checkpoints.')
  flags.DEFINE_string('name', d['name'],
                      'Run name: files go to <info_dir>/<name>/.')
  flags.DEFINE_string('info_dir', 'info', 'Root directory of runs.')
  flags.DEFINE_integer('seed', 0, 'Seed of the data, MRL masks, initial '
                       'weights and dropout.')
  flags.DEFINE_boolean('jit_compile', d['jit_compile'],
                       'Compile the training and evaluation steps with XLA '
                       '(the fastest mode on CPU, see bench/; '
                       '--nojit_compile: plain tf.function).')
  flags.DEFINE_integer('keep_checkpoints', 5, 'Checkpoints kept (0: all).')
  define_tf32_flag()
  define_quirks_flag()

  for name in ('hidden_size', 'memory_address_size', 'memory_length_size',
               'num_write_heads', 'num_read_heads', 'num_memory_blocks',
               'batch_size', 'report_interval', 'checkpoint_interval'):
    flags.register_validator(name, lambda v: v is None or v >= 1,
                             message=f'--{name} must be a positive integer.')
  flags.register_validator('training_iteration', lambda v: v >= 0,
                           message='--training_iteration must be >= 0.')
  flags.register_validator('p_re', lambda v: 0. <= v <= 1.,
                           message='--p_re must be in [0, 1].')
  flags.register_validator('keep_prob', lambda v: 0. < v <= 1.,
                           message='--keep_prob must be in (0, 1].')
  flags.register_validator('learning_rate', lambda v: v > 0.,
                           message='--learning_rate must be > 0.')
  flags.register_validator('clip_value', lambda v: v >= 0.,
                           message='--clip_value must be >= 0 (0: off).')
  flags.register_validator(
      'mlp_sizes', lambda v: _parse_sizes(v) is not None,
      message='--mlp_sizes must be comma-separated positive integers, e.g. '
      '"256,256", or "" for none.')


def define_tf32_flag():
  """--tf32 (default False): every script computes in full FP32."""
  flags.DEFINE_boolean(
      'tf32', False, 'Allow TensorFloat-32 matmuls and convolutions on '
      'Ampere/Hopper GPUs (TensorFlow\'s default, ~10 mantissa bits). Off by '
      'default: full FP32, as the authors\' TF 1.12 / CUDA 9 runs. No effect '
      'on CPUs.')


def define_quirks_flag():
  """--reproduce_quirks (default True): the original code's behaviour."""
  flags.DEFINE_boolean(
      'reproduce_quirks', True, 'Reproduce the behaviours of the original '
      'code that a corrected version would drop (the published numbers came '
      'from them); --noreproduce_quirks turns all of them off. See '
      'docs/faithfulness.md for the list and their measured effect.')


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


def _parse_sizes(text):
  """'256,256' -> (256, 256); '' -> (); None if malformed."""
  parts = [p.strip() for p in (text or '').split(',') if p.strip()]
  try:
    sizes = tuple(int(p) for p in parts)
  except ValueError:
    return None
  return sizes if all(s > 0 for s in sizes) else None


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


def check_no_arguments(argv):
  """Rejects stray positional arguments (a flag without '--' or a lost '\\')."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]} (a flag missing '
                         f'its "--", or a line break without "\\"?)')


def build_model(output_size, vocab_size=None):
  """The DAM (`--dam=True`) or DNC core from the flags, in a `SequenceModel`.

  Args:
    output_size: width of the core's output.
    vocab_size: with token inputs (bAbI), the embedding's vocabulary
      (embedding width `--embedding_size`); None for vector inputs.
  """
  from dam import training  # pylint: disable=g-import-not-at-top
  core = training.build_core(
      output_size, use_dam=FLAGS.dam, hidden_size=FLAGS.hidden_size,
      memory_size=FLAGS.memory_address_size,
      word_size=FLAGS.memory_length_size, num_reads=FLAGS.num_read_heads,
      num_writes=FLAGS.num_write_heads, num_blocks=FLAGS.num_memory_blocks,
      keep_prob=FLAGS.keep_prob, clip_value=FLAGS.clip_value,
      mlp_sizes=mlp_sizes(), seed=FLAGS.seed)
  if vocab_size:
    return training.SequenceModel(core, vocab_size, FLAGS.embedding_size)
  return training.SequenceModel(core)


def run(task, loss_fn, task_name, config, eval_task=None, eval_batches=0,
        eval_sets=None, eval_interval=None, report_metrics=None,
        checkpoint_interval=None, vocab_size=None, phase_steps=None,
        jit_compile=None, time_bucket=None, eval_training=False):
  """Builds core, optimizer and trainer from the flags and trains.

  Args:
    task: the training task (see `dam.training.Trainer`); its `output_size`
      is the core's output width.
    loss_fn: fn(logits, targets, loss_mask, original_mask, seq_len) -> dict.
    task_name: for messages and config.json.
    config: task settings saved in config.json with `model_config()`.
    eval_task, eval_batches, eval_sets, eval_interval, report_metrics: see
      `dam.training.Trainer`.
    checkpoint_interval: steps between checkpoints (default:
      --checkpoint_interval).
    vocab_size: token inputs through an embedding (see `build_model`).
    phase_steps: see `dam.training.Trainer` (bAbI epochs, fine-tuning).
    jit_compile: XLA for the training step (default: --jit_compile).
    time_bucket: with XLA, pad the time axis to a multiple of this (None:
      to the task's longest length; see `dam.training.Trainer`).
    eval_training: evaluate in training mode (dropout and clipping on), as
      the authors' Nth Farthest and Convex Hull scripts did (see
      `dam.training.Trainer`).

  Returns:
    The process exit code (0, or 2 on a refused resume).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  from dam import training  # pylint: disable=g-import-not-at-top

  run_dir = training.RunDirectory(FLAGS.name, FLAGS.info_dir)
  set_precision()
  tf.random.set_seed(FLAGS.seed)
  model = build_model(task.output_size, vocab_size)
  optimizer = optimizers.make_optimizer(
      FLAGS.optimizer, FLAGS.learning_rate, momentum=FLAGS.momentum,
      epsilon=FLAGS.optimizer_epsilon)
  try:
    trainer = training.Trainer(
        model, task, optimizer, run_dir, loss_fn,
        total_steps=FLAGS.training_iteration,
        max_grad_norm=FLAGS.max_grad_norm,
        report_interval=FLAGS.report_interval,
        checkpoint_interval=checkpoint_interval or FLAGS.checkpoint_interval,
        eval_task=eval_task,
        eval_batches=eval_batches, eval_sets=eval_sets,
        eval_interval=eval_interval, report_metrics=report_metrics,
        jit_compile=(FLAGS.jit_compile if jit_compile is None
                     else jit_compile), time_bucket=time_bucket,
        config=dict(task=task_name, **model_config(), **config),
        keep_checkpoints=FLAGS.keep_checkpoints or None,
        phase_steps=phase_steps, eval_training=eval_training,
        run_info=dict(
            tf32=tf.config.experimental.tensor_float_32_execution_enabled(),
            reproduce_quirks=FLAGS.reproduce_quirks))
  except (training.ConfigMismatchError, RuntimeError) as e:
    print(f'{sys.argv[0]}: {e}', file=sys.stderr)
    return 2
  params = sum(int(tf.size(v)) for v in trainer.variables)
  print(f'{"DAM" if FLAGS.dam else "DNC"} on {task_name}: {params:,} '
        f'parameters; run directory {run_dir.root}; {precision_note()}; '
        f'{"" if FLAGS.reproduce_quirks else "no "}original-code quirks'
        f'{" (--noreproduce_quirks)" if not FLAGS.reproduce_quirks else ""}.',
        flush=True)
  summary = trainer.train()
  print(f'Done: {summary["steps"]} steps, {summary["steps_per_sec"] or 0:.2f} '
        f'steps/s; summary in {run_dir.summary}')
  return 0
