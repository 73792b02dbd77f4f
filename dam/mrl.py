"""The Memory Refreshing Loss (MRL), whole, for every task.

Park, Choi & Lee 2021 (Neural Networks 144), part "Memory Refreshing Loss":
while the model reads its input, each MRL-eligible input step is sampled
independently with probability p_re, and at a sampled step the model must
reproduce that step's input; the task loss is weighted by

    alpha = max(1, #sampled steps / #answer steps)          (over the batch)

so that the task term never weighs less than the refreshing term:
L = alpha * L_task + L_mrl. (The max(1, .) floor and the normalisations are
those of the authors' code, taewonpark/DAM; see docs/faithfulness.md.)

The tasks only say WHICH steps are answers and which were sampled (the
`tasks.base.Batch` fields `answer_mask` and `refresh_mask`, both [B, T]);
this module holds the rest:

* data pipeline (NumPy): `check_p_re`, `sample_refresh_mask` (the Bernoulli
  draw, one uniform per [B, T] element whatever p_re is);
* in the compiled step (TensorFlow): the answer weight alpha
  (`answer_weight`; `authors_babi_answer_weight` for the authors' bAbI
  loader), the per-step weights of a single-output task (`step_weights`),
  and the two ways the MRL enters a loss:
    - `single_output_loss` (Copy, Associative Recall, Representation
      Recall, bAbI): the sampled steps' target is the input itself in the
      task's own output, so one per-step loss is weighted by
      w = refresh + alpha * answer (sampled answer steps, possible only in
      the authors' bAbI loader, count as answers);
    - `two_head_loss` (Nth Farthest, Convex Hull): a separate
      reconstruction head x_hat is trained on the sampled steps with a
      squared error, the class head on the answer steps:
      L = alpha * mean_{B,T}(answer * CE)
          + mean_{B,T,D}(refresh * |x - x_hat|^2).

With p_re = 0 nothing is sampled, alpha = 1 and both forms are the plain task
loss. T in "mean over B x T" is the longest sequence of the batch
(max seq_len), so zero padding of the time axis (XLA length buckets) leaves
every value unchanged. Every sum, count and maximum over the batch is over
the GLOBAL batch when a `tf.distribute` strategy splits it across replicas
(`dam.distribute`).
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from dam import distribute


# -- data pipeline (NumPy) -----------------------------------------------------


def check_p_re(p_re):
  """Validates a refreshing probability; returns it as a Python float.

  Raises:
    ValueError: `p_re` is not a real number in [0, 1].
  """
  if isinstance(p_re, bool) or not isinstance(p_re, numbers.Real):
    raise ValueError(f'p_re must be a number in [0, 1] (the memory refreshing '
                     f'probability), got {p_re!r}.')
  p_re = float(p_re)
  if math.isnan(p_re) or not 0. <= p_re <= 1.:
    raise ValueError(f'p_re ({p_re}) must be in [0, 1]: 0 disables the memory '
                     f'refreshing loss, 1 refreshes every eligible step.')
  return p_re


def sample_refresh_mask(eligible, p_re, rng):
  """Samples the MRL refresh steps (Park et al. 2021, "Memory Refreshing
  Loss": each eligible input step independently with probability p_re).

  Exactly one uniform number is drawn per element of `eligible`
  (`rng.random(eligible.shape)`), whatever `p_re` is and whichever elements
  are eligible, so the random stream that follows (the next batch's data)
  does not depend on `p_re`: runs with different p_re on the same seed see
  the same data. An element is sampled when it is eligible and its uniform
  draw is < p_re (p_re = 0: never; p_re = 1: every eligible element).

  Args:
    eligible: bool or 0/1 array of any shape, e.g. [B, T]: the steps that may
      be refreshed (nonzero = eligible).
    p_re: refreshing probability in [0, 1].
    rng: `np.random.Generator` to draw from.

  Returns:
    float32 array shaped like `eligible`: 1 at sampled steps, 0 elsewhere
    (always 0 on ineligible steps). This is `Batch.refresh_mask`.

  Raises:
    ValueError: `p_re` is outside [0, 1].
  """
  p_re = check_p_re(p_re)
  eligible = np.asarray(eligible) != 0
  draws = rng.random(eligible.shape)
  return ((draws < p_re) & eligible).astype(np.float32)


# -- in the compiled step (TensorFlow) -----------------------------------------


def answer_weight(refresh_mask, answer_mask, floor=True):
  """The answer weight alpha of a batch (Park et al. 2021, "Memory
  Refreshing Loss").

    alpha = max(1, sum(refresh_mask) / sum(answer_mask))    (floor=True)
    alpha = sum(refresh_mask) / sum(answer_mask)             (floor=False)

  and alpha = 1 when the batch has no answer step. The sums are exact
  integers in float32 (< 2**24 steps) and the float32 division is correctly
  rounded, so alpha equals the float64 ratio rounded to float32.

  Args:
    refresh_mask: float32 tensor [B, T], 1 at sampled steps.
    answer_mask: float32 tensor [B, T], 1 at answer steps.
    floor: max(1, .) (True, the authors' code for every task but bAbI);
      False: the bare ratio, as their bAbI loader computed it (it may fall
      below 1).

  Returns:
    alpha, a float32 scalar tensor.
  """
  refreshed = distribute.batch_sum(refresh_mask)
  answers = distribute.batch_sum(answer_mask)
  ratio = tf.math.divide_no_nan(refreshed, answers)
  if floor:
    return tf.maximum(tf.ones_like(answers), ratio)
  return tf.where(answers > 0., ratio, tf.ones_like(answers))


def authors_babi_answer_weight(refresh_mask, answer_mask, p_re):
  """alpha as the authors' bAbI loader computed it (`--reproduce_quirks`).

  The bare ratio #sampled / #answers (no max(1, .) floor), where #sampled
  counts the sampled answer '-' tokens too (their loader counted them
  before overwriting their weight with alpha), and alpha = 1 when p_re is 0
  (their `if self.p_re:` skipped the MRL altogether). A batch with no
  sampled step (an evaluation batch: the authors sampled only training
  data) also gets alpha = 1, the plain answer loss their evaluation graph
  computed; their formula would give 0 there.

  Args:
    refresh_mask: float32 tensor [B, T], every sampled token (answer tokens
      included).
    answer_mask: float32 tensor [B, T], 1 at the answer '-' tokens.
    p_re: the task's refreshing probability (a Python float).

  Returns:
    alpha, a float32 scalar tensor.
  """
  if p_re == 0:
    return tf.ones([], answer_mask.dtype)
  ratio = answer_weight(refresh_mask, answer_mask, floor=False)
  return tf.where(distribute.batch_sum(refresh_mask) > 0., ratio,
                  tf.ones_like(ratio))


def step_weights(refresh_mask, answer_mask, alpha, overlap=False):
  """Per-step weights of a single-output task's loss, [B, T]:

    w = refresh_mask + alpha * answer_mask                  (overlap=False)
    w = refresh_mask * (1 - answer_mask) + alpha * answer_mask   (overlap)

  weight 1 at sampled steps, alpha at answer steps, 0 elsewhere. Sampled
  steps are input steps, so they are never answer steps, except in the
  authors' bAbI loader (overlap=True), whose sampled answer steps are
  trained as answers, not as refresh steps. Every product is by 0 or 1, so
  the weights are exact and both forms agree when the masks are disjoint
  (the first also keeps XLA's fused reduction, hence the loss value,
  bitwise that of the earlier NumPy-built masks).

  Args:
    refresh_mask, answer_mask: float32 tensors [B, T] of 0/1.
    alpha: float32 scalar tensor (`answer_weight`).
    overlap: whether refresh_mask may mark answer steps.
  """
  if overlap:
    refresh_mask = refresh_mask * (1. - answer_mask)
  return refresh_mask + alpha * answer_mask


def _batch_and_time(per_step_loss, sequence_length):
  """(B, T) as floats of per_step_loss's dtype; T = max(sequence_length)."""
  batch = distribute.batch_count(per_step_loss, per_step_loss.dtype)
  time = tf.cast(distribute.batch_max(sequence_length), per_step_loss.dtype)
  return batch, time


def single_output_loss(per_step_loss, refresh_mask, answer_mask,
                       sequence_length, alpha, overlap=False):
  """The MRL of a task whose refresh target is in its own output (Park et
  al. 2021, "Memory Refreshing Loss"; Copy, Associative Recall,
  Representation Recall, bAbI).

    loss = sum_{B,T}(w * per_step_loss) / (B * T),   w = `step_weights`
                                                       (1, alpha or 0)

  Args:
    per_step_loss: float32 [B, T], e.g. the sigmoid cross-entropy summed
      over the output channels, or the softmax cross-entropy of a token.
    refresh_mask, answer_mask: float32 [B, T] (`tasks.base.Batch`).
    sequence_length: int [B]; T = its max.
    alpha: float32 scalar tensor (`answer_weight`).
    overlap: whether refresh_mask may mark answer steps (`step_weights`).

  Returns:
    the loss, a float32 scalar tensor.
  """
  weights = step_weights(refresh_mask, answer_mask, alpha, overlap)
  batch, time = _batch_and_time(per_step_loss, sequence_length)
  return distribute.batch_sum(weights * per_step_loss) / (batch * time)


def two_head_loss(answer_loss, reconstruction_error, refresh_mask,
                  answer_mask, sequence_length, reconstruction_size):
  """The MRL with a reconstruction head (Park et al. 2021, "Memory
  Refreshing Loss"; Nth Farthest, Convex Hull).

  The output layer is [x_hat (D channels, reconstructing the input), class
  logits]; a sampled step may also be an answer step, and then counts in
  both terms (separate heads):

    loss = alpha * sum_{B,T}(answer * CE) / (B * T)
           + sum_{B,T}(refresh * |x - x_hat|^2) / (B * T * D),
    alpha = max(1, #sampled / #answers)   (`answer_weight`)

  Args:
    answer_loss: float32 [B, T], the class head's cross-entropy per step.
    reconstruction_error: float32 [B, T], |x - x_hat|^2 summed over D.
    refresh_mask, answer_mask: float32 [B, T] (`tasks.base.Batch`).
    sequence_length: int [B]; T = its max.
    reconstruction_size: D, a Python int.

  Returns:
    (loss, mrl_term, alpha): float32 scalar tensors; mrl_term is the
    second (reconstruction) term.
  """
  batch, time = _batch_and_time(answer_loss, sequence_length)
  alpha = answer_weight(refresh_mask, answer_mask)
  task_term = distribute.batch_sum(answer_mask * answer_loss) / (
      batch * time)
  mrl_term = distribute.batch_sum(refresh_mask * reconstruction_error) / (
      batch * time * reconstruction_size)
  return alpha * task_term + mrl_term, mrl_term, alpha
