"""Test batches and grading (the DAM authors' `eval.py`).

Every story once, in file order, no refresh steps; a question is right only
when every token of its answer (the run of '-' after its '?') is predicted
right; the error of a task is 100 * (1 - right / questions) %.
"""

import numpy as np

from tasks import base
from tasks.babi.data import ANSWER
from tasks.babi.data import QUESTION
from tasks.babi.task import pad_stories


def test_batches(stories, batch_size):
  """Every story once, in order, in batches (the last one ragged).

  Returns:
    list of `tasks.base.Batch`; refresh_mask is all zero (no MRL).
  """
  batch_size = base.check_int('batch_size', batch_size, 1)
  batches = []
  for start in range(0, len(stories), batch_size):
    inputs, targets, _, seq_len = pad_stories(
        stories[start:start + batch_size])
    answer_mask = (inputs == ANSWER).astype(np.float32)
    batches.append(base.Batch(inputs, targets, seq_len, answer_mask,
                              np.zeros_like(answer_mask)))
  return batches


def grade(predictions, batch):
  """Per-question correctness of a batch (the authors' eval.py).

  Args:
    predictions: int [B, T] predicted token ids (argmax of the logits).
    batch: the `Batch` (inputs, targets, seq_len used).

  Returns:
    bool [num_questions]: story by story, question by question in order;
    a question is right only when every answer token after its '?' (the
    run of '-') is predicted right. A question without answer tokens counts
    as right (the authors' np.prod([]) = 1; none in bAbI).
  """
  predictions = np.asarray(predictions)
  inputs = np.asarray(batch.inputs)
  targets = np.asarray(batch.targets)
  if predictions.shape != inputs.shape:
    raise ValueError(f'predictions {predictions.shape} must have the shape '
                     f'of the batch inputs {inputs.shape}.')
  results = []
  for b, length in enumerate(np.asarray(batch.seq_len)):
    row = inputs[b, :length]
    is_q = row == QUESTION
    qid = np.cumsum(is_q) - 1  # question each token follows
    wrong = (row == ANSWER) & (predictions[b, :length] != targets[b, :length])
    count = int(is_q.sum())
    if count:
      # answers before any '?' (qid -1) do not occur; ignore them.
      keep = wrong & (qid >= 0)
      errors = np.bincount(qid[keep], minlength=count)
      results.append(errors == 0)
  if not results:
    return np.zeros([0], bool)
  return np.concatenate(results)


def grade_counts(predictions, batch):
  """(num_questions, num_right) of a batch (see `grade`)."""
  right = grade(predictions, batch)
  return int(right.size), int(right.sum())


def error_percent(num_questions, num_right):
  """A task's error %: 100 * (1 - right / questions)."""
  if num_questions <= 0:
    raise ValueError('error_percent needs at least one question.')
  return 100. * (1. - num_right / num_questions)
