"""Reductions over the whole batch, also when it is split across replicas.

A loss of Park et al. 2021 is a function of the whole batch, not a mean of
per-example terms: the MRL's answer weight alpha = max(1, #sampled /
#answers) counts over the batch, and the losses divide by B x T with T the
longest sequence of the batch (`dam.mrl`). Under a `tf.distribute`
strategy each replica sees B / R examples; for one step on R replicas to be
the same update as one step on one device with the same global batch,
every such batch-level count, sum and maximum must be taken over the global
batch. The losses and metrics (`dam.mrl`, `dam.losses`) take them with the
functions here:

  batch_sum(x)         sum of every element of x over the global batch
  batch_count(x)       the global batch size B (x: any [B, ...] tensor)
  batch_max(x)         max of x over the global batch (no gradient)
  batch_mean(x)        mean of x [B] over the global batch

Outside a replica context, or with one replica, they are the plain
`tf.reduce_sum` / `tf.shape` / `tf.reduce_max` / `tf.reduce_mean` (the same
graph, so single-device numbers are unchanged bit for bit). With R > 1
replicas in sync the local value is all-reduced; the gradient of
`batch_sum` is that of the LOCAL sum, so each replica's gradient is the
contribution of its own examples to the global loss, and the sum of the
replicas' gradients (the all-reduce before the optimizer,
`damrun.steps`) is the gradient of the global loss.
"""

import tensorflow as tf

_SUM = tf.distribute.ReduceOp.SUM


def _replica_context():
  """The replica context when there are several replicas in sync, else
  None."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return None
  return context


def _sum_across_replicas(context, value):
  """SUM all-reduce of `value` whose gradient is the upstream gradient as is
  (see the module docstring)."""

  @tf.custom_gradient
  def all_reduce(local):
    return context.all_reduce(_SUM, local), lambda upstream: upstream

  return all_reduce(value)


def batch_sum(x):
  """Sum of every element of x over the global batch: a scalar."""
  total = tf.reduce_sum(x)
  context = _replica_context()
  if context is None:
    return total
  return _sum_across_replicas(context, total)


def batch_count(x, dtype=tf.float32):
  """The global batch size B of x [B, ...], as a scalar of `dtype`."""
  count = tf.cast(tf.shape(x)[0], dtype)
  context = _replica_context()
  if context is None:
    return count
  return context.all_reduce(_SUM, count)


def batch_max(x):
  """Max of every element of x over the global batch (no gradient)."""
  local = tf.reduce_max(x)
  context = _replica_context()
  if context is None:
    return local
  return tf.reduce_max(context.all_gather(local[None], axis=0))


def batch_mean(x):
  """Mean of x [B] over the global batch."""
  context = _replica_context()
  if context is None:
    return tf.reduce_mean(x)
  return batch_sum(x) / batch_count(x, x.dtype)
