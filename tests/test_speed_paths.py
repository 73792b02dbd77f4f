"""Tests of what the speed work changed: each fast path against the plain one.

The sort-free allocation against the DNC's sort-based formula (values and
gradients, ties included); variables read once per unroll, the dropout noise
drawn once per sequence and the unfrozen training unroll against stepping the
core by hand; the analytic FLOP model by hand; one trace and one XLA
compilation per training run; the same training step eagerly, in
tf.function and in XLA; and a GPU kernel for every op of the compiled steps.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import dam
from dam import addressing
from dam import flops
from dam import losses
from dam import optimizers
from dam import training
from tasks import copy as copy_task


def _sorted_allocation(usage):
  """The DNC's allocation by sorting (DeepMind's formulation), for reference."""
  usage = addressing.EPSILON + (1. - addressing.EPSILON) * usage
  size = usage.shape[-1]
  sorted_nonusage, indices = tf.math.top_k(1. - usage, k=size)
  sorted_allocation = sorted_nonusage * tf.math.cumprod(
      1. - sorted_nonusage, axis=-1, exclusive=True)
  inverse = tf.argsort(indices, axis=-1, stable=True)
  return tf.gather(sorted_allocation, inverse, axis=-1,
                   batch_dims=len(usage.shape) - 1)


def _usages(rng):
  """Random usages [3, 2, 7] with ties, zeros and ones planted."""
  usage = rng.uniform(0., 1., size=[3, 2, 7])
  usage[0, 0, [1, 4]] = 0.3  # a tie
  usage[0, 1, [0, 2, 5]] = 0.  # tied empty slots
  usage[1, 0, 3] = 1.  # a full slot
  usage[2, 1] = 0.5  # all tied
  return usage


def test_sort_free_allocation_matches_the_sort_based_formula():
  usage = tf.constant(_usages(np.random.default_rng(0)), tf.float64)
  np.testing.assert_allclose(addressing.allocation_weights(usage),
                             _sorted_allocation(usage), rtol=1e-12,
                             atol=1e-15)


def test_sort_free_allocation_gradient_matches_the_sort_based_formula():
  usage = tf.constant(_usages(np.random.default_rng(1)), tf.float64)
  upstream = tf.constant(np.random.default_rng(2).normal(size=usage.shape))
  grads = []
  for fn in (addressing.allocation_weights, _sorted_allocation):
    with tf.GradientTape() as tape:
      tape.watch(usage)
      loss = tf.reduce_sum(fn(usage) * upstream)
    grads.append(tape.gradient(loss, usage))
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_recomputed_allocation_gradient_in_a_compiled_loop():
  """The gradient compares again (no stored comparison matrix): through a
  while loop, the tf.function and XLA gradients equal the sort-based
  formula's gradient stepped by hand in float64."""
  rng = np.random.default_rng(5)
  usages = tf.constant(rng.uniform(size=[4, 3, 2, 16]), tf.float64)
  usages = tf.tensor_scatter_nd_update(  # ties and a full slot
      usages, [[1, 0, 0, 3], [1, 0, 0, 4], [2, 1, 1, 0]], [0.5, 0.5, 1.])
  upstream = tf.constant(rng.normal(size=[3, 2, 16]))

  def loss_of(allocation_fn):
    def loss(usages):
      def body(t, total):
        return t + 1, total + tf.reduce_sum(
            allocation_fn(usages[t] * (1. + total * 1e-3)) * upstream)
      return tf.while_loop(lambda t, _: t < 4, body,
                           (0, tf.constant(0., tf.float64)),
                           maximum_iterations=4)[1]
    return loss

  def gradient(fn):
    with tf.GradientTape() as tape:
      tape.watch(usages)
      value = fn(usages)
    return tape.gradient(value, usages)

  expected = gradient(loss_of(_sorted_allocation))
  for jit in (False, True):
    got = tf.function(lambda u: gradient(loss_of(
        addressing.allocation_weights)), jit_compile=jit)(usages)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_sort_free_allocation_float32_close_to_reference():
  usage = tf.constant(np.random.default_rng(3).uniform(size=[16, 2, 64]),
                      tf.float32)
  np.testing.assert_allclose(addressing.allocation_weights(usage),
                             _sorted_allocation(usage), rtol=1e-4,
                             atol=1e-6)


