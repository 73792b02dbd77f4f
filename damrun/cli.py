"""The scripts' flags, in groups, and one way to run a training script.

Every script defines its flags from these groups with its defaults from
`damrun.presets` (the authors' values), then its own task flags:

* model (`define_model_flags`): hidden_size H, memory_address_size N,
  memory_length_size W, num_write_heads Wh, num_read_heads R, keep_prob,
  num_memory_blocks K, dam, memory, clip_value, mlp_sizes; with
  `embedding=True` also embedding_size (token inputs: bAbI);
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
positive-integer flags, `seeds(...)` that of seed flags. Flag names are the
authors' (Park et al. 2021 code), plus ours: memory, seed, info_dir,
cache_dir, jit_compile, keep_checkpoints, memory_pictures, optimizer,
mlp_sizes, tf32, reproduce_quirks, strategy, cpu_devices, tf_logs. Values
that would break a run (an inf learning rate, a negative seed, a --name
leaving --info_dir, --memory and --dam naming different memories, ...) are
refused when the flags are parsed, before anything is written; `run_main`
prints a script's own argument errors as one line (`damrun.usage`) and
hides TensorFlow's log lines (--tf_logs shows them).

The scripts reach the rest through this module too: `run(task, ...)`
(`damrun.training_run`) builds the model, the optimizer and the
`damrun.trainer.Trainer` from the flags and trains; `set_precision`,
`precision_note` and `mlp_sizes` come from `damrun.build`. None of these
modules imports TensorFlow or the model at import time, so `--help` and
flag errors answer at once.
"""

import logging
import math
import os
import re
import sys

from absl import app
from absl import flags

from dam import config as config_lib
from damrun import build
from damrun import training_run
from damrun import usage

FLAGS = flags.FLAGS

# What the scripts use of `damrun.build` and `damrun.training_run`, reached
# through this module with the flags.
mlp_sizes = build.mlp_sizes
precision_note = build.precision_note
set_precision = build.set_precision
run = training_run.run


# -- validators ----------------------------------------------------------------


def positive_integers(*names):
  """Registers `--<name> must be a positive integer.` for each flag.

  A flag whose value is None (its default "not given") passes.
  """
  for name in names:
    flags.register_validator(name, lambda v: v is None or v >= 1,
                             message=f'--{name} must be a positive integer.')


# The seeds every library here takes (NumPy's legacy RandomState, whose
# range is the narrowest; TensorFlow and np.random.default_rng take more).
SEED_MAX = 2**32 - 1


def seeds(*names):
  """Registers `--<name> must be an integer in [0, SEED_MAX].` for each
  seed flag, so a negative seed is refused with the flag's name instead of
  a library's message naming none ("expected non-negative integer").

  A flag whose value is None (its default "not given") passes.
  """
  for name in names:
    flags.register_validator(
        name, lambda v: v is None or 0 <= v <= SEED_MAX,
        message=f'--{name} must be an integer in [0, {SEED_MAX}].')


