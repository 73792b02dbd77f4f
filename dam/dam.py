"""The Distributed Associative Memory core (Park, Choi & Lee 2021, Sec. 3).

A `snt.RNNCore`: LSTM controller, LayerNorm, K-block `DAMAccess` with an
attentive gate over blocks, bypass dropout, optional MLP, output linear
(`dam.core` has the step equations, `dam.access` the memory's).
"""

import tensorflow as tf

from dam import access as access_lib
from dam import core


class DAM(core.MemoryCore):
  """Distributed Associative Memory network core.

  Example (the authors' Copy configuration, 8-bit words + 2 flags):

      core = DAM(output_size=10, hidden_size=128, memory_size=64,
                 word_size=36, num_reads=1, num_blocks=2)
      outputs, state = dam.unroll(core, inputs, sequence_length,
                                  training=True)
  """

  def __init__(self, output_size, hidden_size=128, memory_size=64,
               word_size=36, num_reads=1, num_writes=1, num_blocks=2,
               keep_prob=0.9, clip_value=20., mlp_sizes=(), seed=None,
               dtype=tf.float32, kernel='fast', name='dam'):
    """Builds the core; parameters are created on the first call.

    Args:
      output_size: width of y_t.
      hidden_size: H (flag hidden_size).
      memory_size: N, slots per block (flag memory_address_size).
      word_size: W (flag memory_length_size).
      num_reads: R (flag num_read_heads).
      num_writes: write heads per block (flag num_write_heads).
      num_blocks: K (flag num_memory_blocks).
      keep_prob: bypass dropout keep probability in training.
      clip_value: controller/output clipping in training (0: off).
      mlp_sizes: optional ReLU MLP widths before the output layer.
      seed: dropout seed (None: non-deterministic).
      dtype: parameter and state dtype.
      kernel: addressing kernel, 'fast' (default) or 'paper'
        (`dam.access.addressing_kernel`).
      name: module name.
    """
    # Built in the core's name scope, so that its variables are named
    # `<name>/dam_access/...`, as when the core created it itself.
    with tf.name_scope(name):
      access = access_lib.DAMAccess(
          memory_size=memory_size, word_size=word_size, num_reads=num_reads,
          num_writes=num_writes, num_blocks=num_blocks, kernel=kernel)
    super().__init__(access, output_size, hidden_size, clip_value,
                     layer_norm=True, keep_prob=keep_prob,
                     mlp_sizes=mlp_sizes, seed=seed, dtype=dtype, name=name)
