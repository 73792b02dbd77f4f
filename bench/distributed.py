"""Steps per second of a training script on one device and under
--strategy=mirrored over N logical CPU devices, back to back.

    python bench/distributed.py              # Copy and Nth Farthest, 1 vs 2
    python bench/distributed.py --output=bench/results/distributed.json

Each case runs the script (train.py --mode=Copy at the authors' sizes;
run_nfar.py at the authors' sizes with a reduced --batch_size) for
--steps (--nfar_steps) steps in a scratch folder, reports every --steps / 2 steps and
takes the second report's steps/s (tracing and compilation are in the
first); --repeats runs per case, interleaved, median. On one device the
script runs as it does by default (XLA); under the strategy XLA is off (see
docs/distributed.md), so the table also times one device without XLA.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.machine import machine  # pylint: disable=g-import-not-at-top,wrong-import-position
from damrun import reporting  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_integer('steps', 200, 'Copy: steps per run (two reports).')
flags.DEFINE_integer('nfar_steps', 40, 'Nth Farthest: steps per run.')
flags.DEFINE_integer('repeats', 3, 'Runs per case (median).')
flags.DEFINE_integer('devices', 2, 'Logical CPU devices of the strategy.')
flags.DEFINE_integer('nfar_batch', 64, 'Nth Farthest global batch.')
flags.DEFINE_string('output', None, 'Also write the JSON here.')
FLAGS = flags.FLAGS

CONFIGS = {
    'copy': ['train.py', '--mode=Copy'],
    'nth_farthest': ['run_nfar.py', '--test_examples=64',
                     '--eval_interval=1000000'],
}
CASES = {
    '1 device, XLA': [],
    '1 device, no XLA': ['--nojit_compile'],
    'mirrored': ['--strategy=mirrored'],
}


def one_run(config, case, scratch, index):
  """steps/s of the second report of one run."""
  name = f'{config}_{list(CASES).index(case)}_{index}'
  steps = FLAGS.nfar_steps if config == 'nth_farthest' else FLAGS.steps
  argv = CONFIGS[config] + CASES[case] + [
      f'--training_iteration={steps}', f'--report_interval={steps // 2}',
      f'--checkpoint_interval={10 * steps}', '--nomemory_pictures',
      f'--info_dir={scratch}', f'--name={name}']
  if config == 'nth_farthest':
    argv.append(f'--batch_size={FLAGS.nfar_batch}')
  if case == 'mirrored':
    argv.append(f'--cpu_devices={FLAGS.devices}')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  done = subprocess.run([sys.executable] + argv, cwd=ROOT, env=env,
                        capture_output=True, text=True)
  if done.returncode:
    raise RuntimeError(f'{" ".join(argv)} failed:\n{done.stderr[-2000:]}')
  columns = reporting.read_metrics(os.path.join(scratch, name, 'metrics.csv'))
  return float(columns['steps_per_sec'][-1])


def main(argv):
  del argv
  scratch = tempfile.mkdtemp(prefix='bench_distributed_')
  rates = {(c, k): [] for c in CONFIGS for k in CASES}
  for index in range(FLAGS.repeats):
    for config in CONFIGS:
      for case in CASES:
        rates[(config, case)].append(one_run(config, case, scratch, index))
  results = []
  for (config, case), values in rates.items():
    row = dict(config=config, case=case, steps_per_sec=values,
               median=round(statistics.median(values), 2))
    results.append(row)
    print(json.dumps(row))
  for config in CONFIGS:
    base = statistics.median(rates[(config, '1 device, no XLA')])
    mirrored = statistics.median(rates[(config, 'mirrored')])
    print(json.dumps(dict(config=config, mirrored_over_one_device_no_xla=round(
        mirrored / base, 2))))
  report = dict(machine=machine(), steps=FLAGS.steps,
                nfar_steps=FLAGS.nfar_steps, repeats=FLAGS.repeats,
                devices=FLAGS.devices, nfar_batch=FLAGS.nfar_batch,
                results=results)
  if FLAGS.output:
    os.makedirs(os.path.dirname(FLAGS.output) or '.', exist_ok=True)
    with open(FLAGS.output, 'w') as f:
      json.dump(report, f, indent=2)


if __name__ == '__main__':
  app.run(main)
