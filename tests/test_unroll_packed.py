"""Tests of `dam.unroll.unroll_packed`: rows dropped from the time loop as
their sequences end, against the plain unroll.

The same outputs and the same gradients (float64, DAM with dropout and the
DNC, eagerly, in `tf.function` and under XLA, weight gradients summed in the
loop and after it), on lengths that exercise every window: unequal, equal,
zero, one step, a window of no live row; known row counts; a whole training
step of the bAbI model through `SequenceModel(row_levels=...)`.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import dam
from dam import model as model_lib


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The compiled cases (tf.function, XLA) run in a fresh interpreter, started
# by `test_compiled_cases_in_a_fresh_process`: run after several hundred
# other tests in one process, one of them crashed the interpreter
# (segmentation fault in libpython while executing the compiled function;
# never in a fresh process, nor in training runs).
_FRESH = os.environ.get('DAM_TEST_FRESH_PROCESS') == '1'
compiled = pytest.mark.skipif(
    not _FRESH, reason='run in a fresh process by '
    'test_compiled_cases_in_a_fresh_process')


def _core(use_dam):
  common = dict(output_size=3, hidden_size=6, memory_size=5, word_size=3,
                num_reads=2, dtype=tf.float64)
  if use_dam:
    return dam.DAM(num_blocks=2, keep_prob=0.8, seed=3, **common)
  return dam.DNC(num_writes=2, **common)


@pytest.mark.parametrize('batch, levels, expected', [
    (32, 3, (32, 8, 2)), (32, 1, (32,)), (5, 4, (5, 1)),
    (1, 3, (1,)), (64, 10, (64, 16, 4, 1))])
def test_row_levels_known_answers(batch, levels, expected):
  assert dam.row_levels(batch, levels) == expected


def _outputs_and_gradients(core, x, lengths, noise, packed, mode, levels,
                           after_loop):
  def run():
    with tf.GradientTape() as tape:
      if packed:
        y = dam.unroll_packed(
            core, x, lengths, training=True, levels=levels,
            dropout_noise=noise, weight_gradients_after_loop=after_loop)
      else:
        y, _ = dam.unroll(core, x, lengths, training=True,
                          freeze_finished=False, dropout_noise=noise,
                          weight_gradients_after_loop=after_loop)
      loss = tf.reduce_sum(tf.sin(y) * tf.range(1., 4., dtype=tf.float64))
    return y, tape.gradient(loss, core.trainable_variables)
  if mode == 'eager':
    return run()
  return tf.function(run, jit_compile=mode == 'xla')()


LENGTHS = {
    'unequal': [9, 8, 2, 5, 4, 0, 6, 8],   # one empty
    'equal': [7, 7, 7, 7, 7, 7, 7, 7],     # narrow windows run past the end
    'short': [1, 0, 0, 1, 0, 0, 0, 1],     # one step at most
    'one_long': [9, 1, 1, 1, 1, 1, 1, 1],
}
# Every case eagerly, both memories, weight gradients in and after the loop;
# compiled (each case compiles twice, ~20 s under XLA), the unequal lengths
# in every combination and the edge cases once each.
_BOTH = [(use_dam, after) for use_dam in (True, False)
         for after in (False, True)]
CASES = ([(use_dam, 'eager', name, after) for name in LENGTHS
          for use_dam, after in _BOTH] +
         [(use_dam, mode, 'unequal', after) for mode in ('function', 'xla')
          for use_dam, after in _BOTH] +
         [(True, 'xla', 'equal', False), (False, 'xla', 'short', True)])


def _case_id(case):
  use_dam, mode, lengths_name, after = case
  return (f'{"dam" if use_dam else "dnc"}-{mode}-{lengths_name}-'
          f'{"after" if after else "in"}')


@pytest.mark.parametrize('use_dam, mode, lengths_name, after_loop', CASES,
                         ids=[_case_id(c) for c in CASES])
def test_packed_equals_plain_unroll(use_dam, mode, lengths_name, after_loop):
  if mode != 'eager' and not _FRESH:
    pytest.skip('run in a fresh process by '
                'test_compiled_cases_in_a_fresh_process')
  lengths = LENGTHS[lengths_name]
  core = _core(use_dam)
  dam.build(core, 2, tf.float64)
  rng = np.random.default_rng(sum(lengths))
  x = tf.constant(rng.normal(size=[8, 9, 2]))
  lengths = tf.constant(lengths, tf.int32)
  noise = (tf.cast(core.dropout_noise(9, 8), tf.float64) if use_dam
           else None)
  plain = _outputs_and_gradients(core, x, lengths, noise, False, mode, 4,
                                 after_loop)
  packed = _outputs_and_gradients(core, x, lengths, noise, True, mode, 4,
                                  after_loop)
  np.testing.assert_allclose(packed[0], plain[0], rtol=0, atol=1e-13)
  # Past each sequence's end the outputs are exactly zero.
  steps = np.arange(9)[None, :] >= lengths.numpy()[:, None]
  assert np.all(packed[0].numpy()[steps] == 0)
  for v, a, b in zip(core.trainable_variables, packed[1], plain[1]):
    assert a is not None, v.name
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=v.name)


@compiled
@pytest.mark.parametrize('levels', [1, 3])
def test_packed_equals_plain_at_every_level_count_under_xla(levels):
  core = _core(True)
  dam.build(core, 2, tf.float64)
  rng = np.random.default_rng(7)
  x = tf.constant(rng.normal(size=[6, 11, 2]))
  lengths = tf.constant([3, 11, 5, 0, 10, 2], tf.int32)
  noise = tf.cast(core.dropout_noise(11, 6), tf.float64)
  plain = _outputs_and_gradients(core, x, lengths, noise, False, 'xla',
                                 levels, None)
  packed = _outputs_and_gradients(core, x, lengths, noise, True, 'xla',
                                  levels, None)
  np.testing.assert_allclose(packed[0], plain[0], rtol=0, atol=1e-13)
  for a, b in zip(packed[1], plain[1]):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_a_dynamic_batch_is_refused():
  core = _core(False)
  dam.build(core, 2, tf.float64)

  @tf.function(input_signature=[tf.TensorSpec([None, 4, 2], tf.float64),
                                tf.TensorSpec([None], tf.int32)])
  def run(x, lengths):
    return dam.unroll_packed(core, x, lengths)

  with pytest.raises(ValueError, match='static batch size'):
    run(tf.zeros([2, 4, 2], tf.float64), tf.constant([4, 2]))


@compiled
@pytest.mark.parametrize('use_dam', [True, False], ids=['dam', 'dnc'])
def test_training_steps_of_the_token_model_keep_equal_parameters(use_dam):
  """Three XLA training steps of an embedded model (bAbI's shape) with the
  packed loop leave the parameters equal to the plain loop's (float32
  rounding); evaluation calls never pack."""
  from dam import optimizers  # pylint: disable=import-outside-toplevel
  from damrun import steps  # pylint: disable=import-outside-toplevel
  from tasks import base  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(11)
  lengths = np.array([12, 3, 7, 12, 1, 9, 5, 2], np.int32)
  inputs = rng.integers(3, 20, size=[8, 12]).astype(np.int32)
  inputs[np.arange(12)[None, :] >= lengths[:, None]] = 0
  mask = (np.arange(12)[None, :] < lengths[:, None]).astype(np.float32)
  batch = base.Batch(inputs, inputs, lengths, mask, np.zeros_like(mask))
  specs = base.Batch(tf.TensorSpec([8, None], tf.int32),
                     tf.TensorSpec([8, None], tf.int32),
                     tf.TensorSpec([8], tf.int32),
                     tf.TensorSpec([8, None], tf.float32),
                     tf.TensorSpec([8, None], tf.float32))

  def loss(logits, b):
    per_step = tf.nn.sparse_softmax_cross_entropy_with_logits(b.targets,
                                                              logits)
    return {'loss': tf.reduce_sum(per_step * b.answer_mask)}

  params = []
  for levels in (1, 4):
    tf.random.set_seed(0)
    core = model_lib.build_core(20, use_dam=use_dam, hidden_size=8,
                                memory_size=6, word_size=4, num_reads=2,
                                seed=0)
    model = model_lib.SequenceModel(core, 20, 5, row_levels=levels)
    optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
    variables = steps.build(model, optimizer, specs)
    train = steps.make_train_step(model, optimizer, loss, specs, 50., 'xla',
                                  {}, variables)
    for _ in range(3):
      train(steps.to_tensors(batch))
    params.append([v.numpy() for v in variables])
    evaluated = model(tf.constant(inputs), tf.constant(lengths))
    plain, _ = dam.unroll(core, model.embed(tf.constant(inputs)),
                          tf.constant(lengths), freeze_finished=False)
    np.testing.assert_array_equal(evaluated, plain)
  for a, b in zip(*params):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(_FRESH, reason='this is the fresh process')
def test_compiled_cases_in_a_fresh_process():
  """The tf.function and XLA cases of this file, in a new interpreter."""
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
       '-m', 'slow or not slow', os.path.join(ROOT, 'tests',
                                              'test_unroll_packed.py')],
      cwd=ROOT, capture_output=True, text=True, timeout=1800,
      env=dict(os.environ, DAM_TEST_FRESH_PROCESS='1'))
  tail = result.stdout[-3000:] + result.stderr[-2000:]
  assert result.returncode == 0, tail
  assert ' passed' in result.stdout, tail
