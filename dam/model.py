"""The model a script trains: a DAM or DNC core unrolled over sequences.

`build_core` makes the DAM (Park et al. 2021) or the DNC baseline
(Graves et al. 2016, Methods) from the authors' settings (the keyword form
of `dam.config.ModelConfig`, the model settings of the scripts and runs);
`SequenceModel` unrolls it over a padded batch (optionally embedding token
ids first, bAbI) and returns the logits.
"""

import sonnet as snt
import tensorflow as tf

from dam import config as config_lib
from dam import core as core_lib
from dam.unroll import unroll
from dam.unroll import unroll_packed


def build_core(output_size, use_dam=True, hidden_size=128, memory_size=64,
               word_size=36, num_reads=1, num_writes=1, num_blocks=2,
               keep_prob=0.9, clip_value=20., mlp_sizes=(), seed=None):
  """The DAM (`use_dam=True`) or the DNC baseline: the keyword form of
  `dam.config.ModelConfig(...).build_core(output_size)`, which names any
  core of `dam.config.CORES`.

  Args:
    output_size: O.
    use_dam: DAM (K = num_blocks blocks) or DNC (one memory).
    hidden_size: H, LSTM controller units.
    memory_size: N, slots per block.
    word_size: W.
    num_reads: R read heads.
    num_writes: Wh write heads (per block).
    num_blocks: K (DAM only).
    keep_prob: bypass dropout keep probability in training (DAM only).
    clip_value: controller/output clipping in training (0: off).
    mlp_sizes: widths of the ReLU MLP before the output layer.
    seed: seed of the DAM's dropout stream.
  """
  return config_lib.ModelConfig(
      memory=config_lib.memory_name(use_dam), hidden_size=hidden_size,
      memory_size=memory_size, word_size=word_size, num_reads=num_reads,
      num_writes=num_writes, num_blocks=num_blocks, keep_prob=keep_prob,
      clip_value=clip_value, mlp_sizes=mlp_sizes,
      seed=seed).build_core(output_size)


class SequenceModel(snt.Module):
  """A core unrolled over padded sequences: inputs -> logits [B, T, O].

  Inputs are feature vectors [B, T, D], or, with `vocab_size`, token ids
  [B, T] looked up in a learned embedding [vocab_size, embedding_size]
  (Glorot-uniform, as the authors' `xavier_initializer`; bAbI).
  """

  def __init__(self, core, vocab_size=None, embedding_size=None,
               row_levels=1, name='model'):
    """Args:
      core: the recurrent core.
      vocab_size, embedding_size: token inputs (bAbI), or None.
      row_levels: in a training call on a batch of static size, how many
        row counts (B, B/4, ...) the time loop narrows to as sequences end
        (`dam.unroll.unroll_packed`: same outputs and gradients, less work
        on batches of unequal lengths); 1: every row runs to the longest.
    """
    super().__init__(name=name)
    self.core = core
    self.row_levels = int(row_levels)
    self.embed = (snt.Embed(vocab_size, embedding_size,
                            initializer=core_lib.glorot_uniform(),
                            name='embedding')
                  if vocab_size else None)

  def __call__(self, inputs, sequence_length, training=False,
               dropout_noise=None):
    """Logits [B, T, O] of inputs [B, T, D] (or token ids [B, T]).

    `sequence_length` [B] int: steps past each sequence's end are computed
    (the unroll does not freeze finished sequences) and must be masked by
    the loss. `dropout_noise`: optional draws from `dropout_noise` for a
    training call (None: the unroll draws them).
    """
    if self.embed is not None:
      inputs = self.embed(inputs)
    if training and self.row_levels > 1 and inputs.shape[0] is not None:
      return unroll_packed(self.core, inputs, sequence_length, training=True,
                           levels=self.row_levels,
                           dropout_noise=dropout_noise)
    outputs, _ = unroll(self.core, inputs, sequence_length,
                        training=training, freeze_finished=False,
                        dropout_noise=dropout_noise)
    return outputs

  @property
  def has_dropout(self):
    """Whether a training call draws dropout noise (`dropout_noise`)."""
    return getattr(self.core, 'has_dropout', False)

  def dropout_noise(self, inputs):
    """The dropout draws of a training call on `inputs` ([B, T, ...]):
    [T, B, H] uniform in [0, 1) from the core's generator, or None without
    dropout. A call with them draws nothing itself; the draws are those it
    would have made."""
    if not self.has_dropout:
      return None
    shape = tf.shape(inputs)
    batch = inputs.shape[0] if inputs.shape[0] is not None else shape[0]
    time = inputs.shape[1] if inputs.shape[1] is not None else shape[1]
    return self.core.dropout_noise(time, batch)
