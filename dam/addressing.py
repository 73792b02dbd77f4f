"""The memory addressing equations in their paper form (the 'paper' kernel).

Each function is one equation, or one small group, of Graves et al. 2016
(Methods) or Park et al. 2021 (Sec. 3), written with plain TensorFlow ops and
differentiated by plain autodiff, in the manner of DeepMind's DNC
`addressing.py`. `dam.addressing_fast` has the same functions with the same
signatures, some rewritten for speed; it is the default kernel (the switch
is the `kernel` argument of `dam.access.DAMAccess` / `DNCAccess` and of
`dam.DAM` / `dam.DNC`; see `dam.access.addressing_kernel`), and the tests
check that the two agree, values and gradients. The five functions that only
combine others (cosine similarity, content weights, the write heads'
allocation, write weights, linkage update) are written once, in `compose`,
and built on each kernel's own functions.

Every tensor has a leading batch axis B and then a block axis K: the
Distributed Associative Memory (DAM, Park et al. 2021, Sec. 3) splits its
memory into K blocks, each addressed by its own heads; the DNC (Graves et al.
2016) is the K = 1 case of the same equations. All functions are pure and
never read a Python int from the batch axis, so they run with a static or a
dynamic batch size, eagerly, in `tf.function` and under XLA.

Symbols (as in the papers):
  B  batch size                     K  memory blocks
  N  slots per block (memory size)  W  word size
  Wh write heads per block          R  read heads
  M  memory [B, K, N, W]            u  usage [B, K, N]
  ww write weights [B, K, Wh, N]    wr read weights [B, K, R, N]
  L  link matrix [B, K, Wh, N, N]   p  precedence weights [B, K, Wh, N]

Graves et al. write one write head; several write heads (Wh > 1), the
softplus on the key strengths (the paper's oneplus) and the epsilons below
are those of DeepMind's DNC code, which Park et al.'s code builds on.

References: Graves et al., "Hybrid computing using a neural network with
dynamic external memory", Nature 538 (2016), Methods; Park, Choi & Lee,
"Distributed associative memory network with memory refreshing loss",
Neural Networks 144 (2021), Sec. 3.
"""

import collections

import tensorflow as tf

# Added inside the square roots of the norms, to the cosine denominator and
# to the usage before allocation (DeepMind's DNC code).
EPSILON = 1e-6

TemporalLinkageState = collections.namedtuple(
    'TemporalLinkageState', ('link', 'precedence_weights'))
TemporalLinkageState.__doc__ = """DNC temporal linkage state (Graves et al. 2016, Methods).

Fields:
  link: L, [B, K, Wh, N, N]; L[i, j] ~ "slot i was written right after j".
  precedence_weights: p, [B, K, Wh, N]; how much each slot was the last
    one written.
"""


# -- content-based addressing (Graves et al. 2016, Methods) --------------------


def vector_norms(x):
  """|x| = sqrt(x . x + EPSILON) over the last axis. [..., W] -> [...]."""
  return tf.sqrt(tf.reduce_sum(x * x, axis=-1) + EPSILON)


# `cosine_similarity` and `content_weights` are built on `vector_norms` by
# `compose`, below.


# -- dynamic memory allocation (Graves et al. 2016, Methods) -------------------


def update_usage(prev_usage, prev_write_weights, free_gates,
                 prev_read_weights):
  """Usage u_t = (u_{t-1} + ww_{t-1} - u_{t-1} ww_{t-1}) * psi_t.

  Graves et al. 2016, Methods, "Dynamic memory allocation", with retention
  psi_t = prod_r (1 - f[r] wr_{t-1}[r]) and, for several write heads,
  1 - prod_w (1 - ww_{t-1}[w]) in place of ww_{t-1} (DeepMind's code). The
  previous write weights are constants (stop-gradient), as in DeepMind's
  code. For the DAM the previous read weights are the GATED ones stored in
  the state (Park et al. 2021, Sec. 3).

  Args:
    prev_usage: u_{t-1}, [B, K, N], in [0, 1].
    prev_write_weights: ww_{t-1}, [B, K, Wh, N].
    free_gates: f, [B, K, R], in [0, 1].
    prev_read_weights: wr_{t-1}, [B, K, R, N].

  Returns:
    u_t, [B, K, N], in [0, 1].
  """
  prev_write_weights = tf.stop_gradient(prev_write_weights)
  written = 1. - tf.reduce_prod(1. - prev_write_weights, axis=-2)
  usage = prev_usage + (1. - prev_usage) * written
  retention = tf.reduce_prod(1. - free_gates[..., None] * prev_read_weights,
                             axis=-2)
  return usage * retention