def _memory_agrees(values):
  """--memory and --dam, both given, must name the same memory."""
  problem = build.memory_flags_problem(values['memory'], values['dam'],
                                       FLAGS['dam'].present)
  if problem:
    raise flags.ValidationError(problem)
  return True


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
  flags.DEFINE_boolean('dam', d['dam'], 'True: DAM; False: the DNC baseline '
                       '(the authors\' switch; see also --memory).')
  flags.DEFINE_enum('memory', None, sorted(config_lib.CORES),
                    'The memory core, a name of dam/config.py CORES (dam: the '
                    'DAM; dnc: the DNC baseline). Default: from --dam.')
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
  flags.register_multi_flags_validator(['memory', 'dam'], _memory_agrees)
  flags.register_validator('keep_prob', lambda v: 0. < v <= 1.,
                           message='--keep_prob must be in (0, 1].')
  flags.register_validator('clip_value', lambda v: v >= 0.,
                           message='--clip_value must be >= 0 (0: off).')
  flags.register_validator(
      'mlp_sizes', lambda v: build.parse_sizes(v) is not None,
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
    # None: a script's own default (run_kvmemnn.py); --info_dir is checked.
    name = 'run' if values['name'] is None else values['name']
    problem = rundir.name_problem(name, values['info_dir'])
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
  seeds('seed')
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


# -- the scripts' main ---------------------------------------------------------

flags.DEFINE_boolean(
    'tf_logs', False, 'Show TensorFlow\'s own log lines (C++ and Python: '
    'CUDA probing, oneDNN and XLA notes, INFO lines). By default they are '
    'hidden (TF_CPP_MIN_LOG_LEVEL=3, or the level set in the environment; '
    'TensorFlow\'s Python logger at ERROR; absl at WARNING unless '
    '--verbosity is given); errors that stop a run are printed anyway.')


def quiet_tensorflow():
  """Hides TensorFlow's log lines unless --tf_logs (see its help).

  Runs before TensorFlow is imported (the scripts import it inside
  `main`), since its C++ logging reads TF_CPP_MIN_LOG_LEVEL when it loads;
  a level set in the environment is kept. TensorFlow is imported here,
  with the lines its libraries print while loading, which ignore that
  level, filtered by it (`_import_tensorflow_filtered`).
  """
  if FLAGS.tf_logs:
    return
  level = os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  if not FLAGS['verbosity'].present:
    from absl import logging as absl_log  # pylint: disable=g-import-not-at-top
    absl_log.set_verbosity(absl_log.WARNING)
  try:
    level = int(level)
  except ValueError:
    level = 0
  if level > 0 and 'tensorflow' not in sys.modules:
    _import_tensorflow_filtered(level)


# absl's C++ log lines ('I0000 00:00:...', W, E) and the notes around them
# that TensorFlow's libraries print while they load (oneDNN is on, no CUDA
# driver, the CPU features), whatever TF_CPP_MIN_LOG_LEVEL says.
_LOG_LINE = re.compile(r'([IWE])\d{4} ')
_SEVERITY = {'I': 0, 'W': 1, 'E': 2}
_LOAD_NOTES = ('WARNING: All log messages before absl::InitializeLog() is '
               'called', 'To enable the following instructions:')


def _import_tensorflow_filtered(level):
  """Imports TensorFlow, dropping from stderr the log lines below `level`
  (TF_CPP_MIN_LOG_LEVEL: 1 INFO, 2 WARNING, 3 ERROR) printed meanwhile;
  every other line (Python warnings, a traceback) is printed as it was."""
  import tempfile  # pylint: disable=g-import-not-at-top

  def shown(line):
    match = _LOG_LINE.match(line)
    if match:
      return _SEVERITY[match.group(1)] >= level
    return not line.startswith(_LOAD_NOTES)

  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with tempfile.TemporaryFile() as captured:
      os.dup2(captured.fileno(), 2)
      try:
        import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
      finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        captured.seek(0)
        lines = captured.read().decode(errors='replace').splitlines(True)
        sys.stderr.write(''.join(filter(shown, lines)))
        sys.stderr.flush()
  finally:
    os.close(saved)


def run_main(main):
  """`absl.app.run(main)`, with a `app.UsageError` raised by `main` printed
  as one line (`<script>: <reason>`, `damrun.usage`) instead of the
  script's whole help, Ctrl-C / SIGTERM ending with one line and exit code 128 + the signal's
  number (130 / 143; `damrun.stop_signals`: a training loop stops between
  two steps, saves and says so) instead of a traceback, an OSError (a full
  disk, a read-only folder) as one line naming the file and the fix (exit
  code 1), and TensorFlow's log lines hidden (`quiet_tensorflow`)."""
  from damrun import failures  # pylint: disable=g-import-not-at-top
  from damrun import stop_signals  # pylint: disable=g-import-not-at-top

  main = usage.one_line_errors(main)

  def main_with_messages(argv):
    with stop_signals.script_handlers() as stop:
      try:
        quiet_tensorflow()
        return main(argv)
      except KeyboardInterrupt:
        if not stop.stopping_at_a_boundary:
          print(f'{sys.argv[0]}: stopped by {stop_signals.signal_name()} '
                f'before training started; nothing new was saved. The same '
                f'command starts again (from the newest checkpoint, if any).',
                flush=True)
        # Else the loop has saved and said so.
        return stop_signals.exit_code()
      except Exception as e:  # pylint: disable=broad-except
        message = failures.message(e)
        if message is None:
          raise
        print(f'{sys.argv[0]}: {message}', file=sys.stderr)
        return 1

  app.run(main_with_messages)


def check_no_arguments(argv):
  """Rejects stray positional arguments (a flag without '--' or a lost '\\')."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]} (a flag missing '
                         f'its "--", or a line break without "\\"?)')
