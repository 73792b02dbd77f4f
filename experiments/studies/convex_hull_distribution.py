"""Which process generated the Pointer Networks convex hull file?

Compares the authors' `convex_hull_5_test.txt` (Vinyals, Fortunato & Jaitly
2015, Pointer Networks; 10,000 lines of 5 points) with generated point sets:
i.i.d. uniform points (the generator's default), the closest candidate found,
'drop_interior' (tasks/convex_hull/geometry.py), and, with --hypotheses
(default on), every candidate process tried while searching
(experiments/studies/convex_hull_candidates.py, docs/convex_hull_data.md).
Each generated sample has --lines lines of 5 points.

Result (results/convex_hull_distribution.json): NO process passes every test
on repeated seeds; 'drop_interior' passes all but the min pair distance
(docs/convex_hull_data.md), so the generator's default stays 'uniform'.

Statistics of every sample and the tests against the real file (p-values; a
sample PASSES when every test of `ACCEPT_TESTS` has p > 0.01) are in
experiments/studies/convex_hull_candidates.py, with every candidate process. A
process is ACCEPTED when its samples pass on every one of --repeats seeds AND
the pooled sample of those seeds (--repeats x --lines lines) passes too.
'drop_interior' and uniform are run on seeds --seed, --seed + 1, ...; every
other hypothesis on one seed, and if it passes there, on --repeats more seeds
(a process can pass one seed by luck).

Usage (writes results/convex_hull_distribution.json; ~15 minutes on 2 cores
with --hypotheses, ~1 minute with --nohypotheses):

    python experiments/studies/convex_hull_distribution.py \\
      --data=Convexhull_data/convex_hull_5_test.txt \\
      --out=results/convex_hull_distribution.json --lines=10000 --seed=0
"""

import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from scipy import stats  # pylint: disable=g-import-not-at-top,wrong-import-position

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # the repository root

# The sibling module: this directory is on sys.path when run as a script.
import convex_hull_candidates as cand  # pylint: disable=g-import-not-at-top,wrong-import-position,import-error
from damrun import usage  # pylint: disable=g-import-not-at-top,wrong-import-position
from tasks import convex_hull as ch  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('data', 'Convexhull_data/convex_hull_5_test.txt',
                    'The real convex_hull_5_test.txt.')
flags.DEFINE_string('out', 'results/convex_hull_distribution.json',
                    'Output JSON.')
flags.DEFINE_integer('lines', 10_000, 'Lines per generated sample.')
flags.DEFINE_integer('seed', 0, 'First seed.')
flags.DEFINE_integer('repeats', 5, 'Seeds for drop_interior and for '
                     'uniform.')
flags.DEFINE_integer('permutations', 200, 'Line permutations of the '
                     'pair_perm test (0: skip).')
flags.DEFINE_boolean('hypotheses', True, 'Also run every candidate process '
                     'of the search (one seed each).')
FLAGS = flags.FLAGS


# -- main ----------------------------------------------------------------------


def generated(distribution, lines, seed):
  points, _ = ch.generate_examples(lines, cand.N, cand.N,
                                   np.random.default_rng(seed),
                                   distribution=distribution)
  return cand.Sample(np.stack(points))


def _line(name, summary, pvalues):
  hull = '/'.join(f'{v:.1f}' for v in summary['hull_percent'].values())
  tests = ' '.join(f'{k}={pvalues[k]:.2g}' for k in cand.ACCEPT_TESTS +
                   (('pair_perm',) if 'pair_perm' in pvalues else ()))
  return (f'{name:40s} hull {hull:14s} pair {summary["mean_pair_distance"]:.4f}'
          f' outer {summary["outer_tenth_percent"]:5.2f} middle '
          f'{summary["middle_tenth_percent"]:5.2f} | {tests} | '
          f'{"ACCEPT" if pvalues["accepted"] else "reject"}')


