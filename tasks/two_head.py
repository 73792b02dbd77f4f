"""Tasks whose output layer has a reconstruction head and a class head:
Nth Farthest and Convex Hull (Park et al. 2021; the authors' `run_nfar.py`
and `run_convexhull.py`).

The core's output [B, T, D + C] splits into x_hat = [..., :D], the Memory
Refreshing Loss head reconstructing the input x (D = reconstruction_size),
and C class logits [..., D:]. The targets split the same way: the inputs
at every step, then one-hot classes on the answer steps. A sampled
(refresh) step may also be an answer step; the heads are separate, so such
a step counts in both terms of `dam.mrl.two_head_loss`.
"""

import numpy as np

from dam import losses
from dam import mrl
from tasks import base


class TwoHeadTask(base.Task):
  """A task with a reconstruction head and a class head (see module doc).

  Subclasses set `reconstruction_size` (D), `num_classes` (C),
  `input_size` (= D), `output_size` (D + C) and `max_time`, and implement
  `next_batch()`.

  Attributes:
    reconstruction_size: D, the reconstructed channels.
    num_classes: C.
    answer_channels: slice(D, D + C), the class logits.
    report_metrics: (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc')).
  """

  reconstruction_size = None
  num_classes = None
  report_metrics = (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc'))

  @property
  def answer_channels(self):
    return slice(self.reconstruction_size, self.output_size)

  def activate(self, logits):
    """The reconstruction head as is, the softmax of the class head."""
    d = self.reconstruction_size
    return np.concatenate([logits[:, :d], base.softmax(logits[:, d:])], -1)

  def loss(self, logits, batch):
    """Softmax task loss plus the reconstruction MRL term.

      loss = alpha * sum_{B,T}(answer * CE) / (B * T)
             + sum_{B,T}(refresh * |x - x_hat|^2) / (B * T * D),
      alpha = max(1, #refreshed / #answers)   (`dam.mrl.two_head_loss`)

    Args:
      logits: [B, T, D + C].
      batch: `tasks.base.Batch` of tensors; targets [B, T, D + C].

    Returns:
      dict(loss, task_loss (CE per answer step), mrl_loss (the
      reconstruction term), scale (alpha), answer_accuracy (argmax right,
      per answer step), sequence_accuracy (every answer step of the
      sequence right)).
    """
    d = self.reconstruction_size
    reconstruction, class_logits = logits[..., :d], logits[..., d:]
    inputs, labels = batch.targets[..., :d], batch.targets[..., d:]
    cross_entropy = losses.softmax_cross_entropy(class_logits, labels)
    error = losses.squared_error(reconstruction, inputs)
    loss, mrl_term, alpha = mrl.two_head_loss(
        cross_entropy, error, batch.refresh_mask, batch.answer_mask,
        batch.seq_len, d)
    metrics = losses.class_metrics(class_logits, labels, cross_entropy,
                                   batch.answer_mask)
    return dict(loss=loss, task_loss=metrics['task_loss'], mrl_loss=mrl_term,
                scale=alpha, answer_accuracy=metrics['answer_accuracy'],
                sequence_accuracy=metrics['sequence_accuracy'])
