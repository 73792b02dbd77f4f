"""Convex Hull batches (Park et al. 2021; the DAM authors'
`task/loader_convexhull.py`, whose reference was the Self-Attentive
Associative Memory code of Le et al. 2020).

Encoding. With L = num_labels = max_n + 1 labels (label 0 = end of input /
end token), a step input is [x, y, one-hot(label) over L]: input_size =
L + 2. For an example with n points and a hull of k vertices
(T = n + k + 3 steps):

  steps 0..n-1      point i: [x_i, y_i, one-hot(label_i)]; training:
                    label_i = perm[i], a fresh random permutation of 1..n
                    per example; test: label_i = i + 1 (identity)
  step n            end of input: [0, 0, one-hot(0)]
  steps n+1..n+k+2  zero inputs; target classes: the labels of the closed
                    tour i1 ... ik i1 (the closing vertex IS emitted, as in
                    the file and in the DAM authors' loader; the SAM code
                    instead overwrote it with the end token), then the end
                    token, class 0.

Outputs have input_size + L channels: the first input_size reconstruct the
input (Memory Refreshing Loss head), the last L are the class logits
(`tasks.two_head`). `targets` [B, T, input_size + L]: channels
[0, input_size) = the inputs at every step (reconstruction target), channels
[input_size, input_size + L) = one-hot target class on answer steps, zero
elsewhere. `answer_mask` = 1 on the k + 2 answer steps; `refresh_mask`: each
of the n point steps is sampled independently with probability p_re
(`dam.mrl.sample_refresh_mask`), never the end-of-input or answer steps (as
in the authors' code). The loss (`dam.mrl.two_head_loss`) is

  alpha * mean_{B,T}(answer_mask * softmax_CE)
    + mean_{B,T,D}(refresh_mask * (x - x_hat)^2),
  alpha = max(1, sum(refresh_mask) / sum(answer_mask)).

Training batches (`ConvexHullTask.next_batch`): one point count n per batch,
uniform over the point counts available (the authors' `random.choice` over
the counts), then B examples of that count drawn uniformly WITH replacement
(their `np.random.choice`). Random draws per batch, in order: n, the B
example indices, B label permutations, then one uniform per [B, T] element
for the refresh mask (whatever p_re is), all from the task's single
`np.random.default_rng(seed)`: a seed fixes the stream, the data do not
depend on p_re, and `get_state` / `set_state` resume it exactly.

Test batches (`encode_test`): identity labels, refresh_mask 0, every example
once, in file order. The loss's `sequence_accuracy` (`tasks.two_head`)
scores an example right only when the argmax class is right at every answer
step (the authors' test accuracy).
"""

import os

import numpy as np

from dam import mrl
from tasks import base
from tasks import example
from tasks import two_head
from tasks.convex_hull import files
from tasks.convex_hull import geometry
from tasks.convex_hull.files import Examples

END_TOKEN = 0


def encode_example(points, hull, labels, num_labels):
  """One example's steps (see the module docstring).

  Args:
    points: [n, 2].
    hull: [k] 0-based open tour.
    labels: int [n], the label (1..num_labels-1) of each point.
    num_labels: L (label 0 = end token).

  Returns:
    `tasks.example.Example` with T = n + k + 3 steps: inputs [T, L + 2],
    targets [T, 2 L + 2], answer [T] (the k + 2 answer steps), eligible [T]
    (the n point steps).
  """
  points = np.asarray(points, np.float32)
  hull = np.asarray(hull)
  labels = np.asarray(labels)
  n, k = len(points), len(hull)
  input_size = num_labels + 2
  time = n + k + 3
  inputs = np.zeros([time, input_size], np.float32)
  inputs[:n, :2] = points
  inputs[np.arange(n), 2 + labels] = 1.
  inputs[n, 2 + END_TOKEN] = 1.
  targets = np.zeros([time, input_size + num_labels], np.float32)
  targets[:, :input_size] = inputs
  classes = np.concatenate([labels[hull], labels[hull[:1]], [END_TOKEN]])
  targets[np.arange(n + 1, time), input_size + classes] = 1.
  answer = np.arange(time) > n
  eligible = np.arange(time) < n
  return example.Example(inputs, targets, answer, eligible)


