"""Measures the data-side differences from the authors' code (docs/faithfulness.md).

Writes one JSON (default results/faithfulness_audit.json) with:

* Representation Recall (the authors' RR configuration N = 8, bit_w = 64,
  num_bit = 8, and N = 16): the share of stored segments whose values are
  sorted ascending over the items, their range, the share of queries a
  model cannot answer for sure because a VISIBLE segment is all zeros (it
  looks hidden), and the bit accuracy of guessing every hidden segment as
  the mean value of the visible ones (a shortcut the authors' sorted values
  allow). `--rr_uniform` also measures the draw this project used before
  (values 0 .. 2^s - 1 in random order) for comparison.
* bAbI (Park et al. 2021 MRL, p_re 0.1, batch 32, en-10k): refreshed tokens
  per batch and the answer weight alpha under the authors' loader
  (--reproduce_quirks, default) and the corrected one.

Usage:

    python experiments/studies/faithfulness_audit.py \
      --babi_dir=bAbI_data --out=results/faithfulness_audit.json

Without --babi_dir (or without the data there) the bAbI part is skipped.
"""

import json
import os
import sys

import numpy as np
from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # the repository root

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from tasks import babi  # pylint: disable=g-import-not-at-top,wrong-import-position
from tasks import base  # pylint: disable=g-import-not-at-top,wrong-import-position
from tasks import representation_recall  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('out', 'results/faithfulness_audit.json', 'Output JSON.')
flags.DEFINE_string('babi_dir', None, 'Directory holding tasks_1-20_v1-2 '
                    '(bAbI part skipped when unset).')
flags.DEFINE_string('babi_set', 'en-10k', 'bAbI set.')
flags.DEFINE_integer('rr_batches', 200, 'RR batches (of 16) per setting.')
flags.DEFINE_integer('babi_batches', 2000, 'bAbI batches per setting.')
flags.DEFINE_float('p_re', 0.1, 'bAbI refreshing probability.')
flags.DEFINE_integer('seed', 0, 'Seed.')
FLAGS = flags.FLAGS


class _UniformUnsortedRR(representation_recall.RepresentationRecallTask):
  """The draw this project used before: values 0 .. 2^s - 1, random order."""

  def _segment_values(self):
    width, count = self.segment_size, self.num_bit
    values = np.stack([self._rng.choice(2 ** width, size=count,
                                        replace=False)
                       for _ in range(self.N)], axis=1)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[..., None] >> shifts) & 1).astype(np.float32)


