"""The benchmarks' own arithmetic (not their timings): the machine's
description, the peer comparison's per-round ratios, the reading of XLA's
HLO dumps that names a profile's kernels, and the primitives' timing loop
(what each primitive and its loop compute)."""

import importlib
import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import hlo  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import machine  # pylint: disable=g-import-not-at-top,wrong-import-position
from bench import primitives  # pylint: disable=g-import-not-at-top,wrong-import-position

_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse4_2 avx2 avx fma avx512f avx512bw amx_tile avx512_bf16 \
amx_bf16

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: something else
flags\t\t: fpu
"""


def test_cpu_info_names_the_first_cpu_and_its_vector_extensions(tmp_path):
  path = tmp_path / 'cpuinfo'
  path.write_text(_CPUINFO)
  info = machine.cpu_info(str(path))
  assert info == dict(
      cpu_vendor='GenuineIntel', cpu_family='6', cpu_model_number='143',
      cpu_model='Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz',
      isa=['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw',
           'avx512_bf16', 'amx_tile', 'amx_bf16'])
  assert machine.cpu_info(str(tmp_path / 'missing')) == {}


def test_every_benchmark_names_the_machine_the_same_way(tmp_path, capsys):
  """`describe`: CPU, vendor, family, model and vector extensions (what
  decides the kernels), as peer.py and suite.py print it and table.py heads
  the suite's table; '?' where an older JSON lacks a field."""
  path = tmp_path / 'cpuinfo'
  path.write_text(_CPUINFO)
  info = dict(machine.cpu_info(str(path)), cpus=2, tensorflow='2.21.0')
  line = ('Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (GenuineIntel '
          'family 6 model 143; sse4_2 avx avx2 fma avx512f avx512bw '
          'avx512_bf16 amx_tile amx_bf16), 2 CPUs, TensorFlow 2.21.0')
  assert machine.describe(info) == line
  assert machine.describe({'cpu_model': 'AMD EPYC', 'cpus': 2}) == (
      'AMD EPYC (? family ? model ?; ?), 2 CPUs, TensorFlow ?')
  table = importlib.import_module('bench.table')
  results = tmp_path / 'suite.json'
  results.write_text(json.dumps(dict(
      machine=info, matmul=dict(flops_per_s=2e11), scale=1.0, results=[])))
  assert table.main(['table.py', str(results)]) == 0
  assert capsys.readouterr().out.startswith(
      line + '; float32 matmul 200 GFLOP/s; scale 1.0.')


@pytest.fixture(name='peer')
def _peer():
  from absl import flags  # pylint: disable=g-import-not-at-top
  if 'contenders' in flags.FLAGS:  # defined once per process
    return sys.modules['bench.peer']
  return importlib.import_module('bench.peer')


def test_peer_ratios_are_taken_round_by_round(peer):
  timings = {
      'dam': dict(samples_ms=[10., 20., 40.]),
      'dnc': dict(samples_ms=[20., 20., 20.]),
      'peer': dict(samples_ms=[100., 100., 400.]),
  }
  # 1 GFLOP per DAM call on a 1 TFLOP/s machine, at the DAM's median of
  # 20 ms: 1e9 / 0.02 / 1e12 = 5 %.
  ratios = peer.summarise(timings, {'dam': 1e9}, 1e12)
  assert ratios['peer/dam']['per_round'] == [10., 5., 10.]
  assert ratios['peer/dam']['median'] == 10.
  assert ratios['peer/dnc']['per_round'] == [5., 5., 20.]
  assert (ratios['peer/dnc']['min'], ratios['peer/dnc']['max']) == (5., 20.)
  assert timings['dam']['median_ms'] == 20.
  assert timings['dam']['mfu'] == pytest.approx(0.05)
  assert 'mfu' not in timings['peer']
  assert timings['peer']['iqr_ms'] > 0


def test_time_rounds_alternates_and_counts_calls(peer):
  order = []
  fns = {'a': lambda: order.append('a'), 'b': lambda: order.append('b')}
  out = peer.time_rounds(fns, rounds=3, min_time=1e-9)
  # 2 warm-up calls each, then one call per contender per round, in turn.
  assert order == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
  assert [len(out[k]['samples_ms']) for k in 'ab'] == [3, 3]
  assert out['a']['calls_per_round'] == 1


