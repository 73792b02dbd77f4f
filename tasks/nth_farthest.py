"""The Nth Farthest task (Santoro et al. 2018; used by Park et al. 2021,
the authors' `run_nfar.py`).

One example: num_vectors (N, 8) vectors of vector_size (D, 16) dims drawn
i.i.d. from U(-1, 1); a random permutation of 0..N-1 gives each vector a
label; n and m are uniform in 0..N-1. The sequence has N steps, one per
vector, and the input of step i is

  concat([vector_i (D), one_hot(label_i) (N), one_hot(n) (N), one_hot(m) (N)])

so input_size = D + 3N (40). The question, answered at the LAST step only:
the label of the n-th farthest vector (Euclidean distance) from the vector
labelled m, counting from n = 0 (the farthest) to n = N - 1 (the vector
labelled m itself, distance 0). num_classes = N.

The output layer has output_size = input_size + num_classes channels (48):
the first input_size reconstruct the input (Memory Refreshing Loss head), the
last num_classes are the class logits (`tasks.two_head`). A
`tasks.base.Batch` holds

  inputs        float32 [B, N, input_size]
  targets       float32 [B, N, input_size + num_classes]
                  [..., :input_size]  the inputs themselves, every step
                                      (reconstruction target)
                  [..., input_size:]  one-hot answer label at the last
                                      step, zeros elsewhere
  seq_len       int32   [B]      all N
  answer_mask   float32 [B, N]   1 at the last step only (the answer)
  refresh_mask  float32 [B, N]   the MRL refresh mask: every step (the last
                                 one included) sampled independently with
                                 probability p_re

The loss (`dam.mrl.two_head_loss`) is

  alpha * mean_{B,T}(answer_mask * softmax_ce(logits, answer))
    + mean_{B,T,D}(refresh_mask * (x - x_hat)**2),
  alpha = max(1, sum(refresh_mask) / sum(answer_mask)).

The answer label of each example is `argmax(targets[:, -1, input_size:], -1)`.

Random state: one `np.random.default_rng(seed)` per task draws, per batch and
in this order, the vectors [B, N, D], the label permutations [B, N], n [B],
m [B] and one uniform per [B, N] step for the refresh mask (whatever p_re
is), so the data do not depend on p_re; `get_state` / `set_state` resume the
stream exactly. The fixed test set (`test_set`) comes from its own generator,
seeded by `TEST_SET_SEED` on a separate SeedSequence stream, so it differs
from every training stream (even one with the same seed).
"""

import numpy as np

from dam import mrl
from tasks import base
from tasks import two_head

# Default seed of the fixed test set (independent of any training seed).
TEST_SET_SEED = 20180605
# Spawn key that separates the test-set stream from training streams.
_TEST_SET_STREAM = 0x7E57
TEST_SET_SIZE = 3200


def _check_sizes(num_vectors, vector_size):
  """Validates num_vectors >= 2 and vector_size >= 1; returns them as ints."""
  return (base.check_int('num_vectors', num_vectors, 2),
          base.check_int('vector_size', vector_size, 1))


def _generate(rng, batch_size, num_vectors, vector_size, p_re):
  """Draws one batch (see the module docstring for layout and draw order).

  Args:
    rng: `np.random.Generator`.
    batch_size: B.
    num_vectors: N.
    vector_size: D.
    p_re: refreshing probability in [0, 1].

  Returns:
    A `tasks.base.Batch`.
  """
  b, n_vec, d = batch_size, num_vectors, vector_size
  vectors = rng.uniform(-1., 1., size=[b, n_vec, d]).astype(np.float32)
  labels = rng.permuted(np.tile(np.arange(n_vec), (b, 1)), axis=1)  # [B, N]
  nth = rng.integers(0, n_vec, size=b)  # [B]
  ref_label = rng.integers(0, n_vec, size=b)  # [B]
  refresh = mrl.sample_refresh_mask(np.ones([b, n_vec], bool), p_re, rng)

  rows = np.arange(b)
  ref_index = np.argmax(labels == ref_label[:, None], axis=1)  # [B]
  vec64 = vectors.astype(np.float64)
  diff = vec64 - vec64[rows, ref_index][:, None, :]
  distances = np.sqrt(np.einsum('bnd,bnd->bn', diff, diff))  # [B, N]
  # Farthest first; the reference itself (distance 0) sorts last.
  order = np.argsort(-distances, axis=1, kind='stable')
  answer = labels[rows, order[rows, nth]]  # [B]

  eye = np.eye(n_vec, dtype=np.float32)
  inputs = np.concatenate([
      vectors,
      eye[labels],
      np.broadcast_to(eye[nth][:, None, :], [b, n_vec, n_vec]),
      np.broadcast_to(eye[ref_label][:, None, :], [b, n_vec, n_vec]),
  ], axis=2)
  input_size = d + 3 * n_vec
  targets = np.zeros([b, n_vec, input_size + n_vec], np.float32)
  targets[:, :, :input_size] = inputs
  targets[:, -1, input_size:] = eye[answer]
  answer_mask = np.zeros([b, n_vec], np.float32)
  answer_mask[:, -1] = 1.
  seq_len = np.full([b], n_vec, np.int32)
  return base.Batch(inputs, targets, seq_len, answer_mask, refresh)


