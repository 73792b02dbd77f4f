"""The Distributed Associative Memory core (Park, Choi & Lee 2021).

A `snt.RNNCore`: LSTM controller, LayerNorm, K-block `DAMAccess` with an
attentive gate over blocks, bypass dropout, optional MLP, output linear
(SPEC section 1; `dam.core` has the step equations).
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
               dtype=tf.float32, name='dam'):
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
      name: module name.
    """
    super().__init__(output_size, hidden_size, clip_value, layer_norm=True,
                     keep_prob=keep_prob, mlp_sizes=mlp_sizes, seed=seed,
                     dtype=dtype, name=name)
    self._access = access_lib.DAMAccess(
        memory_size=memory_size, word_size=word_size, num_reads=num_reads,
        num_writes=num_writes, num_blocks=num_blocks)