def allocation_weights(usage):
  """Allocation a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i].

  Graves et al. 2016, Methods, "Dynamic memory allocation": phi is the free
  list, the slots sorted by usage ascending (ties: lower slot first); the
  usage is first mapped to u' = EPSILON + (1 - EPSILON) u (DeepMind's code).
  Sorting, an exclusive cumulative product and the inverse permutation.

  Args:
    usage: u, [..., N] (any number of leading axes, N static).

  Returns:
    a, [..., N]; sums to <= 1, most weight on the least used slot.
  """
  usage = EPSILON + (1. - EPSILON) * usage
  batch_dims = len(usage.shape) - 1
  free_list = tf.argsort(usage, axis=-1, stable=True)  # phi
  sorted_usage = tf.gather(usage, free_list, axis=-1, batch_dims=batch_dims)
  sorted_allocation = (1. - sorted_usage) * tf.math.cumprod(
      sorted_usage, axis=-1, exclusive=True)
  inverse = tf.argsort(free_list, axis=-1, stable=True)  # phi^-1
  return tf.gather(sorted_allocation, inverse, axis=-1, batch_dims=batch_dims)


# `write_allocation_weights`, the allocation of several write heads in turn,
# is built on `allocation_weights` by `compose`, below.


# -- writing (Graves et al. 2016, Methods) -------------------------------------

# `write_weights` (ww from content and allocation) is built by `compose`,
# below.


def erase_and_write(memory, address, erase, values):
  """M_t = M_{t-1} * prod_w (1 - ww[w]^T e[w]) + sum_w ww[w]^T v[w].

  Graves et al. 2016, Methods, "Reading and writing to memory"
  (M_t = M_{t-1} o (E - ww e^T) + ww v^T); the product over several write
  heads is DeepMind's.

  Args:
    memory: M_{t-1}, [B, K, N, W].
    address: write weights ww, [B, K, Wh, N].
    erase: erase vectors e, [B, K, Wh, W], in [0, 1].
    values: write vectors v, [B, K, Wh, W].

  Returns:
    M_t, [B, K, N, W].
  """
  weighted_erase = address[..., :, None] * erase[..., None, :]  # [B,K,Wh,N,W]
  keep = tf.reduce_prod(1. - weighted_erase, axis=-3)  # [B, K, N, W]
  return memory * keep + tf.matmul(address, values, transpose_a=True)


# -- temporal memory linkage (Graves et al. 2016, Methods) ---------------------


def update_link(prev_link, prev_precedence_weights, write_weights_):
  """L_t[i, j] = (1 - ww[i] - ww[j]) L_{t-1}[i, j] + ww[i] p_{t-1}[j].

  Graves et al. 2016, Methods, "Temporal memory linkage"; L_t[i, i] = 0.

  Args:
    prev_link: L_{t-1}, [B, K, Wh, N, N].
    prev_precedence_weights: p_{t-1}, [B, K, Wh, N].
    write_weights_: ww_t, [B, K, Wh, N].

  Returns:
    L_t, [B, K, Wh, N, N].
  """
  write_i = write_weights_[..., :, None]
  write_j = write_weights_[..., None, :]
  link = ((1. - write_i - write_j) * prev_link +
          write_i * prev_precedence_weights[..., None, :])
  return tf.linalg.set_diag(link, tf.zeros_like(write_weights_))


