"""Renders a bench/suite.py JSON file as a Markdown table (for README).

    python bench/table.py bench/results/suite.json
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.machine import describe  # pylint: disable=g-import-not-at-top,wrong-import-position


def table(results):
  """Markdown lines: one row per (config, model, mode)."""
  matmul = results['matmul']['flops_per_s']
  lines = [
      '| config | model | mode | batch x T | train step ms (IQR) | seq/s | '
      'first call s | train MFU | eval ms | eval MFU | peak RSS GB |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for r in results['results']:
    if 'error' in r:
      lines.append(f'| {r["config"]} | {r["model"]} | {r["mode"]} | failed '
                   f'| | | | | | | |')
      continue
    t, e = r['train'], r['eval']
    lines.append(
        f'| {r["config"]} | {r["model"].upper()} | {r["mode"]} | '
        f'{r["batch_size"]} x {r["time_steps"]} | '
        f'{t["median_ms"]:,.1f} ({t["iqr_ms"]:,.1f}) | '
        f'{t["sequences_per_s"]:,.1f} | {t["first_call_s"]:.1f} | '
        f'{100 * t["flops"] / (t["median_ms"] / 1e3) / matmul:.1f} % | '
        f'{e["median_ms"]:,.1f} | '
        f'{100 * e["flops"] / (e["median_ms"] / 1e3) / matmul:.1f} % | '
        f'{r["memory"]["peak_rss_mb"] / 1024:.1f} |')
  return lines


def main(argv):
  if len(argv) != 2:
    print(__doc__.strip(), file=sys.stderr)
    return 2
  with open(argv[1]) as f:
    results = json.load(f)
  print(f'{describe(results["machine"])}; float32 matmul '
        f'{results["matmul"]["flops_per_s"] / 1e9:.0f} GFLOP/s; scale '
        f'{results["scale"]}.\n')
  print('\n'.join(table(results)))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