def rr_statistics(task, num_batches):
  """Sortedness, range, ambiguity and the visible-mean shortcut of RR data."""
  seg, n_seg, num_bit = task.segment_size, task.N, task.num_bit
  weights = 2. ** np.arange(seg - 1, -1, -1)
  sorted_segments = segments = ambiguous = queries = 0
  right_bits = total_bits = 0
  low, high = np.inf, -np.inf
  for _ in range(num_batches):
    batch = task.next_batch()
    for b, time in enumerate(batch.seq_len):
      items = batch.inputs[b, 1:num_bit + 1, :task.bit_w].reshape(
          num_bit, n_seg, seg) @ weights  # [num_bit, N] values
      low, high = min(low, items.min()), max(high, items.max())
      sorted_segments += int(np.sum(np.all(np.diff(items, axis=0) > 0,
                                           axis=0)))
      segments += n_seg
      start = num_bit + 2
      query_bits = batch.inputs[b, start:time, :task.bit_w].reshape(
          -1, n_seg, seg)
      values = query_bits @ weights  # [l, N]
      target = batch.targets[b, start:time].reshape(-1, n_seg // 2, seg)
      for q, t in zip(values, target):
        queries += 1
        zero = q == 0
        # A visible all-zero segment: more than N/2 segments look hidden.
        ambiguous += int(zero.sum() > n_seg // 2)
        visible = q[~zero] if (~zero).any() else np.zeros(1)
        guess = int(round(float(np.mean(visible))))
        guess_bits = (guess >> np.arange(seg - 1, -1, -1)) & 1
        right_bits += int(np.sum(t == guess_bits[None, :]))
        total_bits += t.size
  return dict(segments=segments,
              sorted_fraction=sorted_segments / segments,
              min_value=int(low), max_value=int(high),
              allowed_range=[1, 2 ** seg - 2],
              queries=queries, ambiguous_fraction=ambiguous / queries,
              visible_mean_guess_bit_accuracy=right_bits / total_bits)


def babi_statistics(data, p_re, num_batches, seed, reproduce_quirks):
  """Refreshed tokens and alpha per batch of the bAbI MRL mask."""
  task = babi.BabiTask.from_data(data, 32, p_re=p_re, seed=seed,
                                 reproduce_quirks=reproduce_quirks)
  refreshed, alphas, question_refreshed, numerators = [], [], [], []
  for _ in range(num_batches):
    batch = task.next_batch()
    answers = batch.answer_mask == 1
    # Trained refresh tokens: the authors' loader also samples '-' tokens,
    # which count in alpha only (`dam.mrl.step_weights`).
    refresh = (batch.refresh_mask == 1) & ~answers
    refreshed.append(int(refresh.sum()))
    # alpha in float64 (the in-graph float32 value is this, rounded; the
    # authors' loader skipped the MRL at p_re = 0: alpha = 1).
    ratio = (float(np.sum(batch.refresh_mask, dtype=np.float64)) /
             float(np.sum(batch.answer_mask, dtype=np.float64)))
    if reproduce_quirks:
      alpha = ratio if p_re else 1.
    else:
      alpha = max(1., ratio)
    in_graph = task.answer_weight(base.Batch(*map(tf.constant, batch)))
    assert in_graph.numpy() == np.float32(alpha), (in_graph, alpha)
    alphas.append(alpha)
    # alpha's numerator: the authors' counts sampled '-' tokens as well.
    numerators.append(alpha * int(answers.sum()))
    # Tokens of questions ('?' and the words before it) that were refreshed.
    in_question = np.zeros_like(refresh)
    for b, q in zip(*np.nonzero(batch.inputs == babi.QUESTION)):
      start = q
      while start > 0 and batch.inputs[b, start - 1] not in (
          babi.DOT, babi.QUESTION, babi.ANSWER):
        start -= 1
      in_question[b, start:q + 1] = True
    question_refreshed.append(int((refresh & in_question).sum()))
  alphas = np.array(alphas)
  return dict(batches=num_batches,
              refreshed_tokens_per_batch=float(np.mean(refreshed)),
              alpha_numerator_per_batch=float(np.mean(numerators)),
              answers_per_batch=float(np.mean(
                  np.array(numerators) / np.array(alphas))),
              refreshed_question_tokens_per_batch=float(
                  np.mean(question_refreshed)),
              alpha_mean=float(alphas.mean()), alpha_min=float(alphas.min()),
              alpha_max=float(alphas.max()),
              alpha_below_one_fraction=float(np.mean(alphas < 1.)))


def main(argv):
  del argv
  results = {'representation_recall': {}, 'babi': None}
  for n_seg in (8, 16):
    config = dict(batch_size=16, N=n_seg, bit_w=64, num_bit=8, seed=FLAGS.seed)
    rr = {'authors_draw': rr_statistics(
        representation_recall.RepresentationRecallTask(**config),
        FLAGS.rr_batches),
          'previous_uniform_unsorted_draw': rr_statistics(
              _UniformUnsortedRR(**config), FLAGS.rr_batches)}
    results['representation_recall'][f'N={n_seg}'] = rr
    print(f'RR N={n_seg}:', json.dumps(rr, indent=1), flush=True)
  if FLAGS.babi_dir:
    data = babi.load(FLAGS.babi_dir, FLAGS.babi_set,
                     cache_dir=os.path.join('/tmp', 'babi_cache_audit'))
    results['babi'] = {
        'set': FLAGS.babi_set, 'p_re': FLAGS.p_re, 'batch_size': 32,
        'missing_files': data.missing_files,
        'reproduce_quirks': babi_statistics(data, FLAGS.p_re,
                                            FLAGS.babi_batches, FLAGS.seed,
                                            True),
        'corrected': babi_statistics(data, FLAGS.p_re, FLAGS.babi_batches,
                                     FLAGS.seed, False)}
    print('bAbI:', json.dumps(results['babi'], indent=1), flush=True)
  os.makedirs(os.path.dirname(FLAGS.out) or '.', exist_ok=True)
  with open(FLAGS.out, 'w') as f:
    json.dump(results, f, indent=2, sort_keys=True)
  print(f'Written {FLAGS.out}')


if __name__ == '__main__':
  app.run(main)
