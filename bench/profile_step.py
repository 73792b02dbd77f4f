"""Where a compiled step spends its time: per XLA:CPU kernel, per step.

    python bench/profile_step.py                          # Copy, DAM, training
    python bench/profile_step.py --config=babi200 --model=dnc --top=60
    python bench/profile_step.py --kind=eval --output=/tmp/profile.json

Builds the step of `bench/cases.py` (XLA, as the scripts run it), warms it
up, then records `--steps` calls with TensorFlow's profiler, XLA:CPU
emitting one trace event per kernel it runs
(`--xla_cpu_enable_xprof_traceme`). Prints, per kernel name (a fusion, a
dot, a copy...): ms per step, calls per step (65 for a kernel inside the
time loop of a 66-step Copy sequence), microseconds per call, and the
totals: kernels run per step and the time summed over them (XLA:CPU runs
independent kernels side by side on the intra-op pool, so the sum can
exceed the step's wall time). With `--threads` the intra-op pool has that
many threads. The tracing itself costs time: compare kernels, not the step
time, with `bench/suite.py`'s figures.

Each kernel is printed with what it computes: the TensorFlow op it comes
from (its `op_name`; `grad/` for the backward pass, the while loop's name
dropped) and its output shape, read from the optimized HLO that XLA dumps
while compiling the step (into a temporary folder, or into the folder of
an `--xla_dump_to` in `XLA_FLAGS`, which is kept). Kernel names (XLA's
instruction names) can differ between two machines or TensorFlow versions;
the op names and shapes are what to compare.

The kernels and their shares are what to look at when a machine is slower
than another with the same matmul throughput: the count of short kernels
per step and their microseconds each show the runtime's and the thread
hand-offs' share, the matmuls' microseconds the arithmetic's.
"""

