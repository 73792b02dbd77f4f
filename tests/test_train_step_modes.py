"""The training step in every execution mode (eager, tf.function, XLA).

The same training step eagerly, in tf.function and in XLA; one trace and one
XLA compilation per training run; TF1's sparse RMSProp rule for the bAbI
embedding in every mode; and a GPU kernel for every op of the compiled
steps. (Moved from tests/test_speed_paths.py; it uses the run machinery.)
"""

import re

import numpy as np
import pytest
import tensorflow as tf
# The one private TensorFlow API of the tests: TensorFlow has no public way
# to list the devices an op has kernels for (the GPU-kernel test below).
from tensorflow.python.framework import kernels  # pylint: disable=g-direct-tensorflow-import

from dam import losses
from dam import model as model_lib
from dam import mrl
from dam import optimizers
from damrun import rundir
from damrun import steps
from damrun import trainer as trainer_lib
from tasks import base
from tasks import copy as copy_task


# -- the training step in every mode -----------------------------------------------


def _copy_setup(seed=0, keep_prob=1.):
  task = copy_task.CopyTask(batch_size=4, bit_w=4, min_length=2, max_length=5,
                            p_re=0.2, seed=seed)
  tf.random.set_seed(seed)
  core = model_lib.build_core(task.output_size, hidden_size=12,
                              memory_size=6, word_size=5, num_reads=1,
                              num_blocks=2, keep_prob=keep_prob, seed=seed)
  model = model_lib.SequenceModel(core)
  optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
  steps.build(model, optimizer, task.batch_specs(4))
  return task, model, optimizer, task.loss, task.batch_specs(4)


@pytest.mark.slow
@pytest.mark.parametrize('keep_prob', [1., 0.8], ids=['no_dropout',
                                                      'dropout'])
def test_train_step_is_the_same_eager_function_and_xla(keep_prob):
  """With dropout too: every mode draws the same noise (under XLA, outside
  the compiled part, with TensorFlow's kernel)."""
  results = {}
  for mode in steps.EXECUTION_MODES:
    task, model, optimizer, loss_fn, specs = _copy_setup(keep_prob=keep_prob)
    step = steps.make_train_step(model, optimizer, loss_fn, specs, 50., mode)
    batch = steps.to_tensors(task.next_batch())
    metrics = [float(step(batch)['loss']) for _ in range(2)]
    results[mode] = (metrics, [v.numpy() for v in model.trainable_variables])
  for mode in ('function', 'xla'):
    np.testing.assert_allclose(results[mode][0], results['eager'][0],
                               rtol=2e-5, err_msg=mode)
    for a, b in zip(results[mode][1], results['eager'][1]):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=mode)


def test_dropout_noise_drawn_before_the_call_is_what_the_call_draws():
  """`SequenceModel.dropout_noise` (what the XLA step draws outside its
  compiled part) gives the outputs of a call that draws itself, and leaves
  the generator where that call leaves it."""
  results = []
  for outside in (False, True):
    task, model, _, _, _ = _copy_setup(keep_prob=0.7)
    batch = steps.to_tensors(task.next_batch())
    kwargs = ({'dropout_noise': model.dropout_noise(batch.inputs)}
              if outside else {})
    logits = model(batch.inputs, batch.seq_len, training=True, **kwargs)
    results.append((logits.numpy(),
                    model.core._dropout_rng.state.numpy()))  # pylint: disable=protected-access
  np.testing.assert_array_equal(results[0][0], results[1][0])
  np.testing.assert_array_equal(results[0][1], results[1][1])
  # The draws passed in are the ones used: all units dropped differs.
  noise = kwargs['dropout_noise']
  dropped = model(batch.inputs, batch.seq_len, training=True,
                  dropout_noise=tf.fill(tf.shape(noise), 0.99))
  assert np.abs(dropped.numpy() - results[1][0]).max() > 1e-3
  with pytest.raises(ValueError, match=r'dropout_noise must be \[time, batch'):
    model(batch.inputs, batch.seq_len, training=True,
          dropout_noise=tf.transpose(noise, [1, 0, 2]))
  _, model, _, _, _ = _copy_setup(keep_prob=1.)
  assert not model.has_dropout
  assert model.dropout_noise(batch.inputs) is None


