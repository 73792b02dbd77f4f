"""The Differentiable Neural Computer core (Graves et al. 2016), the baseline.

A `snt.RNNCore`: LSTM controller (no LayerNorm, no dropout), `DNCAccess`
with temporal links and read modes, optional MLP, output linear on
[h, reads] (`dam.core` has the step equations, `dam.access` the memory's).
"""

import tensorflow as tf

from dam import access as access_lib
from dam import core


class DNC(core.MemoryCore):
  """Differentiable Neural Computer core (DeepMind's DNC, in Sonnet 2)."""

  def __init__(self, output_size, hidden_size=128, memory_size=64,
               word_size=36, num_reads=1, num_writes=1, clip_value=20.,
               mlp_sizes=(), dtype=tf.float32, kernel='fast', name='dnc'):
    """Builds the core; parameters are created on the first call.

    Args:
      output_size: width of y_t.
      hidden_size: H.
      memory_size: N.
      word_size: W.
      num_reads: R.
      num_writes: write heads.
      clip_value: controller/output clipping in training (0: off).
      mlp_sizes: optional ReLU MLP widths before the output layer.
      dtype: parameter and state dtype.
      kernel: addressing kernel, 'fast' (default) or 'paper'
        (`dam.access.addressing_kernel`).
      name: module name.
    """
    # Built in the core's name scope, so that its variables are named
    # `<name>/dnc_access/...`, as when the core created it itself.
    with tf.name_scope(name):
      access = access_lib.DNCAccess(
          memory_size=memory_size, word_size=word_size, num_reads=num_reads,
          num_writes=num_writes, kernel=kernel)
    super().__init__(access, output_size, hidden_size, clip_value,
                     layer_norm=False, keep_prob=1., mlp_sizes=mlp_sizes,
                     seed=None, dtype=dtype, name=name)