def _as_examples(examples, max_n, name):
  """Validates an `Examples` (or (points, hulls)) group; returns it."""
  try:
    points, hulls = examples
  except (TypeError, ValueError) as e:
    raise ValueError(f'{name} must be an Examples(points, hulls) pair.') from e
  points = np.asarray(points, np.float32)
  if points.ndim != 3 or points.shape[2] != 2 or not len(points):
    raise ValueError(f'{name}: points must be [count >= 1, n, 2], got shape '
                     f'{points.shape}.')
  n = points.shape[1]
  if n > max_n:
    raise ValueError(f'{name}: n = {n} points exceeds max_n ({max_n}).')
  if len(hulls) != len(points):
    raise ValueError(f'{name}: {len(points)} point sets but {len(hulls)} '
                     f'hulls.')
  hulls = [np.asarray(h, np.int64) for h in hulls]
  for hull in hulls:
    if hull.ndim != 1 or not len(hull) or hull.min() < 0 or hull.max() >= n:
      raise ValueError(f'{name}: hull {hull!r} must hold 0-based indices of '
                       f'the {n} points.')
  return Examples(points, hulls)


def encode_test(examples, batch_size, max_n=20):
  """Deterministic test batches: identity labels, no refresh, file order.

  Args:
    examples: `Examples` of one point count n <= max_n (or a (points, hulls)
      pair).
    batch_size: examples per batch (the last batch may be smaller).
    max_n: the task's max_n (sets num_labels = max_n + 1).

  Returns:
    list of `tasks.base.Batch` covering every example exactly once, in order;
    refresh_mask is all zero.
  """
  batch_size = base.check_int('batch_size', batch_size, 1)
  max_n = base.check_int('max_n', max_n, 3)
  points, hulls = _as_examples(examples, max_n, 'examples')
  num_labels = max_n + 1
  labels = np.arange(1, points.shape[1] + 1)
  batches = []
  for start in range(0, len(points), batch_size):
    encoded = [encode_example(p, h, labels, num_labels)
               for p, h in zip(points[start:start + batch_size],
                               hulls[start:start + batch_size])]
    inputs, targets, seq_len, answer_mask, _ = example.pad_examples(
        encoded, num_labels + 2, 2 * num_labels + 2)
    batches.append(base.Batch(inputs, targets, seq_len, answer_mask,
                              np.zeros_like(answer_mask)))
  return batches


