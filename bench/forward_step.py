"""Times one forward step of the DAM and DNC cores: eager, tf.function, XLA.

    python bench/forward_step.py                       # authors' Copy sizes
    python bench/forward_step.py --config=babi --output=bench/results/fwd.json
    python bench/forward_step.py --kernel=paper        # the paper-form kernel

For each model and execution mode: warm-up calls (tracing / compilation,
timed separately as `first_call_s`), then `--repeats` timings of `--calls`
consecutive steps; prints and writes JSON with the median and spread of the
per-step time. Also times an evaluation unroll over a whole sequence
(`--time_steps`, 66 = the longest Copy sequence) in the same modes.
"""

import json
import os
import platform
import statistics
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

import dam  # pylint: disable=g-import-not-at-top

CONFIGS = {
    # The authors' Copy command (Park et al. 2021; taewonpark/DAM): 8 bits +
    # 2 flags.
    'copy': dict(batch_size=16, input_size=10, output_size=10, hidden_size=128,
                 memory_size=64, word_size=36, num_reads=1, num_blocks=2),
    # The authors' bAbI command: embedding 64 in, softmax over the lexicon
    # out (~160 words).
    'babi': dict(batch_size=32, input_size=64, output_size=160,
                 hidden_size=256, memory_size=128, word_size=48, num_reads=4,
                 num_blocks=2),
}

_CONFIG = flags.DEFINE_enum('config', 'copy', sorted(CONFIGS),
                            'Model sizes to time.')
_REPEATS = flags.DEFINE_integer('repeats', 7, 'Timed repetitions.')
_CALLS = flags.DEFINE_integer('calls', 20, 'Steps per repetition.')
_TIME_STEPS = flags.DEFINE_integer('time_steps', 66,
                                   'Sequence length of the timed unroll.')
_OUTPUT = flags.DEFINE_string('output', None, 'Also write the JSON here.')
_KERNEL = flags.DEFINE_enum('kernel', 'fast', ['fast', 'paper'],
                            'Addressing kernel (dam.access.addressing_kernel).')


def _time(fn, repeats, calls):
  start = time.perf_counter()
  fn()
  first = time.perf_counter() - start
  fn()  # second warm-up
  per_call = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(calls):
      result = fn()
    tf.nest.map_structure(lambda t: t.numpy(), result)
    per_call.append((time.perf_counter() - start) / calls)
  per_call_ms = sorted(1e3 * t for t in per_call)
  return dict(median_ms=statistics.median(per_call_ms),
              min_ms=per_call_ms[0], max_ms=per_call_ms[-1],
              first_call_s=first)


def _make_core(model, config):
  kwargs = {k: config[k] for k in ('output_size', 'hidden_size', 'memory_size',
                                    'word_size', 'num_reads')}
  if model == 'dam':
    return dam.DAM(num_blocks=config['num_blocks'], seed=0,
                   kernel=_KERNEL.value, **kwargs)
  return dam.DNC(kernel=_KERNEL.value, **kwargs)


def main(argv):
  del argv
  config = CONFIGS[_CONFIG.value]
  batch, input_size = config['batch_size'], config['input_size']
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=[batch, input_size]), tf.float32)
  sequence = tf.constant(
      rng.normal(size=[batch, _TIME_STEPS.value, input_size]), tf.float32)
  lengths = tf.fill([batch], _TIME_STEPS.value)
  results = dict(
      config=_CONFIG.value, kernel=_KERNEL.value, sizes=config,
      time_steps=_TIME_STEPS.value,
      repeats=_REPEATS.value, calls=_CALLS.value,
      tensorflow=tf.__version__, python=platform.python_version(),
      cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
      models={})
  for model in ('dam', 'dnc'):
    core = dam.build(_make_core(model, config), input_size)
    state = core.initial_state(batch)
    # Time a step from a non-trivial state.
    for _ in range(3):
      _, state = core(x, state)
    parameters = sum(int(np.prod(v.shape)) for v in core.trainable_variables)
    step_fns = {
        'eager': lambda c=core, s=state: c(x, s),
        'tf.function': tf.function(lambda c=core, s=state: c(x, s)),
        'xla': tf.function(lambda c=core, s=state: c(x, s), jit_compile=True),
    }
    entry = dict(parameters=parameters, step={}, unroll={})
    for mode, fn in step_fns.items():
      entry['step'][mode] = _time(fn, _REPEATS.value, _CALLS.value)
      print(f'{model} step {mode:12s} '
            f'{entry["step"][mode]["median_ms"]:8.3f} ms', flush=True)
    unroll_fns = {
        'eager': lambda c=core: dam.unroll(c, sequence, lengths),
        'tf.function': dam.compile_unroll(core, input_size, batch),
        'xla': dam.compile_unroll(core, input_size, batch, jit_compile=True),
    }
    for mode, fn in unroll_fns.items():
      call = fn if mode == 'eager' else (lambda f=fn: f(sequence, lengths))
      repeats = 3 if mode == 'eager' else _REPEATS.value
      entry['unroll'][mode] = _time(call, repeats, 1)
      print(f'{model} unroll T={_TIME_STEPS.value} {mode:12s} '
            f'{entry["unroll"][mode]["median_ms"]:8.1f} ms', flush=True)
    results['models'][model] = entry
  text = json.dumps(results, indent=2)
  print(text)
  if _OUTPUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
    with open(_OUTPUT.value, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main)
