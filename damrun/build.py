"""What a training script builds from its flags (`damrun.cli`): the matmul
precision, the distribution strategy, the model (`dam.config.ModelConfig`
of the model flags: the DAM, the DNC, ...), its optimizer and the model
settings a checkpoint depends on.

TensorFlow and the model are imported inside the functions (`dam.config`
imports neither), so that importing this module (and `damrun.cli`) stays
fast: `--help` and flag errors answer at once.
"""

import json
import os

from absl import app
from absl import flags

from dam import config as config_lib

FLAGS = flags.FLAGS


# -- precision and the distribution strategy -----------------------------------


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
  example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
             '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
             '(docs/distributed.md)')
  if 'TF_CONFIG' not in os.environ:
    raise app.UsageError(
        '--strategy=multi_worker needs TF_CONFIG, the cluster and this '
        f'worker\'s place in it, {example}.')
  problem = tf_config_problem(os.environ['TF_CONFIG'])
  if problem:
    raise app.UsageError(f'TF_CONFIG is malformed: {problem}. It must be '
                         f'the JSON of the cluster and this worker\'s place '
                         f'in it, {example}.')
  return tf.distribute.MultiWorkerMirroredStrategy()


def tf_config_problem(text):
  """What is wrong with the TF_CONFIG `text` (None: nothing seen)."""
  try:
    value = json.loads(text)
  except ValueError as e:
    return f'not JSON ({e})'
  if not isinstance(value, dict):
    return f'a JSON {type(value).__name__}, not an object'
  for key in ('cluster', 'task'):
    if key in value and not isinstance(value[key], dict):
      return f'its "{key}" is a JSON {type(value[key]).__name__}, not an object'
  return None


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


# -- the model and its optimizer -----------------------------------------------


# '256,256' -> (256, 256); '' -> (); None if malformed (--mlp_sizes).
parse_sizes = config_lib.parse_sizes


def mlp_sizes():
  """The --mlp_sizes flag as a tuple of ints."""
  return parse_sizes(FLAGS.mlp_sizes)


def memory_flags_problem(memory, dam, dam_given):
  """Why --memory and --dam disagree (a message naming both), or None.

  Args:
    memory: --memory (None: not given, the memory comes from --dam).
    dam: --dam.
    dam_given: whether --dam was on the command line.
  """
  if memory is None or not dam_given:
    return None
  implied = config_lib.memory_name(dam)
  if memory == implied:
    return None
  return (f'--memory={memory} and --dam={dam} name different memories '
          f'(--dam={dam} means --memory={implied}): pass one of them.')


def model_settings():
  """The `dam.config.ModelConfig` of the model flags (--memory, or --dam).

  Raises:
    app.UsageError: --memory and --dam both given and disagreeing.
  """
  settings = FLAGS.flag_values_dict()
  problem = memory_flags_problem(settings.get('memory'), settings['dam'],
                                 FLAGS['dam'].present)
  if problem:
    raise app.UsageError(problem)
  return config_lib.ModelConfig.from_settings(settings)


def model_config():
  """The shared settings a checkpoint depends on (for config.json)."""
  return dict(model_settings().to_run_config(), batch_size=FLAGS.batch_size,
              optimizer=FLAGS.optimizer)


def build_model(output_size, vocab_size=None, embedding_size=None,
                row_levels=1):
  """The core of the model flags (`model_settings`: the DAM, the DNC, ...),
  unrolled.

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
  core = model_settings().build_core(output_size)
  if vocab_size:
    return model_lib.SequenceModel(core, vocab_size, embedding_size,
                                   row_levels=row_levels)
  return model_lib.SequenceModel(core, row_levels=row_levels)


def build_optimizer():
  """The --optimizer with --learning_rate, --momentum, --optimizer_epsilon
  (`dam.optimizers.make_optimizer`)."""
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  return optimizers.make_optimizer(
      FLAGS.optimizer, FLAGS.learning_rate, momentum=FLAGS.momentum,
      epsilon=FLAGS.optimizer_epsilon)
