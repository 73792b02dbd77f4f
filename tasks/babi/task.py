"""bAbI training batches and their loss (the DAM authors' `loader.py`,
`BAbIBatchGenerator`).

The training stories of all tasks together, shuffled with the task's seeded
`np.random.default_rng` at construction and after every epoch;
`steps_per_epoch = len(stories) // batch_size` (the remainder of an epoch is
not used, as in the authors' loader). A `tasks.base.Batch` holds int32 token
ids (not one-hot):

  inputs        int32   [B, T]   token ids, 0 (<PAD>) past each story's end
  targets       int32   [B, T]   = inputs, except the answer word at '-'
  seq_len       int32   [B]
  answer_mask   float32 [B, T]   1 at the answer ('-') tokens
  refresh_mask  float32 [B, T]   1 at the tokens the MRL sampled

Memory Refreshing Loss (Park et al. 2021), two variants chosen by
`reproduce_quirks` (flag --reproduce_quirks, default True); both draw one
uniform per [B, T] element (`dam.mrl.sample_refresh_mask`), so the random
stream, and the data, are the same in both:
  * True, the authors' loader (`BAbIBatchGenerator`) as it ran: every
    non-padding token but '.' is sampled with probability p_re, except in
    batch rows 0 and 1 (their question exclusion
    `weights_vec[question_mask] = 0.0` indexed with an INTEGER 0/1 array,
    which selects ROWS 0 and 1: it zeroed the first two examples and left
    question tokens refreshable). Sampled answer '-' tokens are in
    refresh_mask: they count in alpha = #sampled / #answers
    (`dam.mrl.authors_babi_answer_weight`, without a max(1, .) floor) but are
    trained as answers only (`dam.mrl.step_weights`); with p_re = 0 alpha
    is 1 (their loader skipped the MRL).
  * False, the corrected loss: eligible tokens are not padding, not in a
    question (question mask), not '.' and not an answer '-'; alpha =
    max(1, #sampled / #answers) (`dam.mrl.answer_weight`), as for the
    algorithmic tasks.
With p_re = 0 the loss is the plain answer loss in both.
"""

import numpy as np

from dam import losses
from dam import mrl
from tasks import base
from tasks.babi.data import ANSWER
from tasks.babi.data import DOT
from tasks.babi.data import LENGTH_LIMIT
from tasks.babi.data import PAD


def pad_stories(stories):
  """Pads stories to the longest: (inputs, targets, question_mask, seq_len).

  inputs / targets int32 [B, T] (0 past the end), question_mask bool [B, T],
  seq_len int32 [B].
  """
  seq_len = np.array([len(s.inputs) for s in stories], np.int32)
  shape = [len(stories), int(seq_len.max()) if len(stories) else 0]
  inputs = np.zeros(shape, np.int32)
  targets = np.zeros(shape, np.int32)
  qmask = np.zeros(shape, bool)
  for b, s in enumerate(stories):
    inputs[b, :seq_len[b]] = s.inputs
    targets[b, :seq_len[b]] = s.targets
    qmask[b, :seq_len[b]] = s.question_mask
  return inputs, targets, qmask, seq_len


def refresh_eligible(inputs, question_mask):
  """MRL-eligible steps of the corrected loss: not padding, not a question
  token, not '.', not an answer '-'. bool [B, T]."""
  inputs = np.asarray(inputs)
  return ((inputs != PAD) & ~np.asarray(question_mask, bool) &
          (inputs != DOT) & (inputs != ANSWER))


def authors_refresh_eligible(inputs):
  """The tokens the authors' loader could sample, bool [B, T]: not padding,
  not '.', and not in batch rows 0 and 1 (see the module docstring); answer
  '-' and question tokens included ('-' samples count in alpha only)."""
  inputs = np.asarray(inputs)
  rows = np.arange(inputs.shape[0])[:, None]
  return (inputs != PAD) & (inputs != DOT) & (rows >= 2)


