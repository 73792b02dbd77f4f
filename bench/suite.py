"""The benchmark suite: training and evaluation steps of every configuration.

    python bench/suite.py                                # everything
    python bench/suite.py --configs=copy,babi200 --models=dam --modes=xla
    python bench/suite.py --scale=0.125                  # shrink big batches

For each of the authors' task configurations (`CONFIGS`, from their
commands in `damrun.presets`: Copy, Associative Recall, Representation Recall,
bAbI at a typical story length of 200 tokens and at the 800-token maximum,
Nth Farthest, Convex Hull), each model (DAM, DNC) and each execution mode
(eager, tf.function, tf.function + XLA), it times

* a full training step (`damrun.steps.make_train_step`: forward, loss,
  backward, global-norm clipping, optimizer update), the step every script
  runs, on one batch of the task at its longest length;
* an evaluation forward pass (`damrun.steps.make_eval_step`) on the same
  batch,

each after warm-up (the first call, timed separately as the trace / compile
time), over `--repeats` timed repetitions of enough calls to last
`--min_time` seconds. Every case runs in its own process, so its peak memory
(peak RSS, also minus the process's RSS before the model was built) is its
own. It also measures the machine's float32 matmul throughput (a large
`tf.matmul`, median of several) and reports model FLOP utilisation:
analytic FLOPs of the step (`dam.flops`) / time / measured matmul FLOP/s.

With the peer installed (`pip install -r bench/requirements-peer.txt`), it
then runs `bench/peer.py` on the configurations of `--peer_configs`: the
PyTorch DNC (`ixaxaar/pytorch-dnc`) timed in one process with our XLA
training steps, alternating rounds, stored under 'peer' in the JSON; the
table (`bench/table.py`) gives the peer's step and the same-run ratio
beside our XLA rows.

Prints a table and writes everything to JSON (`--output`, default
bench/results/suite.json). `--scale` multiplies the batch sizes of the big
configurations (Nth Farthest's 1600, bAbI's 32, Convex Hull's 128; at least
1 example) for small machines; the JSON says what was run.
"""

import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/suite.py` from a checkout

# pylint: disable=g-import-not-at-top,wrong-import-position
from bench.cases import CONFIGS, MODELS, MODES, PEER_CONFIGS, build_case, matmul_throughput, peak_rss_mb, rss_mb
from bench.machine import describe
from bench.machine import machine
# pylint: enable=g-import-not-at-top,wrong-import-position

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
_PEER_CONFIGS = flags.DEFINE_list(
    'peer_configs', ['copy', 'babi200'], 'Configurations (of --configs) on '
    'which bench/peer.py times the PyTorch DNC against our XLA training '
    'steps, when it is installed; empty: none.')


# -- one case (in its own process) ---------------------------------------------


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
  rss_start = rss_mb()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  case = build_case(name, model_name, mode, scale)
  batch_size, tensors = case['batch_size'], case['tensors']
  repeats = repeats if mode != 'eager' else min(repeats, _EAGER_REPEATS.value)
  results = {}
  for kind in ('train', 'eval'):
    fn = case[kind + '_step']
    first, calls, per_call = _time_calls(lambda f=fn: f(tensors), repeats,
                                         min_time)
    stats = _stats(per_call)
    results[kind] = dict(first_call_s=first, calls_per_repeat=calls,
                         repeats=repeats,
                         sequences_per_s=batch_size / (stats['median_ms'] /
                                                       1e3), **stats)
  # The step must not trace again after its first call.
  results['traces'] = case['traces']
  for kind in ('train', 'eval'):
    r = results[kind]
    r['flops'] = case['flops'][kind]
    r['achieved_gflops'] = r['flops'] / (r['median_ms'] / 1e3) / 1e9
  memory = dict(peak_rss_mb=peak_rss_mb(), start_rss_mb=rss_start,
                built_rss_mb=case['rss_built_mb'])
  gpus = tf.config.list_physical_devices('GPU')
  if gpus:
    memory['gpu_peak_mb'] = tf.config.experimental.get_memory_info(
        'GPU:0')['peak'] / 2**20
  return dict(config=name, model=model_name, mode=mode,
              batch_size=batch_size, time_steps=case['time_steps'],
              parameters=int(sum(int(tf.size(v))
                                 for v in case['variables'])),
              memory=memory, device='GPU' if gpus else 'CPU', **results)


# -- the driver ----------------------------------------------------------------


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


def _run_peer(configs, models):
  """bench/peer.py's JSON for our XLA training steps of `models` against
  the peer on `configs` (one process, alternating rounds), or None: nothing
  to compare, the peer not installed (said), or the run failed (said)."""
  if not configs or not models:
    return None
  if not all(importlib.util.find_spec(m) for m in ('torch', 'dnc')):
    print('The peer (PyTorch DNC) is not installed: no peer columns. '
          '`pip install -r bench/requirements-peer.txt` adds them.',
          flush=True)
    return None
  print(f'The peer against our XLA training steps ({", ".join(configs)}), '
        f'bench/peer.py:', flush=True)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'peer.json')
    command = [sys.executable, os.path.join(ROOT, 'bench', 'peer.py'),
               f'--configs={",".join(configs)}',
               f'--contenders={",".join(list(models) + ["peer"])}',
               f'--rounds={_REPEATS.value}', f'--min_time={_MIN_TIME.value}',
               f'--scale={_SCALE.value}', f'--output={path}']
    proc = subprocess.run(command, capture_output=True, text=True,
                          check=False)
    for line in proc.stdout.splitlines():
      if line.startswith(' ') or line.split(':')[0] in configs:
        print(line, flush=True)
    if proc.returncode != 0 or not os.path.exists(path):
      print('bench/peer.py failed: ' +
            (proc.stderr.strip().splitlines() or ['no output'])[-1],
            flush=True)
      return None
    with open(path) as f:
      return json.load(f)


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
  _check_names(_PEER_CONFIGS.value, PEER_CONFIGS, 'peer_configs')
  if _SCALE.value <= 0:
    raise app.UsageError('--scale must be > 0.')
  info = machine()
  matmul = matmul_throughput()
  print(f'{describe(info)}; float32 matmul '
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

  def write():
    with open(_OUTPUT.value, 'w') as f:
      json.dump(output, f, indent=1, default=list)
    print(f'Wrote {_OUTPUT.value}', flush=True)

  write()  # before the peer's run: nothing measured is lost if it fails
  peer = _run_peer([c for c in _PEER_CONFIGS.value if c in _CONFIGS.value],
                   _MODELS.value if 'xla' in _MODES.value else [])
  if peer:
    output['peer'] = peer
    write()
  return 0 if all('error' not in r for r in results) else 1


if __name__ == '__main__':
  app.run(main)