class ConvexHullTask(two_head.TwoHeadTask):
  """Convex-hull training batches (see module docstring, `tasks.base.Batch`).

  Attributes:
    max_n: the largest point count; examples with more points are dropped.
    num_labels, num_classes: max_n + 1 (label / class 0 = end token).
    input_size, reconstruction_size: num_labels + 2 = max_n + 3.
    output_size: input_size + num_classes.
    answer_channels: slice(input_size, output_size), the class logits.
    max_time: 2 max_n + 3, the longest sequence (n = k = max_n).
    point_counts: the point counts available (ascending).
    examples: dict n -> `Examples` used for training.
    batch_size, p_re: the flags.
    report_metrics: (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc'),
      ('sequence_accuracy', 'seq_acc')).
    test: a reopened task's test files, dict n -> `Examples` (`reopen`),
      else None.

  Built from its data (run_convexhull.py reads the files), not from flags
  alone.
  """

  report_metrics = (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc'),
                    ('sequence_accuracy', 'seq_acc'))
  fixed_examples = True
  picture = 'convex_hull'
  test = None

  def __init__(self, examples_by_n, batch_size=128, max_n=20, p_re=0.0,
               seed=None):
    """Args: training data (dict n -> `Examples`, e.g. `read_file` or
    `load_dataset().train`), the authors' flags, and the data/MRL seed.

    Raises:
      ValueError: naming the offending argument, or no training example with
        n <= max_n.
    """
    max_n = base.check_int('max_n', max_n, 3)
    examples = {}
    for n, group in dict(examples_by_n).items():
      if n <= max_n and len(group[0]):
        examples[n] = _as_examples(group, max_n, f'examples_by_n[{n}]')
    if not examples:
      raise ValueError(f'No training examples with n <= max_n ({max_n}); '
                       f'point counts given: {sorted(dict(examples_by_n))}.')
    self.examples = {n: examples[n] for n in sorted(examples)}
    self.point_counts = list(self.examples)
    super().__init__(batch_size, p_re, seed)
    self.max_n = max_n
    self.num_labels = self.num_classes = max_n + 1
    self.input_size = self.reconstruction_size = self.num_labels + 2
    self.output_size = self.input_size + self.num_classes
    self.max_time = 2 * max_n + 3

  def next_batch(self):
    """The next training batch (one point count, random labels).

    Returns:
      `Batch`(inputs [B, T, input_size], targets [B, T, output_size],
      seq_len [B] int32, answer_mask [B, T], refresh_mask [B, T]); zero
      past each sequence's end.
    """
    n = self.point_counts[int(self._rng.integers(len(self.point_counts)))]
    points, hulls = self.examples[n]
    indices = self._rng.integers(0, len(points), size=self.batch_size)
    encoded = [encode_example(points[i], hulls[i],
                              self._rng.permutation(n) + 1, self.num_labels)
               for i in indices]
    inputs, targets, seq_len, answer_mask, eligible = example.pad_examples(
        encoded, self.input_size, self.output_size)
    refresh_mask = mrl.sample_refresh_mask(eligible, self.p_re, self._rng)
    return base.Batch(inputs, targets, seq_len, answer_mask, refresh_mask)

  @classmethod
  def reopen(cls, settings, seed=0, data_dir=None):
    """The task of a saved run over the test files (n = 5 and 10) in
    `data_dir` (None: settings['data_dir']); settings['max_n'] its max_n
    (`tasks.base.Task.reopen`).

    Raises:
      ValueError: a test file is missing or malformed.
    """
    data_dir = data_dir or settings['data_dir']
    tests = {}
    for n, file_name in sorted(files.TEST_FILES.items()):
      path = os.path.join(data_dir, file_name)
      if not os.path.isfile(path):
        raise ValueError(
            f'The Convex Hull test file {path} is missing: pass '
            f'--data_dir=<the folder the run trained from> (it holds '
            f'{" and ".join(files.TEST_FILES.values())}).')
      tests[n] = files.read_file(path)[n]
    task = cls(tests, batch_size=1, max_n=settings['max_n'], seed=seed)
    task.test = tests
    return task

  def example(self, index=None, seed=0, subtask=None):
    """Example `index` of the test files, the n = 5 file then n = 10 (None:
    one picked with `seed`); info: its 'points' and 'hull'."""
    del subtask
    listed = [(n, i) for n, group in sorted(self.test.items())
              for i in range(len(group.points))]
    j = base.pick(index, len(listed), 'the Convex Hull test files (n = 5, '
                  'then n = 10)', seed)
    n, i = listed[j]
    group = self.test[n]
    one = Examples(group.points[i:i + 1], group.hulls[i:i + 1])
    batch = encode_test(one, 1, max_n=self.max_n)[0]
    return batch, f'test{n}-{i}', dict(
        description=f'Convex Hull test example {i} of n = {n}',
        points=group.points[i], hull=group.hulls[i])

  def picture_arrays(self, batch, info, logits):
    """`damrun.plots.convex_hull_figure`'s arguments: the points, the true
    closed tour and the predicted labels up to the end token."""
    answer = np.flatnonzero(batch.answer_mask[0] > 0)
    predicted = logits[answer, self.input_size:].argmax(-1)
    tour = [int(label) for label in predicted]
    if END_TOKEN in tour:
      tour = tour[:tour.index(END_TOKEN)]
    hull = [int(i) + 1 for i in info['hull']]
    return dict(points=info['points'], true_tour=hull + hull[:1],
                predicted_tour=tour)

  @classmethod
  def synthetic(cls, batch_size, seed=0, max_n=20, **args):
    """A task over `batch_size` generated examples of max_n points each
    (bench/: no data files)."""
    rng = np.random.default_rng(seed)
    points, hulls = geometry.generate_examples(batch_size, max_n, max_n, rng)
    return cls({max_n: (points, hulls)}, batch_size=batch_size, seed=seed,
               max_n=max_n, **args)
