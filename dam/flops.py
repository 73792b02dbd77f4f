"""Analytic FLOPs of one time step and one training step of a memory core.

The benchmark suite (bench/suite.py) divides these by the measured step time
and by the machine's measured large-matmul throughput: model FLOP utilisation
(MFU), the figure to compare across machines.

Counting rules (per example, per time step, forward pass):

* a multiply-add is 2 FLOPs: a dense layer [a] -> [b] is 2ab;
* memory operations count their multiply-adds over the [N, W] memory of each
  of the K blocks; elementwise gate activations and the O(N) vector
  operations are left out (they are a few percent);
* a training step is 3x the forward pass (the backward pass costs about two
  forward passes: gradients with respect to activations and to weights).

Terms (Wh write heads per block, R read heads, D input width, H controller
units, I interface width, O output width; the MLP widths m_1..m_L if any):

  controller  2 (D + R W + H) 4H                    (LSTM gates)
  interface   2 H I
  output      2 (H + R W) m_1 + ... + 2 m_L O       (or 2 (H + R W) O)
  per block:
    content   2 (Wh + R) N W                        (keys . slots)
              + 2 * 2 N W                           (slot norms of M_prev, M)
    write     6 Wh N W                              (erase outer product,
                                                     M * keep, add outer)
    read      2 R N W
    allocate  2 Wh N^2                              (sort-free allocation)
  DNC only (K = 1):
    links     5 Wh N^2                              (link matrix update)
              + 2 * 2 R Wh N^2                      (forward, backward reads)

At the authors' Copy configuration (B 16, T 66, D 10, H 128, K 2, N 64,
W 36, R 1, O 10) one DAM training step is 1.10 GFLOP (the DNC: 0.96).
"""


def forward_flops_per_step(input_size, output_size, hidden_size, memory_size,
                           word_size, num_reads, num_writes=1, num_blocks=2,
                           interface_size=None, mlp_sizes=(), use_dam=True):
  """FLOPs of one forward time step of one example (see module docstring).

  Args:
    input_size: D (after the embedding, for token inputs).
    output_size: O.
    hidden_size: H.
    memory_size: N, slots per block.
    word_size: W.
    num_reads: R.
    num_writes: Wh per block.
    num_blocks: K (ignored for the DNC, which has one memory).
    interface_size: I; computed from the model's layout if None.
    mlp_sizes: hidden widths of the output MLP.
    use_dam: DAM (True) or DNC (False).

  Returns:
    FLOPs as a float.
  """
  d, o, h, n, w, r, wh = (input_size, output_size, hidden_size, memory_size,
                          word_size, num_reads, num_writes)
  k = num_blocks if use_dam else 1
  if interface_size is None:
    if use_dam:  # write (3W + 3 per head) + free gates + reads (W + 1 + 1)
      interface_size = k * (wh * (3 * w + 3) + r + r * (w + 2))
    else:  # + read modes (1 + 2 Wh per read head)
      interface_size = wh * (3 * w + 3) + r + r * (w + 1) + r * (1 + 2 * wh)
  flops = 2. * (d + r * w + h) * 4 * h  # controller
  flops += 2. * h * interface_size  # interface
  widths = [h + r * w] + list(mlp_sizes) + [o]
  flops += sum(2. * a * b for a, b in zip(widths[:-1], widths[1:]))
  per_block = (2. * (wh + r) * n * w + 4. * n * w + 6. * wh * n * w +
               2. * r * n * w + 2. * wh * n * n)
  flops += k * per_block
  if not use_dam:
    flops += 5. * wh * n * n + 4. * r * wh * n * n
  return flops


def train_step_flops(batch_size, time_steps, **config):
  """FLOPs of one training step: 3 x forward x batch x time steps."""
  return 3. * batch_size * time_steps * forward_flops_per_step(**config)


def eval_flops(batch_size, time_steps, **config):
  """FLOPs of one evaluation pass (forward only) over a batch."""
  return 1. * batch_size * time_steps * forward_flops_per_step(**config)
