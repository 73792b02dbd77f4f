"""The benchmarks' own arithmetic (not their timings): the machine's
description and the peer comparison's per-round ratios."""

import importlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import machine  # pylint: disable=g-import-not-at-top,wrong-import-position

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