def update_precedence_weights(prev_precedence_weights, write_weights_):
  """p_t = (1 - sum_n ww[n]) p_{t-1} + ww.

  Graves et al. 2016, Methods, "Temporal memory linkage".
  Both [B, K, Wh, N] -> [B, K, Wh, N].
  """
  write_sum = tf.reduce_sum(write_weights_, axis=-1, keepdims=True)
  return (1. - write_sum) * prev_precedence_weights + write_weights_


# `update_linkage` (L_t, then p_t) is built on `update_link` by `compose`,
# below.


# -- reading (Graves et al. 2016, Methods; Park et al. 2021, Sec. 3) ----------


def directional_read_weights(link, prev_read_weights, forward):
  """Forward f = L_t wr_{t-1} or backward b = L_t^T wr_{t-1} weights.

  Graves et al. 2016, Methods, "Temporal memory linkage".

  Args:
    link: L_t, [B, K, Wh, N, N].
    prev_read_weights: wr_{t-1}, [B, K, R, N].
    forward: True for forward (f[i] = sum_j L[i, j] wr[j]), False for
      backward (b[j] = sum_i L[i, j] wr[i]).

  Returns:
    [B, K, R, Wh, N].
  """
  if forward:
    return tf.einsum('bkwij,bkrj->bkrwi', link, prev_read_weights)
  return tf.einsum('bkwij,bkri->bkrwj', link, prev_read_weights)


