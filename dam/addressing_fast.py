"""The memory addressing equations rewritten for speed (the default kernel).

The same functions, with the same signatures, shapes and values (up to float
rounding) as the paper-form kernel `dam.addressing`, which gives each
equation and its citation (Graves et al. 2016, Methods; Park et al. 2021,
Sec. 3). Only six are rewritten here: `vector_norms`, `update_usage`,
`allocation_weights`, `erase_and_write`, `update_link` and
`directional_read_weights`; where one differs from its paper form, its
docstring says why (bench/KERNELS.md has the details; tests/test_kernels.py
compares the two kernels, values and gradients). The rest are the paper
kernel's own: imported as they are, or, for the five that only combine
other kernel functions (`cosine_similarity`, `content_weights`,
`write_allocation_weights`, `write_weights`, `update_linkage`), built by
`dam.addressing.compose` on the rewritten ones, at the end of this module.

Symbols: B batch, K blocks, N slots, W word size, Wh write heads per block,
R read heads; every tensor is [B, K, ...].
"""

import tensorflow as tf

from dam.addressing import EPSILON
from dam.addressing import compose
# pylint: disable=unused-import
from dam.addressing import TemporalLinkageState
from dam.addressing import attentive_gate
from dam.addressing import gated_read_weights
from dam.addressing import mode_read_weights
from dam.addressing import read
from dam.addressing import update_precedence_weights
# pylint: enable=unused-import


def _prod(x, axis):
  """reduce_prod over `axis`; a squeeze when that axis has size 1 (Wh and R
  are 1 in most configurations, and a squeeze costs no op or gradient)."""
  if x.shape[axis] == 1:
    return tf.squeeze(x, axis=axis)
  return tf.reduce_prod(x, axis=axis)


def sum_last(x):
  """sum over the last axis as a product with a ones vector. [..., W] -> [...].

  Why: XLA:CPU computes a short last-axis reduction as two kernels, a dot
  as one. The gradient is written out (broadcast of the upstream), so that
  x is not kept per time step.
  """
  width = x.shape[-1]

  @tf.custom_gradient
  def sum_by_product(x):
    # A plain 2-D product, not the broadcasting batched form ([..., W] x
    # [W]), which TensorFlow's oneDNN batch-matmul kernel does not run
    # reliably.
    flat = tf.matmul(tf.reshape(x, [-1, width]), tf.ones([width, 1], x.dtype))

    def grad(upstream):
      return upstream[..., None] * tf.ones([width], upstream.dtype)

    return tf.reshape(flat, tf.shape(x)[:-1]), grad

  return sum_by_product(x)


def vector_norms(x):
  """sqrt(sum x^2 + EPSILON) over the last axis, by `sum_last`. [..., W] -> [...]."""
  return tf.sqrt(sum_last(tf.square(x)) + EPSILON)


def update_usage(prev_usage, prev_write_weights, free_gates,
                 prev_read_weights):
  """Usage u_t; see `dam.addressing.update_usage`.

  Why: `_prod` over the heads, a squeeze when there is one.

  prev_usage [B, K, N], prev_write_weights [B, K, Wh, N], free_gates
  [B, K, R], prev_read_weights [B, K, R, N] -> [B, K, N].
  """
  prev_write_weights = tf.stop_gradient(prev_write_weights)
  written = 1. - _prod(1. - prev_write_weights, axis=-2)  # [B, K, N]
  usage = prev_usage + (1. - prev_usage) * written
  retention = _prod(1. - free_gates[..., None] * prev_read_weights, axis=-2)
  return usage * retention


def _allocation_precedence(usage):
  """[..., N(m), N(n)] 1. where slot m comes before slot n in the DNC's sort
  of `usage` ascending (u[m] < u[n], or u[m] = u[n] and m < n), else 0."""
  memory_size = usage.shape[-1]
  u_m = usage[..., :, None]
  u_n = usage[..., None, :]
  index = tf.range(memory_size)
  lower_index = index[:, None] < index[None, :]
  before = tf.logical_or(u_m < u_n, tf.logical_and(u_m == u_n, lower_index))
  return tf.cast(before, usage.dtype)