def test_sum_last_equals_reduce_sum_any_rank():
  x = tf.constant(np.random.default_rng(4).normal(size=[2, 3, 5, 7]))
  np.testing.assert_allclose(addressing.sum_last(x),
                             tf.reduce_sum(x, axis=-1), rtol=1e-12)
  np.testing.assert_allclose(addressing.sum_last(x[0, 0, 0]),
                             tf.reduce_sum(x[0, 0, 0]), rtol=1e-12)


# -- the unroll's fast paths against stepping by hand ------------------------------


def _tiny_dam(dtype=tf.float64, keep_prob=0.7):
  return dam.DAM(output_size=4, hidden_size=10, memory_size=5, word_size=3,
                 num_reads=2, num_blocks=2, keep_prob=keep_prob, seed=3,
                 dtype=dtype)


def _by_hand(core, x, noise=None, training=False):
  """Steps the core in a Python loop: no while loop, no read-once."""
  state = core.initial_state(x.shape[0], x.dtype)
  outputs = []
  for t in range(x.shape[1]):
    kwargs = {} if noise is None else {'dropout_noise': noise[t]}
    out, state = core(x[:, t], state, training=training, **kwargs)
    outputs.append(out)
  return tf.stack(outputs, axis=1)


def test_unroll_gradients_equal_stepping_by_hand():
  core = _tiny_dam(keep_prob=1.)
  x = tf.constant(np.random.default_rng(5).normal(size=[3, 6, 2]))
  dam.build(core, 2, tf.float64)
  grads = []
  for run in (lambda: dam.unroll(core, x, training=True,
                                 freeze_finished=False)[0],
              lambda: _by_hand(core, x, training=True)):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.sin(run()))
    grads.append(tape.gradient(loss, core.trainable_variables))
  assert len(grads[0]) == len(core.trainable_variables)
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
  # The context restored every variable.
  assert all(isinstance(v, tf.Variable) for v in
             (core._controller._w_i, core._output_linear.w))


def test_parameters_read_once_swaps_and_restores():
  core = _tiny_dam(keep_prob=1.)
  dam.build(core, 2, tf.float64)
  w = core._output_linear.w
  with dam.parameters_read_once(core):
    assert not isinstance(core._output_linear.w, tf.Variable)
    np.testing.assert_array_equal(core._output_linear.w, w)
  assert core._output_linear.w is w
  with pytest.raises(RuntimeError):
    with dam.parameters_read_once(core):
      raise RuntimeError('inside')
  assert core._output_linear.w is w  # restored after an error too


def test_unroll_dropout_noise_drawn_once_equals_stepping_with_it():
  core_a, core_b = _tiny_dam(), _tiny_dam()
  x = tf.constant(np.random.default_rng(6).normal(size=[3, 5, 2]))
  dam.build(core_a, 2, tf.float64)
  dam.build(core_b, 2, tf.float64)
  for a, b in zip(core_a.trainable_variables, core_b.trainable_variables):
    b.assign(a)
  unrolled, _ = dam.unroll(core_a, x, training=True)
  noise = core_b.dropout_noise(5, 3)  # the same generator state
  assert noise.shape == (5, 3, 10)
  np.testing.assert_allclose(unrolled, _by_hand(core_b, x, noise, True),
                             rtol=1e-12)
  # Inverted dropout: kept units scaled by 1 / keep_prob, the rest zero.
  z = tf.ones([2, 10], tf.float64)
  u = tf.constant(np.linspace(0., 0.99, 20).reshape(2, 10))
  dropped = core_a._dropout(z, True, u).numpy()
  np.testing.assert_allclose(dropped, np.where(u < 0.7, 1. / 0.7, 0.))


def test_unfrozen_unroll_has_the_same_outputs():
  core = _tiny_dam(keep_prob=1.)
  x = tf.constant(np.random.default_rng(7).normal(size=[3, 6, 2]))
  lengths = tf.constant([6, 2, 4])
  frozen, _ = dam.unroll(core, x, lengths)
  free, _ = dam.unroll(core, x, lengths, freeze_finished=False)
  np.testing.assert_array_equal(frozen, free)


def _training_loop_body(core, x):
  """The forward while-loop body of a training unroll's gradient, with the
  accumulators the gradient added to it."""

  @tf.function
  def gradient(x):
    with tf.GradientTape() as tape:
      outputs, _ = dam.unroll(core, x, training=True, freeze_finished=False)
      loss = tf.reduce_sum(tf.square(outputs))
    return tape.gradient(loss, core.trainable_variables)

  graph = gradient.get_concrete_function(x).graph
  (loop,) = [op for op in graph.get_operations()
             if op.type in ('While', 'StatelessWhile') and
             not op.name.startswith('gradient_tape/')]
  return graph._get_function(loop.get_attr('body').name).graph


