"""The benchmark suite: training and evaluation steps of every configuration.

    python bench/suite.py                                # everything
    python bench/suite.py --configs=copy,babi200 --models=dam --modes=xla
    python bench/suite.py --scale=0.125                  # shrink big batches

For each of the authors' task configurations (`CONFIGS`, from their
commands in `dam.presets`: Copy, Associative Recall, Representation Recall,
bAbI at a typical story length of 200 tokens and at the 800-token maximum,
Nth Farthest, Convex Hull), each model (DAM, DNC) and each execution mode
(eager, tf.function, tf.function + XLA), it times

* a full training step (`dam.run.steps.make_train_step`: forward, loss,
  backward, global-norm clipping, optimizer update), the step every script
  runs, on one batch of the task at its longest length;
* an evaluation forward pass (`dam.run.steps.make_eval_step`) on the same
  batch,

each after warm-up (the first call, timed separately as the trace / compile
time), over `--repeats` timed repetitions of enough calls to last
`--min_time` seconds. Every case runs in its own process, so its peak memory
(peak RSS, also minus the process's RSS before the model was built) is its
own. It also measures the machine's float32 matmul throughput (a large
`tf.matmul`, median of several) and reports model FLOP utilisation:
analytic FLOPs of the step (`dam.flops`) / time / measured matmul FLOP/s.

Prints a table and writes everything to JSON (`--output`, default
bench/results/suite.json). `--scale` multiplies the batch sizes of the big
configurations (Nth Farthest's 1600, bAbI's 32, Convex Hull's 128; at least
1 example) for small machines; the JSON says what was run.
"""

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/suite.py` from a checkout

from bench.machine import machine  # pylint: disable=g-import-not-at-top,wrong-import-position
from dam import presets  # pylint: disable=g-import-not-at-top,wrong-import-position



def _config(command, task, **extra):
  """A timed configuration from the authors' command `command`
  (`dam.presets`): their model sizes, batch size and optimizer."""
  s = presets.settings(command)
  return dict(task=task, batch=s['batch_size'], hidden_size=s['hidden_size'],
              memory_size=s['memory_address_size'],
              word_size=s['memory_length_size'],
              num_reads=s['num_read_heads'], num_blocks=s['num_memory_blocks'],
              mlp_sizes=tuple(int(w) for w in s['mlp_sizes'].split(',') if w),
              optimizer=s['optimizer'], learning_rate=s['learning_rate'],
              **extra)


def _longest(command, *names):
  """The task flags `names` of a command, at its longest sequences."""
  s = presets.settings(command)
  return dict({name: s[name] for name in names}, min_length=s['max_length'],
              max_length=s['max_length'])


# The authors' configurations (their commands, `dam.presets.COMMANDS`).
# `batch` is the authors' batch size; `time` the longest sequence timed;
# bAbI's lexicon (160 words) is that of en-10k.
CONFIGS = {
    'copy': _config('copy', 'copy', task_args=_longest('copy', 'bit_w',
                                                       'p_re')),
    'ar': _config('associative_recall', 'ar', task_args=_longest(
        'associative_recall', 'bit_w', 'item_bit', 'p_re')),
    'rr': _config('representation_recall', 'rr', task_args=_longest(
        'representation_recall', 'N', 'bit_w', 'num_bit')),
    'babi200': _config('babi', 'babi', time=200, scalable=True,
                       vocab_size=160,
                       embedding_size=presets.TRAIN['embedding_size'],
                       task_args=dict(p_re=presets.settings('babi')['p_re'])),
    'babi800': _config('babi', 'babi', time=800, scalable=True,
                       vocab_size=160,
                       embedding_size=presets.TRAIN['embedding_size'],
                       task_args=dict(p_re=presets.settings('babi')['p_re'])),
    'nfar': _config('nth_farthest', 'nfar', scalable=True, task_args=dict(
        p_re=presets.settings('nth_farthest')['p_re'])),
    'convexhull': _config('convex_hull', 'convexhull', scalable=True,
                          task_args=dict(
                              max_n=presets.CONVEX_HULL['max_n'],
                              p_re=presets.settings('convex_hull')['p_re'])),
}
MODELS = ('dam', 'dnc')
MODES = ('eager', 'function', 'xla')

_CONFIGS = flags.DEFINE_list('configs', list(CONFIGS), 'Configurations.')
_MODELS = flags.DEFINE_list('models', list(MODELS), 'Models: dam, dnc.')
_MODES = flags.DEFINE_list('modes', list(MODES),
                           'Execution modes: eager, function, xla.')
_SCALE = flags.DEFINE_float('scale', 1.0, 'Multiplies the batch size of the '
                            'large configurations (bAbI, Nth Farthest, '
                            'Convex Hull).')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions per case.')
_EAGER_REPEATS = flags.DEFINE_integer('eager_repeats', 3,
                                      'Timed repetitions in eager mode.')
_MIN_TIME = flags.DEFINE_float('min_time', 1.0, 'Each repetition runs '
                               'enough calls to last this many seconds.')
_OUTPUT = flags.DEFINE_string('output',
                              os.path.join(ROOT, 'bench', 'results',
                                           'suite.json'),
                              'JSON results file.')
_CASE = flags.DEFINE_string('case', None, 'Internal: run one case '
                            '(config:model:mode) and print its JSON.')


# -- one case (in its own process) ---------------------------------------------


def _rss_mb():
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def _batch_size(config, scale):
  if config.get('scalable'):
    return max(1, int(round(config['batch'] * scale)))
  return config['batch']


def _task(config, batch_size, seed=0):
  """The task of a configuration (`tasks.base.Task`) and one batch of it."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  kind, args = config['task'], dict(config.get('task_args', {}))
  if kind == 'babi':
    # Stories of exactly `time` random tokens (timing does not depend on the
    # words), one answer token in ten.
    from tasks import babi  # pylint: disable=g-import-not-at-top
    rng = np.random.default_rng(seed)
    t, v = config['time'], config['vocab_size']
    stories = []
    for _ in range(batch_size):
      inputs = rng.integers(babi.ANSWER + 1, v, size=t).astype(np.int32)
      answers = rng.random(t) < 0.1
      inputs[answers] = babi.ANSWER
      targets = np.where(answers, rng.integers(babi.ANSWER + 1, v, size=t),
                         inputs).astype(np.int32)
      stories.append(babi.Story(inputs, targets, np.zeros(t, bool), 1))
    task = babi.BabiTask(stories, v, batch_size, seed=seed, max_time=t,
                         **args)
  elif kind == 'copy':
    from tasks import copy as task_lib  # pylint: disable=g-import-not-at-top
    task = task_lib.CopyTask(batch_size=batch_size, seed=seed, **args)
  elif kind == 'ar':
    from tasks import associative_recall  # pylint: disable=g-import-not-at-top
    task = associative_recall.AssociativeRecallTask(
        batch_size=batch_size, seed=seed, **args)
  elif kind == 'rr':
    from tasks import representation_recall  # pylint: disable=g-import-not-at-top
    task = representation_recall.RepresentationRecallTask(
        batch_size=batch_size, seed=seed, **args)
  elif kind == 'nfar':
    from tasks import nth_farthest  # pylint: disable=g-import-not-at-top
    task = nth_farthest.NthFarthestTask(batch_size=batch_size, seed=seed,
                                        **args)
  elif kind == 'convexhull':
    from tasks import convex_hull  # pylint: disable=g-import-not-at-top
    rng = np.random.default_rng(seed)
    n = args['max_n']
    points, hulls = convex_hull.generate_examples(batch_size, n, n, rng)
    task = convex_hull.ConvexHullTask({n: (points, hulls)},
                                      batch_size=batch_size, seed=seed,
                                      **args)
  else:
    raise ValueError(f'unknown task {kind!r}')
  return task, task.next_batch()


def _time_calls(fn, repeats, min_time):
  """First call (s), then `repeats` timings (s per call) of enough calls."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def sync(result):
    tf.nest.map_structure(lambda t: t.numpy(), result)

  start = time.perf_counter()
  sync(fn())
  first = time.perf_counter() - start
  start = time.perf_counter()
  sync(fn())  # second warm-up; also sizes the repetitions
  second = time.perf_counter() - start
  calls = max(1, int(math.ceil(min_time / max(second, 1e-6))))
  per_call = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(calls):
      result = fn()
    sync(result)
    per_call.append((time.perf_counter() - start) / calls)
  return first, calls, per_call


def _stats(per_call):
  ms = sorted(1e3 * t for t in per_call)
  q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
  return dict(median_ms=statistics.median(ms), min_ms=ms[0], max_ms=ms[-1],
              iqr_ms=q[2] - q[0], samples_ms=ms)


def run_case(name, model_name, mode, scale, repeats, min_time):
  """Times one (configuration, model, mode); returns a JSON-able dict."""
  rss_start = _rss_mb()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import flops  # pylint: disable=g-import-not-at-top
  from dam import model as model_lib  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  from dam.run import steps  # pylint: disable=g-import-not-at-top

  config = CONFIGS[name]
  batch_size = _batch_size(config, scale)
  task, batch = _task(config, batch_size)
  time_steps = int(batch.inputs.shape[1])
  tf.random.set_seed(0)
  use_dam = model_name == 'dam'
  core = model_lib.build_core(
      task.output_size, use_dam=use_dam, hidden_size=config['hidden_size'],
      memory_size=config['memory_size'], word_size=config['word_size'],
      num_reads=config['num_reads'], num_blocks=config['num_blocks'],
      mlp_sizes=config['mlp_sizes'], seed=0)
  model = model_lib.SequenceModel(core, config.get('vocab_size'),
                                  config.get('embedding_size'))
  optimizer = optimizers.make_optimizer(config['optimizer'],
                                        config['learning_rate'])
  variables = steps.build(model, optimizer, task.batch_specs(batch_size))
  rss_built = _rss_mb()
  traces = {}
  train_step = steps.make_train_step(
      model, optimizer, task.loss, task.batch_specs(batch_size), 50., mode,
      traces, variables)
  eval_step = steps.make_eval_step(model, task.loss, task.batch_specs(None),
                                   mode, traces)
  tensors = steps.to_tensors(batch)
  repeats = repeats if mode != 'eager' else min(repeats, _EAGER_REPEATS.value)
  results = {}
  for kind, fn in (('train', train_step), ('eval', eval_step)):
    first, calls, per_call = _time_calls(lambda f=fn: f(tensors), repeats,
                                         min_time)
    stats = _stats(per_call)
    results[kind] = dict(first_call_s=first, calls_per_repeat=calls,
                         repeats=repeats,
                         sequences_per_s=batch_size / (stats['median_ms'] /
                                                       1e3), **stats)
  # The step must not trace again after its first call.
  results['traces'] = traces
  flop_config = dict(
      input_size=(config['embedding_size'] if task.vocab_size
                  else task.input_size), output_size=task.output_size,
      hidden_size=config['hidden_size'], memory_size=config['memory_size'],
      word_size=config['word_size'], num_reads=config['num_reads'],
      num_blocks=config['num_blocks'], mlp_sizes=config['mlp_sizes'],
      interface_size=core.access.interface_size, use_dam=use_dam)
  results['train']['flops'] = flops.train_step_flops(batch_size, time_steps,
                                                     **flop_config)
  results['eval']['flops'] = flops.eval_flops(batch_size, time_steps,
                                              **flop_config)
  for kind in ('train', 'eval'):
    r = results[kind]
    r['achieved_gflops'] = r['flops'] / (r['median_ms'] / 1e3) / 1e9
  memory = dict(peak_rss_mb=_peak_rss_mb(), start_rss_mb=rss_start,
                built_rss_mb=rss_built)
  gpus = tf.config.list_physical_devices('GPU')
  if gpus:
    memory['gpu_peak_mb'] = tf.config.experimental.get_memory_info(
        'GPU:0')['peak'] / 2**20
  return dict(config=name, model=model_name, mode=mode,
              batch_size=batch_size, time_steps=time_steps,
              parameters=int(sum(int(tf.size(v)) for v in variables)),
              memory=memory, device='GPU' if gpus else 'CPU', **results)


# -- the driver ----------------------------------------------------------------


def matmul_throughput(size=4096, repeats=7):
  """Measured float32 matmul FLOP/s: median over `repeats` of a size^3 matmul."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])
  matmul = tf.function(tf.matmul)
  matmul(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).numpy()
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  return dict(size=size, median_s=seconds, flops_per_s=2. * size**3 / seconds)


def _check_names(values, allowed, flag):
  unknown = [v for v in values if v not in allowed]
  if unknown:
    raise app.UsageError(f'--{flag}: unknown {unknown}; choose from '
                         f'{", ".join(allowed)}.')


def _print_row(r, matmul_flops):
  if 'error' in r:
    print(f'{r["config"]:>10} {r["model"]:>3} {r["mode"]:>8}  failed: '
          f'{r["error"].splitlines()[-1][:80]}', flush=True)
    return
  t, e = r['train'], r['eval']
  print(f'{r["config"]:>10} {r["model"]:>3} {r["mode"]:>8} '
        f'{r["batch_size"]:>5} {r["time_steps"]:>4} '
        f'{t["median_ms"]:>10.1f} {t["iqr_ms"]:>7.1f} '
        f'{t["sequences_per_s"]:>8.1f} {t["first_call_s"]:>7.1f} '
        f'{100 * t["achieved_gflops"] * 1e9 / matmul_flops:>6.1f} '
        f'{e["median_ms"]:>9.1f} {e["first_call_s"]:>7.1f} '
        f'{100 * e["achieved_gflops"] * 1e9 / matmul_flops:>6.1f} '
        f'{r["memory"]["peak_rss_mb"]:>8.0f}', flush=True)


def main(argv):
  del argv
  if _CASE.value:
    name, model_name, mode = _CASE.value.split(':')
    result = run_case(name, model_name, mode, _SCALE.value, _REPEATS.value,
                      _MIN_TIME.value)
    print('RESULT ' + json.dumps(result))
    return 0
  _check_names(_CONFIGS.value, list(CONFIGS), 'configs')
  _check_names(_MODELS.value, MODELS, 'models')
  _check_names(_MODES.value, MODES, 'modes')
  if _SCALE.value <= 0:
    raise app.UsageError('--scale must be > 0.')
  info = machine()
  matmul = matmul_throughput()
  print(f'{info.get("cpu_model", "?")}, {info["cpus"]} CPUs, TensorFlow '
        f'{info["tensorflow"]}; float32 matmul '
        f'{matmul["flops_per_s"] / 1e9:.0f} GFLOP/s (4096^3, median).',
        flush=True)
  print(f'{"config":>10} {"mdl":>3} {"mode":>8} {"batch":>5} {"T":>4} '
        f'{"train ms":>10} {"IQR":>7} {"seq/s":>8} {"1st s":>7} '
        f'{"MFU%":>6} {"eval ms":>9} {"1st s":>7} {"MFU%":>6} '
        f'{"peak MB":>8}', flush=True)
  results = []
  for name in _CONFIGS.value:
    for model_name in _MODELS.value:
      for mode in _MODES.value:
        command = [sys.executable, os.path.abspath(__file__),
                   f'--case={name}:{model_name}:{mode}',
                   f'--scale={_SCALE.value}', f'--repeats={_REPEATS.value}',
                   f'--eager_repeats={_EAGER_REPEATS.value}',
                   f'--min_time={_MIN_TIME.value}']
        proc = subprocess.run(command, capture_output=True, text=True,
                              check=False)
        lines = [l for l in proc.stdout.splitlines()
                 if l.startswith('RESULT ')]
        if proc.returncode == 0 and lines:
          result = json.loads(lines[-1][len('RESULT '):])
        else:
          result = dict(config=name, model=model_name, mode=mode,
                        error=proc.stderr[-2000:] or 'no output')
        for kind in ('train', 'eval'):
          if kind in result:
            result[kind]['utilisation'] = (result[kind]['achieved_gflops'] *
                                           1e9 / matmul['flops_per_s'])
        results.append(result)
        _print_row(result, matmul['flops_per_s'])
  output = dict(machine=info, matmul=matmul, scale=_SCALE.value,
                repeats=_REPEATS.value, eager_repeats=_EAGER_REPEATS.value,
                min_time_s=_MIN_TIME.value,
                configs={n: {k: v for k, v in CONFIGS[n].items()}
                         for n in _CONFIGS.value},
                results=results)
  os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
  with open(_OUTPUT.value, 'w') as f:
    json.dump(output, f, indent=1, default=list)
  print(f'Wrote {_OUTPUT.value}')
  return 0 if all('error' not in r for r in results) else 1


if __name__ == '__main__':
  app.run(main)
