"""The Memory Refreshing Loss (MRL) of Park, Choi & Lee 2021, for every task.

While the model reads its input, each MRL-eligible input step is sampled
with probability p_re and the model must reproduce that step's input; the
task loss is weighted by alpha = max(1, #sampled / #answer steps) over the
batch, so that it never weighs less than the refreshing term:
L = alpha L_task + L_mrl. The tasks only mark the steps (`tasks.base.Batch`:
answer_mask and refresh_mask, [B, T]); this module samples the mask
(NumPy, data pipeline) and forms the loss in the compiled step
(TensorFlow), in one of two forms:

* `single_output_loss` (Copy, Associative Recall, Representation Recall,
  bAbI): the sampled steps' target is the input itself, in the task's own
  output;
* `two_head_loss` (Nth Farthest, Convex Hull): a reconstruction head x_hat
  on the sampled steps, the class head on the answer steps.

With p_re = 0 both are the plain task loss. Means over B x T take T as the
batch's longest sequence, so zero padding of the time axis changes nothing;
sums, counts and maxima are over the global batch under `tf.distribute`
(`dam.distribute`). Equations: docs/equations.md; the authors' bAbI
variant (`--reproduce_quirks`): docs/faithfulness.md.
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
  """Samples the refresh steps: each eligible step with probability p_re.

  One uniform is drawn per element of `eligible` whatever p_re is, so the
  random stream that follows (the next batch) does not depend on p_re.

  Args:
    eligible: bool or 0/1 array, e.g. [B, T]: the steps that may be refreshed.
    p_re: refreshing probability in [0, 1].
    rng: `np.random.Generator`.

  Returns:
    float32 array shaped like `eligible`, 1 at sampled steps
    (`Batch.refresh_mask`).
  """
  p_re = check_p_re(p_re)
  eligible = np.asarray(eligible) != 0
  draws = rng.random(eligible.shape)
  return ((draws < p_re) & eligible).astype(np.float32)


# -- in the compiled step (TensorFlow) -----------------------------------------


def answer_weight(refresh_mask, answer_mask, floor=True):
  """The answer weight alpha of a batch, a float32 scalar:

    alpha = max(1, sum(refresh_mask) / sum(answer_mask))    (floor=True)
    alpha = sum(refresh_mask) / sum(answer_mask)             (floor=False)

  and 1 when the batch has no answer step.

  Args:
    refresh_mask, answer_mask: float32 [B, T] of 0/1.
    floor: the max(1, .) of the authors' code for every task but bAbI,
      whose loader used the bare ratio (False).
  """
  refreshed = distribute.batch_sum(refresh_mask)
  answers = distribute.batch_sum(answer_mask)
  ratio = tf.math.divide_no_nan(refreshed, answers)
  if floor:
    return tf.maximum(tf.ones_like(answers), ratio)
  return tf.where(answers > 0., ratio, tf.ones_like(answers))


def authors_babi_answer_weight(refresh_mask, answer_mask, p_re):
  """alpha as the authors' bAbI loader computed it (`--reproduce_quirks`).

  The bare ratio #sampled / #answers, #sampled counting the sampled answer
  '-' tokens too; 1 when p_re is 0 (their loader skipped the MRL) and for a
  batch with nothing sampled (an evaluation batch, where their formula
  would give 0).

  Args:
    refresh_mask: float32 [B, T], every sampled token (answers included).
    answer_mask: float32 [B, T], 1 at the answer '-' tokens.
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
  """Per-step weights w [B, T] of a single-output task's loss:

    w = refresh_mask + alpha * answer_mask                       (overlap=False)
    w = refresh_mask * (1 - answer_mask) + alpha * answer_mask   (overlap)

  1 at sampled steps, alpha at answer steps, 0 elsewhere. Sampled steps are
  input steps except in the authors' bAbI loader (overlap=True), whose
  sampled answer steps count as answers.

  Args:
    refresh_mask, answer_mask: float32 [B, T] of 0/1.
    alpha: float32 scalar (`answer_weight`).
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
  """The MRL loss when the refresh target is in the task's own output:

    loss = sum_{B,T}(w * per_step_loss) / (B * T),   w = `step_weights`

  Args:
    per_step_loss: float32 [B, T], e.g. the sigmoid cross-entropy summed
      over the output channels, or a token's softmax cross-entropy.
    refresh_mask, answer_mask: float32 [B, T] (`tasks.base.Batch`).
    sequence_length: int [B]; T = its max.
    alpha: float32 scalar (`answer_weight`).
    overlap: see `step_weights`.

  Returns:
    the loss, a float32 scalar.
  """
  weights = step_weights(refresh_mask, answer_mask, alpha, overlap)
  batch, time = _batch_and_time(per_step_loss, sequence_length)
  return distribute.batch_sum(weights * per_step_loss) / (batch * time)


def two_head_loss(answer_loss, reconstruction_error, refresh_mask,
                  answer_mask, sequence_length, reconstruction_size):
  """The MRL loss with a reconstruction head x_hat (D channels) beside the
  class logits; a sampled answer step counts in both terms:

    loss = alpha * sum_{B,T}(answer * CE) / (B * T)
           + sum_{B,T}(refresh * |x - x_hat|^2) / (B * T * D)

  Args:
    answer_loss: float32 [B, T], the class head's cross-entropy CE.
    reconstruction_error: float32 [B, T], |x - x_hat|^2 summed over D.
    refresh_mask, answer_mask: float32 [B, T] (`tasks.base.Batch`).
    sequence_length: int [B]; T = its max.
    reconstruction_size: D, a Python int.

  Returns:
    (loss, mrl_term, alpha): float32 scalars; mrl_term the second term.
  """
  batch, time = _batch_and_time(answer_loss, sequence_length)
  alpha = answer_weight(refresh_mask, answer_mask)
  task_term = distribute.batch_sum(answer_mask * answer_loss) / (
      batch * time)
  mrl_term = distribute.batch_sum(refresh_mask * reconstruction_error) / (
      batch * time * reconstruction_size)
  return alpha * task_term + mrl_term, mrl_term, alpha