@pytest.mark.parametrize('use_dam', [True, False])
def test_training_unroll_keeps_one_memory_per_step(use_dam):
  """The backward pass keeps one memory per step and nothing else of its
  size: the loop body reads and writes the same M_{t-1} (not M_{t-1} and
  M_t), the erase factor and the squared memory of the norms are recomputed
  from small tensors. The outputs are pushed back, not written by index (an
  indexed write's gradient copies the whole list every step)."""
  batch, blocks, slots, width = 2, (2 if use_dam else 1), 5, 4
  core = training.build_core(3, use_dam=use_dam, hidden_size=8,
                             memory_size=slots, word_size=width, num_reads=2,
                             **(dict(num_blocks=2) if use_dam else {}))
  x = tf.random.stateless_normal([batch, 6, 3], seed=[1, 2])
  dam.build(core, 3)
  body = _training_loop_body(core, x)
  kept = [op.inputs[1].shape for op in body.get_operations()
          if op.type == 'TensorListPushBack']
  memory_sized = [s for s in kept
                  if s.num_elements() == batch * blocks * slots * width]
  assert memory_sized == [(batch, blocks, slots, width)], kept
  assert (batch, 3) in kept  # the outputs
  assert 'TensorListSetItem' not in {op.type for op in body.get_operations()}


# -- the FLOP model ------------------------------------------------------------------


def test_flops_by_hand_tiny_dam():
  # D 2, O 3, H 4, N 5, W 6, R 1, Wh 1, K 2, interface I = 2 (21 + 1 + 8)
  # = 60. controller 2 (2 + 6 + 4) 16 = 384; interface 2 * 4 * 60 = 480;
  # output 2 (4 + 6) 3 = 60; per block 2*2*30 + 4*30 + 6*30 + 2*30 + 2*25
  # = 120 + 120 + 180 + 60 + 50 = 530, two blocks 1060. Total 1984.
  got = flops.forward_flops_per_step(2, 3, 4, 5, 6, 1, num_blocks=2)
  assert got == 1984.
  assert flops.train_step_flops(7, 11, input_size=2, output_size=3,
                                hidden_size=4, memory_size=5, word_size=6,
                                num_reads=1) == 3 * 7 * 11 * 1984.


@pytest.mark.parametrize('use_dam,reads,writes,blocks',
                         [(True, 1, 1, 2), (True, 4, 1, 6), (True, 2, 2, 3),
                          (False, 1, 1, 1), (False, 4, 2, 1)])
def test_flops_interface_width_matches_the_model(use_dam, reads, writes,
                                                 blocks):
  core = training.build_core(5, use_dam=use_dam, hidden_size=8, memory_size=6,
                             word_size=7, num_reads=reads, num_writes=writes,
                             num_blocks=blocks)
  config = dict(input_size=3, output_size=5, hidden_size=8, memory_size=6,
                word_size=7, num_reads=reads, num_writes=writes,
                num_blocks=blocks, use_dam=use_dam)
  assert flops.forward_flops_per_step(**config) == (
      flops.forward_flops_per_step(
          interface_size=core.access.interface_size, **config))


def test_flops_at_the_copy_configuration():
  config = dict(input_size=10, output_size=10, hidden_size=128,
                memory_size=64, word_size=36, num_reads=1)
  assert flops.train_step_flops(16, 66, **config) == pytest.approx(1.1036e9,
                                                                   rel=1e-4)


# -- the training step in every mode -----------------------------------------------


def _copy_setup(seed=0):
  task = copy_task.CopyTask(batch_size=4, bit_w=4, min_length=2, max_length=5,
                            p_re=0.2, seed=seed)
  tf.random.set_seed(seed)
  core = training.build_core(task.output_size, hidden_size=12, memory_size=6,
                             word_size=5, num_reads=1, num_blocks=2,
                             keep_prob=1., seed=seed)
  model = training.SequenceModel(core)
  model(tf.zeros([1, 1, task.input_size]), tf.ones([1], tf.int32))
  optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
  optimizer._initialize(model.trainable_variables)
  loss_fn = functools.partial(losses.sigmoid_loss,
                              answer_channels=task.answer_channels)
  specs = (tf.TensorSpec([4, None, task.input_size], tf.float32),
           tf.TensorSpec([4, None, task.output_size], tf.float32),
           tf.TensorSpec([4], tf.int32), tf.TensorSpec([4, None], tf.float32),
           tf.TensorSpec([4, None], tf.float32))
  return task, model, optimizer, loss_fn, specs