def test_unknown_execution_mode_is_named():
  with pytest.raises(ValueError, match="'jit'.*eager, function, xla"):
    steps.check_mode('jit')


@pytest.mark.parametrize('jit_compile', [True, False])
@pytest.mark.slow
def test_one_trace_and_one_compilation_per_run(tmp_path, jit_compile):
  task, model, optimizer, _, _ = _copy_setup()
  lines = []
  trainer = trainer_lib.Trainer(
      model, task, optimizer, rundir.RunDirectory('run', str(tmp_path)),
      trainer_lib.Settings(total_steps=12, report_interval=6,
                           jit_compile=jit_compile),
      trainer_lib.Evaluation(task=_copy_setup(1)[0], batches=2),
      log=lines.append)
  lengths = set()
  original = task.next_batch

  def next_batch():  # records the (varying) lengths the task produced
    batch = original()
    lengths.add(batch.inputs.shape[1])
    return batch

  task.next_batch = next_batch
  summary = trainer.train()
  assert len(lengths) > 1  # the lengths did vary
  assert summary['traces'] == {'train': 1, 'eval': 1}
  if jit_compile:  # every batch padded to the task's longest length
    assert summary['xla_compiles'] == {'train': 1, 'eval': 1}
    assert trainer.compiled_shapes['train'] == {(4, task.max_time)}
    assert sum('XLA: compiling' in line for line in lines) == 2
    # each announced compilation (train and eval) says when it is done
    assert sum(line.startswith('XLA: compiled in') for line in lines) == 2
  else:
    assert summary['xla_compiles'] == {'train': 0, 'eval': 0}


@pytest.mark.slow
def test_heartbeat_lines_between_reports(tmp_path):
  """With heartbeats due after every step, the steps between two progress
  lines each get '[step/total] r steps/s, ETA h:mm:ss (next report at
  step n)'; the reported steps get the full line only."""
  task, model, optimizer, _, _ = _copy_setup()
  lines = []
  trainer = trainer_lib.Trainer(
      model, task, optimizer, rundir.RunDirectory('run', str(tmp_path)),
      trainer_lib.Settings(total_steps=6, report_interval=4,
                           heartbeat_seconds=1e-9),
      trainer_lib.Evaluation(), log=lines.append)
  trainer.train()
  beats = [line for line in lines
           if re.fullmatch(r'\[\d/6\] \d+\.\d\d steps/s, ETA \d+:\d\d:\d\d '
                           r'\(next report at step \d\)', line)]
  assert [b.split(']')[0] for b in beats] == ['[1/6', '[2/6', '[3/6', '[5/6']
  assert [b[-2] for b in beats] == ['4', '4', '4', '6']
  assert sum(line.startswith(('[4/6] loss', '[6/6] loss'))
             for line in lines) == 2


# -- the GPU path --------------------------------------------------------------------


def _op_types(graph_def):
  types = {node.op for node in graph_def.node}
  for function in graph_def.library.function:
    types |= {node.op for node in function.node_def}
  return types


