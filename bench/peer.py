"""Our training steps against the PyTorch DNC users pick instead, in
alternating rounds, reported as ratios; the peer in its own process.

    pip install -r bench/requirements-peer.txt      # the peer (optional)
    python bench/peer.py                            # Copy and bAbI T=200
    python bench/peer.py --configs=copy --rounds=7 --output=/tmp/peer.json

The peer is `ixaxaar/pytorch-dnc` (PyPI `dnc`): a DNC (Graves et al. 2016)
with an LSTM controller, trained as its copy-task example does (RMSProp,
momentum 0.9, eps 1e-10, gradient norm clipped at 50), built at the sizes of
the authors' configuration (`bench/cases.py` CONFIGS): one LSTM layer of H
units, N slots of W, R read heads, controller outputs clipped at 20. For
bAbI the peer gets the same word embedding in front and a linear layer from
its output (the embedding size) to the lexicon behind, as our model has.
It runs on the same batch (Copy: our generator's; bAbI: stories of random
words) with the same losses (sigmoid cross entropy on the answer steps for
Copy, softmax cross entropy for bAbI).

Contenders (`--contenders`): `dam`, `dnc` (our training steps, XLA as the
scripts run them: forward, loss, backward, clipping, update), `dam_eval`,
`dnc_eval` (our evaluation pass, dynamic batch), `peer` (the peer's
training step, eager PyTorch, as its examples run, in a process of its own
that never imports TensorFlow, `bench/peer_process.py`: in one process the
two libraries' thread pools fight over the cores; on 2 vCPUs that made the
peer 13x slower). Each is warmed up, then
timed in `--rounds` rounds; in a round every contender runs, one after
another, enough calls to last `--min_time` seconds, so slow drifts of the
machine (noisy neighbours, clocks) fall on all of them alike. Reported per
contender: median ms per step (and IQR, all samples), model FLOP utilisation
(analytic FLOPs of `dam.flops` / time / the float32 matmul throughput
measured in the same run; the peer at our DNC's FLOPs, its sizes being the
same), and per round the ratio peer ms / ours ms (median, min, max). A
ratio whose rounds spread more than `MAX_SPREAD` (2 x) is not reported (the
JSON keeps the rounds and says why): the machine's load changed meanwhile.

Without the peer installed, it says so and times ours alone. The JSON
(`--output`, default bench/results/peer.json) names the CPU, its vector
instruction sets, the thread counts and the library versions.
"""

