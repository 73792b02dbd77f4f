"""Key-Value Memory Network baseline on bAbI (Miller et al. 2016).

The model of the reference TF implementation that the DAM paper's users
compare against (`siyuanzhao/key-value-memory-networks`, bag-of-words
reader; a GRU reader is the other option). Keys and values are the story's
sentences (memory slot 0 = the most recent one, see `tasks.babi_kv`).

Symbols: B batch, M memory slots (memory_size), J words per sentence
(sentence_size), V vocabulary (0 = nil word), d embedding size, F feature
size.

Bag-of-words reader (position encoding l [J, d] of Sukhbaatar et al. 2015,
in the reference implementation's form:
l[j, k] = 1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J), 1-based j, k):
  q   = sum_j l[j] * W[query_j]                          [B, d]
  k_i = sum_j l[j] * W_mem[story_ij] + TK[i]              [B, M, d]
  v_i = sum_j l[j] * W_mem[story_ij] + TV[i]              [B, M, d]
Key addressing and value reading (Miller et al. 2016, "Key-Value Memory
Networks"), `hops` times with its own R_h [F, F]:
  u   = A q                                              [B, F]
  p_i = softmax_i(u . A k_i);  o = sum_i p_i A v_i;  u = R_h (u + o)
Answer logits through the memory embedding:
  logits = u^T (B W_mem^T)                               [B, V]
The nil rows (0) of W and W_mem are zero and stay zero (their gradients are
zeroed). All weights are Glorot-uniform, as the reference's
`xavier_initializer`.

GRU reader (`reader='simple_gru'`): keys = values = the last output of a
GRU (F units) over each sentence's word embeddings, the question the last
output of another GRU, both with dropout (keep_prob) in training; A is then
[F, F] and TK, TV [M, F].
"""

import numpy as np
import sonnet as snt
import tensorflow as tf

from dam import core as core_lib

READERS = ('bow', 'simple_gru')


def position_encoding(sentence_size, embedding_size):
  """l [J, d]: l[j-1, k-1] = 1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J)."""
  j = np.arange(1, sentence_size + 1, dtype=np.float64)[:, None]
  k = np.arange(1, embedding_size + 1, dtype=np.float64)[None, :]
  d, big_j = float(embedding_size), float(sentence_size)
  return (1. + 4. * (k - (d + 1.) / 2.) * (j - (big_j + 1.) / 2.) /
          (d * big_j)).astype(np.float32)


