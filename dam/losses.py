"""Per-step task losses and the metrics, computed in the compiled step.

No MRL weighting here (that is `dam.mrl`): each task's `loss(logits, batch)`
takes a per-step loss from this module, weights it with `dam.mrl`, and adds
the metrics below. Shapes: logits [B, T, O]; masks [B, T] (float 0/1,
`tasks.base.Batch.answer_mask`); per-step losses [B, T].

* Copy, Associative Recall, Representation Recall (sigmoid outputs):
  `sigmoid_cross_entropy`, `bit_metrics`.
* Nth Farthest, Convex Hull (reconstruction head + class head):
  `softmax_cross_entropy`, `squared_error`, `class_metrics`.
* bAbI (a softmax over the lexicon per token):
  `sparse_softmax_cross_entropy`, `token_metrics`.

Means "per answer step" divide by max(1, #answer steps), so a batch without
answers gives 0, not NaN.
"""

import tensorflow as tf

from dam import distribute


def sigmoid_cross_entropy(logits, targets):
  """Sigmoid cross-entropy summed over the channels, [B, T].

  Args:
    logits: [B, T, O].
    targets: [B, T, O] in {0, 1}.
  """
  cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(
      labels=targets, logits=logits)  # [B, T, O]
  return tf.reduce_sum(cross_entropy, axis=-1)


def softmax_cross_entropy(logits, labels):
  """Softmax cross-entropy of one-hot (or soft) labels, [B, T].

  Args:
    logits: class logits [B, T, C].
    labels: [B, T, C].
  """
  return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def sparse_softmax_cross_entropy(logits, labels):
  """Softmax cross-entropy of integer labels (token ids), [B, T].

  Args:
    logits: [B, T, V].
    labels: int [B, T].
  """
  return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                        logits=logits)


def squared_error(predictions, targets):
  """|targets - predictions|^2 summed over the last axis, [B, T].

  Args:
    predictions: [B, T, D] (e.g. the MRL reconstruction head x_hat).
    targets: [B, T, D] (e.g. the inputs x).
  """
  return tf.reduce_sum(tf.square(targets - predictions), axis=-1)


def _answer_count(answer_mask):
  """max(1, #answer steps), a scalar."""
  return tf.maximum(distribute.batch_sum(answer_mask), 1.)


def answer_mean(per_step, answer_mask):
  """Mean of per_step [B, T] over the answer steps (0 without answers)."""
  return distribute.batch_sum(answer_mask * per_step) / _answer_count(
      answer_mask)


def bit_metrics(logits, targets, per_step_loss, answer_mask, answer_channels):
  """The algorithmic tasks' metrics (sigmoid outputs, bits).

  Args:
    logits: [B, T, O].
    targets: [B, T, O] in {0, 1}.
    per_step_loss: [B, T], `sigmoid_cross_entropy(logits, targets)`.
    answer_mask: [B, T].
    answer_channels: a Python slice of the O channels that carry data.

  Returns:
    dict of scalars:
      reported_loss: sum(answer * CE) / (#answers * O), the per-bit
        cross-entropy on answer steps the authors printed;
      accuracy: their "accuracy", exp(-reported_loss);
      bit_accuracy: fraction of right bits (logit > 0 vs target > 0.5) over
        the answer steps and the channels `answer_channels`;
      bit_errors_per_sequence: wrong bits per sequence.
  """
  batch = distribute.batch_count(logits, logits.dtype)
  output_size = tf.cast(tf.shape(logits)[-1], logits.dtype)
  answers = _answer_count(answer_mask)
  reported_loss = distribute.batch_sum(answer_mask * per_step_loss) / (
      answers * output_size)
  wrong = tf.cast(
      tf.not_equal(logits[..., answer_channels] > 0.,
                   targets[..., answer_channels] > 0.5), logits.dtype)
  wrong = tf.reduce_sum(wrong, axis=-1) * answer_mask  # [B, T]
  channels = tf.cast(tf.shape(logits[..., answer_channels])[-1],
                     logits.dtype)
  bit_accuracy = 1. - distribute.batch_sum(wrong) / (answers * channels)
  return dict(reported_loss=reported_loss, accuracy=tf.exp(-reported_loss),
              bit_accuracy=bit_accuracy,
              bit_errors_per_sequence=distribute.batch_sum(wrong) / batch)


def class_metrics(class_logits, labels, answer_loss, answer_mask):
  """Metrics of a class head (Nth Farthest, Convex Hull).

  Args:
    class_logits: [B, T, C].
    labels: one-hot [B, T, C] on answer steps.
    answer_loss: [B, T], `softmax_cross_entropy(class_logits, labels)`.
    answer_mask: [B, T].

  Returns:
    dict of scalars: task_loss (CE per answer step), answer_accuracy
    (argmax right, per answer step), sequence_accuracy (fraction of the B
    sequences with every answer step right).
  """
  right = tf.cast(tf.equal(tf.argmax(class_logits, -1),
                           tf.argmax(labels, -1)), class_logits.dtype)
  wrong_steps = tf.reduce_sum((1. - right) * answer_mask, axis=1)  # [B]
  return dict(
      task_loss=answer_mean(answer_loss, answer_mask),
      answer_accuracy=answer_mean(right, answer_mask),
      sequence_accuracy=distribute.batch_mean(
          tf.cast(tf.equal(wrong_steps, 0.), class_logits.dtype)))


def token_metrics(logits, labels, per_step_loss, answer_mask):
  """Metrics of a softmax over tokens (bAbI).

  Args:
    logits: [B, T, V].
    labels: int token ids [B, T].
    per_step_loss: [B, T], `sparse_softmax_cross_entropy(logits, labels)`.
    answer_mask: [B, T], the answer ('-') tokens.

  Returns:
    dict of scalars: reported_loss (CE per answer token, the authors'
    printed loss), answer_accuracy (argmax right, per answer token).
  """
  right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=labels.dtype),
                           labels), logits.dtype)
  return dict(reported_loss=answer_mean(per_step_loss, answer_mask),
              answer_accuracy=answer_mean(right, answer_mask))
