"""Minutes per bAbI epoch: the authors' command on the real en-10k stream.

    python bench/babi_epoch.py --data_dir=bAbI_data [--steps=40] [--rounds=3]

Builds the authors' bAbI model (DAM, and the DNC with --dam=False) with
their sizes, batch 32 and RMSProp, and the XLA training step `train.py`
runs, once per variant:

  plain    every row of a batch runs to its longest story (`--row_levels=1`)
  packed   the time loop narrows to 32, 8, 2 rows as stories end
           (`--row_levels=3`, `dam.unroll.unroll_packed`)

then trains every variant on the same first --steps batches of the seeded
training stream (padded along time as `train.py` pads them), in lockstep:
a warm-up pass (every padded length compiles once), then --rounds timed
passes in alternating order. Printed and written as JSON (--out): per
variant the median seconds per step over rounds, the minutes per epoch
that gives (x the epoch's steps), the ratio to plain from the same round,
and the largest difference of any parameter from plain's after all passes
(same initial weights, same batches, same dropout draws: float32 rounding
only).

--pause=PID,... stops those processes (SIGSTOP) during the timed passes
only and always lets them go on (SIGCONT): a benchmark beside a long run.
"""

import json
import os
import signal
import statistics
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python bench/babi_epoch.py` from a checkout

from bench import machine as machine_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from damrun import presets  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('data_dir', 'bAbI_data', 'bAbI data folder (as train.py).')
flags.DEFINE_string('cache_dir', None, 'bAbI cache folder (as train.py).')
flags.DEFINE_list('models', ['dam', 'dnc'], 'dam and/or dnc.')
flags.DEFINE_list('variants', ['plain', 'packed'], 'plain and/or packed.')
flags.DEFINE_integer('steps', 40, 'Batches of the stream timed per pass.')
flags.DEFINE_integer('rounds', 3, 'Timed passes per variant.')
flags.DEFINE_integer('time', 0, 'Only the batches of the stream padded to '
                     'this length (one compilation per variant; the minutes '
                     'per epoch then assume every batch is such); 0: the '
                     'stream as it comes.')
flags.DEFINE_integer('threads', 0, 'TensorFlow intra-op threads (0: all).')
flags.DEFINE_list('pause', [], 'PIDs stopped during the timed passes.')
flags.DEFINE_string('out', os.path.join('bench', 'results', 'babi_epoch.json'),
                    'Where the JSON goes.')
FLAGS = flags.FLAGS

VARIANTS = {'plain': 1, 'packed': 3}  # name -> row_levels


def _signal_all(pids, signum):
  for pid in pids:
    try:
      os.kill(int(pid), signum)
    except (ProcessLookupError, ValueError):
      pass


def _build(model_name, row_levels, vocab_size):
  """The authors' bAbI model (seeded as train.py) and its XLA train step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import config as config_lib  # pylint: disable=g-import-not-at-top
  from dam import model as model_lib  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  s = presets.settings('babi')
  tf.random.set_seed(0)
  core = config_lib.ModelConfig.from_settings(
      dict(s, memory=model_name, seed=0)).build_core(vocab_size)
  model = model_lib.SequenceModel(core, vocab_size, s['embedding_size'],
                                  row_levels=row_levels)
  optimizer = optimizers.make_optimizer(s['optimizer'], s['learning_rate'],
                                        momentum=s['momentum'],
                                        epsilon=s['optimizer_epsilon'])
  return model, optimizer, s


def main(argv):
  del argv
  if FLAGS.threads:
    os.environ['TF_NUM_INTRAOP_THREADS'] = str(FLAGS.threads)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from damrun import steps  # pylint: disable=g-import-not-at-top
  from tasks import babi  # pylint: disable=g-import-not-at-top

  data = babi.load(FLAGS.data_dir, 'en-10k', cache_dir=FLAGS.cache_dir)
  settings = presets.settings('babi')
  task = babi.BabiTask.from_data(data, settings['batch_size'],
                                 p_re=settings['p_re'], seed=0)
  batches = []
  while len(batches) < FLAGS.steps:
    batch = steps.pad_time(task.next_batch(), 100, task.max_time)
    if not FLAGS.time or batch.inputs.shape[1] == FLAGS.time:
      batches.append(steps.to_tensors(batch))
  real = sum(int(b.seq_len.numpy().sum()) for b in batches)
  padded = sum(int(np.prod(b.inputs.shape)) for b in batches)
  cases = {}
  for model_name in FLAGS.models:
    for variant in FLAGS.variants:
      model, optimizer, s = _build(model_name, VARIANTS[variant],
                                   data.vocab_size)
      variables = steps.build(model, optimizer, task.batch_specs(32))
      step = steps.make_train_step(model, optimizer, task.loss,
                                   task.batch_specs(32), s['max_grad_norm'],
                                   'xla', {}, variables)
      cases[model_name, variant] = dict(step=step, variables=variables,
                                        times=[])
  print(f'{len(batches)} batches: {real} real tokens of {padded} padded '
        f'({padded / real:.2f} x); compiling (warm-up pass) ...', flush=True)
  from bench import cases as cases_lib  # pylint: disable=g-import-not-at-top
  for key, case in cases.items():
    start = time.time()
    for batch in batches:
      case['step'](batch)
    case['warmup_s'] = time.time() - start
    case['peak_rss_mb'] = cases_lib.peak_rss_mb()
    print(f'{key}: warm-up {case["warmup_s"]:.0f} s, peak RSS so far '
          f'{case["peak_rss_mb"]:.0f} MB', flush=True)
  try:
    _signal_all(FLAGS.pause, signal.SIGSTOP)
    order = list(cases)
    for round_ in range(FLAGS.rounds):
      for key in (order if round_ % 2 == 0 else order[::-1]):
        start = time.time()
        for batch in batches:
          metrics = cases[key]['step'](batch)
        float(metrics['loss'])  # The last step has finished.
        cases[key]['times'].append((time.time() - start) / len(batches))
  finally:
    _signal_all(FLAGS.pause, signal.SIGCONT)
  rows = []
  for (model_name, variant), case in cases.items():
    plain = cases.get((model_name, 'plain'))
    ratios = ([p / t for p, t in zip(plain['times'], case['times'])]
              if plain else [])
    drift = (max(float(np.max(np.abs(a.numpy() - b.numpy())))
                 for a, b in zip(case['variables'], plain['variables']))
             if plain else None)
    per_step = statistics.median(case['times'])
    rows.append(dict(
        model=model_name, variant=variant, row_levels=VARIANTS[variant],
        step_s=per_step, step_s_all=case['times'],
        minutes_per_epoch=per_step * task.steps_per_epoch / 60,
        speedup_vs_plain=statistics.median(ratios) if ratios else None,
        speedup_range=[min(ratios), max(ratios)] if ratios else None,
        max_param_diff_vs_plain=drift, warmup_s=case['warmup_s'],
        peak_rss_mb_after_warmup=case['peak_rss_mb']))
    print(f'{model_name} {variant:7s} {per_step * 1e3:7.1f} ms/step  '
          f'{rows[-1]["minutes_per_epoch"]:5.1f} min/epoch  '
          f'x{rows[-1]["speedup_vs_plain"] or 1:.2f} vs plain  '
          f'max |param diff| {drift if drift is not None else 0:.2e}',
          flush=True)
  result = dict(
      machine=machine_lib.machine(), tensorflow=tf.__version__,
      threads=FLAGS.threads or os.cpu_count(), steps=len(batches),
      rounds=FLAGS.rounds, steps_per_epoch=task.steps_per_epoch,
      real_tokens=real, padded_tokens=padded,
      data=dict(source=data.source, missing=data.missing_files), rows=rows)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  with open(FLAGS.out, 'w') as f:
    json.dump(result, f, indent=2)
  print(f'Wrote {FLAGS.out}')


if __name__ == '__main__':
  app.run(main)