# Lines as XLA:CPU dumps an optimized module (TensorFlow 2.21), abridged.
_HLO_SMALL = """HloModule a_inference_helper, entry_computation_layout={()}
ENTRY %main.3 () -> f32[4] {
  ROOT %dot.7 = f32[4]{0} constant({1, 2, 3, 4}), metadata={op_type="Const" op_name="helper/Const"}
}
"""
_HLO_STEP = """HloModule a_inference_train_step_4795__.179, is_scheduled=true
%fused_computation.175 (param_0.339: f32[32,2,128,48]) -> f32[8192] {
  %param_0.339 = f32[32,2,128,48]{3,2,1,0} parameter(0)
  ROOT %dot.176 = f32[8192]{0} dot(%bitcast.679, %broadcast.1036), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_type="MatMul" op_name="model/while/dam/dam_access/MatMul_2" source_line=1221}
}
ENTRY %main {
  %bitcast_dot_fusion.1 = f32[8192]{0} fusion(%copy.233), kind=kLoop, calls=%fused_computation.175, metadata={op_type="MatMul" op_name="model/while/dam/dam_access/MatMul_2" source_line=1221}, backend_config={"outer_dimension_partitions":["2"]}
  %MatMul.137 = f32[32,2,4,128]{3,2,1,0} dot(%a, %b), metadata={op_type="BatchMatMulV2" op_name="gradient_tape/model/while/gradients/dam/dam_access/MatMul_3_grad/MatMul"}
  %copy.233 = f32[32,2,128,48]{3,2,1,0} copy(%get-tuple-element.13217)
  %tuple.9 = (f32[2]{0}, s32[]) tuple(%x, %y), metadata={op_type="While" op_name="model/while"}
  ROOT %dot.7 = f32[3]{0} add(%p, %q), metadata={op_type="AddN" op_name="gradient_tape/AddN_25"}
}
"""


def test_kernels_are_named_by_their_tensorflow_op_and_shape(tmp_path):
  """`hlo.ops_of_dumps`: instruction name -> (op name, shape without the
  layout), the backward pass's ops as grad/, loop frames dropped; a name in
  two modules takes the larger module's (the step's) entry."""
  small = tmp_path / 'module_1.a_inference_helper.cpu_after_optimizations.txt'
  step = tmp_path / 'module_2.a_inference_train_step.cpu_after_optimizations.txt'
  small.write_text(_HLO_SMALL)
  step.write_text(_HLO_STEP)
  ops = hlo.ops_of_dumps([str(step), str(small)])
  assert ops['bitcast_dot_fusion.1'] == ('dam/dam_access/MatMul_2', 'f32[8192]')
  assert ops['MatMul.137'] == (
      'grad/dam/dam_access/MatMul_3_grad/MatMul', 'f32[32,2,4,128]')
  assert ops['copy.233'] == ('', 'f32[32,2,128,48]')  # no metadata
  assert ops['tuple.9'] == ('model/while', '(f32[2], s32[])')
  assert ops['dot.7'] == ('grad/AddN_25', 'f32[3]')  # the step's, not Const
  assert ops['param_0.339'] == ('', 'f32[32,2,128,48]')
  assert hlo.short_op_name('while/body/x') == 'body/x'
  assert hlo.short_op_name('gradient_tape/while_3/gradients/a/b_grad/Mul') == (
      'grad/a/b_grad/Mul')
  assert hlo.short_op_name('dam/erase_while/x') == 'dam/erase_while/x'


_TINY = dict(B=3, K=2, N=5, W=4, R=2, H=6, I=7)


