"""The Associative Recall task (Park et al. 2021, algorithmic tasks; the
authors' `--mode=AssociativeRecall`).

Input and output channels: bit_w data channels, then delimiter channels
bit_w (-2, item delimiter) and bit_w + 1 (-1, query delimiter). An item is
item_bit + 1 steps: a delimiter step on channel -2, then item_bit random bit
vectors. One example with n items (n uniform in [min_length, max_length],
min_length >= 2) has (n + 2) * (item_bit + 1) steps:

  the n items, one after the other;
  a channel -1 delimiter, then a copy of item q's item_bit vectors
    (q uniform in [0, n - 2]: never the last item);
  another channel -1 delimiter, then item_bit empty steps whose targets are
    item q + 1's vectors (answer_mask = 1 on these item_bit steps).

Before the answer the targets equal the inputs (for the Memory Refreshing
Loss). MRL-eligible steps: the stored items' bit-vector steps only (not the
delimiters, not the final 2 * (item_bit + 1) query/answer steps).
"""

import numpy as np

from tasks import base
from tasks import example


class AssociativeRecallTask(example.ExampleTask):
  """Associative-recall batches (see module docstring, `tasks.base.Batch`).

  Attributes:
    input_size, output_size: bit_w + 2.
    item_size: item_bit + 1 steps per item.
    max_time: (max_length + 2) * (item_bit + 1), the longest sequence.
    answer_channels: slice(0, bit_w), the data channels.
    batch_size, p_re, bit_w, item_bit, min_length, max_length: the flags.
  """

  flag_args = example.ExampleTask.flag_args + ('bit_w', 'item_bit')

  def __init__(self, batch_size=16, bit_w=8, item_bit=3, min_length=2,
               max_length=8, p_re=0.0, seed=None):
    """Args are the authors' flags (their defaults); seed: data/MRL seed.

    Raises:
      ValueError: naming the offending flag (min_length must be >= 2: the
        queried item needs a successor).
    """
    super().__init__(batch_size, min_length, max_length, p_re, seed,
                     min_length_floor=2)
    self.bit_w = base.check_int('bit_w', bit_w, 1)
    self.item_bit = base.check_int('item_bit', item_bit, 1)
    self.item_size = self.item_bit + 1
    self.input_size = self.output_size = self.bit_w + 2
    self.max_time = (self.max_length + 2) * self.item_size
    self.answer_channels = slice(0, self.bit_w)

  def _example(self):
    num_items = self._length()
    query = int(self._rng.integers(0, num_items - 1))  # in [0, n - 2]
    items = self._bits([num_items, self.item_bit, self.bit_w])
    size, bit_w = self.item_size, self.bit_w
    time = (num_items + 2) * size
    inputs = np.zeros([time, self.input_size], np.float32)
    eligible = np.zeros([time], bool)
    for k in range(num_items):
      inputs[k * size, bit_w] = 1.
      inputs[k * size + 1:(k + 1) * size, :bit_w] = items[k]
      eligible[k * size + 1:(k + 1) * size] = True
    start = num_items * size  # the query item
    inputs[start, bit_w + 1] = 1.
    inputs[start + 1:start + size, :bit_w] = items[query]
    inputs[start + size, bit_w + 1] = 1.
    targets = inputs.copy()
    targets[start + size + 1:, :bit_w] = items[query + 1]
    answer = np.zeros([time], bool)
    answer[start + size + 1:] = True
    return example.Example(inputs, targets, answer, eligible)