class NthFarthestTask(two_head.TwoHeadTask):
  """Nth Farthest batches (see module docstring and `tasks.base.Batch`).

  `next_batch()` returns inputs [B, N, D + 3N], targets [B, N, D + 4N],
  seq_len [B] (all N), answer_mask [B, N] (1 at the last step),
  refresh_mask [B, N] (the MRL refresh mask, see the module docstring).

  Attributes:
    batch_size, num_vectors (N), vector_size (D), p_re: the arguments.
    num_classes: N.
    input_size, reconstruction_size: D + 3N.
    output_size: input_size + num_classes.
    max_time: N.
    answer_channels: slice(input_size, input_size + num_classes), the logits.
    report_metrics: (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc')).
    test: a reopened task's fixed test set (`reopen`), else None.
  """

  flag_args = ('num_vectors', 'vector_size')
  fixed_examples = True
  picture = 'nth_farthest'
  test = None

  def __init__(self, batch_size=1600, num_vectors=8, vector_size=16,
               p_re=0.0, seed=None):
    """Args: see Attributes; seed: data/MRL seed (None: OS entropy).

    Raises:
      ValueError: naming the offending argument (batch_size >= 1,
        num_vectors >= 2, vector_size >= 1, p_re in [0, 1]).
    """
    num_vectors, vector_size = _check_sizes(num_vectors, vector_size)
    super().__init__(batch_size, p_re, seed)
    self.num_vectors = num_vectors
    self.vector_size = vector_size
    self.num_classes = num_vectors
    self.input_size = self.reconstruction_size = vector_size + 3 * num_vectors
    self.output_size = self.input_size + self.num_classes
    self.max_time = num_vectors

  def next_batch(self):
    """The next batch (a `tasks.base.Batch`, shapes in the class docstring)."""
    return _generate(self._rng, self.batch_size, self.num_vectors,
                     self.vector_size, self.p_re)

  def test_set(self, num_examples=TEST_SET_SIZE, seed=TEST_SET_SEED):
    """The fixed test set at this task's sizes (module `test_set`)."""
    return test_set(num_examples, self.num_vectors, self.vector_size, seed)

  @classmethod
  def reopen(cls, settings, seed=0, data_dir=None):
    """The task of a saved run with its fixed test set of
    settings['test_examples'] examples (`tasks.base.Task.reopen`)."""
    del data_dir  # generated
    task = cls.from_flags(settings, 1, 0., seed)
    task.test = task.test_set(settings['test_examples'])
    return task

  def example(self, index=None, seed=0, subtask=None):
    """Example `index` of the test set (None: one picked with `seed`)."""
    del subtask
    count = len(self.test.seq_len)
    i = base.pick(index, count, 'the Nth Farthest test set', seed)
    batch = base.Batch(*(a[i:i + 1] for a in self.test))
    return batch, f'test-{i}', dict(
        description=f'Nth Farthest test example {i}')

  def picture_arrays(self, batch, info, logits):
    """`damrun.plots.nth_farthest_figure`'s arguments: the vectors, their
    labels, n, m, the true answer and the predicted class probabilities."""
    del info
    num, dv, d = self.num_vectors, self.vector_size, self.input_size
    first = batch.inputs[0]
    return dict(
        vectors=first[:, :dv], labels=first[:, dv:dv + num].argmax(-1),
        nth=int(first[0, dv + num:dv + 2 * num].argmax()),
        reference_label=int(first[0, dv + 2 * num:].argmax()),
        answer_label=int(batch.targets[0, -1, d:].argmax()),
        probabilities=base.softmax(logits[-1, d:]))


def test_set(num_examples=TEST_SET_SIZE, num_vectors=8, vector_size=16,
             seed=TEST_SET_SEED):
  """The fixed test set as one `tasks.base.Batch` of num_examples examples.

  Drawn with p_re = 0 (refresh_mask all zeros) from its own generator,
  `default_rng(SeedSequence(seed, spawn_key=(_TEST_SET_STREAM,)))`, so it is
  deterministic given `seed` and a different stream from any training task,
  whatever that task's seed.

  Raises:
    ValueError: naming the offending argument.
  """
  num_examples = base.check_int('num_examples', num_examples, 1)
  num_vectors, vector_size = _check_sizes(num_vectors, vector_size)
  seed = base.check_int('seed', seed, 0)
  rng = np.random.default_rng(
      np.random.SeedSequence(seed, spawn_key=(_TEST_SET_STREAM,)))
  return _generate(rng, num_examples, num_vectors, vector_size, 0.)


test_set.__test__ = False  # Not a pytest test despite its name.


def iterate_batches(batch, batch_size):
  """Splits `batch` into consecutive `Batch`es of at most batch_size examples.

  Yields:
    `tasks.base.Batch`es in order, each a slice along axis 0 (every array);
    all have batch_size examples except possibly the last (ragged) one.

  Raises:
    ValueError: batch_size is not an integer >= 1.
  """
  batch_size = base.check_int('batch_size', batch_size, 1)
  total = len(batch.seq_len)

  def _slices():
    for start in range(0, total, batch_size):
      yield base.Batch(*(a[start:start + batch_size] for a in batch))

  return _slices()
