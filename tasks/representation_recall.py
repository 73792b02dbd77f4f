"""The Representation Recall task (Park et al. 2021, algorithmic tasks;
`--mode=RepresentationRecall`).

Each of the num_bit stored items is a bit_w-bit vector made of N segments of
seg_w = bit_w / N bits (each segment a seg_w-bit binary number, most
significant bit first). As in the authors' batch builder (Park et al. 2021,
their `loader.RepresentationRecall`), for every segment position the num_bit
values are drawn without repetition from 1 .. 2**seg_w - 2 (never all zeros,
never all ones) and SORTED ascending over the items: item i holds the i-th
smallest value of every segment (their `np.unique` returns the values
sorted). So any N/2 visible segments identify an item, a zeroed (hidden)
segment never looks like a visible one, and the item order is visible in
every segment.

Input channels: bit_w data channels, the input flag (channel bit_w, -2) and
the query flag (channel bit_w + 1, -1); output channels: bit_w / 2. One
example with l queries (l uniform in [min_length, max_length]) has
num_bit + 2 + l steps:

  step 0                      input flag
  steps 1..num_bit            the items, one per step
  step num_bit + 1            query flag
  steps num_bit+2..           l queries: a stored item (uniform choice) with
                              a random half (N/2) of its segments zeroed;
                              target: the hidden segments' bits concatenated
                              in ascending segment order (bit_w / 2 bits).

answer_mask is 1 on the l query steps; targets are zero elsewhere (outputs
are narrower than inputs). The task has no Memory Refreshing Loss: p_re must
be 0, so refresh_mask is all zeros.
"""

import numpy as np

from tasks import base
from tasks import example

# Segment widths up to this many bits draw their unique values with
# `Generator.choice` on integers (int64-safe); wider ones by rejection.
_MAX_CHOICE_BITS = 62


class RepresentationRecallTask(example.ExampleTask):
  """Representation-recall batches (see module docstring, `tasks.base.Batch`).

  Attributes:
    input_size: bit_w + 2.
    output_size: bit_w // 2.
    segment_size: bit_w // N bits per segment.
    max_time: num_bit + 2 + max_length, the longest sequence.
    answer_channels: slice(0, bit_w // 2), all output channels.
    batch_size, p_re (always 0), N, bit_w, num_bit, min_length, max_length:
      the flags (min_length / max_length bound the number of queries).
  """

  flag_args = example.ExampleTask.flag_args + ('N', 'bit_w', 'num_bit')

  def __init__(self, batch_size=16, N=8, bit_w=64, num_bit=8, min_length=8,
               max_length=16, p_re=0.0, seed=None):  # pylint: disable=invalid-name
    """Args are the authors' flags (their defaults); seed: data seed.

    Raises:
      ValueError: naming the offending flag: N must be even (>= 2), bit_w
        divisible by N, num_bit <= 2**(bit_w / N) - 2 (unique segment values
        other than all zeros and all ones),
        p_re = 0 (no MRL for this task).
    """
    super().__init__(batch_size, min_length, max_length, p_re, seed)
    if self.p_re != 0.:
      raise ValueError(
          f'p_re ({self.p_re}) must be 0 for RepresentationRecall: this task '
          f'has no Memory Refreshing Loss (the authors\' command passes no '
          f'--p_re). Run with --p_re=0.')
    self.N = base.check_int('N', N, 2)  # pylint: disable=invalid-name
    if self.N % 2:
      raise ValueError(f'N ({self.N}) must be even: each query hides half '
                       f'(N/2) of the segments.')
    self.bit_w = base.check_int('bit_w', bit_w, 1)
    if self.bit_w % self.N:
      raise ValueError(f'bit_w ({self.bit_w}) must be divisible by N '
                       f'({self.N}): each item is N segments of bit_w/N bits.')
    self.num_bit = base.check_int('num_bit', num_bit, 1)
    self.segment_size = self.bit_w // self.N
    if self.num_bit > 2 ** self.segment_size - 2:
      raise ValueError(
          f'num_bit ({self.num_bit}) must be <= 2**(bit_w/N) - 2 = '
          f'{2 ** self.segment_size - 2}: segment values are unique across '
          f'the items and are never all zeros or all ones. Lower --num_bit, '
          f'or raise --bit_w or lower --N.')
    self.input_size = self.bit_w + 2
    self.output_size = self.bit_w // 2
    self.max_time = self.num_bit + 2 + self.max_length
    self.answer_channels = slice(0, self.output_size)

  def _segment_values(self):
    """[num_bit, N, segment_size] bits: per segment, num_bit distinct values
    from 1 .. 2**segment_size - 2, ascending over the items (item i holds the
    i-th smallest value of every segment; see the module docstring)."""
    width, count = self.segment_size, self.num_bit
    if width <= _MAX_CHOICE_BITS:
      values = np.stack(
          [np.sort(self._rng.choice(2 ** width - 2, size=count,
                                    replace=False) + 1)
           for _ in range(self.N)], axis=1)  # [num_bit, N]
      shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
      return ((values[..., None] >> shifts) & 1).astype(np.float32)
    segments = []  # 2**width > 2**62 values: draw bits, reject (very rare).
    for _ in range(self.N):
      while True:
        bits = self._bits([count, width])
        ones = bits.sum(axis=1)
        if (len(np.unique(bits, axis=0)) == count and ones.min() > 0 and
            ones.max() < width):
          break
      # Ascending binary value = lexicographic order, first bit first.
      segments.append(bits[np.lexsort(bits.T[::-1])])
    return np.stack(segments, axis=1)

  def _example(self):
    num_queries = self._length()
    segments = self._segment_values()  # [num_bit, N, seg]
    chosen = self._rng.integers(0, self.num_bit, size=num_queries)  # [l]
    order = self._rng.permuted(
        np.tile(np.arange(self.N), (num_queries, 1)), axis=1)
    hidden_ids = np.sort(order[:, :self.N // 2], axis=1)  # [l, N/2]
    hidden = np.zeros([num_queries, self.N], bool)
    np.put_along_axis(hidden, hidden_ids, True, axis=1)
    queries = segments[chosen] * ~hidden[..., None]  # [l, N, seg]
    answers = np.take_along_axis(segments[chosen], hidden_ids[..., None],
                                 axis=1)  # [l, N/2, seg]

    start = self.num_bit + 2  # first query step
    time = start + num_queries
    inputs = np.zeros([time, self.input_size], np.float32)
    inputs[0, self.bit_w] = 1.
    inputs[1:self.num_bit + 1, :self.bit_w] = segments.reshape(
        self.num_bit, self.bit_w)
    inputs[self.num_bit + 1, self.bit_w + 1] = 1.
    inputs[start:, :self.bit_w] = queries.reshape(num_queries, self.bit_w)
    targets = np.zeros([time, self.output_size], np.float32)
    targets[start:] = answers.reshape(num_queries, self.output_size)
    answer = np.zeros([time], bool)
    answer[start:] = True
    return example.Example(inputs, targets, answer, np.zeros([time], bool))
