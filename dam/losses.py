"""Task losses and metrics, computed inside the compiled training step.

Every function takes the model's logits [B, T, O] and a batch's targets
[B, T, O], loss_mask [B, T], original_mask [B, T] and sequence_length [B]
(see `dam.mrl` for how the masks are built) and returns a dict of scalar
tensors whose 'loss' entry is what gradients are taken of:

* `sigmoid_loss` (Copy, Associative Recall, Representation Recall, SPEC 4):
  loss_mask = MRL refresh steps (weight 1) + answer steps (weight alpha),
  original_mask = answer steps.
* `mrl_softmax_loss` (Nth Farthest, Convex Hull, SPEC 5): the output layer
  is [input reconstruction (MRL head), class logits]; loss_mask = the MRL
  refresh steps only (they may coincide with answer steps), original_mask =
  answer steps.

T in "mean over B x T" is the longest sequence of the batch (max
sequence_length), so extra zero padding of the time axis (XLA length
buckets) leaves every value unchanged.
"""

import tensorflow as tf

from dam import mrl


def sigmoid_loss(logits, targets, loss_mask, original_mask, sequence_length,
                 answer_channels):
  """Bitwise loss of the algorithmic tasks (SPEC 4).

  loss = mean over B x T of loss_mask * sum over channels of sigmoid CE,
  with T = the longest sequence of the batch (max sequence_length), so extra
  padding of the time axis (XLA length buckets) leaves the loss unchanged.
  reported_loss = sum(original_mask * CE) / (sum(original_mask) * O): the
  per-bit cross-entropy on answer steps, the loss the authors printed, with
  their "accuracy" exp(-reported_loss).
  bit_accuracy: fraction of correct bits (logit > 0 vs target > 0.5) over
  answer steps and the data channels `answer_channels`.

  Args:
    logits: [B, T, O].
    targets: [B, T, O] in {0, 1}.
    loss_mask: [B, T].
    original_mask: [B, T].
    sequence_length: [B] int.
    answer_channels: a Python slice of the O channels that carry data.

  Returns:
    dict(loss, reported_loss, accuracy, bit_accuracy, bit_errors_per_sequence).
  """
  cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(
      labels=targets, logits=logits)  # [B, T, O]
  per_step = tf.reduce_sum(cross_entropy, axis=-1)  # [B, T]
  batch = tf.cast(tf.shape(logits)[0], logits.dtype)
  time = tf.cast(tf.reduce_max(sequence_length), logits.dtype)
  loss = tf.reduce_sum(loss_mask * per_step) / (batch * time)
  output_size = tf.cast(tf.shape(logits)[-1], logits.dtype)
  answers = tf.maximum(tf.reduce_sum(original_mask), 1.)
  reported_loss = tf.reduce_sum(original_mask * per_step) / (
      answers * output_size)
  wrong = tf.cast(
      tf.not_equal(logits[..., answer_channels] > 0.,
                   targets[..., answer_channels] > 0.5), logits.dtype)
  wrong = tf.reduce_sum(wrong, axis=-1) * original_mask  # [B, T]
  channels = tf.cast(tf.shape(logits[..., answer_channels])[-1],
                     logits.dtype)
  bit_accuracy = 1. - tf.reduce_sum(wrong) / (answers * channels)
  return dict(loss=loss, reported_loss=reported_loss,
              accuracy=tf.exp(-reported_loss), bit_accuracy=bit_accuracy,
              bit_errors_per_sequence=tf.reduce_sum(wrong) / batch)


def mrl_softmax_loss(logits, targets, loss_mask, original_mask,
                     sequence_length, reconstruction_size):
  """Softmax task loss plus the reconstruction MRL term (SPEC 5).

  With D = reconstruction_size, the outputs split into x_hat = logits[..., :D]
  (the MRL head reconstructing the input) and class logits logits[..., D:];
  the targets into x = targets[..., :D] (the inputs) and one-hot classes.

    loss = s * mean_{B,T}(original_mask * CE) +
           mean_{B,T,D}(loss_mask * (x - x_hat)^2),
    s = max(1, sum(loss_mask) / sum(original_mask))  (`mrl.answer_weight`)

  Args:
    logits: [B, T, D + C].
    targets: [B, T, D + C]: the inputs, then one-hot classes on answer steps.
    loss_mask: the MRL refresh mask, [B, T] (1 at sampled steps).
    original_mask: answer steps, [B, T].
    sequence_length: [B] int.
    reconstruction_size: D (a Python int).

  Returns:
    dict(loss, task_loss (CE per answer step), mrl_loss (the MSE term),
    scale (s), answer_accuracy (argmax right, per answer step),
    sequence_accuracy (every answer step of the sequence right)).
  """
  d = reconstruction_size
  reconstruction, class_logits = logits[..., :d], logits[..., d:]
  inputs, labels = targets[..., :d], targets[..., d:]
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(
      labels=labels, logits=class_logits)  # [B, T]
  batch = tf.cast(tf.shape(logits)[0], logits.dtype)
  time = tf.cast(tf.reduce_max(sequence_length), logits.dtype)
  scale = mrl.answer_weight(loss_mask, original_mask)
  task_term = tf.reduce_sum(original_mask * cross_entropy) / (batch * time)
  squared_error = tf.reduce_sum(tf.square(inputs - reconstruction), axis=-1)
  mrl_term = tf.reduce_sum(loss_mask * squared_error) / (batch * time * d)
  answers = tf.maximum(tf.reduce_sum(original_mask), 1.)
  right = tf.cast(tf.equal(tf.argmax(class_logits, -1),
                           tf.argmax(labels, -1)), logits.dtype)  # [B, T]
  wrong_steps = tf.reduce_sum((1. - right) * original_mask, axis=1)  # [B]
  return dict(
      loss=scale * task_term + mrl_term,
      task_loss=tf.reduce_sum(original_mask * cross_entropy) / answers,
      mrl_loss=mrl_term, scale=scale,
      answer_accuracy=tf.reduce_sum(right * original_mask) / answers,
      sequence_accuracy=tf.reduce_mean(
          tf.cast(tf.equal(wrong_steps, 0.), logits.dtype)))


def softmax_loss(logits, targets, loss_mask, original_mask, sequence_length):
  """Softmax over the lexicon, per token (bAbI, SPEC 6).

  loss = mean over B x T of loss_mask * CE(logits, target token), with
  loss_mask = MRL refresh tokens (weight 1; target = the token itself) +
  answer tokens (weight alpha), as `sigmoid_loss`.

  Args:
    logits: [B, T, V].
    targets: int token ids [B, T].
    loss_mask: [B, T].
    original_mask: answer tokens ('-'), [B, T].
    sequence_length: [B] int.

  Returns:
    dict(loss, reported_loss (CE per answer token, the authors' printed
    loss), answer_accuracy (argmax right, per answer token)).
  """
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=targets, logits=logits)  # [B, T]
  batch = tf.cast(tf.shape(logits)[0], logits.dtype)
  time = tf.cast(tf.reduce_max(sequence_length), logits.dtype)
  answers = tf.maximum(tf.reduce_sum(original_mask), 1.)
  right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=targets.dtype),
                           targets), logits.dtype)
  return dict(
      loss=tf.reduce_sum(loss_mask * cross_entropy) / (batch * time),
      reported_loss=tf.reduce_sum(original_mask * cross_entropy) / answers,
      answer_accuracy=tf.reduce_sum(right * original_mask) / answers)