import collections
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/profile_step.py` from a checkout

_CONFIG = flags.DEFINE_string('config', 'copy', 'A bench/cases.py '
                              'configuration (copy, ar, rr, babi200, ...).')
_MODEL = flags.DEFINE_enum('model', 'dam', ['dam', 'dnc'], 'The model.')
_KIND = flags.DEFINE_enum('kind', 'train', ['train', 'eval'],
                          'The training step or the evaluation pass.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Calls recorded.')
_SCALE = flags.DEFINE_float('scale', 1.0, 'Multiplies the batch of the '
                            'large configurations.')
_THREADS = flags.DEFINE_integer('threads', 0, 'Intra-op threads (0: the '
                                'default, every core).')
_TOP = flags.DEFINE_integer('top', 40, 'Kernels printed.')
_OUTPUT = flags.DEFINE_string('output', None, 'Optional JSON file.')

# Trace events that are not kernels: the runtime and TensorFlow's layers
# around the compiled program (a training step with dropout calls it from a
# plain tf.function, after TensorFlow's random kernel: `KernelAndDeviceFunc`
# spans it, `ParallelFor` that kernel's threads), the thread pool's markers,
# the completion markers of kernels ('end: <kernel>'), and the loops (a
# while loop's event spans the kernels of its body).
_NOT_KERNELS = ('ThunkExecutor', 'traced', 'TFE_', 'Eager', '__inference',
                'CpuExecutable', 'BlockUntilReady', 'ExecutorState',
                'Execute', 'tf_data', 'Iterator', '$', 'ThreadpoolListener',
                'end: ', 'while', 'conditional', 'call', 'KernelAndDeviceFunc',
                'ParallelFor')


def kernel_table(xspace, steps):
  """Per trace-event name of the host plane: (ms per step, calls per step,
  us per call), and which of them are kernels; from an `XSpace`."""
  rows = {}
  for plane in xspace.planes:
    if not plane.name.startswith('/host:CPU'):
      continue
    names = plane.event_metadata
    total, calls = collections.Counter(), collections.Counter()
    for line in plane.lines:
      for event in line.events:
        name = names[event.metadata_id].name
        total[name] += event.duration_ps
        calls[name] += 1
    for name, ps in total.items():
      rows[name] = dict(
          ms_per_step=ps / 1e9 / steps, calls_per_step=calls[name] / steps,
          us_per_call=ps / 1e6 / calls[name],
          kernel=not any(name.startswith(p) for p in _NOT_KERNELS))
  return rows


def main(argv):
  del argv
  xla_flags = os.environ.get('XLA_FLAGS', '')
  # XLA's HLO dump names the kernels: into the caller's --xla_dump_to if it
  # gives one (kept), else into a temporary folder (removed).
  user_dump = re.search(r'--xla_dump_to=(\S+)', xla_flags)
  dump = (user_dump.group(1) if user_dump else
          tempfile.mkdtemp(prefix='profile_step_hlo_'))
  if not user_dump:
    xla_flags += (f' --xla_dump_to={dump} --xla_dump_hlo_as_text'
                  ' --xla_dump_hlo_pass_re=^$')
  os.environ['XLA_FLAGS'] = (
      xla_flags + ' --xla_cpu_enable_xprof_traceme=true').strip()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  from bench import cases  # pylint: disable=g-import-not-at-top
  from bench import hlo  # pylint: disable=g-import-not-at-top
  from bench.machine import machine  # pylint: disable=g-import-not-at-top
  if _CONFIG.value not in cases.CONFIGS:
    raise app.UsageError(f'--config: unknown {_CONFIG.value!r}; choose from '
                         f'{", ".join(cases.CONFIGS)}.')
  if _THREADS.value:
    tf.config.threading.set_intra_op_parallelism_threads(_THREADS.value)
  case = cases.build_case(_CONFIG.value, _MODEL.value, 'xla', _SCALE.value)
  step, tensors = case[_KIND.value + '_step'], case['tensors']

  def run(n):
    for _ in range(n):
      result = step(tensors)
    tf.nest.map_structure(lambda t: t.numpy(), result)

  run(3)  # compile and warm up
  start = time.perf_counter()
  run(_STEPS.value)
  plain_ms = 1e3 * (time.perf_counter() - start) / _STEPS.value
  logdir = tempfile.mkdtemp(prefix='profile_step_')
  try:
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    run(_STEPS.value)
    traced_ms = 1e3 * (time.perf_counter() - start) / _STEPS.value
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'),
                      recursive=True)
    xspace = xplane_pb2.XSpace()
    with open(paths[0], 'rb') as f:
      xspace.ParseFromString(f.read())
  finally:
    shutil.rmtree(logdir, ignore_errors=True)
  ops = hlo.ops_of_dumps(
      glob.glob(os.path.join(dump, '*after_optimizations.txt')))
  if not user_dump:
    shutil.rmtree(dump, ignore_errors=True)
  rows = kernel_table(xspace, _STEPS.value)
  kernels = {n: r for n, r in rows.items() if r['kernel']}
  for name, r in kernels.items():
    r['op'], r['shape'] = ops.get(name, ('', ''))
  kernel_ms = sum(r['ms_per_step'] for r in kernels.values())
  count = sum(r['calls_per_step'] for r in kernels.values())
  print(f'{_CONFIG.value} {_MODEL.value} {_KIND.value}: batch '
        f'{case["batch_size"]} x T {case["time_steps"]}; step {plain_ms:.1f} '
        f'ms untraced, {traced_ms:.1f} ms traced; {count:,.0f} kernels per '
        f'step ({len(kernels)} distinct), {kernel_ms:.1f} ms summed over '
        f'them (independent kernels run side by side on the pool\'s '
        f'threads, so the sum can exceed the step), '
        f'{1e3 * kernel_ms / max(count, 1):.1f} us per kernel on average')
  print(f'{"ms/step":>9} {"calls/step":>10} {"us/call":>8}  '
        f'{"kernel":32} {"shape":24} op')
  ordered = sorted(kernels.items(), key=lambda kv: -kv[1]['ms_per_step'])
  for name, r in ordered[:_TOP.value]:
    print(f'{r["ms_per_step"]:9.3f} {r["calls_per_step"]:10.0f} '
          f'{r["us_per_call"]:8.2f}  {name:32} {r["shape"]:24} {r["op"]}')
  if _OUTPUT.value:
    with open(_OUTPUT.value, 'w') as f:
      json.dump(dict(machine=machine(), config=_CONFIG.value,
                     model=_MODEL.value, kind=_KIND.value,
                     batch_size=case['batch_size'],
                     time_steps=case['time_steps'], threads=_THREADS.value,
                     step_ms=plain_ms, traced_step_ms=traced_ms,
                     kernels_per_step=count, kernel_ms_per_step=kernel_ms,
                     kernels=dict(ordered)), f, indent=1)
    print(f'Wrote {_OUTPUT.value}')


if __name__ == '__main__':
  app.run(main)
