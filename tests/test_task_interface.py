"""Tests of the task interface (tasks/base.py) on every task: the algorithmic
tasks (Copy, Associative Recall, Representation Recall), Nth Farthest, Convex
Hull and bAbI (Park et al. 2021, experiments).

Each task says which steps are answers and which were sampled for the Memory
Refreshing Loss (`answer_mask`, `refresh_mask`), gives its batch specs, its
loss and metrics, and saves and restores its data stream as JSON.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import tasks
from tasks import base
from tasks import example


def test_tasks_registry():
  from tasks import babi  # pylint: disable=import-outside-toplevel
  from tasks import convex_hull  # pylint: disable=import-outside-toplevel
  from tasks import nth_farthest  # pylint: disable=import-outside-toplevel
  assert tasks.TASKS == {
      'Copy': tasks.CopyTask,
      'AssociativeRecall': tasks.AssociativeRecallTask,
      'RepresentationRecall': tasks.RepresentationRecallTask,
      'bAbI': babi.BabiTask,
      'NthFarthest': nth_farthest.NthFarthestTask,
      'ConvexHull': convex_hull.ConvexHullTask}
  assert tasks.Batch is base.Batch
  assert base.Batch._fields == ('inputs', 'targets', 'seq_len',
                                'answer_mask', 'refresh_mask')


# -- the task interface (tasks/base.py), on every task -------------------------


def _babi_task(**kwargs):
  from tasks import babi  # pylint: disable=import-outside-toplevel
  stories = [babi.Story(np.array([4, 5, 1, 4, 2, babi.ANSWER], np.int32),
                        np.array([4, 5, 1, 4, 2, 5], np.int32),
                        np.array([0, 0, 0, 1, 1, 0], bool), 1)] * 6
  return babi.BabiTask(stories, vocab_size=6, batch_size=3, seed=0,
                       **kwargs)


def _hull_task(**kwargs):
  from tasks import convex_hull  # pylint: disable=import-outside-toplevel
  points, hulls = convex_hull.generate_examples(
      8, 5, 5, np.random.default_rng(0))
  return convex_hull.ConvexHullTask(
      {5: convex_hull.Examples(np.stack(points), hulls)}, batch_size=4,
      max_n=6, seed=0, **kwargs)


def _nfar_task(**kwargs):
  from tasks import nth_farthest  # pylint: disable=import-outside-toplevel
  return nth_farthest.NthFarthestTask(batch_size=4, num_vectors=4,
                                      vector_size=3, seed=0, **kwargs)


EVERY_TASK = [
    ('copy', lambda **kw: tasks.CopyTask(batch_size=4, seed=0, **kw),
     (('accuracy', 'acc'), ('bit_accuracy', 'bit_acc'))),
    ('ar', lambda **kw: tasks.AssociativeRecallTask(batch_size=4, seed=0,
                                                    **kw),
     (('accuracy', 'acc'), ('bit_accuracy', 'bit_acc'))),
    ('rr', lambda **kw: tasks.RepresentationRecallTask(
        batch_size=4, seed=0, **{k: v for k, v in kw.items() if k != 'p_re'}),
     (('accuracy', 'acc'), ('bit_accuracy', 'bit_acc'))),
    ('nfar', _nfar_task, (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc'))),
    ('hull', _hull_task, (('mrl_loss', 'mrl'), ('answer_accuracy', 'acc'),
                          ('sequence_accuracy', 'seq_acc'))),
    ('babi', _babi_task, (('reported_loss', 'answer_loss'),
                          ('answer_accuracy', 'acc'))),
]


@pytest.mark.parametrize('name,make,metrics', EVERY_TASK)
def test_every_task_implements_the_interface(name, make, metrics):
  task = make(p_re=0.5)
  assert isinstance(task, base.Task)
  assert task.report_metrics == metrics
  assert task.batch_size >= 1 and task.max_time >= 1
  assert isinstance(task.input_size, int) and isinstance(task.output_size,
                                                         int)
  assert (task.vocab_size is None) == (name != 'babi')
  batch = task.next_batch()
  assert isinstance(batch, base.Batch)
  b, t = batch.answer_mask.shape
  assert b == task.batch_size and t == batch.seq_len.max() <= task.max_time
  for specs in (task.batch_specs(task.batch_size), task.batch_specs(None)):
    assert isinstance(specs, base.Batch)
    for spec, array in zip(specs, batch):
      assert spec.dtype.as_numpy_dtype == array.dtype
      assert spec.shape.rank == array.ndim
      assert spec.shape.is_compatible_with(array.shape)
  assert task.batch_specs(None).inputs.shape[0] is None
  out = task.loss(tf.random.normal([b, t, task.output_size], seed=1),
                  base.Batch(*map(tf.constant, batch)))
  assert out['loss'].shape == () and np.isfinite(float(out['loss']))
  for key, _ in metrics:
    assert out[key].shape == ()
  if name == 'babi':
    assert task.progress() == task.epoch + task.position / task.steps_per_epoch
    assert task.progress() == 0.5  # 1 of 2 batches of epoch 0
  else:
    assert task.progress() is None
  state = task.get_state()
  assert json.loads(json.dumps(state)) == state


@pytest.mark.parametrize('name,make,metrics', EVERY_TASK)
def test_every_task_masks_are_answers_and_sampled_steps(name, make, metrics):
  del metrics
  plain = make(p_re=0.).next_batch()
  assert not plain.refresh_mask.any()
  if name == 'rr':
    return  # no MRL
  refreshed = make(p_re=1.).next_batch()
  np.testing.assert_array_equal(plain.answer_mask, refreshed.answer_mask)
  assert refreshed.refresh_mask.any()
  answers = refreshed.answer_mask == 1
  inputs = np.asarray(refreshed.inputs)
  if name == 'nfar':  # every step, the answer step too
    assert refreshed.refresh_mask.all()
  elif name == 'babi':  # the authors' loader: all but '.', rows 0 and 1
    assert not refreshed.refresh_mask[:2].any()
    np.testing.assert_array_equal(refreshed.refresh_mask[2:],
                                  inputs[2:] != 1)
  else:  # input steps only: never an answer step
    assert not refreshed.refresh_mask[answers].any()
  if name == 'babi':
    corrected = make(p_re=1., reproduce_quirks=False).next_batch()
    assert corrected.refresh_mask.any()
    assert not corrected.refresh_mask[corrected.answer_mask == 1].any()
    assert not corrected.refresh_mask[inputs == 2].any()  # the '?'
  else:
    assert inputs.ndim == 3


def test_the_base_task_is_abstract_and_has_no_lengths():
  with pytest.raises(TypeError):
    base.Task(1, 0., 0)  # pylint: disable=abstract-class-instantiated
  for name in ('min_length', 'max_length', 'answer_channels'):
    assert not hasattr(base.Task, name)
  babi_task = _babi_task()
  assert not hasattr(babi_task, 'min_length')
  assert not hasattr(babi_task, 'max_length')
  assert not hasattr(_nfar_task(), 'min_length')
  assert not hasattr(_hull_task(), 'min_length')
  assert issubclass(tasks.CopyTask, example.ExampleTask)
  with pytest.raises(ValueError, match='min_length'):
    example.check_lengths(3, 2)
