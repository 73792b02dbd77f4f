"""The one addressing kernel shared by every memory model of this project.

Everything here is a pure function of tensors: no variables, no Python
integers read from a tensor's batch dimension, so the same code runs with a
batch size fixed at trace time (training) or unknown until run time
(evaluation, ragged last batch), eagerly, inside `tf.function` and under XLA.

Every tensor carries a leading batch axis B and then a block axis K: the
Distributed Associative Memory (DAM, Park et al. 2021) splits its memory into
K blocks, each addressed by its own heads; the DNC (Graves et al. 2016) is the
K = 1 case of the same kernel.

Symbols (as in the papers):
  B  batch size                     K  memory blocks
  N  slots per block (memory size)  W  word size
  Wh write heads per block          R  read heads
  M  memory [B, K, N, W]            u  usage [B, K, N]
  ww write weights [B, K, Wh, N]    wr read weights [B, K, R, N]
  L  link matrix [B, K, Wh, N, N]   p  precedence weights [B, K, Wh, N]

References: Graves et al., "Hybrid computing using a neural network with
dynamic external memory", Nature 538 (2016), Methods; Park, Choi & Lee,
"Distributed associative memory network with memory refreshing loss",
Neural Networks 144 (2021), section 3.
"""

import collections

import tensorflow as tf

# Added inside square roots and to the cosine denominator (DNC; SPEC 1.8).
EPSILON = 1e-6

TemporalLinkageState = collections.namedtuple(
    'TemporalLinkageState', ('link', 'precedence_weights'))
TemporalLinkageState.__doc__ = """DNC temporal linkage state.

Fields:
  link: L, [B, K, Wh, N, N]; L[i, j] ~ "slot i was written right after j".
  precedence_weights: p, [B, K, Wh, N]; how much each slot was the last
    one written.
"""


def _prod(x, axis):
  """reduce_prod over `axis`, a plain squeeze when that axis has size 1.

  The heads axes (Wh, R) are 1 in most configurations; reduce_prod and its
  gradient cost several ops each, a squeeze costs nothing.
  """
  if x.shape[axis] == 1:
    return tf.squeeze(x, axis=axis)
  return tf.reduce_prod(x, axis=axis)


def sum_last(x):
  """sum over the last axis as a matrix-vector product with ones.

  [..., W] -> [...]. Same value as reduce_sum(x, -1) up to summation order.
  On XLA:CPU a last-axis reduction of a few dozen elements is split into a
  windowed and a final reduction (two slow kernels); a dot with a vector of
  ones is one fast kernel (2-4x faster for the [B, K, N, W] memory norms).

  The gradient is the upstream gradient broadcast over W, written out: the
  product's own gradient would keep x (for the ones' gradient) at every time
  step of a training unroll that XLA does not prune.
  """
  width = x.shape[-1]

  @tf.custom_gradient
  def sum_by_product(x):
    # A plain 2-D product: the broadcasting batched form ([..., W] x [W])
    # crashed TensorFlow's oneDNN batch-matmul kernel now and then.
    flat = tf.matmul(tf.reshape(x, [-1, width]), tf.ones([width, 1], x.dtype))

    def grad(upstream):
      return upstream[..., None] * tf.ones([width], upstream.dtype)

    return tf.reshape(flat, tf.shape(x)[:-1]), grad

  return sum_by_product(x)


def vector_norms(x):
  """sqrt(sum x^2 + EPSILON) over the last axis. [..., W] -> [...]."""
  return tf.sqrt(sum_last(tf.square(x)) + EPSILON)


def cosine_similarity(memory, keys):
  """Cosine similarity of every key with every memory slot.

  D(k, M[n]) = k . M[n] / (|k| |M[n]| + EPSILON), |x| = sqrt(x.x + EPSILON).

  Args:
    memory: M, [B, K, N, W].
    keys: k, [B, K, H, W] (H heads).

  Returns:
    [B, K, H, N].
  """
  dot = tf.matmul(keys, memory, transpose_b=True)  # [B, K, H, N]
  key_norms = vector_norms(keys)[..., :, None]  # [B, K, H, 1]
  memory_norms = vector_norms(memory)[..., None, :]  # [B, K, 1, N]
  return dot / (key_norms * memory_norms + EPSILON)


def content_weights(memory, keys, strengths):
  """Content-based addressing C(M, k, beta).

  C[n] = softmax_n(softplus(beta) * D(k, M[n])).

  Args:
    memory: M, [B, K, N, W].
    keys: k, [B, K, H, W].
    strengths: raw (pre-softplus) key strengths beta, [B, K, H].

  Returns:
    Weights over slots, [B, K, H, N]; each row sums to 1.
  """
  similarity = cosine_similarity(memory, keys)
  sharpness = tf.nn.softplus(strengths)[..., None]  # [B, K, H, 1]
  return tf.nn.softmax(sharpness * similarity, axis=-1)


