"""What XLA's kernels compute, from the optimized HLO it dumps as text.

`bench/profile_step.py` names kernels by XLA's instruction names (`MatMul.137`,
`bitcast_dot_fusion.1`); these map them to the TensorFlow op each comes from
and its output shape, which is what to compare between machines.
"""

import os
import re

# An instruction of an optimized HLO module as XLA dumps it as text:
#   [ROOT] %name = f32[32,1024]{1,0} dot(...), ..., metadata={op_type="MatMul"
#   op_name="model/while/dam/MatMul" ...}
_HLO_LINE = re.compile(r'^\s*(?:ROOT )?%([\w.\-]+) = (\([^=]*?\)|\S+) ')
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def short_op_name(name):
  """A TensorFlow op name from HLO metadata, shortened: the backward pass's
  prefix ('gradient_tape/.../gradients/') as 'grad/', the while loops'
  frames ('model/while/', 'while/') dropped."""
  backward = name.startswith('gradient_tape/')
  name = re.sub(r'^gradient_tape/', '', name)
  name = re.sub(r'^(?:[\w.\-]+/)*?while(?:_\d+)?/gradients/', '', name)
  name = re.sub(r'(?:^|(?<=/))(?:[\w.\-]+/)?while(?:_\d+)?/', '', name)
  return ('grad/' if backward else '') + name


def ops_of_dumps(paths):
  """{instruction name: (short op name, shape)} from XLA's text dumps of
  optimized modules (`*after_optimizations.txt`); a name in several modules
  takes the largest module's entry (the step, not its small helpers)."""
  ops = {}
  for path in sorted(paths, key=os.path.getsize):
    with open(path) as f:
      for line in f:
        match = _HLO_LINE.match(line)
        if match:
          name, shape = match.groups()
          op_name = _OP_NAME.search(line)
          ops[name] = (short_op_name(op_name.group(1)) if op_name else '',
                       re.sub(r'\{[^}]*\}', '', shape))
  return ops