def test_each_primitive_computes_what_it_says():
  """The timed forms against numpy (and the allocation and content weights
  against the paper-form kernel), float64, at a small size."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import addressing  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  table = primitives.primitives(_TINY)
  out = {}
  args = {}
  for name, (fn, shapes, _, _) in table.items():
    args[name] = [rng.uniform(0.1, 1., s) for s in shapes]
    out[name] = fn(*[tf.constant(a) for a in args[name]]).numpy()
  x, w = args['lstm_recurrent_product']
  np.testing.assert_allclose(out['lstm_recurrent_product'], x @ w)
  dy, wt = args['dx_stored_transpose']
  np.testing.assert_allclose(out['dx_stored_transpose'], dy @ wt)
  dy, wh = args['dx_transposed_operand']
  np.testing.assert_allclose(out['dx_transposed_operand'], dy @ wh.T)
  x, dy = args['weight_gradient_in_loop']
  np.testing.assert_allclose(out['weight_gradient_in_loop'], x.T @ dy)
  m, keys = args['lookup']
  np.testing.assert_allclose(out['lookup'],
                             np.einsum('bkrw,bknw->bkrn', keys, m))
  weights, m = args['read']
  np.testing.assert_allclose(out['read'],
                             np.einsum('bkrn,bknw->bkrw', weights, m))
  a, c = args['memory_outer_product']
  np.testing.assert_allclose(out['memory_outer_product'],
                             np.einsum('bkrn,bkrw->bknw', a, c))
  for name in ('memory_norms', 'memory_norms_reduce'):
    (m,) = args[name]
    np.testing.assert_allclose(
        out[name], np.sqrt((m * m).sum(-1) + addressing.EPSILON))
  m, keys, strengths = args['content_weights']
  np.testing.assert_allclose(out['content_weights'], addressing.content_weights(
      tf.constant(m), tf.constant(keys), tf.constant(strengths)).numpy())
  (u,) = args['allocation']
  np.testing.assert_allclose(out['allocation'], addressing.allocation_weights(
      tf.sigmoid(tf.constant(u))).numpy(), rtol=1e-12)
  (x,) = args['kernel_chain']
  np.testing.assert_allclose(out['kernel_chain'],
                             x * 0.999**primitives.CHAIN)
  (x,) = args['fused_chain']
  y = x
  for _ in range(primitives.CHAIN):
    y = y * 1.0001 + 1e-6
  np.testing.assert_allclose(out['fused_chain'], y)


def test_the_timing_loop_runs_the_primitive_on_changing_operands():
  """`loop` under XLA: the sum over the iterations of fn on operands whose
  first entry is updated in place before each iteration (x <- 0.999 x +
  0.001); the baseline sums that entry of the first operand, broadcast."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = np.arange(1., 7.).reshape(2, 3)
  b = np.arange(1., 13.).reshape(3, 4) / 10.
  run = primitives.loop(tf.matmul, [[2, 3], [3, 4]], 3)
  base = primitives.loop(tf.matmul, [[2, 3], [3, 4]], 3, with_primitive=False)
  x, y, want, want_base = a.copy(), b.copy(), 0., 0.
  for _ in range(3):
    x[0, 0] = x[0, 0] * 0.999 + 0.001
    y[0, 0] = y[0, 0] * 0.999 + 0.001
    want = want + x @ y
    want_base = want_base + x[0, 0]
  np.testing.assert_allclose(run([tf.constant(a), tf.constant(b)]).numpy(),
                             want)
  got = base([tf.constant(a), tf.constant(b)]).numpy()
  # Before the loop the baseline adds the operands' sums (keeps them live).
  np.testing.assert_allclose(got, want_base + a.sum() + b.sum())


def test_primitives_measure_and_table_compare():
  """`measure` times every primitive (two iterations, one round, tiny
  sizes: the arithmetic of the results, not the speed); `table` prints
  GFLOP/s for the products, us per kernel for the chain, and with another
  run's results this run's time over theirs."""
  results = primitives.measure({'tiny': _TINY}, iterations=2, repeats=1,
                               log=lambda _: None)
  rows = results['tiny']['primitives']
  assert set(rows) == set(primitives.primitives(_TINY))
  assert results['tiny']['sizes'] == _TINY
  for row in rows.values():
    assert len(row['us_samples']) == len(row['us_baseline_samples']) == 1
    assert row['us'] == pytest.approx(row['us_samples'][0] -
                                      row['us_baseline_samples'][0])
  read = rows['read']
  assert read['flops'] == 2 * 3 * 2 * 2 * 5 * 4
  # A few hundred FLOPs: the time may be within the loop's noise (<= 0).
  assert read['gflops_per_s'] == (
      pytest.approx(read['flops'] / read['us'] / 1e3) if read['us'] > 0
      else None)
  assert rows['kernel_chain']['us_per_kernel'] == pytest.approx(
      rows['kernel_chain']['us'] / primitives.CHAIN)
  rows['read'].update(us=2., gflops_per_s=read['flops'] / 2e3)
  theirs = {'tiny': {'primitives': {'read': dict(rows['read'], us=1.)}}}
  lines = primitives.table(results, 1e9, theirs)
  assert lines[0] == 'tiny: B 3, K 2, N 5, W 4, R 2, H 6, I 7'
  line = next(line for line in lines if line.split()[0] == 'read')
  # 480 FLOPs in 2 us: 0.24 GFLOP/s, 24 % of 1 GFLOP/s; twice their time.
  assert line.split()[1:7] == ['2.0', 'us', '0.2', 'GFLOP/s', '(24.0', '%)']
  assert 'x 2.00 of theirs' in line
  chain = next(l for l in lines if l.split()[0] == 'kernel_chain')
  assert 'us per kernel' in chain and 'of theirs' not in chain