def mode_read_weights(content, forward, backward, read_mode):
  """DNC read weighting wr = pi_b b + pi_c c + pi_f f.

  Graves et al. 2016, Methods, "Read weighting"; one backward and one
  forward mode per write head (DeepMind's code).

  Args:
    content: c, [B, K, R, N].
    forward: f, [B, K, R, Wh, N].
    backward: b, [B, K, R, Wh, N].
    read_mode: pi, [B, K, R, 1 + 2 Wh], softmax-normalised, ordered
      (backward x Wh, forward x Wh, content) as in DeepMind's code.

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


def attentive_gate(logits):
  """DAM attentive gate g[k, r] = softmax over the K blocks of the logits.

  Park et al. 2021, Sec. 3. [B, K, R] -> [B, K, R]; sums to 1 over K.
  The softmax is written out along axis 1: `tf.nn.softmax(axis=1)`
  transposes, and XLA cannot compile that transpose's gradient inside a
  while loop.
  """
  shifted = logits - tf.stop_gradient(
      tf.reduce_max(logits, axis=1, keepdims=True))
  exp = tf.exp(shifted)
  return exp / tf.reduce_sum(exp, axis=1, keepdims=True)


def gated_read_weights(gate, content):
  """DAM read weights wr_k[r] = g[k, r] c_k[r] (Park et al. 2021, Sec. 3).

  Args:
    gate: g, [B, K, R].
    content: c, [B, K, R, N], content weights of each block's read heads.

  Returns:
    [B, K, R, N]; head r's weights sum to 1 over blocks and slots.
  """
  return gate[..., None] * content


def read(memory, weights):
  """Read words r[h] = M^T wr[h] of each block.

  Graves et al. 2016, Methods, "Reading and writing to memory"; the DAM sums
  them over blocks (Park et al. 2021, Sec. 3; `dam.access`).
  memory [B, K, N, W], weights [B, K, H, N] -> [B, K, H, W].
  """
  return tf.matmul(weights, memory)


# -- the functions composed of the others (Graves et al. 2016, Methods) -------
#
# Five functions only combine other kernel functions. They are the same in
# both kernels, each calling its own kernel's vector norms, allocation and
# link update, so they are written once, here, in `compose`, which builds
# them on a kernel's own functions: on the ones above for this kernel, on
# `dam.addressing_fast`'s for that one.

_Composed = collections.namedtuple(
    '_Composed', ('cosine_similarity', 'content_weights',
                  'write_allocation_weights', 'write_weights',
                  'update_linkage'))


def compose(vector_norms_fn, allocation_weights_fn, update_link_fn):
  """The five composed kernel functions, built on a kernel's own.

  Args:
    vector_norms_fn: the kernel's `vector_norms`, [..., W] -> [...].
    allocation_weights_fn: the kernel's `allocation_weights`,
      [..., N] -> [..., N].
    update_link_fn: the kernel's `update_link` (same signature).

  Returns:
    (cosine_similarity, content_weights, write_allocation_weights,
    write_weights, update_linkage), the functions documented below, in this
    order.
  """

  def cosine_similarity(memory, keys):
    """Cosine similarity D(k, M[n]) = k . M[n] / (|k| |M[n]| + EPSILON).

    Graves et al. 2016, Methods, "Content-based addressing".

    Args:
      memory: M, [B, K, N, W].
      keys: k, [B, K, H, W] (H heads).

    Returns:
      D, [B, K, H, N].
    """
    dot = tf.matmul(keys, memory, transpose_b=True)  # [B, K, H, N]
    key_norms = vector_norms_fn(keys)[..., :, None]  # [B, K, H, 1]
    memory_norms = vector_norms_fn(memory)[..., None, :]  # [B, K, 1, N]
    return dot / (key_norms * memory_norms + EPSILON)

  def content_weights(memory, keys, strengths):
    """Content-based addressing C(M, k, beta)[n] = softmax_n(beta D(k, M[n])).

    Graves et al. 2016, Methods, "Content-based addressing"; beta =
    softplus(raw strength), as in DeepMind's code (the paper's oneplus).

    Args:
      memory: M, [B, K, N, W].
      keys: k, [B, K, H, W].
      strengths: raw (pre-softplus) key strengths, [B, K, H].

    Returns:
      C, [B, K, H, N]; each row sums to 1.
    """
    similarity = cosine_similarity(memory, keys)
    beta = tf.nn.softplus(strengths)[..., None]  # [B, K, H, 1]
    return tf.nn.softmax(beta * similarity, axis=-1)

  def write_allocation_weights(usage, write_gates, num_writes):
    """Allocation weights for each write head of each block.

    Several write heads allocate in turn: after head w the usage is updated
    as if head w had written with gate write_gates[w], so the next head
    allocates elsewhere (DeepMind's code; Graves et al. have one write head).

    Args:
      usage: u, [B, K, N].
      write_gates: allocation gate * write gate per head, [B, K, Wh].
      num_writes: Wh (a Python int).

    Returns:
      [B, K, Wh, N].
    """
    allocations = []
    for w in range(num_writes):
      allocation = allocation_weights_fn(usage)
      allocations.append(allocation)
      if w + 1 < num_writes:
        usage += (1. - usage) * write_gates[..., w:w + 1] * allocation
    return tf.stack(allocations, axis=-2)

  def write_weights(memory, usage, write_keys, write_strengths,
                    allocation_gate, write_gate):
    """Write weighting ww = g_w (g_a a + (1 - g_a) C(M_{t-1}, k_w, beta_w)).

    Graves et al. 2016, Methods, "Write weighting".

    Args:
      memory: M_{t-1}, [B, K, N, W] (the content lookup is on the memory
        BEFORE this step's write).
      usage: u_t (after `update_usage`), [B, K, N].
      write_keys: k_w, [B, K, Wh, W].
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

  def update_linkage(prev_linkage, write_weights_):
    """L_t then p_t from this step's write weights (`TemporalLinkageState`).

    Graves et al. 2016, Methods, "Temporal memory linkage": `update_link`,
    then `update_precedence_weights`, both from L_{t-1}, p_{t-1}.
    """
    link = update_link_fn(prev_linkage.link, prev_linkage.precedence_weights,
                          write_weights_)
    precedence = update_precedence_weights(prev_linkage.precedence_weights,
                                           write_weights_)
    return TemporalLinkageState(link=link, precedence_weights=precedence)

  return _Composed(cosine_similarity, content_weights,
                   write_allocation_weights, write_weights, update_linkage)


(cosine_similarity, content_weights, write_allocation_weights, write_weights,
 update_linkage) = compose(vector_norms, allocation_weights, update_link)