def _precedence_sum(usage, log_usage):
  """sum_m P[m, n] log u'[m] for every slot n, P = `_allocation_precedence`.

  [..., N], [..., N] -> [..., N]. Gradient with respect to `log_usage` only
  (P is a comparison, without gradient, as the sort's permutation).

  Why the written-out gradient: it compares again instead of keeping the
  [N, N] matrix P for every time step of a training unroll.
  """

  @tf.custom_gradient
  def precedence_sum(log_usage):
    precedence = _allocation_precedence(usage)
    result = tf.linalg.matvec(precedence, log_usage, transpose_a=True)

    def grad(upstream):
      # max(u', 0) = u' (u' >= EPSILON): the same values through a reduction,
      # which XLA does not fuse into its consumer, so that XLA:CPU does not
      # recompute the slice of the stacked usages for every element of the
      # comparison.
      materialised = tf.reduce_max(
          tf.stack([usage, tf.zeros_like(usage)], axis=-1), axis=-1)
      return tf.linalg.matvec(_allocation_precedence(materialised), upstream)

    return result, grad

  return precedence_sum(log_usage)


def allocation_weights(usage):
  """DNC allocation weighting without sorting. [..., N] -> [..., N].

  With u' = EPSILON + (1 - EPSILON) u, the paper's a[phi_j] = (1 - u'[phi_j])
  prod_{i<j} u'[phi_i] (`dam.addressing.allocation_weights`) is, slot by
  slot, a[n] = (1 - u'[n]) exp(sum_m P[m, n] log u'[m]) with P[m, n] = 1
  when m comes before n in the sorted order (u'[m] < u'[n], or equal and
  m < n): one [N, N] comparison and a matrix-vector product.

  Why: no sort, inverse permutation or gather, which cost more on a CPU;
  values and gradients equal the sorted form's, ties included
  (tests/test_kernels.py).
  """
  usage = EPSILON + (1. - EPSILON) * usage
  log_prod = _precedence_sum(tf.stop_gradient(usage), tf.math.log(usage))
  return (1. - usage) * tf.exp(log_prod)


def _erase_factors(address, erase):
  """Per-head erase factors 1 - ww[w]^T e[w]: a list of Wh [B, K, N, W]."""
  num_writes = address.shape[-2]
  if num_writes == 1:
    # One head: a single outer product (one matmul).
    return [1. - tf.matmul(address, erase, transpose_a=True)]
  return [1. - address[..., w, :, None] * erase[..., w, None, :]
          for w in range(num_writes)]


def _product(factors):
  """Elementwise product of a non-empty list of same-shape tensors."""
  result = factors[0]
  for factor in factors[1:]:
    result = result * factor
  return result


def erase_and_write(memory, address, erase, values):
  """M_t = M_{t-1} * prod_w (1 - ww[w]^T e[w]) + sum_w ww[w]^T v[w].

  memory [B, K, N, W], address [B, K, Wh, N], erase and values
  [B, K, Wh, W] -> [B, K, N, W]; see `dam.addressing`.

  Why the written-out gradient: it recomputes the erase factor from ww and
  e, which autodiff would keep for every time step.
  """

  @tf.custom_gradient
  def erase_then_add(memory, address, erase, values):
    keep = _product(_erase_factors(address, erase))
    result = memory * keep + tf.matmul(address, values, transpose_a=True)

    def grad(upstream):
      factors = _erase_factors(address, erase)
      # dL/dkeep = upstream * M_prev; keep's derivative in head w's factor
      # is the product of the other heads' factors.
      d_keep = upstream * memory
      d_factors = []
      for w in range(len(factors)):
        others = factors[:w] + factors[w + 1:]
        d_factors.append(d_keep * _product(others) if others else d_keep)
      d_factors = tf.stack(d_factors, axis=-3)  # [B, K, Wh, N, W]
      d_address = (tf.matmul(values, upstream, transpose_b=True) -
                   tf.einsum('bkwnj,bkwj->bkwn', d_factors, erase))
      d_erase = -tf.einsum('bkwnj,bkwn->bkwj', d_factors, address)
      d_values = tf.matmul(address, upstream)
      return upstream * _product(factors), d_address, d_erase, d_values

    return result, grad

  return erase_then_add(memory, address, erase, values)


