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
  fixed_examples = True
  has_subtasks = True
  sequence_picture = False  # token ids: the answers picture instead
  picture = 'babi_answers'
  data = None  # a reopened task's `BabiData` (`reopen`)

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

  # -- a saved run's task (`tasks.base.Task.reopen`) ---------------------------

  @classmethod
  def reopen(cls, settings, seed=0, data_dir=None):
    """The task of a saved run over the test stories of its data: the set
    settings['babi_set'] in `data_dir` (None: the run's settings['data_dir']
    if the set is there, else the default folder, `source.run_data_dir`),
    which must give the lexicon the run trained with
    (settings['lexicon_sha']). settings['cache_dir']: where the cache goes;
    settings['download']: fetch the official archive into the folder read
    when no data is there.

    Raises:
      ValueError: the data cannot be read or give another lexicon.
    """
    from tasks.babi import cache  # pylint: disable=import-outside-toplevel
    from tasks.babi import encoding  # pylint: disable=import-outside-toplevel
    from tasks.babi import source  # pylint: disable=import-outside-toplevel
    from tasks.babi.data import DEFAULT_DIR  # pylint: disable=import-outside-toplevel
    from tasks.babi.data import BabiDataError  # pylint: disable=import-outside-toplevel
    set_name, download = settings['babi_set'], bool(settings.get('download'))
    if not data_dir:
      recorded = settings.get('data_dir')
      data_dir = source.run_data_dir(recorded, set_name)
      if data_dir is None and not download:
        raise ValueError(source.no_run_data_message(recorded, set_name))
      data_dir = data_dir or DEFAULT_DIR  # --download fetches it there
    try:
      data = cache.load(data_dir, set_name,
                        length_limit=settings.get('length_limit',
                                                  LENGTH_LIMIT),
                        download=download,
                        cache_dir=settings.get('cache_dir'))
    except BabiDataError as e:
      raise ValueError(str(e)) from None
    if encoding.lexicon_fingerprint(data.lexicon) != settings.get(
        'lexicon_sha'):
      raise ValueError(
          f'The bAbI data in {data_dir} give another lexicon than the one '
          f'the run was trained with: pass the --data_dir of its training '
          f'data.')
    stories = [story for t in sorted(data.test)
               for story in data.test[t].stories]
    if not stories:
      raise ValueError(f'The bAbI data in {data_dir} have no test stories.')
    task = cls(stories, data.vocab_size, 1, seed=seed,
               max_time=data.length_limit)
    task.data = data
    return task

  def example(self, index=None, seed=0, subtask=None):
    """Test story `index` of tasks 1..20 in order, or of task `subtask`
    (None: one picked with `seed`); info: its 'lexicon' (id -> word) and
    'question_mask'."""
    from tasks.babi import grading  # pylint: disable=import-outside-toplevel
    data = self.data
    if subtask is not None and subtask not in data.test:
      raise ValueError(f'--babi_task={subtask}: the test data have tasks '
                       f'{sorted(data.test)}.')
    listed = [(t, i) for t in sorted(data.test)
              if subtask is None or t == subtask
              for i in range(len(data.test[t].stories))]
    what = ('the bAbI test stories' if subtask is None else
            f'bAbI task {subtask}\'s test stories')
    t, i = listed[base.pick(index, len(listed), what, seed)]
    story = data.test[t].stories[i]
    batch = grading.test_batches([story], 1)[0]
    words = {i: w for w, i in data.lexicon.items()}
    return batch, f'task{t}-{i}', dict(
        description=f'bAbI task {t} ({data.task_names[t]}) test story {i}',
        lexicon=words, question_mask=np.asarray(story.question_mask, bool))

  def activate(self, logits):
    """The softmax over the lexicon."""
    return base.softmax(logits)

  def picture_arrays(self, batch, info, logits):
    """`damrun.plots.babi_answers_figure`'s questions (each with the
    predicted and the true answer words) and, under 'memory', the memory
    figure's time labels (the story's tokens, '-> word' at each answer step
    with the predicted word), question spans and answer marks."""
    length = int(batch.seq_len[0])
    lexicon = info['lexicon']
    tokens = batch.inputs[0, :length]
    words = [lexicon.get(int(i), '?') for i in tokens]
    answers = np.flatnonzero(tokens == ANSWER)
    spans = _runs(info['question_mask'][:length])
    predicted = logits.argmax(-1)
    questions = []
    for start, end in spans:
      after = answers[answers >= end]
      next_question = [s for s, _ in spans if s > start]
      stop = next_question[0] if next_question else length
      steps = after[after < stop]
      questions.append(dict(
          question=' '.join(words[start:end]),
          target=','.join(lexicon[int(batch.targets[0, s])] for s in steps),
          predicted=','.join(lexicon.get(int(predicted[s]), '?')
                             for s in steps)))
    # On the time axis each answer step '-' shows the predicted word.
    labels = list(words)
    for step in answers:
      labels[step] = '-> ' + lexicon.get(int(predicted[step]), '?')
    return dict(questions=questions, memory=dict(
        time_labels=labels, spans=spans, marks=list(answers)))

  @classmethod
  def synthetic(cls, batch_size, seed=0, time=200, vocab_size=160, **args):
    """A task over `batch_size` stories of exactly `time` random tokens of a
    `vocab_size`-word lexicon, one answer token in ten (bench/: the cost
    does not depend on the words)."""
    from tasks.babi.data import Story  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(seed)
    t, v = time, vocab_size
    stories = []
    for _ in range(batch_size):
      inputs = rng.integers(ANSWER + 1, v, size=t).astype(np.int32)
      answers = rng.random(t) < 0.1
      inputs[answers] = ANSWER
      targets = np.where(answers, rng.integers(ANSWER + 1, v, size=t),
                         inputs).astype(np.int32)
      stories.append(Story(inputs, targets, np.zeros(t, bool), 1))
    return cls(stories, v, batch_size, seed=seed, max_time=t, **args)


def _runs(mask):
  """(start, end) of the runs of True in a bool [T]."""
  edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
