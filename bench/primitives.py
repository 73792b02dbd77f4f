"""What a training step's primitives cost on this machine, one by one.

    python bench/primitives.py                       # Copy and bAbI sizes
    python bench/primitives.py --configs=babi200 --threads=1
    python bench/primitives.py --output=/tmp/here.json \
        --compare=bench/reference/primitives-amd-epyc-zen5-2vcpu.json

A step of the DAM or the DNC is a few hundred XLA:CPU kernels per time step
(`bench/profile_step.py` lists them): the controller's matmuls, the memory's
batched products, its norms, the allocation's [N, N] comparison, the
stores the backward pass keeps, and many short kernels. Each primitive here runs inside one XLA-compiled `tf.while_loop` of
`--iterations` iterations at a configuration's sizes (`bench/cases.py`),
through the functions the model runs (`dam.addressing_fast`, `dam.dense`'s
product forms), on operands that change at every iteration, so that
nothing is hoisted out of the loop. Printed and written, per primitive:
microseconds per iteration over the same loop without it (its operands'
update and the accumulation of its output stay in both), GFLOP/s and the
share of the machine's float32 matmul rate (4096^3, measured in the same
run) for the arithmetic ones, the median of `--repeats` alternating
rounds.

Two machines with the same matmul rate can differ by their cost per short
kernel (`kernel_chain`: 16 dependent [B, H] kernels that XLA may not fuse,
against `fused_chain`, the same 16 ops fused into one; the difference per
kernel is the runtime's and the thread hand-offs' share) or by XLA:CPU's
batched products (one small product per [B, K] entry). `--compare` prints
this run's time over another JSON's, primitive by primitive: the first
thing to run on a machine that is slower than its matmul rate says.
"""