def test_train_step_is_the_same_eager_function_and_xla():
  results = {}
  for mode in training.EXECUTION_MODES:
    task, model, optimizer, loss_fn, specs = _copy_setup()
    step = training.make_train_step(model, optimizer, loss_fn,
                                    model.trainable_variables, 50., specs,
                                    mode)
    batch = [tf.convert_to_tensor(x) for x in task.next_batch()]
    metrics = [float(step(*batch)['loss']) for _ in range(2)]
    results[mode] = (metrics, [v.numpy() for v in model.trainable_variables])
  for mode in ('function', 'xla'):
    np.testing.assert_allclose(results[mode][0], results['eager'][0],
                               rtol=2e-5, err_msg=mode)
    for a, b in zip(results[mode][1], results['eager'][1]):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=mode)


def test_unknown_execution_mode_is_named():
  with pytest.raises(ValueError, match="'jit'.*eager, function, xla"):
    training.check_mode('jit')


@pytest.mark.parametrize('jit_compile', [True, False])
def test_one_trace_and_one_compilation_per_run(tmp_path, jit_compile):
  task, model, optimizer, loss_fn, _ = _copy_setup()
  lines = []
  trainer = training.Trainer(
      model, task, optimizer, training.RunDirectory('run', str(tmp_path)),
      loss_fn, total_steps=12, report_interval=6, eval_task=_copy_setup(1)[0],
      eval_batches=2, jit_compile=jit_compile, log=lines.append)
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
  else:
    assert summary['xla_compiles'] == {'train': 0, 'eval': 0}


# -- the GPU path --------------------------------------------------------------------


def _op_types(graph_def):
  types = {node.op for node in graph_def.node}
  for function in graph_def.library.function:
    types |= {node.op for node in function.node_def}
  return types


def test_embedding_keeps_tf1_sparse_rmsprop_rule_in_every_mode():
  """The bAbI step (token inputs through an embedding): under XLA too, only
  the looked-up embedding rows change (TF1's sparse RMSProp), so a row used
  at step 1 and absent at step 2 keeps its value, mean square and momentum,
  and rows never used keep mean square 1."""
  vocab = 7
  batches = [np.array([[1, 2, 3, 2]] * 2, np.int32),  # rows 1, 2, 3
             np.array([[2, 3, 3, 2]] * 2, np.int32)]  # row 1 absent
  specs = (tf.TensorSpec([2, None], tf.int32),
           tf.TensorSpec([2, None], tf.int32), tf.TensorSpec([2], tf.int32),
           tf.TensorSpec([2, None], tf.float32),
           tf.TensorSpec([2, None], tf.float32))
  results = {}
  for mode in training.EXECUTION_MODES:
    tf.random.set_seed(3)
    core = training.build_core(vocab, hidden_size=8, memory_size=4,
                               word_size=3, num_blocks=2, keep_prob=1.)
    model = training.SequenceModel(core, vocab, 5)
    model(tf.zeros([1, 1], tf.int32), tf.ones([1], tf.int32))
    optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
    optimizer._initialize(model.trainable_variables)
    index = [i for i, v in enumerate(model.trainable_variables)
             if 'embedding' in v.name]
    assert len(index) == 1
    index = index[0]
    step = training.make_train_step(model, optimizer, losses.softmax_loss,
                                    model.trainable_variables, 50., specs,
                                    mode)
    table0 = model.embed.embeddings.numpy()
    tables = []
    for inputs in batches:
      mask = np.ones(inputs.shape, np.float32)
      step(tf.constant(inputs), tf.constant(inputs), tf.constant([4, 4]),
           tf.constant(mask), tf.constant(mask))
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
    model = training.SequenceModel(training.build_core(
        task.output_size, use_dam=False, hidden_size=12, memory_size=6,
        word_size=5))
    model(tf.zeros([1, 1, task.input_size]), tf.ones([1], tf.int32))
    optimizer = optimizers.make_optimizer('rmsprop', 1e-2)
    optimizer._initialize(model.trainable_variables)
  step = training.make_train_step(model, optimizer, loss_fn,
                                  model.trainable_variables, 50., specs,
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
