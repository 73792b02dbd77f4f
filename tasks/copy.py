"""The Copy task (Park et al. 2021, algorithmic tasks; the authors'
`--mode=Copy`).

Input and output channels: bit_w data channels, then the input flag
(channel bit_w, i.e. -2) and the output flag (channel bit_w + 1, i.e. -1).
One example with L items (L uniform in [min_length, max_length]) has
2(L + 1) steps:

  step 0            input flag
  steps 1..L        the L items: random bit vectors on channels 0..bit_w-1
  step L + 1        output flag
  steps L+2..2L+1   empty inputs; targets are the L items, in order

During the input phase (steps 0..L+1) the targets equal the inputs, which is
what the Memory Refreshing Loss uses; answer_mask is 1 on the L answer
steps and the MRL-eligible steps are the L item steps 1..L.
"""

import numpy as np

from tasks import base
from tasks import example


class CopyTask(example.ExampleTask):
  """Copy-task batches (see module docstring and `tasks.base.Batch`).

  Attributes:
    input_size, output_size: bit_w + 2.
    max_time: 2 (max_length + 1), the longest sequence.
    answer_channels: slice(0, bit_w), the data channels.
    batch_size, p_re, bit_w, min_length, max_length: the flags.
  """

  flag_args = example.ExampleTask.flag_args + ('bit_w',)

  def __init__(self, batch_size=16, bit_w=8, min_length=8, max_length=32,
               p_re=0.0, seed=None):
    """Args are the authors' flags (their defaults); seed: data/MRL seed.

    Raises:
      ValueError: naming the offending flag.
    """
    super().__init__(batch_size, min_length, max_length, p_re, seed)
    self.bit_w = base.check_int('bit_w', bit_w, 1)
    self.input_size = self.output_size = self.bit_w + 2
    self.max_time = 2 * (self.max_length + 1)
    self.answer_channels = slice(0, self.bit_w)

  def _example(self):
    length = self._length()
    time = 2 * (length + 1)
    items = self._bits([length, self.bit_w])
    inputs = np.zeros([time, self.input_size], np.float32)
    inputs[0, self.bit_w] = 1.
    inputs[1:length + 1, :self.bit_w] = items
    inputs[length + 1, self.bit_w + 1] = 1.
    targets = inputs.copy()
    targets[length + 2:, :self.bit_w] = items
    answer = np.zeros([time], bool)
    answer[length + 2:] = True
    eligible = np.zeros([time], bool)
    eligible[1:length + 1] = True
    return example.Example(inputs, targets, answer, eligible)