import json
import os
import statistics
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/primitives.py` from a checkout

CHAIN = 16  # Kernels in `kernel_chain` and ops in `fused_chain`.


def sizes(config):
  """The dimensions of a `bench/cases.py` configuration's DAM: B batch, K
  blocks, N slots, W word, R read heads, H controller units, I the LSTM
  input (the task's input, or bAbI's embedding, and the R W read words)."""
  from bench import cases  # pylint: disable=g-import-not-at-top
  c = cases.CONFIGS[config]
  task, _ = cases.make_task(c, 1)
  task_input = c['embedding_size'] if task.vocab_size else task.input_size
  return dict(B=c['batch'], K=c['num_blocks'], N=c['memory_size'],
              W=c['word_size'], R=c['num_reads'], H=c['hidden_size'],
              I=task_input + c['num_reads'] * c['word_size'])


def primitives(d):
  """{name: (fn(*operands) -> tensor, operand shapes, FLOPs or None,
  what it is)} at the sizes d (`sizes`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import addressing_fast as af  # pylint: disable=g-import-not-at-top
  b, k, n, w, r, h, i = (d[x] for x in 'BKNWRHI')
  memory = [b, k, n, w]

  def chain(x, step):
    for _ in range(CHAIN):
      x = step(x)
    return x

  def tiny_product(x):  # XLA:CPU runs every product as a kernel of its own.
    return tf.matmul(x, tf.eye(x.shape[-1], dtype=x.dtype) * 0.999)

  return {
      'lstm_input_product': (
          tf.matmul, [[b, i], [i, 4 * h]], 2 * b * i * 4 * h,
          'x_t W_i [B, I] x [I, 4H]'),
      'lstm_recurrent_product': (
          tf.matmul, [[b, h], [h, 4 * h]], 2 * b * h * 4 * h,
          'h W_h [B, H] x [H, 4H]'),
      'dx_stored_transpose': (
          tf.matmul, [[b, 4 * h], [4 * h, h]], 2 * b * h * 4 * h,
          'dL/dh = dY W_h^T with W_h^T stored (dam.dense)'),
      'dx_transposed_operand': (
          lambda dy, wh: tf.matmul(dy, wh, transpose_b=True),
          [[b, 4 * h], [h, 4 * h]], 2 * b * h * 4 * h,
          'dL/dh = dY W_h^T as autodiff emits it (transposed operand)'),
      'weight_gradient_in_loop': (
          lambda x, dy: tf.matmul(x, dy, transpose_a=True),
          [[b, h], [b, 4 * h]], 2 * b * h * 4 * h,
          'dL/dW_h += h^T dY, one time step'),
      'lookup': (
          lambda m, keys: tf.matmul(keys, m, transpose_b=True),
          [memory, [b, k, r, w]], 2 * b * k * r * n * w,
          'read keys against memory k M^T [B, K, R, W] x [B, K, N, W]^T'),
      'read': (
          tf.matmul, [[b, k, r, n], memory], 2 * b * k * r * n * w,
          'read words w M [B, K, R, N] x [B, K, N, W]'),
      'memory_outer_product': (
          lambda a, c: tf.matmul(a, c, transpose_a=True),
          [[b, k, r, n], [b, k, r, w]], 2 * b * k * r * n * w,
          'dL/dM = w^T dr [B, K, R, N]^T x [B, K, R, W]'),
      'memory_norms': (
          af.vector_norms, [memory], 2 * b * k * n * w,
          '|M[n]| as dam.addressing_fast computes them (product with ones)'),
      'memory_norms_reduce': (
          lambda m: tf.sqrt(tf.reduce_sum(m * m, -1) + af.EPSILON), [memory],
          2 * b * k * n * w, '|M[n]| by reduce_sum over the word'),
      'content_weights': (
          lambda m, keys, s: af.content_weights(m, keys, s),
          [memory, [b, k, r, w], [b, k, r]], None,
          'cosine similarity, sharpened softmax (norms, lookup, softmax)'),
      'allocation': (
          lambda u: af.allocation_weights(tf.sigmoid(u)), [[b, k, n]], None,
          'allocation weights: the [N, N] comparison and product'),
      'kernel_chain': (
          lambda x: chain(x, tiny_product), [[b, b]], 2 * CHAIN * b**3,
          f'{CHAIN} dependent [B, B] x [B, B] products, a kernel each '
          f'(per kernel: /{CHAIN})'),
      'fused_chain': (
          lambda x: chain(x, lambda y: y * 1.0001 + 1e-6), [[b, b]], None,
          f'{CHAIN} dependent elementwise ops, fused into one kernel'),
  }


def loop(fn, shapes, iterations, with_primitive=True):
  """An XLA-compiled function of the operands running `fn` `iterations`
  times in a while loop, summing its output into an accumulator (the loop's
  result). The operands change at every iteration, so that XLA cannot hoist
  fn out of the loop, by an in-place update of their first entry (a
  `dynamic-update-slice`: a whole-operand update would be fused into fn's
  kernels, for a product replacing the library call by a plain loop, or
  would make XLA copy the operand to keep the value fn reads). Without the
  primitive, the same loop, with the same updates, accumulates an entry of
  the first operand broadcast to fn's output shape (the accumulation's own
  cost): the baseline."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.compiler.tf2xla.python import xla  # pylint: disable=g-import-not-at-top

  def update(x):
    corner = tuple(slice(0, 1) for _ in x.shape)
    return xla.dynamic_update_slice(x, x[corner] * 0.999 + 0.001,
                                    tf.zeros([x.shape.rank], tf.int32))

  @tf.function(jit_compile=True)
  def run(operands):
    def body(t, operands, acc):
      operands = [update(x) for x in operands]
      if with_primitive:
        acc += fn(*operands)
      else:
        acc += tf.broadcast_to(tf.reshape(operands[0], [-1])[0], out)
      return t + 1, operands, acc
    out = tf.TensorSpec.from_tensor(fn(*operands)).shape
    acc = tf.zeros(out, operands[0].dtype)
    if not with_primitive:
      # Keep every operand live (else XLA drops their updates).
      acc += tf.add_n([tf.reduce_sum(x) for x in operands])
    return tf.while_loop(lambda t, *_: t < iterations, body,
                         (0, list(operands), acc))[2]

  return run


def measure(configs, iterations, repeats, log=print):
  """{config: {sizes, primitives: {name: {us, us_baseline, flops,
  gflops_per_s, ...}}}} for configs {config: sizes (`sizes`)}, timed in
  alternating rounds (every primitive and its baseline in turn, round after
  round, forwards then backwards); `us` is the median over the rounds of
  the primitive's loop time less its baseline's, per iteration."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  calls = {}
  for config, d in configs.items():
    for name, (fn, shapes, flops, what) in primitives(d).items():
      operands = [tf.constant(rng.uniform(0.1, 1., s).astype(np.float32))
                  for s in shapes]
      runs = (loop(fn, shapes, iterations), loop(fn, shapes, iterations,
                                                  with_primitive=False))
      for run in runs:
        run(operands).numpy()  # compile
      calls[config, name] = (runs, operands, flops, what, d)
  samples = {key: ([], []) for key in calls}
  for round_ in range(repeats):
    keys = list(calls) if round_ % 2 == 0 else list(reversed(calls))
    for key in keys:
      runs, operands = calls[key][:2]
      for run, out in zip(runs, samples[key]):
        start = time.perf_counter()
        run(operands).numpy()
        out.append((time.perf_counter() - start) / iterations * 1e6)
    log(f'round {round_ + 1}/{repeats} done')
  results = {}
  for (config, name), (_, _, flops, what, d) in calls.items():
    with_it, without = samples[config, name]
    us = statistics.median(a - b for a, b in zip(with_it, without))
    row = dict(what=what, us=us, us_baseline=statistics.median(without),
               us_samples=with_it, us_baseline_samples=without)
    if flops:
      row['flops'] = flops
      # None where the primitive's time is within the loop's noise (<= 0).
      row['gflops_per_s'] = flops / us / 1e3 if us > 0 else None
    results.setdefault(config, dict(sizes=d, primitives={}))
    results[config]['primitives'][name] = row
  for result in results.values():
    p = result['primitives']
    p['kernel_chain']['us_per_kernel'] = p['kernel_chain']['us'] / CHAIN
  return results


def table(results, peak_flops, other=None):
  """Lines to print: per configuration and primitive, us per iteration,
  GFLOP/s and share of the matmul rate; with `other` (an earlier JSON's
  results), this run's time over that one's."""
  lines = []
  for config, result in results.items():
    d = result['sizes']
    lines.append(f'{config}: ' + ', '.join(f'{k} {v}' for k, v in d.items()))
    for name, row in result['primitives'].items():
      line = f'  {name:26} {row["us"]:8.1f} us'
      if 'us_per_kernel' in row:
        line += f' {row["us_per_kernel"]:7.2f} us per kernel    '
      elif row.get('gflops_per_s'):
        line += (f' {row["gflops_per_s"]:7.1f} GFLOP/s '
                 f'({100 * row["gflops_per_s"] * 1e9 / peak_flops:4.1f} %)')
      else:
        line += ' ' * 25
      theirs = (other or {}).get(config, {}).get('primitives', {}).get(name)
      if theirs:
        line += f'  x {row["us"] / max(theirs["us"], 1e-9):.2f} of theirs'
      lines.append(line + f'  {row["what"]}')
  return lines


def define_flags():
  """The script's flags (defined when it runs, not on import: the tests
  import this module beside other benchmarks with flags of the same
  names)."""
  flags.DEFINE_list('configs', ['copy', 'babi200'], 'bench/cases.py '
                    'configurations whose sizes are timed.')
  flags.DEFINE_integer('iterations', 200, 'Loop iterations per call.')
  flags.DEFINE_integer('repeats', 7, 'Timed rounds (all primitives in turn '
                       'in each round).')
  flags.DEFINE_integer('threads', 0, 'Intra-op threads (0: the default, '
                       'every core).')
  flags.DEFINE_string('output', os.path.join(ROOT, 'bench', 'results',
                                             'primitives.json'),
                      'JSON file ("" for none).')
  flags.DEFINE_string('compare', None, 'A JSON of an earlier run (another '
                      'machine): prints this run\'s times over its.')


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from bench import cases  # pylint: disable=g-import-not-at-top
  from bench.machine import describe, machine  # pylint: disable=g-import-not-at-top
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  unknown = [c for c in FLAGS.configs if c not in cases.CONFIGS]
  if unknown:
    raise app.UsageError(f'--configs: unknown {", ".join(unknown)}; choose '
                         f'from {", ".join(cases.CONFIGS)}.')
  other = None
  if FLAGS.compare:
    try:
      with open(FLAGS.compare) as f:
        compared = json.load(f)
    except (OSError, ValueError) as e:
      raise app.UsageError(f'--compare: cannot read {FLAGS.compare!r} as '
                           f'a primitives.py JSON ({e}).') from e
    other = compared.get('results') if isinstance(compared, dict) else None
    if not isinstance(other, dict) or not all(
        isinstance(r, dict) and 'primitives' in r for r in other.values()):
      raise app.UsageError(f'--compare: {FLAGS.compare!r} is not a JSON '
                           f'written by bench/primitives.py.')
    print('Compared with: ' + describe(compared.get('machine', {})))
  tf.get_logger().setLevel('ERROR')  # one tf.function per primitive
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  info = machine()
  print(describe(info))
  matmul = cases.matmul_throughput()
  print(f'float32 matmul {matmul["flops_per_s"] / 1e9:.0f} GFLOP/s '
        f'(4096^3, median)')
  results = measure({c: sizes(c) for c in FLAGS.configs}, FLAGS.iterations,
                    FLAGS.repeats)
  for line in table(results, matmul['flops_per_s'], other):
    print(line)
  if FLAGS.output:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)),
                exist_ok=True)
    with open(FLAGS.output, 'w') as f:
      json.dump(dict(machine=info, threads=FLAGS.threads, matmul=matmul,
                     iterations=FLAGS.iterations, repeats=FLAGS.repeats,
                     results=results), f, indent=1)
    print(f'Wrote {FLAGS.output}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