@pytest.mark.slow
def test_embedding_keeps_tf1_sparse_rmsprop_rule_in_every_mode():
  """The bAbI step (token inputs through an embedding): under XLA too, only
  the looked-up embedding rows change (TF1's sparse RMSProp), so a row used
  at step 1 and absent at step 2 keeps its value, mean square and momentum,
  and rows never used keep mean square 1."""
  vocab = 7
  batches = [np.array([[1, 2, 3, 2]] * 2, np.int32),  # rows 1, 2, 3
             np.array([[2, 3, 3, 2]] * 2, np.int32)]  # row 1 absent
  specs = base.Batch(tf.TensorSpec([2, None], tf.int32),
                     tf.TensorSpec([2, None], tf.int32),
                     tf.TensorSpec([2], tf.int32),
                     tf.TensorSpec([2, None], tf.float32),
                     tf.TensorSpec([2, None], tf.float32))

  def token_loss(logits, batch):  # every token an answer, weight 1
    per_step = losses.sparse_softmax_cross_entropy(logits, batch.targets)
    return dict(loss=mrl.single_output_loss(
        per_step, batch.refresh_mask, batch.answer_mask, batch.seq_len,
        tf.constant(1.)))

  results = {}
  for mode in steps.EXECUTION_MODES:
    tf.random.set_seed(3)
    core = model_lib.build_core(vocab, hidden_size=8, memory_size=4,
                                word_size=3, num_blocks=2, keep_prob=1.)
    model = model_lib.SequenceModel(core, vocab, 5)
    optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
    steps.build(model, optimizer, specs)
    index = [i for i, v in enumerate(model.trainable_variables)
             if 'embedding' in v.name]
    assert len(index) == 1
    index = index[0]
    step = steps.make_train_step(model, optimizer, token_loss, specs, 50.,
                                 mode)
    table0 = model.embed.embeddings.numpy()
    tables = []
    for inputs in batches:
      answers = np.ones(inputs.shape, np.float32)
      step(steps.to_tensors(base.Batch(inputs, inputs, np.array([4, 4],
                                                                np.int32),
                                       answers, np.zeros_like(answers))))
      tables.append((model.embed.embeddings.numpy(),
                     optimizer.ms[index].numpy(),
                     optimizer.mom[index].numpy()))
    (table1, ms1, mom1), (table2, ms2, mom2) = tables
    never = [0, 4, 5, 6]
    np.testing.assert_array_equal(table2[never], table0[never], err_msg=mode)
    np.testing.assert_array_equal(ms2[never], 1., err_msg=mode)
    np.testing.assert_array_equal(mom2[never], 0., err_msg=mode)
    assert np.all(table1[1] != table0[1]), mode  # row 1 moved at step 1 ...
    np.testing.assert_array_equal(table2[1], table1[1], err_msg=mode)  # only
    np.testing.assert_array_equal(ms2[1], ms1[1], err_msg=mode)
    np.testing.assert_array_equal(mom2[1], mom1[1], err_msg=mode)
    assert np.all(table2[2] != table1[2]), mode  # row 2 moved at both
    results[mode] = table2
  for mode in ('function', 'xla'):
    np.testing.assert_allclose(results[mode], results['eager'], rtol=1e-5,
                               atol=1e-7, err_msg=mode)


# Graph plumbing with no device kernel of its own: the runtime lowers function
# calls and control flow into their bodies' ops (all checked here), and the
# feed ops (Placeholder, _Arg) and _Retval carry a function's inputs and
# outputs.
_HOST_OPS = {'Placeholder', 'NoOp', 'PartitionedCall', 'StatefulPartitionedCall',
             'While', 'StatelessWhile', 'If', 'StatelessIf', '_Arg', '_Retval'}


@pytest.mark.parametrize('use_dam', [True, False])
def test_every_op_of_the_training_step_has_a_gpu_kernel(use_dam):
  """No op of the compiled step would fall back to the CPU on a GPU (each
  would copy its inputs and outputs between host and device every step)."""
  task, model, optimizer, loss_fn, specs = _copy_setup()
  if not use_dam:
    model = model_lib.SequenceModel(model_lib.build_core(
        task.output_size, use_dam=False, hidden_size=12, memory_size=6,
        word_size=5))
    optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
    steps.build(model, optimizer, specs)
  step = steps.make_train_step(model, optimizer, loss_fn, specs, 50.,
                               'function')
  graph_def = step.get_concrete_function().graph.as_graph_def()
  types = _op_types(graph_def)
  assert 'While' in types or 'StatelessWhile' in types  # the loop is inside
  missing = []
  for op in sorted(types - _HOST_OPS):
    devices = {k.device_type for k in
               kernels.get_registered_kernels_for_op(op).kernel}
    if not devices & {'GPU', 'DEFAULT'}:
      missing.append(op)
  assert not missing, f'ops without a GPU kernel: {missing}'
