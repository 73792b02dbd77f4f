"""Renders a bench/suite.py JSON file as a Markdown table (for README).

    python bench/table.py bench/results/suite.json

When the suite ran the peer (`bench/peer.py`, the PyTorch DNC timed in one
process with our XLA training steps, alternating), the XLA rows of those
configurations get the peer's step time and the peer-to-ours ratio of that
same-run measurement (median over its rounds, and their range).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.machine import describe  # pylint: disable=g-import-not-at-top,wrong-import-position


def peer_columns(peer):
  """{(config, model): (peer ms, 'ratio (min-max)')} from a bench/peer.py
  JSON (as the suite stores it under 'peer'): the peer's median training
  step and, for our DAM and DNC, the median and range of the per-round
  ratio peer ms / ours ms of that run."""
  columns = {}
  for result in (peer or {}).get('results', []):
    timings, ratios = result['contenders'], result['ratios']
    if 'peer' not in timings:
      continue
    for model in ('dam', 'dnc'):
      ratio = ratios.get(f'peer/{model}')
      if ratio:
        # A ratio whose rounds spread too much (`bench.peer.spread_problem`)
        # is not reported.
        columns[result['config'], model] = (
            timings['peer']['median_ms'],
            f'not reported: rounds {ratio["min"]:.2f}-{ratio["max"]:.2f} x'
            if 'refused' in ratio else
            f'{ratio["median"]:.2f} x ({ratio["min"]:.2f}-'
            f'{ratio["max"]:.2f})')
  return columns


def table(results):
  """Markdown lines: one row per (config, model, mode); with the peer's
  columns when the suite ran it."""
  matmul = results['matmul']['flops_per_s']
  peer = peer_columns(results.get('peer'))
  head = ('| config | model | mode | batch x T | train step ms (IQR) | seq/s | '
          'first call s | train MFU | eval ms | eval MFU | peak RSS GB |')
  cells = 11
  if peer:
    head += ' peer step ms | peer / ours, same run |'
    cells += 2
  lines = [head, '|' + ' --- |' * cells]
  for r in results['results']:
    if 'error' in r:
      lines.append(f'| {r["config"]} | {r["model"]} | {r["mode"]} | failed '
                   '|' + ' |' * (cells - 4))
      continue
    t, e = r['train'], r['eval']
    line = (
        f'| {r["config"]} | {r["model"].upper()} | {r["mode"]} | '
        f'{r["batch_size"]} x {r["time_steps"]} | '
        f'{t["median_ms"]:,.1f} ({t["iqr_ms"]:,.1f}) | '
        f'{t["sequences_per_s"]:,.1f} | {t["first_call_s"]:.1f} | '
        f'{100 * t["flops"] / (t["median_ms"] / 1e3) / matmul:.1f} % | '
        f'{e["median_ms"]:,.1f} | '
        f'{100 * e["flops"] / (e["median_ms"] / 1e3) / matmul:.1f} % | '
        f'{r["memory"]["peak_rss_mb"] / 1024:.1f} |')
    if peer:
      # The peer ran against our XLA training steps (what scripts run).
      column = (peer.get((r['config'], r['model'])) if r['mode'] == 'xla'
                else None)
      line += (f' {column[0]:,.1f} | {column[1]} |' if column else ' | |')
    lines.append(line)
  return lines


def main(argv):
  if len(argv) != 2:
    print(__doc__.strip(), file=sys.stderr)
    return 2
  with open(argv[1]) as f:
    results = json.load(f)
  print(f'{describe(results["machine"])}; float32 matmul '
        f'{results["matmul"]["flops_per_s"] / 1e9:.0f} GFLOP/s; scale '
        f'{results["scale"]}.')
  peer = results.get('peer')
  if peer and peer_columns(peer):
    library = peer.get('peer', {})
    print(f'Peer: ixaxaar/pytorch-dnc (dnc {library.get("dnc", "?")}, torch '
          f'{library.get("torch", "?")}), {peer.get("rounds", "?")} '
          f'alternating rounds with our XLA training steps.')
  print()
  print('\n'.join(table(results)))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