import json
import os
import statistics
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/peer.py` from a checkout

from bench import cases  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.machine import describe  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench.machine import machine  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import peer_model  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import peer_process  # pylint: disable=g-import-not-at-top,wrong-import-position

CONTENDERS = ('dam', 'dnc', 'dam_eval', 'dnc_eval', 'peer')
# A peer-to-ours ratio whose rounds spread more than this (largest /
# smallest) is not reported (`spread_problem`).
MAX_SPREAD = 2.0
PEER_CONFIGS = cases.PEER_CONFIGS

_CONFIGS = flags.DEFINE_list('configs', ['copy', 'babi200'],
                             f'Configurations: {", ".join(PEER_CONFIGS)}.')
_CONTENDERS = flags.DEFINE_list('contenders', list(CONTENDERS),
                                f'Contenders: {", ".join(CONTENDERS)}.')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Timed rounds.')
_MIN_TIME = flags.DEFINE_float('min_time', 1.0, 'Seconds per contender and '
                               'round (at least one call).')
_SCALE = flags.DEFINE_float('scale', 1.0, 'Multiplies the bAbI batch size.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Threads of both libraries '
                                '(0: all cores, each library\'s default).')
_OUTPUT = flags.DEFINE_string('output', os.path.join(ROOT, 'bench', 'results',
                                                     'peer.json'),
                              'JSON results file.')


def peer_available():
  """(True, versions) if torch and the `dnc` package are installed (found,
  not imported: the peer runs in its own process), else (False, the
  reason)."""
  from importlib import util  # pylint: disable=g-import-not-at-top
  missing = [name for name in ('torch', 'dnc') if util.find_spec(name) is None]
  if missing:
    return False, (f'no module {", ".join(missing)}; install the peer with '
                   f'`pip install -r bench/requirements-peer.txt`')
  return True, peer_model.versions()


def _sync(result):
  if hasattr(result, 'numpy'):
    result.numpy()
  elif isinstance(result, dict):
    for value in result.values():
      _sync(value)
  elif isinstance(result, (tuple, list)):
    for value in result:
      _sync(value)


def _time_calls(fn, calls):
  """Seconds of `calls` calls of `fn`, finished; a contender in its own
  process (`peer_process.PeerProcess`) times itself."""
  if hasattr(fn, 'time_calls'):
    return fn.time_calls(calls)
  start = time.perf_counter()
  for _ in range(calls):
    result = fn()
  _sync(result)
  return time.perf_counter() - start


def _calls(fn, min_time):
  """Warm-up (2 calls, the first timed); the calls that last min_time."""
  first = _time_calls(fn, 1)
  second = _time_calls(fn, 1)
  return first, max(1, int(round(min_time / max(second, 1e-6))))


def time_rounds(fns, rounds, min_time):
  """Times the callables `fns` ({name: fn}) in alternating rounds.

  Returns:
    {name: {'first_call_s', 'calls_per_round', 'samples_ms'}}: samples_ms
    holds one ms-per-call figure per round, in round order.
  """
  out = {}
  for name, fn in fns.items():
    first, calls = _calls(fn, min_time)
    out[name] = dict(first_call_s=first, calls_per_round=calls,
                     samples_ms=[])
  for _ in range(rounds):
    for name, fn in fns.items():
      calls = out[name]['calls_per_round']
      out[name]['samples_ms'].append(1e3 * _time_calls(fn, calls) / calls)
  return out


def summarise(timings, flops, matmul_flops_per_s):
  """Adds median / IQR / MFU per contender and peer-to-ours ratios per
  round (`timings` as from `time_rounds`; `flops`: {name: FLOPs per call})."""
  for name, t in timings.items():
    ms = sorted(t['samples_ms'])
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    t.update(median_ms=statistics.median(ms), iqr_ms=q[2] - q[0],
             min_ms=ms[0], max_ms=ms[-1])
    if name in flops:
      t['flops'] = flops[name]
      t['mfu'] = flops[name] / (t['median_ms'] / 1e3) / matmul_flops_per_s
  ratios = {}
  if 'peer' in timings:
    for name in ('dam', 'dnc'):
      if name in timings:
        per_round = [p / o for p, o in zip(timings['peer']['samples_ms'],
                                           timings[name]['samples_ms'])]
        ratio = dict(median=statistics.median(per_round),
                     min=min(per_round), max=max(per_round),
                     per_round=per_round)
        refused = spread_problem(per_round)
        if refused:
          ratio['refused'] = refused
        ratios[f'peer/{name}'] = ratio
  return ratios


def spread_problem(per_round, limit=MAX_SPREAD):
  """Why the per-round ratios are no measurement (None: they are): their
  largest is more than `limit` x their smallest, so the machine's load
  changed during the run and a median would be one of those loads."""
  low, high = min(per_round), max(per_round)
  if low > 0 and high / low <= limit:
    return None
  spread = high / low if low > 0 else float('inf')
  return (f'its rounds spread {spread:.1f} x ({low:.2f}-{high:.2f}), more '
          f'than {limit:g} x: the machine\'s load changed during the run; '
          f'rerun on a quiet machine (or with more --rounds / --min_time)')


def run_config(name, contenders, scale, rounds, min_time, matmul, threads=0,
               peer_command=None):
  """Builds the contenders of configuration `name`, times them; a dict.

  The peer runs in its own process (`bench.peer_process`; `peer_command`
  replaces its command, e.g. with a stand-in), with `threads` torch
  threads (0: its default).
  """
  config = cases.CONFIGS[name]
  fns, flops, info = {}, {}, {}
  for model_name in ('dam', 'dnc'):
    kinds = [k for k in ('train', 'eval')
             if (model_name if k == 'train' else model_name + '_eval')
             in contenders]
    if not kinds:
      continue
    case = cases.build_case(name, model_name, 'xla', scale)
    tensors = case['tensors']
    info['batch_size'], info['time_steps'] = (case['batch_size'],
                                              case['time_steps'])
    for kind in kinds:
      key = model_name if kind == 'train' else model_name + '_eval'
      fns[key] = (lambda f=case[kind + '_step'], x=tensors: f(x))
      flops[key] = case['flops'][kind]
  peer = None
  if 'peer' in contenders:
    batch_size = cases.batch_size_of(config, scale)
    task, batch = cases.make_task(config, batch_size)
    peer = peer_process.start_peer(config, task, batch, threads,
                                   peer_command)
    fns['peer'] = peer
    info['peer_parameters'] = peer.info['parameters']
    info['peer_threads'] = peer.info['threads']
    info['batch_size'] = batch_size
    info['time_steps'] = int(batch.inputs.shape[1])
    # The peer at our DNC's FLOPs (same sizes).
    flops['peer'] = cases.step_flops(config, task, batch_size,
                                     info['time_steps'], use_dam=False)['train']
  try:
    timings = time_rounds(fns, rounds, min_time)
  finally:
    if peer is not None:
      peer.close()
  ratios = summarise(timings, flops, matmul['flops_per_s'])
  return dict(config=name, **info, contenders=timings, ratios=ratios)


def _print(result):
  name = result['config']
  print(f'{name}: batch {result["batch_size"]} x T {result["time_steps"]}',
        flush=True)
  for key, t in result['contenders'].items():
    mfu = f'{100 * t["mfu"]:5.1f} %' if 'mfu' in t else '     -'
    print(f'  {key:>9} {t["median_ms"]:10.1f} ms (IQR {t["iqr_ms"]:.1f})  '
          f'MFU {mfu}', flush=True)
  for key, r in result['ratios'].items():
    if 'refused' in r:
      print(f'  {key:>9} not reported: {r["refused"]}.', flush=True)
    else:
      print(f'  {key:>9} {r["median"]:10.2f} x (rounds {r["min"]:.2f}-'
            f'{r["max"]:.2f})', flush=True)


def main(argv):
  del argv
  for value, allowed, flag in ((_CONFIGS.value, PEER_CONFIGS, 'configs'),
                               (_CONTENDERS.value, CONTENDERS, 'contenders')):
    unknown = [v for v in value if v not in allowed]
    if unknown:
      raise app.UsageError(f'--{flag}: unknown {unknown}; choose from '
                           f'{", ".join(allowed)}.')
  if _ROUNDS.value < 1 or _MIN_TIME.value <= 0 or _SCALE.value <= 0:
    raise app.UsageError('--rounds must be >= 1, --min_time and --scale > 0.')
  contenders = list(_CONTENDERS.value)
  available, peer = peer_available()
  if 'peer' in contenders and not available:
    print(f'The peer is not installed ({peer}); timing ours alone.',
          flush=True)
    contenders.remove('peer')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  threads = _THREADS.value
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  info = machine()
  matmul = cases.matmul_throughput()
  print(f'{describe(info)}; float32 matmul '
        f'{matmul["flops_per_s"] / 1e9:.0f} GFLOP/s; peer: {peer}',
        flush=True)
  results = []
  for name in _CONFIGS.value:
    result = run_config(name, contenders, _SCALE.value, _ROUNDS.value,
                        _MIN_TIME.value, matmul, threads)
    if 'peer_threads' in result and isinstance(peer, dict):
      peer['threads'] = result['peer_threads']
    _print(result)
    results.append(result)
  output = dict(machine=info, matmul=matmul, peer=peer, threads=threads,
                rounds=_ROUNDS.value, min_time_s=_MIN_TIME.value,
                scale=_SCALE.value, results=results)
  os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
  with open(_OUTPUT.value, 'w') as f:
    json.dump(output, f, indent=1)
  print(f'Wrote {_OUTPUT.value}', flush=True)
  return 0


if __name__ == '__main__':
  app.run(main)