def update_link(prev_link, prev_precedence_weights, write_weights_):
  """L_t[i, j] = (1 - ww[i] - ww[j]) L_{t-1}[i, j] + ww[i] p_{t-1}[j], L[i, i] = 0.

  prev_link [B, K, Wh, N, N], prev_precedence_weights and write_weights_
  [B, K, Wh, N] -> [B, K, Wh, N, N]; see `dam.addressing`.

  Why the written-out gradient (with G = dL/dL_t off the diagonal:
  dL_{t-1} = G (1 - ww[i] - ww[j]), dww[n] = sum_j G[n, j] (p[j] -
  L_{t-1}[n, j]) - sum_i G[i, n] L_{t-1}[i, n], dp = G^T ww): in the
  training loop XLA fuses autodiff's form of these [N, N] products with the
  read of the stored link, which is slower (bench/KERNELS.md).
  """
  memory_size = write_weights_.shape[-1]
  off_diagonal = 1. - tf.eye(memory_size, dtype=prev_link.dtype)

  @tf.custom_gradient
  def link_update(prev_link, prev_precedence_weights, write_weights_):
    write_i = write_weights_[..., :, None]
    write_j = write_weights_[..., None, :]
    link = ((1. - write_i - write_j) * prev_link +
            write_i * prev_precedence_weights[..., None, :])

    def grad(upstream):
      g = upstream * off_diagonal
      g_prev = g * prev_link
      d_prev_link = g * (1. - write_i - write_j)
      d_write = (tf.linalg.matvec(g, prev_precedence_weights) -
                 tf.reduce_sum(g_prev, axis=-1) - tf.reduce_sum(g_prev, axis=-2))
      d_precedence = tf.linalg.matvec(g, write_weights_, transpose_a=True)
      return d_prev_link, d_precedence, d_write

    return link * off_diagonal, grad

  return link_update(prev_link, prev_precedence_weights, write_weights_)


def directional_read_weights(link, prev_read_weights, forward):
  """Forward f = L_t wr_{t-1} or backward b = L_t^T wr_{t-1} weights; see
  `dam.addressing`. link [B, K, Wh, N, N], prev_read_weights [B, K, R, N]
  -> [B, K, R, Wh, N].

  Why: every product here, forward and in the written-out gradient, takes
  L as it is stored ([N, N] row-major, the [R, N] weights transposed where
  needed), so that XLA:CPU neither writes a transposed copy of L_t in the
  forward pass nor reads dL/dL_t transposed in the backward pass, as it
  does for the einsum forms of `dam.addressing`.
  """
  # [B, K, 1, R, N] and [B, K, 1, N, R]: one operand for all Wh link heads
  # (wr^T an input of the products only to be at hand in their gradients:
  # wr's gradient goes through `weights`).
  weights = prev_read_weights[:, :, None]
  weights_t = tf.linalg.matrix_transpose(weights)
  heads = link.shape[2]

  def to_output(x):  # [B, K, Wh, R, N] -> [B, K, R, Wh, N]
    return tf.transpose(x, [0, 1, 3, 2, 4])

  def from_output(x):  # [B, K, R, Wh, N] -> [B, K, Wh, R, N]
    return tf.transpose(x, [0, 1, 3, 2, 4])

  def sum_heads(x):  # [B, K, Wh, R, N] -> [B, K, R, N]
    return x[:, :, 0] if heads == 1 else tf.reduce_sum(x, axis=2)

  @tf.custom_gradient
  def forward_read(link, weights, weights_t):
    # f[w, r, i] = sum_j L[w, i, j] wr[r, j]: (L wr^T)^T.
    value = to_output(tf.linalg.matrix_transpose(tf.matmul(link, weights_t)))

    def grad(upstream):
      d = from_output(upstream)  # [B, K, Wh, R, N]
      d_link = tf.matmul(tf.linalg.matrix_transpose(d), weights)
      d_weights = sum_heads(tf.matmul(d, link))[:, :, None]
      return d_link, d_weights, None

    return value, grad

  @tf.custom_gradient
  def backward_read(link, weights, weights_t):
    # b[w, r, j] = sum_i L[w, i, j] wr[r, i]: wr L.
    value = to_output(tf.matmul(weights, link))

    def grad(upstream):
      d = from_output(upstream)  # [B, K, Wh, R, N]
      d_link = tf.matmul(weights_t, d)
      d_weights = tf.linalg.matrix_transpose(
          sum_heads(tf.matmul(link, tf.linalg.matrix_transpose(d))))
      return d_link, d_weights[:, :, None], None

    return value, grad

  read_fn = forward_read if forward else backward_read
  return read_fn(link, weights, weights_t)


# The functions composed of the ones above, written once in `dam.addressing`.
(cosine_similarity, content_weights, write_allocation_weights, write_weights,
 update_linkage) = compose(vector_norms, allocation_weights, update_link)