class KVMemNN(snt.Module):
  """The Key-Value Memory Network (see module docstring)."""

  def __init__(self, vocab_size, sentence_size, memory_size,
               embedding_size=40, feature_size=50, hops=3, reader='bow',
               keep_prob=1.0, seed=None, name='kv_memnn'):
    """Creates the variables.

    Args:
      vocab_size: V, including the nil word 0.
      sentence_size: J, words per (padded) sentence and query.
      memory_size: M, memory slots.
      embedding_size: d.
      feature_size: F.
      hops: number of key-addressing hops.
      reader: 'bow' (bag of words with position encoding) or 'simple_gru'.
      keep_prob: dropout keep probability of the GRU reader in training.
      seed: seed of the initial weights and of the dropout stream (None:
        non-deterministic).
      name: module name.

    Raises:
      ValueError: naming a bad argument.
    """
    super().__init__(name=name)
    if reader not in READERS:
      raise ValueError(f'reader must be one of {READERS}, got {reader!r}.')
    for arg, value in (('vocab_size', vocab_size),
                       ('sentence_size', sentence_size),
                       ('memory_size', memory_size),
                       ('embedding_size', embedding_size),
                       ('feature_size', feature_size), ('hops', hops)):
      if int(value) != value or value < 1:
        raise ValueError(f'{arg} must be a positive integer, got {value!r}.')
    if not 0. < keep_prob <= 1.:
      raise ValueError(f'keep_prob must be in (0, 1], got {keep_prob!r}.')
    self.vocab_size, self.sentence_size = int(vocab_size), int(sentence_size)
    self.memory_size, self.hops = int(memory_size), int(hops)
    self.embedding_size, self.feature_size = embedding_size, feature_size
    self.reader, self.keep_prob = reader, float(keep_prob)
    if seed is not None:
      tf.random.set_seed(seed)
    glorot = core_lib.glorot_uniform()
    read_size = embedding_size if reader == 'bow' else feature_size

    def embedding(var_name):  # Glorot over the V - 1 real words, nil row 0.
      real = glorot([vocab_size - 1, embedding_size], tf.float32)
      return tf.Variable(
          tf.concat([tf.zeros([1, embedding_size]), real], 0), name=var_name)

    self.W = embedding('W')  # pylint: disable=invalid-name
    self.W_memory = embedding('W_memory')  # pylint: disable=invalid-name
    self.nil_variables = (self.W, self.W_memory)
    self.A = tf.Variable(glorot([feature_size, read_size], tf.float32),  # pylint: disable=invalid-name
                         name='A')
    self.TK = tf.Variable(glorot([memory_size, read_size], tf.float32),  # pylint: disable=invalid-name
                          name='TK')
    self.TV = tf.Variable(glorot([memory_size, read_size], tf.float32),  # pylint: disable=invalid-name
                          name='TV')
    self.R = [tf.Variable(glorot([feature_size, feature_size], tf.float32),  # pylint: disable=invalid-name
                          name=f'R{h}') for h in range(hops)]
    self.B = tf.Variable(glorot([feature_size, embedding_size], tf.float32),  # pylint: disable=invalid-name
                         name='B')
    self.encoding = tf.constant(position_encoding(sentence_size,
                                                  embedding_size))
    if reader == 'simple_gru':
      self.story_gru = snt.GRU(feature_size, name='story_gru')
      self.question_gru = snt.GRU(feature_size, name='question_gru')
    self._dropout_rng = (tf.random.Generator.from_seed(seed)
                         if seed is not None else
                         tf.random.Generator.from_non_deterministic_state())

  def _gru_read(self, gru, embedded, training):
    """Last GRU output over the word axis: [N, J, d] -> [N, F]."""
    state = gru.initial_state(tf.shape(embedded)[0])
    for j in range(self.sentence_size):
      output, state = gru(embedded[:, j], state)
    if training and self.keep_prob < 1.:
      output = tf.nn.experimental.stateless_dropout(
          output, 1. - self.keep_prob,
          seed=self._dropout_rng.make_seeds(1)[:, 0])
    return output

  def read(self, stories, queries, training=False):
    """Sentence and query representations.

    Args:
      stories: int [B, M, J] word ids.
      queries: int [B, J].
      training: dropout of the GRU reader.

    Returns:
      (keys [B, M, r], values [B, M, r], query [B, r]), r = d (bow) or F.
    """
    memory = tf.nn.embedding_lookup(self.W_memory, stories)  # [B, M, J, d]
    query = tf.nn.embedding_lookup(self.W, queries)  # [B, J, d]
    if self.reader == 'bow':
      sentences = tf.reduce_sum(memory * self.encoding, axis=2)
      return sentences, sentences, tf.reduce_sum(query * self.encoding, 1)
    flat = tf.reshape(memory, [-1, self.sentence_size, self.embedding_size])
    sentences = tf.reshape(self._gru_read(self.story_gru, flat, training),
                           [-1, self.memory_size, self.feature_size])
    return sentences, sentences, self._gru_read(self.question_gru, query,
                                                training)

  def address(self, keys, values, query):
    """Key addressing over `hops` hops; returns u [B, F]."""
    u = tf.matmul(query, self.A, transpose_b=True)  # [B, F]
    key_features = tf.matmul(keys + self.TK, self.A, transpose_b=True)
    value_features = tf.matmul(values + self.TV, self.A, transpose_b=True)
    for r in self.R:  # [B, M, F] features are the same at every hop
      scores = tf.reduce_sum(key_features * u[:, None, :], axis=-1)
      probs = tf.nn.softmax(scores, axis=-1)  # [B, M]
      o = tf.reduce_sum(probs[..., None] * value_features, axis=1)
      u = tf.matmul(u + o, r, transpose_b=True)
    return u

  def __call__(self, stories, queries, training=False):
    """Answer logits [B, V] for stories [B, M, J] and queries [B, J]."""
    keys, values, query = self.read(stories, queries, training)
    u = self.address(keys, values, query)
    return tf.matmul(u, tf.matmul(self.B, self.W_memory, transpose_b=True))


def loss(model, logits, labels, l2_lambda):
  """sum_batch softmax-CE + l2_lambda * sum over variables of ||v||^2 / 2.

  Args:
    model: the `KVMemNN` (its trainable variables enter the L2 term).
    logits: [B, V].
    labels: int answer ids [B].
    l2_lambda: weight of the L2 term.

  Returns:
    (loss, cross-entropy sum) scalars.
  """
  cross_entropy = tf.reduce_sum(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                     logits=logits))
  l2 = tf.add_n([tf.nn.l2_loss(v) for v in model.trainable_variables])
  return cross_entropy + l2_lambda * l2, cross_entropy


def process_gradients(model, gradients, max_grad_norm, noise_stddev, rng):
  """The reference's gradient pipeline, per tensor.

  clip_by_norm(g, max_grad_norm) -> g + N(0, noise_stddev^2) (Neelakantan et
  al. 2015) -> zero the nil row (0) of the embedding gradients.

  Args:
    model: the `KVMemNN`.
    gradients: one per `model.trainable_variables` (tensors / IndexedSlices).
    max_grad_norm: per-tensor clipping norm.
    noise_stddev: gradient noise standard deviation (0: none).
    rng: `tf.random.Generator` of the noise.

  Returns:
    Dense gradients, in the same order.
  """
  nil = {id(v) for v in model.nil_variables}
  processed = []
  for g, v in zip(gradients, model.trainable_variables):
    g = tf.clip_by_norm(tf.convert_to_tensor(g), max_grad_norm)
    if noise_stddev:
      g += rng.normal(tf.shape(g), stddev=noise_stddev)
    if id(v) in nil:
      g = tf.concat([tf.zeros_like(g[:1]), g[1:]], axis=0)
    processed.append(g)
  return processed
