"""Tokens, lexicon and story encoding (exactly the DAM authors'
`preprocess.py`).

Tokens: on each line '.' -> ' .', '?' -> ' ?', ',' -> ' '; split on
whitespace; keep the tokens that are alphabetic (`str.isalpha`) plus '.' and
'?'; lower-case. Line ids and the supporting-fact ids are numbers and thus
dropped. A story runs from a line whose id is 1 to the line before the next
id-1 line.

Lexicon: {'<PAD>': 0, '.': 1, '?': 2, '-': 3}, then every word in order of
first sight over ALL the files of the set (train and test). The authors
walked `os.listdir` order, which is arbitrary (their ids depend on the file
system); here the order is FIXED: tasks 1..20 ascending, for each task its
train file, then its test file (a missing train file is skipped;
`tasks.babi.dataset`).

Story encoding: the tokens after the '?' of a question line are its answer
words ('n,s' gives two words n, s); each answer word becomes an input token
'-' (id 3, `ANSWER`) whose target is that word's id. Targets equal the inputs
everywhere else (the Memory Refreshing Loss target of a token is the token
itself). The question mask is 1 on the tokens of each question, from the
first token after the previous '.'- or '?'-terminated sentence (or the
previous answers) up to and including the '?', and 0 on statements and on
the answer '-' tokens.
"""

import hashlib
import json
import re

import numpy as np

from tasks.babi.data import ANSWER
from tasks.babi.data import BASE_LEXICON
from tasks.babi.data import DOT
from tasks.babi.data import QUESTION
from tasks.babi.data import BabiDataError
from tasks.babi.data import Story


def split_line(line):
  """The authors' tokenisation of one line.

  Returns:
    (starts_story, tokens): starts_story is True when the line's id is 1;
    tokens: the kept tokens, lower-cased (words, '.', '?').
  """
  line = line.replace('.', ' .').replace('?', ' ?').replace(',', ' ')
  raw = line.split()
  tokens = [w.lower() for w in raw if w.isalpha() or w == '.' or w == '?']
  return bool(raw) and raw[0] == '1', tokens


_LINE_ID = re.compile(r'[0-9]+')


def line_id(token):
  """The id of a bAbI line from its first token: a positive integer in
  ASCII digits, else None.

  Strict on purpose: `str.isdigit` also accepts digits of other scripts
  ('²', which `int` then refuses; '١' or '３', which `int` reads as 1 and
  3) and `int` accepts '+3' or '0_3'; the official files have none of
  these, so such an id is damage, reported with its file and line.
  """
  if not _LINE_ID.fullmatch(token):
    return None
  number = int(token)
  return number if number >= 1 else None


# What a line must be when it is neither a statement nor a question.
NOT_A_LINE = ('neither a statement ending in "." nor a question "<question>?'
              '<TAB><answer><TAB><supporting ids>" (a line cut short?)')


def line_problem(line):
  """Why a non-blank line is not a bAbI line, or None.

  A bAbI line is '<id> <statement>.' or '<id> <question>?<TAB><answer>
  <TAB><supporting ids>': a positive integer id in ASCII digits
  (`line_id`), then words; a statement ends in '.' (a line cut before it
  would otherwise be read as a shorter statement); a question (a '?')
  needs a TAB-separated answer of at least one word; a TAB only follows a
  question.
  """
  raw = line.split()
  if line_id(raw[0]) is None:
    return (f'expected "<id> <text>" with a positive integer id in ASCII '
            f'digits (0-9), not {raw[0]!r}')
  starts, tokens = split_line(line)
  del starts
  if '?' in tokens:
    if '\t' not in line:
      return ('a question line needs "<question>?<TAB><answer><TAB>'
              '<supporting ids>" (no TAB-separated answer)')
    if tokens.index('?') == len(tokens) - 1:
      return 'a question without an answer'
  elif '\t' in line:
    return 'a TAB-separated answer without a question ("?")'
  elif not [t for t in tokens if t != '.']:
    return 'no words after the line id'
  elif not line.rstrip().endswith('.'):
    return NOT_A_LINE
  return None


def _lines(text):
  return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def build_lexicon(texts):
  """The lexicon of some files' texts, in the given order.

  Args:
    texts: iterable of file contents (str), in the fixed file order.

  Returns:
    dict word -> id: `BASE_LEXICON`, then the words in order of first sight.
  """
  lexicon = dict(BASE_LEXICON)
  for text in texts:
    for line in _lines(text):
      for word in split_line(line)[1]:
        if word not in lexicon:
          lexicon[word] = len(lexicon)
  return lexicon


def _encode_story(lines_tokens, lexicon, task):
  """Encodes the token lists of one story's lines (see the module doc)."""
  inputs, targets, mask = [], [], []
  start = 0  # first token of the current sentence
  for tokens in lines_tokens:
    answers = False
    for word in tokens:
      if answers:
        inputs.append(ANSWER)
        targets.append(lexicon[word])
        mask.append(False)
        start = len(inputs)
        continue
      token = lexicon[word]
      inputs.append(token)
      targets.append(token)
      mask.append(False)
      if token == DOT:
        start = len(inputs)
      elif token == QUESTION:
        mask[start:] = [True] * (len(inputs) - start)
        start = len(inputs)
        answers = True
  return Story(np.array(inputs, np.int32), np.array(targets, np.int32),
               np.array(mask, bool), task)


def encode_file(text, lexicon, task, length_limit=None, name='<text>'):
  """Encodes the stories of one file.

  Args:
    text: the file's contents.
    lexicon: dict word -> id holding every word of `text`.
    task: task number stored in the stories.
    length_limit: keep only stories of <= this many tokens (None: all).
    name: file name for error messages.

  Returns:
    (stories, dropped): the kept `Story`s in file order and the number of
    stories over the limit.

  Raises:
    BabiDataError: a malformed line (`line_problem`: no id, a question
      without an answer, ...; the message gives name:line), text before the
      first story (a line whose id is not 1) or a word missing from the
      lexicon.
  """
  stories, dropped = [], 0
  current = None

  def flush():
    nonlocal dropped
    if current is None:
      return
    story = _encode_story(current, lexicon, task)
    if length_limit is None or len(story.inputs) <= length_limit:
      stories.append(story)
    else:
      dropped += 1

  for number, line in enumerate(_lines(text), 1):
    if not line.strip():
      continue
    problem = line_problem(line)
    if problem:
      raise BabiDataError(f'{name}:{number}: {problem}, got {line[:60]!r}. '
                          f'Fix or replace this bAbI file.')
    starts, tokens = split_line(line)
    if starts:
      flush()
      current = []
    elif current is None:
      raise BabiDataError(f'{name} line {number}: expected a story to start '
                          f'with line id 1, got {line[:60]!r}.')
    current.append(tokens)
  flush()
  return stories, dropped


def num_questions(story):
  return int(np.count_nonzero(story.inputs == QUESTION))


def lexicon_fingerprint(lexicon):
  """A short sha256 of the lexicon's words in id order.

  Saved with a trained model, it tells eval.py whether the data it reads
  give the same token ids as the data the model was trained on.
  """
  words = [w for w, _ in sorted(lexicon.items(), key=lambda item: item[1])]
  return hashlib.sha256(json.dumps(words).encode()).hexdigest()[:16]
