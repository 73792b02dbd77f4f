"""Nth Farthest and Convex Hull on the shared loop: run_nfar.py,
run_convexhull.py (tiny sizes; data generated into tmp_path)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dam import model as model_lib
from dam import optimizers
from damrun import rundir
from damrun import steps
from damrun import trainer as trainer_lib
from tasks import convex_hull
from tasks import nth_farthest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _trainer(directory, task, optimizer='rmsprop', lr=3e-3,
             eval_training=False):
  tf.random.set_seed(0)
  core = model_lib.build_core(task.output_size, use_dam=True, hidden_size=32,
                              memory_size=8, word_size=8, num_reads=2,
                              num_blocks=2, mlp_sizes=(16,), seed=0)
  return trainer_lib.Trainer(
      model_lib.SequenceModel(core), task,
      optimizers.make_optimizer(optimizer, lr),
      rundir.RunDirectory('run', directory), trainer_lib.Settings(),
      trainer_lib.Evaluation(training=eval_training), log=lambda line: None)


def _losses(trainer, steps, key='loss'):
  return [trainer.train_step(trainer.task.next_batch())[key]
          for _ in range(steps)]


@pytest.mark.slow
def test_tiny_dam_cuts_nth_farthest_loss(tmp_path):
  task = nth_farthest.NthFarthestTask(batch_size=32, p_re=0.3, seed=0)
  trainer = _trainer(str(tmp_path), task, 'adam', 3e-3)
  # The reconstruction (MRL) term is learnt within a few dozen steps; the
  # n-th farthest answer itself takes thousands.
  seen = _losses(trainer, 60, 'mrl_loss')
  assert np.mean(seen[-10:]) < 0.75 * np.mean(seen[:5]), seen


def _small_convex_hull_data(directory):
  return convex_hull.generate_dataset(directory, num_train=300, train_min_n=5,
                                      train_max_n=8, num_test=40, seed=0)


def _exact_match(predictions, batch):
  """NumPy oracle of the exact-sequence accuracy (the authors' test accuracy).

  Args:
    predictions: model outputs [B, T, input_size + L] (the last L channels
      are the class logits).
    batch: the NumPy `tasks.base.Batch` they answer.

  Returns:
    bool [B]: every answer step's argmax class right.
  """
  input_size = batch.inputs.shape[-1]
  num_classes = batch.targets.shape[-1] - input_size
  predicted = np.argmax(np.asarray(predictions)[..., -num_classes:], axis=-1)
  classes = np.argmax(batch.targets[..., input_size:], axis=-1)  # [B, T]
  return np.all((predicted == classes) | (batch.answer_mask == 0), axis=1)


@pytest.mark.slow
def test_tiny_dam_cuts_convex_hull_loss(tmp_path):
  _small_convex_hull_data(str(tmp_path / 'data'))
  data = convex_hull.load_dataset(str(tmp_path / 'data'), max_n=8)
  task = convex_hull.ConvexHullTask(data.train, batch_size=16, max_n=8,
                                    p_re=0.3, seed=0)
  trainer = _trainer(str(tmp_path), task)
  seen = _losses(trainer, 120)
  assert np.mean(seen[-20:]) < 0.92 * np.mean(seen[:10]), seen
  # The in-graph exact-sequence accuracy agrees with the NumPy reference.
  batch = convex_hull.encode_test(data.test[5], 16, max_n=8)[0]
  logits = trainer.model(batch.inputs, batch.seq_len, training=False)
  metrics = task.loss(logits, steps.to_tensors(batch))
  np.testing.assert_allclose(
      metrics['sequence_accuracy'],
      _exact_match(logits.numpy(), batch).mean(), atol=1e-6)


def _run(script, tmp_path, *flags):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, script), f'--info_dir={tmp_path}',
       *flags], capture_output=True, text=True, env=env, timeout=300,
      cwd=str(tmp_path))


TINY = ('--hidden_size=16', '--memory_address_size=6',
        '--memory_length_size=6', '--num_read_heads=2',
        '--num_memory_blocks=2', '--mlp_sizes=8', '--nojit_compile')


def test_evaluation_on_the_training_graph_as_the_authors(tmp_path):
  # The authors measured Nth Farthest / Convex Hull test accuracy on their
  # training graph: bypass dropout (keep 0.9) and clipping on, no update.
  task = nth_farthest.NthFarthestTask(batch_size=16, p_re=0.3, seed=0)
  batches = list(nth_farthest.iterate_batches(task.test_set(32), 16))
  quirky = _trainer(str(tmp_path / 'a'), task, 'adam', 3e-3,
                    eval_training=True)
  plain = _trainer(str(tmp_path / 'b'), task, 'adam', 3e-3)
  assert quirky.run_info['eval_training'] and not plain.run_info[
      'eval_training']
  weights = [v.numpy() for v in quirky.model.trainable_variables]
  for v, w in zip(plain.model.trainable_variables, weights):
    v.assign(w)
  rng = quirky.model.core._dropout_rng
  state = rng.state.numpy()
  first = quirky.evaluate_batches(batches)
  second = quirky.evaluate_batches(batches)
  assert first['loss'] != second['loss']  # fresh dropout masks each time
  # The same numbers as the model called in training mode on the same
  # dropout stream.
  rng.reset(state)
  by_hand = []
  for batch in batches:
    logits = quirky.model(batch.inputs, batch.seq_len, training=True)
    by_hand.append(float(task.loss(logits, steps.to_tensors(batch))['loss']))
  np.testing.assert_allclose(first['loss'], np.mean(by_hand), rtol=1e-5)
  for v, w in zip(quirky.model.trainable_variables, weights):
    np.testing.assert_array_equal(v.numpy(), w)  # no update
  # Evaluation mode: deterministic and different from the training graph.
  clean = plain.evaluate_batches(batches)
  assert clean == plain.evaluate_batches(batches)
  assert abs(clean['loss'] - first['loss']) > 1e-6


@pytest.mark.slow
def test_run_nfar_authors_flags_tiny(tmp_path):
  result = _run('run_nfar.py', tmp_path, '--dam=True', '--p_re=0.3',
                '--batch_size=8', '--learning_rate=1e-4',
                '--training_iteration=4', '--report_interval=2',
                '--eval_interval=4', '--test_examples=20', '--name=nf', *TINY)
  assert result.returncode == 0, result.stderr[-2000:]
  assert '| test acc ' in result.stdout
  with open(os.path.join(tmp_path, 'nf', 'summary.json')) as f:
    summary = json.load(f)
  assert summary['steps'] == 4
  assert 0. <= summary['final']['test_answer_accuracy'] <= 1.
  assert summary['config']['optimizer'] == 'adam'
  assert summary['config']['mlp_sizes'] == [8]
  assert summary['run']['eval_training'] is True  # the authors' test graph
  # A finished run evaluated again in evaluation mode (--noreproduce_quirks).
  again = _run('run_nfar.py', tmp_path, '--batch_size=8',
               '--training_iteration=4', '--test_examples=20', '--name=nf',
               '--noreproduce_quirks', *TINY)
  assert again.returncode == 0, again.stderr[-2000:]
  assert '[4/4] already trained; evaluation (evaluation mode)' in again.stdout
  with open(os.path.join(tmp_path, 'nf', 'summary.json')) as f:
    summary = json.load(f)
  assert summary['steps'] == 4 and summary['run']['eval_training'] is False
  assert summary['final']['evaluation_only'] == 1
  assert 0. <= summary['final']['test_answer_accuracy'] <= 1.


@pytest.mark.slow
def test_run_convexhull_missing_data_then_generate_and_train(tmp_path):
  data_dir = str(tmp_path / 'hulls')
  result = _run('run_convexhull.py', tmp_path, f'--data_dir={data_dir}')
  assert result.returncode == 2
  for text in ('convex_hull_10_test.txt', 'convex_hull_5_test.txt',
               '--generate_data'):
    assert text in result.stderr
  assert not os.path.exists(os.path.join(tmp_path, 'convexhull_dam'))

  result = _run('run_convexhull.py', tmp_path, '--generate_data',
                f'--data_dir={data_dir}', '--num_train_examples=200',
                '--num_test_examples=20', '--max_n=10')
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(os.listdir(data_dir)) == sorted(
      [convex_hull.TRAIN_FILE] + list(convex_hull.TEST_FILES.values()))
  # A second --generate_data never overwrites the files.
  again = _run('run_convexhull.py', tmp_path, '--generate_data',
               f'--data_dir={data_dir}')
  assert again.returncode == 2 and 'Not overwriting' in again.stderr

  result = _run('run_convexhull.py', tmp_path, f'--data_dir={data_dir}',
                '--dam=False', '--p_re=0.3', '--batch_size=4', '--max_n=10',
                '--training_iteration=3', '--report_interval=3',
                '--eval_interval=3', '--eval_batch_size=16', '--name=ch',
                *TINY)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'test5 seq_acc' in result.stdout and 'test10 seq_acc' in result.stdout
  with open(os.path.join(tmp_path, 'ch', 'summary.json')) as f:
    final = json.load(f)['final']
  for name in ('test5', 'test10'):
    assert 0. <= final[f'{name}_sequence_accuracy'] <= 1.
