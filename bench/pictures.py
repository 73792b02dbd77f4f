"""Times the memory picture the training loop logs to TensorBoard.

    python bench/pictures.py                  # Copy and bAbI, DAM and DNC
    python bench/pictures.py --output=bench/results/pictures.json

At each evaluation a training run (with --memory_pictures, the default)
runs its model on one fixed example, recorded step by step
(`damrun.pictures.Recorder`), and renders the memory figure
(`damrun.plots.memory_figure`) to an RGB array. This script times that at the
authors' model sizes (random weights: the cost does not depend on them):
the first call (tracing) separately, then `--repeats` calls, split into the
recorded run and the rendering; prints and writes JSON with the medians.
"""

import json
import os
import statistics
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top

from bench.machine import machine  # pylint: disable=g-import-not-at-top
from dam import model as model_lib  # pylint: disable=g-import-not-at-top
from damrun import plots  # pylint: disable=g-import-not-at-top
from damrun import pictures  # pylint: disable=g-import-not-at-top
from tasks import base  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer('repeats', 5, 'Timed calls per configuration.')
flags.DEFINE_string('output', None, 'Also write the JSON here.')
FLAGS = flags.FLAGS

# (name, core settings, input: ('bits', D) or ('tokens', V, embedding),
# time steps): the authors' Copy (longest sequence) and bAbI (a 200-token
# story) models.
CONFIGS = (
    ('copy', dict(output_size=10, hidden_size=128, memory_size=64,
                  word_size=36, num_reads=1, num_blocks=2), ('bits', 10), 66),
    ('babi', dict(output_size=160, hidden_size=256, memory_size=128,
                  word_size=48, num_reads=4, num_blocks=2),
     ('tokens', 160, 64), 200),
)


def _model(settings, inputs, use_dam):
  core = model_lib.build_core(use_dam=use_dam, seed=0, **settings)
  if inputs[0] == 'tokens':
    return model_lib.SequenceModel(core, inputs[1], inputs[2])
  return model_lib.SequenceModel(core)


def _batch(inputs, steps, rng):
  if inputs[0] == 'tokens':
    x = rng.integers(4, inputs[1], size=[1, steps]).astype(np.int32)
  else:
    x = rng.integers(0, 2, size=[1, steps, inputs[1]]).astype(np.float32)
  zeros = np.zeros([1, steps], np.float32)
  return base.Batch(x, x, np.array([steps], np.int32), zeros, zeros)


def measure(name, settings, inputs, steps, use_dam, repeats):
  rng = np.random.default_rng(0)
  recorder = pictures.Recorder(_model(settings, inputs, use_dam))
  batch = _batch(inputs, steps, rng)
  start = time.perf_counter()
  pictures.memory_picture(recorder, batch)
  first = time.perf_counter() - start
  record_s, render_s, total_s = [], [], []
  for _ in range(repeats):
    start = time.perf_counter()
    _, one = recorder(batch)
    middle = time.perf_counter()
    rgb = plots.figure_to_rgb(plots.memory_figure(one))
    end = time.perf_counter()
    record_s.append(middle - start)
    render_s.append(end - middle)
    total_s.append(end - start)
  return dict(config=name, model='DAM' if use_dam else 'DNC',
              time_steps=steps, first_call_s=round(first, 3),
              record_median_s=round(statistics.median(record_s), 4),
              render_median_s=round(statistics.median(render_s), 4),
              total_median_s=round(statistics.median(total_s), 4),
              total_min_s=round(min(total_s), 4),
              image_shape=list(rgb.shape))


def main(argv):
  del argv
  results = [measure(name, settings, inputs, steps, use_dam, FLAGS.repeats)
             for name, settings, inputs, steps in CONFIGS
             for use_dam in (True, False)]
  for row in results:
    print(json.dumps(row))
  report = dict(machine=machine(), repeats=FLAGS.repeats,
                results=results)
  if FLAGS.output:
    os.makedirs(os.path.dirname(FLAGS.output) or '.', exist_ok=True)
    with open(FLAGS.output, 'w') as f:
      json.dump(report, f, indent=2)


if __name__ == '__main__':
  app.run(main)
