"""README's Python examples ("Using the cores") run as written: the forward
unroll of the authors' Copy core, and one training step with the Memory
Refreshing Loss, whose loss is finite and falls when the step is repeated."""

import io
import math
import os
import re
from contextlib import redirect_stdout

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
  """The ```python blocks of README's "Using the cores" section, in order."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    readme = f.read()
  section = re.search(r'^## Using the cores\n(.*?)(?=^## |\Z)', readme,
                      re.S | re.M)
  assert section, 'README has no section "## Using the cores"'
  return re.findall(r'^```python\n(.*?)^```', section.group(1), re.S | re.M)


def _run(block):
  """Runs a block in a fresh namespace; returns (namespace, its output)."""
  namespace = {'__name__': '__readme__'}
  out = io.StringIO()
  with redirect_stdout(out):
    exec(compile(block, 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  return namespace, out.getvalue()


def test_readme_shows_a_forward_and_a_training_example():
  blocks = _python_blocks()
  assert len(blocks) == 2, blocks
  forward, training = blocks
  assert 'dam.unroll(' in forward and 'compile_unroll(' in forward
  for name in ('p_re=', 'task.loss(', 'tf.GradientTape',
               'optimizers.make_optimizer(', 'optimizer.apply('):
    assert name in training, name


@pytest.mark.slow  # XLA compilations of the authors' sizes
def test_readme_forward_example_runs():
  namespace, _ = _run(_python_blocks()[0])
  assert tuple(namespace['outputs'].shape) == (16, 30, 10)


def test_readme_training_step_runs_and_its_loss_falls():
  namespace, out = _run(_python_blocks()[1])
  printed = re.fullmatch(r'loss (\S+)\n', out)
  assert printed, out
  assert math.isfinite(float(printed.group(1)))
  assert namespace['task'].p_re > 0  # the MRL is on
  # The same step again on the batch: the loss without dropout falls.
  dam, task, core, batch = (namespace[name]
                            for name in ('dam', 'task', 'core', 'batch'))

  def loss():
    logits, _ = dam.unroll(core, batch.inputs, batch.seq_len)
    return float(task.loss(logits, batch)['loss'])

  before = loss()
  for _ in range(8):
    metrics = namespace['train_step'](batch)
    assert math.isfinite(float(metrics['loss']))
  after = loss()
  assert math.isfinite(before) and after < before, (before, after)