class BabiTask(base.Task):
  """Training batches of bAbI stories and their MRL loss (module docstring).

  Attributes:
    batch_size, p_re: as given.
    vocab_size, input_size, output_size: the vocabulary size V (the inputs
      are token ids that the model embeds).
    max_time: the longest possible story (the length limit).
    reproduce_quirks: the authors' MRL (True) or the corrected one.
    steps_per_epoch: len(stories) // batch_size.
    epoch: completed epochs = the epoch the next batch comes from.
    position: batches already taken from the current epoch.
    report_metrics: (('reported_loss', 'answer_loss'),
      ('answer_accuracy', 'acc')).
  """

  report_metrics = (('reported_loss', 'answer_loss'),
                    ('answer_accuracy', 'acc'))

  def __init__(self, stories, vocab_size, batch_size, p_re=0., seed=None,
               max_time=LENGTH_LIMIT, reproduce_quirks=True):
    """Shuffles the stories for epoch 0.

    Args:
      stories: list of `Story` (e.g. `BabiData.train`).
      vocab_size: V (input_size = output_size = V).
      batch_size: B, 1 <= B <= len(stories).
      p_re: refreshing probability in [0, 1].
      seed: seed of the task's `np.random.default_rng` (None: OS entropy).
      max_time: the longest possible story (for padding caps).
      reproduce_quirks: the authors' MRL (True) or the corrected one
        (see the module docstring).

    Raises:
      ValueError: naming a bad argument.
    """
    super().__init__(batch_size, p_re, seed)
    self.vocab_size = self.input_size = self.output_size = base.check_int(
        'vocab_size', vocab_size, 4)
    self.max_time = base.check_int('max_time', max_time, 1)
    self.reproduce_quirks = bool(reproduce_quirks)
    self.stories = list(stories)
    if len(self.stories) < self.batch_size:
      raise ValueError(f'batch_size ({self.batch_size}) must be <= the number '
                       f'of training stories ({len(self.stories)}).')
    self.steps_per_epoch = len(self.stories) // self.batch_size
    self.epoch = 0
    self.position = 0
    self._order = self._rng.permutation(len(self.stories))

  @classmethod
  def from_data(cls, data, batch_size, p_re=0., seed=None,
                reproduce_quirks=True):
    """A task over `data.train` (a `BabiData`), max_time = its limit."""
    return cls(data.train, data.vocab_size, batch_size, p_re, seed,
               data.length_limit, reproduce_quirks)

  def next_batch(self):
    """The next training `Batch` (see the module doc)."""
    b = self.batch_size
    picked = self._order[self.position * b:(self.position + 1) * b]
    inputs, targets, qmask, seq_len = pad_stories(
        [self.stories[i] for i in picked])
    answer_mask = (inputs == ANSWER).astype(np.float32)
    if self.reproduce_quirks:
      eligible = authors_refresh_eligible(inputs)
    else:
      eligible = refresh_eligible(inputs, qmask)
    refresh_mask = mrl.sample_refresh_mask(eligible, self.p_re, self._rng)
    self.position += 1
    if self.position >= self.steps_per_epoch:
      self.epoch += 1
      self.position = 0
      self._order = self._rng.permutation(len(self.stories))
    return base.Batch(inputs, targets, seq_len, answer_mask, refresh_mask)

  def answer_weight(self, batch):
    """alpha of a batch (of tensors): `dam.mrl.authors_babi_answer_weight`
    (reproduce_quirks) or `dam.mrl.answer_weight`; a float32 scalar."""
    if self.reproduce_quirks:
      return mrl.authors_babi_answer_weight(batch.refresh_mask,
                                            batch.answer_mask, self.p_re)
    return mrl.answer_weight(batch.refresh_mask, batch.answer_mask)

  def loss(self, logits, batch):
    """The MRL-weighted softmax cross-entropy over the lexicon, per token.

    loss = sum_{B,T}(w * CE) / (B * T), w = 1 at refreshed tokens (whose
    target is the token itself), alpha at answer tokens (sampled answer
    tokens of the authors' loader count as answers), 0 elsewhere
    (`dam.mrl.single_output_loss`).

    Args:
      logits: [B, T, V].
      batch: `tasks.base.Batch` of tensors (int32 token ids).

    Returns:
      dict(loss, reported_loss (CE per answer token, the authors' printed
      loss), answer_accuracy (argmax right, per answer token)).
    """
    per_step = losses.sparse_softmax_cross_entropy(logits, batch.targets)
    loss = mrl.single_output_loss(per_step, batch.refresh_mask,
                                  batch.answer_mask, batch.seq_len,
                                  self.answer_weight(batch),
                                  overlap=self.reproduce_quirks)
    return dict(loss=loss, **losses.token_metrics(
        logits, batch.targets, per_step, batch.answer_mask))

  def progress(self):
    """Epochs done: epoch + position / steps_per_epoch."""
    return self.epoch + self.position / self.steps_per_epoch

  def get_state(self):
    """JSON-serialisable: rng state, epoch, position, permutation."""
    return {'rng': self._rng.bit_generator.state, 'epoch': self.epoch,
            'position': self.position,
            'permutation': [int(i) for i in self._order]}

  def set_state(self, state):
    """Restores a `get_state()` dict; the batch stream continues exactly.

    Raises:
      ValueError: not a state of a task over the same number of stories.
    """
    try:
      epoch, position = int(state['epoch']), int(state['position'])
      order = np.asarray(state['permutation'], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f'Not a BabiTask state (expected a dict from '
                       f'get_state()): {e}') from e
    n = len(self.stories)
    if order.shape != (n,) or not np.array_equal(np.sort(order),
                                                 np.arange(n)):
      raise ValueError(f'The state\'s permutation is not a permutation of '
                       f'the {n} training stories (another data set?).')
    if not 0 <= position < self.steps_per_epoch or epoch < 0:
      raise ValueError(f'Bad state position {position} / epoch {epoch} '
                       f'({self.steps_per_epoch} steps per epoch).')
    super().set_state(state)
    self.epoch, self.position, self._order = epoch, position, order