def update_usage(prev_usage, prev_write_weights, free_gates,
                 prev_read_weights):
  """Usage after the previous step's writes and this step's free gates.

  u = u_prev + (1 - u_prev) * (1 - prod_w (1 - ww_prev[w]))   (written)
  u = u * prod_r (1 - f[r] * wr_prev[r])                      (freed)

  The previous write weights are treated as constants (stop-gradient), as
  in the DNC. For the DAM, `prev_read_weights` are the GATED read weights
  stored in the state.

  Args:
    prev_usage: u_prev, [B, K, N], in [0, 1].
    prev_write_weights: ww_prev, [B, K, Wh, N].
    free_gates: f, [B, K, R], in [0, 1].
    prev_read_weights: wr_prev, [B, K, R, N].

  Returns:
    u, [B, K, N], in [0, 1].
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

  The gradient recomputes P from `usage` instead of keeping it: kept, P is
  the one N^2 tensor per time step of a training unroll (B K N^2 floats, 4 MB
  per step at the bAbI size, a third of the peak memory at 800 steps), and
  pushing, zero-filling and popping it cost more than comparing again.
  """

  @tf.custom_gradient
  def precedence_sum(log_usage):
    precedence = _allocation_precedence(usage)
    result = tf.linalg.matvec(precedence, log_usage, transpose_a=True)

    def grad(upstream):
      # max(u', 0) = u' (u' >= EPSILON): the same values through a reduction,
      # which XLA does not fuse into its consumer. Without it XLA:CPU fuses
      # the slice of the stacked usages into the [N, N] comparison and
      # recomputes the slice for every element (16x slower at N = 128).
      materialised = tf.reduce_max(
          tf.stack([usage, tf.zeros_like(usage)], axis=-1), axis=-1)
      return tf.linalg.matvec(_allocation_precedence(materialised), upstream)

    return result, grad

  return precedence_sum(log_usage)


def allocation_weights(usage):
  """DNC allocation weighting from usage, without sorting.

  With u' = EPSILON + (1 - EPSILON) u and phi the slots sorted by u'
  ascending (ties: lower slot index first), the DNC's
  a[phi_j] = (1 - u'[phi_j]) * prod_{i<j} u'[phi_i] is, slot by slot,

    a[n] = (1 - u'[n]) * prod_{m before n} u'[m]
         = (1 - u'[n]) * exp(sum_m P[m, n] log u'[m]),

  where P[m, n] = 1 if m comes before n in that order (u'[m] < u'[n], or
  u'[m] = u'[n] and m < n). P is a comparison (no gradient, as the sort's
  permutation) and the sum is one batched matrix-vector product; u' >=
  EPSILON keeps the logarithm finite. There is no sort, inverse permutation
  or gather, which on a CPU cost more than the [N, N] comparison (the XLA
  training step at the Copy size went from ~115 to ~75 ms). The gradient
  compares again rather than keeping P for every time step
  (`_precedence_sum`). Values and gradients equal the sort-based formula's
  up to float rounding (tests check both against it, ties included).

  Args:
    usage: u, [..., N] (any number of leading axes, N static).

  Returns:
    a, [..., N]; sums to <= 1, most weight on the least used slot.
  """
  usage = EPSILON + (1. - EPSILON) * usage
  log_prod = _precedence_sum(tf.stop_gradient(usage), tf.math.log(usage))
  return (1. - usage) * tf.exp(log_prod)


def write_allocation_weights(usage, write_gates, num_writes):
  """Allocation weights for each write head of each block.

  Several write heads allocate in turn: after head w the usage is updated
  as if head w had written with gate write_gates[w], so the next head
  allocates elsewhere (DNC).

  Args:
    usage: u, [B, K, N].
    write_gates: allocation gate * write gate per head, [B, K, Wh].
    num_writes: Wh (a Python int).

  Returns:
    [B, K, Wh, N].
  """
  allocations = []
  for w in range(num_writes):
    allocation = allocation_weights(usage)
    allocations.append(allocation)
    if w + 1 < num_writes:
      usage += (1. - usage) * write_gates[..., w:w + 1] * allocation
  return tf.stack(allocations, axis=-2)


