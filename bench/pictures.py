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

from bench import cases  # pylint: disable=g-import-not-at-top
from bench.machine import machine  # pylint: disable=g-import-not-at-top
from dam import config as config_lib  # pylint: disable=g-import-not-at-top
from dam import model as model_lib  # pylint: disable=g-import-not-at-top
from damrun import plots  # pylint: disable=g-import-not-at-top
from damrun import pictures  # pylint: disable=g-import-not-at-top
from tasks import base  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer('repeats', 5, 'Timed calls per configuration.')
flags.DEFINE_string('output', None, 'Also write the JSON here.')
FLAGS = flags.FLAGS

# (name, `bench.cases` configuration): the authors' Copy (its longest
# sequence) and bAbI (a 200-token story) models; the input and output sizes
# and the length come from the configuration's task.
CONFIGS = (('copy', 'copy'), ('babi', 'babi200'))


def _model(config, task, model_config):
  core = model_config.build_core(task.output_size)
  if task.vocab_size:
    return model_lib.SequenceModel(core, task.vocab_size,
                                   config['embedding_size'])
  return model_lib.SequenceModel(core)


def _batch(task, rng):
  """One example of the task's longest length: random bits, or random
  token ids past the reserved ones (bAbI)."""
  steps = task.max_time
  if task.vocab_size:
    x = rng.integers(4, task.vocab_size, size=[1, steps]).astype(np.int32)
  else:
    x = rng.integers(0, 2, size=[1, steps, task.input_size]).astype(
        np.float32)
  zeros = np.zeros([1, steps], np.float32)
  return base.Batch(x, x, np.array([steps], np.int32), zeros, zeros)


def measure(name, config_name, memory, repeats):
  rng = np.random.default_rng(0)
  config = cases.CONFIGS[config_name]
  model_config = config_lib.ModelConfig(
      memory=memory, hidden_size=config['hidden_size'],
      memory_size=config['memory_size'], word_size=config['word_size'],
      num_reads=config['num_reads'], num_blocks=config['num_blocks'],
      mlp_sizes=config['mlp_sizes'], seed=0)
  task, _ = cases.make_task(config, 1)
  recorder = pictures.Recorder(_model(config, task, model_config))
  batch = _batch(task, rng)
  steps = task.max_time
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
  return dict(config=name, model=model_config.label,
              time_steps=steps, first_call_s=round(first, 3),
              record_median_s=round(statistics.median(record_s), 4),
              render_median_s=round(statistics.median(render_s), 4),
              total_median_s=round(statistics.median(total_s), 4),
              total_min_s=round(min(total_s), 4),
              image_shape=list(rgb.shape))


def main(argv):
  del argv
  results = [measure(name, config_name, memory, FLAGS.repeats)
             for name, config_name in CONFIGS
             for memory in cases.MODELS]
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
