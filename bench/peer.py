"""Our training steps against the PyTorch DNC users pick instead, timed in
one process, alternating, reported as ratios.

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
training step, eager PyTorch, as its examples run). Each is warmed up, then
timed in `--rounds` rounds; in a round every contender runs, one after
another, enough calls to last `--min_time` seconds, so slow drifts of the
machine (noisy neighbours, clocks) fall on all of them alike. Reported per
contender: median ms per step (and IQR, all samples), model FLOP utilisation
(analytic FLOPs of `dam.flops` / time / the float32 matmul throughput
measured in the same run; the peer at our DNC's FLOPs, its sizes being the
same), and per round the ratio peer ms / ours ms (median, min, max).

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

CONTENDERS = ('dam', 'dnc', 'dam_eval', 'dnc_eval', 'peer')
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
  """(True, versions) if torch and the `dnc` package import, else (False,
  the reason)."""
  try:
    import dnc  # pylint: disable=g-import-not-at-top,unused-import
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return False, (f'{e}; install the peer with `pip install -r '
                   f'bench/requirements-peer.txt`')
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    dnc_version = metadata.version('dnc')
  except Exception:  # pylint: disable=broad-except
    dnc_version = 'unknown'
  return True, dict(torch=torch.__version__, dnc=dnc_version)


def build_peer(config, task, batch):
  """The peer's training step on `batch` (a `tasks.base.Batch` of numpy
  arrays), at the sizes of `config`.

  Returns:
    (step, parameters): step() runs one training step and returns the loss
    (a float, so that the step has finished).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from dnc import DNC  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  vocab = task.vocab_size
  input_size = config['embedding_size'] if vocab else task.input_size
  core = DNC(input_size=input_size, hidden_size=config['hidden_size'],
             rnn_type='lstm', num_layers=1, num_hidden_layers=1,
             nr_cells=config['memory_size'], cell_size=config['word_size'],
             read_heads=config['num_reads'], gpu_id=-1,
             independent_linears=False, clip=20)
  modules = [core]
  mask = torch.from_numpy(np.asarray(batch.answer_mask, np.float32))
  if vocab:
    embed = torch.nn.Embedding(vocab, input_size)
    project = torch.nn.Linear(input_size, vocab)
    modules += [embed, project]
    inputs = torch.from_numpy(np.asarray(batch.inputs, np.int64))
    targets = torch.from_numpy(np.asarray(batch.targets, np.int64))

    def loss_fn():
      logits = project(core(embed(inputs))[0])
      ce = torch.nn.functional.cross_entropy(
          logits.reshape(-1, vocab), targets.reshape(-1), reduction='none')
      return (ce.reshape(mask.shape) * mask).sum() / mask.shape[0]
  else:
    if task.output_size != input_size:
      raise ValueError(f'the peer\'s outputs have the input size '
                       f'{input_size}, the task needs {task.output_size}')
    inputs = torch.from_numpy(np.asarray(batch.inputs, np.float32))
    targets = torch.from_numpy(np.asarray(batch.targets, np.float32))

    def loss_fn():
      logits = core(inputs)[0]
      bce = torch.nn.functional.binary_cross_entropy_with_logits(
          logits, targets, reduction='none').mean(-1)
      return (bce * mask).sum() / mask.shape[0]

  parameters = [p for m in modules for p in m.parameters()]
  optimizer = torch.optim.RMSprop(parameters, lr=config['learning_rate'],
                                  momentum=0.9, eps=1e-10)

  def step():
    optimizer.zero_grad()
    loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 50.)
    optimizer.step()
    return float(loss.detach())

  return step, sum(p.numel() for p in parameters)


def _sync(result):
  if hasattr(result, 'numpy'):
    result.numpy()
  elif isinstance(result, dict):
    for value in result.values():
      _sync(value)
  elif isinstance(result, (tuple, list)):
    for value in result:
      _sync(value)


def _calls(fn, min_time):
  """Warm-up (2 calls, the first timed); the calls that last min_time."""
  start = time.perf_counter()
  _sync(fn())
  first = time.perf_counter() - start
  start = time.perf_counter()
  _sync(fn())
  second = time.perf_counter() - start
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
      start = time.perf_counter()
      for _ in range(calls):
        result = fn()
      _sync(result)
      out[name]['samples_ms'].append(
          1e3 * (time.perf_counter() - start) / calls)
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
        ratios[f'peer/{name}'] = dict(median=statistics.median(per_round),
                                      min=min(per_round), max=max(per_round),
                                      per_round=per_round)
  return ratios


def run_config(name, contenders, scale, rounds, min_time, matmul):
  """Builds the contenders of configuration `name`, times them; a dict."""
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
  if 'peer' in contenders:
    batch_size = cases.batch_size_of(config, scale)
    task, batch = cases.make_task(config, batch_size)
    step, parameters = build_peer(config, task, batch)
    fns['peer'] = step
    info['peer_parameters'] = parameters
    info['batch_size'] = batch_size
    info['time_steps'] = int(batch.inputs.shape[1])
    # The peer at our DNC's FLOPs (same sizes).
    flops['peer'] = cases.step_flops(config, task, batch_size,
                                     info['time_steps'], use_dam=False)['train']
  timings = time_rounds(fns, rounds, min_time)
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
  if 'peer' in contenders:
    import torch  # pylint: disable=g-import-not-at-top
    if threads:
      torch.set_num_threads(threads)
    peer = dict(peer, threads=torch.get_num_threads())
  info = machine()
  matmul = cases.matmul_throughput()
  print(f'{describe(info)}; float32 matmul '
        f'{matmul["flops_per_s"] / 1e9:.0f} GFLOP/s; peer: {peer}',
        flush=True)
  results = []
  for name in _CONFIGS.value:
    result = run_config(name, contenders, _SCALE.value, _ROUNDS.value,
                        _MIN_TIME.value, matmul)
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