def write_weights(memory, usage, write_keys, write_strengths,
                  allocation_gate, write_gate):
  """Write weights: ww = g_w * (g_a * a + (1 - g_a) * C(M, k_w, beta_w)).

  Args:
    memory: M_prev, [B, K, N, W] (content lookup is on the memory BEFORE
      this step's write).
    usage: u (after `update_usage`), [B, K, N].
    write_keys: [B, K, Wh, W].
    write_strengths: raw strengths, [B, K, Wh].
    allocation_gate: g_a, [B, K, Wh], in [0, 1].
    write_gate: g_w, [B, K, Wh], in [0, 1].

  Returns:
    ww, [B, K, Wh, N]; each head's weights sum to <= 1.
  """
  content = content_weights(memory, write_keys, write_strengths)
  allocation = write_allocation_weights(
      usage, allocation_gate * write_gate, write_keys.shape[-2])
  allocation_gate = allocation_gate[..., None]
  return write_gate[..., None] * (
      allocation_gate * allocation + (1. - allocation_gate) * content)


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
  """Erase then add: M = M_prev * prod_w (1 - ww[w]^T e[w]) + sum_w ww[w]^T v[w].

  The gradient is written out and recomputes the erase factor from ww and e:
  left to autodiff, the factor would be a third [B, K, N, W] tensor stored
  for every time step of a training unroll, beside M_prev and M.

  Args:
    memory: M_prev, [B, K, N, W].
    address: write weights ww, [B, K, Wh, N].
    erase: erase vectors e, [B, K, Wh, W], in [0, 1].
    values: write vectors v, [B, K, Wh, W].

  Returns:
    M, [B, K, N, W].
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


def read(memory, weights):
  """Read words r[h] = wr[h] @ M. memory [B, K, N, W], weights [B, K, H, N] -> [B, K, H, W]."""
  return tf.matmul(weights, memory)


def update_link(prev_link, prev_precedence_weights, write_weights_):
  """DNC link matrix update (Nature 2016, Methods).

  L[i, j] = (1 - ww[i] - ww[j]) L_prev[i, j] + ww[i] p_prev[j], L[i, i] = 0.

  The gradient is written out (with G = dL/dL masked off the diagonal:
  dL_prev = G (1 - ww[i] - ww[j]), dww[n] = sum_j G[n, j] (p_prev[j] -
  L_prev[n, j]) - sum_i G[i, n] L_prev[i, n], dp_prev = G^T ww): autodiff's
  four [N, N] products, fused by XLA with the read of the stored L_prev,
  took ~2x longer per step in the training loop (DNC, Copy size).

  Args:
    prev_link: L_prev, [B, K, Wh, N, N].
    prev_precedence_weights: p_prev, [B, K, Wh, N].
    write_weights_: ww, [B, K, Wh, N].

  Returns:
    L, [B, K, Wh, N, N].
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


def update_precedence_weights(prev_precedence_weights, write_weights_):
  """p = (1 - sum_n ww[n]) p_prev + ww. Both [B, K, Wh, N] -> [B, K, Wh, N]."""
  write_sum = tf.reduce_sum(write_weights_, axis=-1, keepdims=True)
  return (1. - write_sum) * prev_precedence_weights + write_weights_


def update_linkage(prev_linkage, write_weights_):
  """Link matrix then precedence weights, from this step's write weights."""
  link = update_link(prev_linkage.link, prev_linkage.precedence_weights,
                     write_weights_)
  precedence = update_precedence_weights(prev_linkage.precedence_weights,
                                         write_weights_)
  return TemporalLinkageState(link=link, precedence_weights=precedence)


def directional_read_weights(link, prev_read_weights, forward):
  """Forward f = L wr_prev or backward b = L^T wr_prev read weights.

  Args:
    link: L, [B, K, Wh, N, N].
    prev_read_weights: wr_prev, [B, K, R, N].
    forward: True for forward (f[i] = sum_j L[i, j] wr[j]), False for
      backward (b[j] = sum_i L[i, j] wr[i]).

  Returns:
    [B, K, R, Wh, N].
  """
  if forward:
    return tf.einsum('bkwij,bkrj->bkrwi', link, prev_read_weights)
  return tf.einsum('bkwij,bkri->bkrwj', link, prev_read_weights)


def mode_read_weights(content, forward, backward, read_mode):
  """DNC read weights: mix of backward, forward and content weights.

  Args:
    content: [B, K, R, N].
    forward: [B, K, R, Wh, N].
    backward: [B, K, R, Wh, N].
    read_mode: pi, [B, K, R, 1 + 2 Wh], softmax-normalised, ordered
      (backward x Wh, forward x Wh, content).

  Returns:
    wr, [B, K, R, N].
  """
  num_writes = forward.shape[-2]
  backward_mode = read_mode[..., :num_writes, None]
  forward_mode = read_mode[..., num_writes:2 * num_writes, None]
  content_mode = read_mode[..., 2 * num_writes:]
  return (content_mode * content +
          tf.reduce_sum(forward_mode * forward, axis=-2) +
          tf.reduce_sum(backward_mode * backward, axis=-2))