def repeated(real, name, make, seeds, rng=None):
  """Tests a process on several seeds and on the pooled samples.

  Returns a dict: runs (per seed: summary, p-values), accepted_runs, pooled
  (p-values of all seeds' lines together against the real file: more
  power), fisher (Fisher's combination of each test's p-values over the
  seeds) and accepted (every run AND the pooled sample pass).
  """
  runs, samples = [], []
  for seed in seeds:
    sample = make(seed)
    samples.append(sample.points)
    pvalues = cand.compare(real, sample, FLAGS.permutations if rng else 0,
                           rng)
    runs.append({'seed': seed, 'summary': sample.summary(),
                 'p_values': pvalues})
    print(_line(f'{name} (seed {seed})', runs[-1]['summary'], pvalues),
          flush=True)
  pooled_sample = cand.Sample(np.concatenate(samples))
  pooled = cand.compare(real, pooled_sample)
  print(_line(f'{name} (pooled {len(runs)} seeds)', pooled_sample.summary(),
              pooled), flush=True)
  fisher = {t: float(stats.combine_pvalues(
      [max(r['p_values'][t], 1e-300) for r in runs]).pvalue)
            for t in cand.ACCEPT_TESTS}
  accepted_runs = sum(r['p_values']['accepted'] for r in runs)
  return {'runs': runs, 'accepted_runs': accepted_runs,
          'pooled': {'summary': pooled_sample.summary(), 'p_values': pooled},
          'fisher': fisher,
          'accepted': bool(accepted_runs == len(runs) and
                           pooled['accepted'])}


def main(argv):
  del argv
  start = time.time()
  groups = ch.read_file(FLAGS.data)
  if list(groups) != [cand.N]:
    raise app.UsageError(f'{FLAGS.data}: expected only {cand.N}-point lines, '
                         f'got point counts {list(groups)}.')
  real = cand.Sample(groups[cand.N].points.astype(np.float64))
  result = {
      'data': os.path.abspath(FLAGS.data),
      'settings': {'lines': FLAGS.lines, 'seed': FLAGS.seed,
                   'repeats': FLAGS.repeats,
                   'permutations': FLAGS.permutations,
                   'accept_tests': list(cand.ACCEPT_TESTS),
                   'accept_threshold': 0.01},
      'real': {'summary': real.summary(),
               'measurements': cand.describe_real(real)},
  }
  print(f'{"real":40s} ' + json.dumps(result['real']['summary']['hull_percent'])
        + f' pair {result["real"]["summary"]["mean_pair_distance"]}',
        flush=True)
  rng = np.random.default_rng(FLAGS.seed)
  for distribution in ('drop_interior', 'uniform'):
    result[distribution] = repeated(
        real, distribution,
        lambda seed, d=distribution: generated(d, FLAGS.lines, seed),
        range(FLAGS.seed, FLAGS.seed + FLAGS.repeats), rng)
  if FLAGS.hypotheses:
    result['hypotheses'] = []
    for index, (name, description, generate) in enumerate(
        cand.hypotheses()):
      sample = cand.Sample(generate(FLAGS.lines, np.random.default_rng(
          FLAGS.seed + 1000 + index)))
      pvalues = cand.compare(real, sample)
      entry = {'name': name, 'description': description,
               'summary': sample.summary(), 'p_values': pvalues}
      print(_line(name, entry['summary'], pvalues), flush=True)
      if pvalues['accepted']:  # re-test on more seeds before believing it
        entry['retest'] = repeated(
            real, name, lambda seed, g=generate: cand.Sample(
                g(FLAGS.lines, np.random.default_rng(seed))),
            range(FLAGS.seed + 2000 + 100 * index,
                  FLAGS.seed + 2000 + 100 * index + FLAGS.repeats))
      result['hypotheses'].append(entry)
  candidates = [('drop_interior', result['drop_interior']),
                ('uniform', result['uniform'])]
  candidates += [(h['name'], h['retest'])
                 for h in result.get('hypotheses', []) if 'retest' in h]
  result['accepted_processes'] = [name for name, r in candidates
                                  if r['accepted']]
  result['generator_default'] = ch.DEFAULT_DISTRIBUTION
  print('Accepted processes (every seed and the pooled sample): '
        f'{result["accepted_processes"] or "NONE"}')
  result['seconds'] = round(time.time() - start, 1)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  with open(FLAGS.out, 'w') as f:
    json.dump(result, f, indent=1)
    f.write('\n')
  print(f'Wrote {FLAGS.out} ({result["seconds"]} s).')


if __name__ == '__main__':
  usage.run(main)