def _suite_row(config, model, mode, train_ms):
  step = dict(median_ms=train_ms, iqr_ms=1., sequences_per_s=16e3 / train_ms,
              first_call_s=2., flops=1e9)
  return dict(config=config, model=model, mode=mode, batch_size=16,
              time_steps=66, train=step, eval=dict(step, median_ms=5.),
              memory=dict(peak_rss_mb=1024.))


def test_suite_table_puts_the_same_run_peer_ratio_beside_our_xla_rows():
  """`bench/table.py`: with the suite's 'peer' (a bench/peer.py JSON), two
  more columns, filled on the XLA rows of the configurations the peer ran:
  its step and the median (range) of the per-round ratio of that run."""
  table = importlib.import_module('bench.table')
  peer_run = dict(rounds=3, peer=dict(dnc='1.1.0', torch='2.13.0'), results=[
      dict(config='copy', contenders=dict(peer=dict(median_ms=170.),
                                          dam=dict(median_ms=22.)),
           ratios={'peer/dam': dict(median=7.7, min=7.25, max=8.1)}),
      dict(config='babi200', contenders=dict(dam=dict(median_ms=380.)),
           ratios={})])  # the peer not installed: our steps alone
  assert table.peer_columns(peer_run) == {
      ('copy', 'dam'): (170., '7.70 x (7.25-8.10)')}
  suite = dict(matmul=dict(flops_per_s=1e12), peer=peer_run, results=[
      _suite_row('copy', 'dam', 'xla', 20.), _suite_row('copy', 'dam',
                                                        'function', 100.),
      _suite_row('copy', 'dnc', 'xla', 25.),
      dict(config='babi200', model='dam', mode='xla', error='boom')])
  lines = table.table(suite)
  assert lines[0].endswith('| peer step ms | peer / ours, same run |')
  assert lines[1] == '|' + ' --- |' * 13
  assert all(line.count('|') == 14 for line in lines)
  assert lines[2].endswith('| 170.0 | 7.70 x (7.25-8.10) |')
  assert lines[2].startswith('| copy | DAM | xla | 16 x 66 | 20.0 (1.0) |')
  # 1 GFLOP in 20 ms on a 1 TFLOP/s machine: 5 % MFU.
  assert '| 5.0 % |' in lines[2]
  assert lines[3].endswith('| 1.0 | | |')  # function mode: no peer
  assert lines[4].endswith('| 1.0 | | |')  # the peer ran against the DAM only
  assert lines[5] == '| babi200 | dam | xla | failed |' + ' |' * 9
  # Without a peer run, the table keeps its 11 columns.
  del suite['peer']
  assert all(line.count('|') == 12 for line in table.table(suite))


def test_the_peer_is_offered_only_where_it_can_be_built():
  """`bench.cases.PEER_CONFIGS`: the peer's output layer is as wide as its
  input, so a configuration needs output width = input width, or a lexicon
  (bAbI: embedding in, projection out), as `bench/peer.py` requires."""
  from bench import cases  # pylint: disable=g-import-not-at-top
  for name in cases.CONFIGS:
    task, _ = cases.make_task(cases.CONFIGS[name], 2)
    buildable = bool(getattr(task, 'vocab_size', None)) or (
        task.output_size == task.input_size)
    assert (name in cases.PEER_CONFIGS) == buildable, name


def test_primitive_sizes_are_the_configurations_dam():
  """`primitives.sizes`: the authors' sizes; the LSTM input is the task's
  input (Copy: 8 bits and 2 flags; bAbI: the 64-wide embedding) beside the
  R W read words."""
  assert primitives.sizes('copy') == dict(B=16, K=2, N=64, W=36, R=1, H=128,
                                          I=10 + 36)
  assert primitives.sizes('babi200') == dict(B=32, K=2, N=128, W=48, R=4,
                                             H=256, I=64 + 4 * 48)
  assert primitives.sizes('rr')['I'] == 66 + 32
