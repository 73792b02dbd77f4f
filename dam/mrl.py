"""Memory Refreshing Loss (MRL) masks (Park, Choi & Lee 2021; SPEC 4).

The MRL adds an auxiliary reconstruction term to the task loss: every
MRL-eligible input step (e.g. a stored item of the Copy task) is sampled
independently with probability `p_re`; at a sampled step the target is the
input of that same step (the task generators make targets equal inputs
during the input phase), with loss weight 1. The answer steps (the task's
own targets, `original_mask` = 1) get weight

    alpha = max(1, sum(refresh_mask) / sum(original_mask))

computed over the whole batch, so the task term never weighs less than the
refreshing term. The per-step loss weights are therefore

    loss_mask = refresh_mask + alpha * original_mask            # [B, T]

With p_re = 0 no step is sampled, alpha = 1 and loss_mask == original_mask:
the plain task loss.

The functions are plain NumPy (they run in the data pipeline; `answer_weight`
also takes tensors) and are shared by every task: Copy, Associative Recall, Nth Farthest, Convex Hull
and bAbI. Arrays may have any shape; the tasks use [B, T].
"""

import math
import numbers

import numpy as np
import tensorflow as tf


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
  """Samples the MRL refresh steps.

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
    (always 0 on ineligible steps).

  Raises:
    ValueError: `p_re` is outside [0, 1].
  """
  p_re = check_p_re(p_re)
  eligible = np.asarray(eligible) != 0
  draws = rng.random(eligible.shape)
  return ((draws < p_re) & eligible).astype(np.float32)


def answer_weight(refresh_mask, original_mask, floor=True):
  """The MRL weight of the answer steps over a whole batch.

  alpha (SPEC 4; the scale s of SPEC 5) = max(1, sum(refresh) / sum(answers)).
  The algorithmic tasks fold it into their loss mask in the data pipeline
  (`loss_mask`); Nth Farthest and Convex Hull, whose refresh and answer steps
  may coincide, keep the masks apart and the loss computes it in the step,
  so it takes tensors as well.

  Args:
    refresh_mask: array or tensor of any shape, e.g. [B, T]: 1 at sampled
      refresh steps.
    original_mask: array or tensor of the same shape: 1 at answer steps.
    floor: alpha = max(1, ratio) (True, the paper's rule); False: the bare
      ratio sum(refresh) / sum(answers), as the authors' bAbI loader
      computed it (it may fall below 1).

  Returns:
    alpha, a Python float for arrays or a scalar tensor for tensors; 1 when
    the batch has no answer step.
  """
  if tf.is_tensor(refresh_mask) or tf.is_tensor(original_mask):
    refreshed = tf.reduce_sum(refresh_mask)
    answers = tf.reduce_sum(original_mask)
    ratio = tf.math.divide_no_nan(refreshed, answers)
    return tf.maximum(tf.ones_like(answers), ratio) if floor else ratio
  answers = float(np.sum(original_mask, dtype=np.float64))
  if answers == 0.:
    return 1.
  refreshed = float(np.sum(refresh_mask, dtype=np.float64))
  return max(1., refreshed / answers) if floor else refreshed / answers


def loss_mask(refresh_mask, original_mask):
  """The MRL-weighted loss mask.

  Refresh steps are input steps and answer steps are output steps, so the two
  masks never overlap; overlapping masks are rejected.

  Args:
    refresh_mask: array of any shape, e.g. [B, T]: 1 at sampled refresh steps
      (from `sample_refresh_mask`).
    original_mask: array of the same shape: 1 at answer steps, 0 elsewhere.

  Returns:
    (loss_mask, alpha): loss_mask float32, same shape,
    = refresh_mask + alpha * original_mask (1 at refresh steps, alpha at
    answer steps, 0 elsewhere); alpha as returned by `answer_weight`.

  Raises:
    ValueError: the shapes differ, or a step is both a refresh step and an
      answer step.
  """
  refresh_mask = np.asarray(refresh_mask, dtype=np.float32)
  original_mask = np.asarray(original_mask, dtype=np.float32)
  if refresh_mask.shape != original_mask.shape:
    raise ValueError(f'refresh_mask {refresh_mask.shape} and original_mask '
                     f'{original_mask.shape} must have the same shape.')
  if np.any((refresh_mask != 0) & (original_mask != 0)):
    raise ValueError('refresh_mask and original_mask overlap: MRL refresh '
                     'steps must be input steps, never answer steps.')
  alpha = answer_weight(refresh_mask, original_mask)
  mask = refresh_mask + np.float32(alpha) * original_mask
  return mask.astype(np.float32), alpha
