"""Tests of the DAM / DNC trainer (damrun/trainer.py) and of train.py."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dam import losses
from dam import model as model_lib
from dam import mrl
from dam import optimizers
from damrun import checkpoints
from damrun import rundir
from damrun import steps
from damrun import trainer as trainer_lib
from tasks import copy as copy_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy_task(seed=0, p_re=0.0, batch_size=8):
  return copy_task.CopyTask(batch_size=batch_size, bit_w=4, min_length=2,
                            max_length=4, p_re=p_re, seed=seed)


def _trainer(directory, use_dam=True, total_steps=10, seed=0, lr=1e-2,
             p_re=0.0, hidden_size=24, report_interval=5,
             checkpoint_interval=1000, evaluation=None):
  tf.random.set_seed(seed)
  task = _copy_task(seed, p_re)
  core = model_lib.build_core(task.output_size, use_dam=use_dam,
                              hidden_size=hidden_size, memory_size=8,
                              word_size=6, num_reads=1, num_blocks=2,
                              seed=seed)
  lines = []
  trainer = trainer_lib.Trainer(
      model_lib.SequenceModel(core), task,
      optimizers.make_optimizer('rmsprop', lr),
      rundir.RunDirectory('run', directory),
      trainer_lib.Settings(total_steps=total_steps,
                           report_interval=report_interval,
                           checkpoint_interval=checkpoint_interval),
      evaluation, config=dict(dam=use_dam, hidden_size=hidden_size),
      log=lines.append)
  return trainer, lines


def test_sigmoid_loss_known_answer():
  # One sequence, two steps, two channels; step 0 is a refresh step, step 1
  # the only answer step, weighted alpha = 3.
  logits = tf.constant([[[0., 0.], [2., -2.]]])
  targets = tf.constant([[[1., 0.], [1., 1.]]])
  refresh_mask = tf.constant([[1., 0.]])
  answer_mask = tf.constant([[0., 1.]])
  per_step = losses.sigmoid_cross_entropy(logits, targets)
  loss = mrl.single_output_loss(per_step, refresh_mask, answer_mask,
                                tf.constant([2]), tf.constant(3.))
  out = losses.bit_metrics(logits, targets, per_step, answer_mask,
                           slice(0, 2))
  ln2 = np.log(2.)
  ce_step0 = 2 * ln2
  ce_step1 = np.log1p(np.exp(-2.)) + np.log1p(np.exp(2.))
  np.testing.assert_allclose(loss, (1. * ce_step0 + 3. * ce_step1) / 2,
                             rtol=1e-6)
  np.testing.assert_allclose(out['reported_loss'], ce_step1 / 2, rtol=1e-6)
  np.testing.assert_allclose(out['accuracy'], np.exp(-ce_step1 / 2), rtol=1e-6)
  # Answer bits: (2 > 0) == 1 right, (-2 > 0) == 1 wrong.
  np.testing.assert_allclose(out['bit_accuracy'], 0.5)
  np.testing.assert_allclose(out['bit_errors_per_sequence'], 1.)


@pytest.mark.parametrize('use_dam', [True, False])
@pytest.mark.slow
def test_tiny_model_cuts_copy_loss(tmp_path, use_dam):
  trainer, _ = _trainer(str(tmp_path), use_dam=use_dam, total_steps=0,
                        hidden_size=32)
  losses_seen = [trainer.train_step(trainer.task.next_batch())['reported_loss']
                 for _ in range(100)]
  assert losses_seen[0] > 0.6  # >= ~ln 2 per bit before any training
  first, last = np.mean(losses_seen[:10]), np.mean(losses_seen[-10:])
  assert last < 0.8 * first, (first, last)


@pytest.mark.slow
def test_resume_reaches_the_same_parameters(tmp_path):
  straight, _ = _trainer(str(tmp_path / 'a'), total_steps=8, p_re=0.3,
                         checkpoint_interval=4)
  straight.train()
  first, _ = _trainer(str(tmp_path / 'b'), total_steps=4, p_re=0.3,
                      checkpoint_interval=4)
  first.train()
  # New objects (other random initial weights), as in a new process.
  resumed, lines = _trainer(str(tmp_path / 'b'), total_steps=8, p_re=0.3,
                            checkpoint_interval=4, seed=0)
  assert resumed.restored_from.endswith('ckpt-4')
  resumed.train()
  assert any('Resumed from' in line for line in lines)
  assert int(resumed.step.numpy()) == 8
  for a, b in zip(straight.variables, resumed.variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7,
                               err_msg=a.name)
  assert any(np.abs(a.numpy()).max() > 0 for a in straight.variables)


def test_outputs_progress_csv_tensorboard_summary(tmp_path):
  trainer, lines = _trainer(
      str(tmp_path), total_steps=6, report_interval=3, checkpoint_interval=6,
      evaluation=trainer_lib.Evaluation(task=_copy_task(seed=99), batches=2))
  summary = trainer.train()
  run = trainer.run_dir
  assert len(lines) == 2
  assert lines[0].startswith('[3/6] loss ')
  for token in ('acc ', 'bit_acc ', 'steps/s', 'ETA', 'eval loss'):
    assert token in lines[0]
  with open(run.metrics) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['step']) for r in rows] == [3, 6]
  assert 0. <= float(rows[-1]['eval_bit_accuracy']) <= 1.
  assert float(rows[-1]['steps_per_sec']) > 0.
  assert 'epoch' not in rows[-1]  # Copy has no epochs
  assert any(name.startswith('events') for name in os.listdir(run.log))
  with open(run.summary) as f:
    saved = json.load(f)
  assert saved['steps'] == summary['steps'] == 6
  assert saved['final']['step'] == 6
  assert saved['checkpoint'].endswith('ckpt-6')
  for key in ('name', 'start_step', 'wall_time_s', 'steps_per_sec', 'config',
              'run', 'traces', 'xla_compiles'):
    assert key in saved, key


def test_changed_model_flags_are_reported_not_overwritten(tmp_path):
  trainer, _ = _trainer(str(tmp_path), total_steps=2, checkpoint_interval=2)
  trainer.train()
  with pytest.raises(rundir.ConfigMismatchError,
                     match=r'hidden_size: checkpoint has 24, flags give 32'):
    _trainer(str(tmp_path), total_steps=4, hidden_size=32)
  assert os.path.exists(os.path.join(trainer.run_dir.checkpoint,
                                     'ckpt-2.index'))


def test_corrupt_checkpoint_is_reported(tmp_path):
  trainer, _ = _trainer(str(tmp_path), total_steps=2, checkpoint_interval=2)
  trainer.train()
  data = [os.path.join(trainer.run_dir.checkpoint, name)
          for name in os.listdir(trainer.run_dir.checkpoint)
          if name.startswith('ckpt-2.data')]
  for path in data:
    with open(path, 'r+b') as f:
      f.truncate(16)
  with pytest.raises(checkpoints.CheckpointError,
                     match='Cannot restore the checkpoint .*ckpt-2'):
    _trainer(str(tmp_path), total_steps=4)
  assert os.path.exists(os.path.join(trainer.run_dir.checkpoint,
                                     'ckpt-2.index'))


def _run_train_py(tmp_path, *flags):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, 'train.py'),
       f'--info_dir={tmp_path}', *flags],
      capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path))


_TINY = ('--hidden_size=16', '--memory_address_size=8',
         '--memory_length_size=8', '--batch_size=4', '--bit_w=4',
         '--min_length=2', '--max_length=4', '--report_interval=2',
         '--checkpoint_interval=2', '--nojit_compile', '--name=r1')


@pytest.mark.slow
def test_train_py_resume_refuses_flags_that_change_the_run(tmp_path):
  result = _run_train_py(tmp_path, *_TINY, '--training_iteration=2')
  assert result.returncode == 0, result.stderr
  result = _run_train_py(tmp_path, *_TINY, '--training_iteration=2',
                         '--max_length=12', '--p_re=0.9', '--keep_prob=0.3',
                         '--seed=999')
  assert result.returncode == 2
  for name in ('--max_length', '--p_re', '--keep_prob', '--seed'):
    assert f'{name}: the run has ' in result.stderr, result.stderr
  assert 'Resumed' not in result.stdout
  result = _run_train_py(tmp_path, *_TINY, '--training_iteration=4')
  assert result.returncode == 0, result.stderr
  assert ('Flag change accepted at step 2: --training_iteration 2 -> 4'
          in result.stdout)
  with open(tmp_path / 'r1' / 'summary.json') as f:
    history = json.load(f)['history']
  with open(history) as f:
    assert [json.loads(line)['event'] for line in f] == ['start', 'resume']


@pytest.mark.parametrize('flags,message', [
    (['--mode=Sort'], 'value should be one of'),
    (['--min_length=9', '--max_length=8'], '--min_length must be'),
    (['--p_re=1.5'], '--p_re must be in [0, 1]'),
    (['--keep_prob=0'], '--keep_prob must be in (0, 1]'),
    (['--mlp_sizes=256,x'], '--mlp_sizes must be comma-separated'),
    (['--hidden_size=0'], '--hidden_size must be a positive integer'),
    (['--bit_w=0'], '--bit_w must be a positive integer'),
    (['stray'], 'Unexpected arguments'),
    (['--mode=RepresentationRecall', '--p_re=0.1'], 'p_re'),
])
def test_train_py_rejects_bad_flags_clearly(tmp_path, flags, message):
  result = _run_train_py(tmp_path, *flags)
  assert result.returncode != 0
  assert message in result.stderr + result.stdout


@pytest.mark.slow
def test_train_py_runs_the_authors_ar_command_shape(tmp_path):
  # The authors' Associative Recall flags, at tiny sizes and 4 iterations.
  result = _run_train_py(
      tmp_path, '--mode=AssociativeRecall', '--babi=False', '--dam=True',
      '--num_memory_blocks=2', '--p_re=0.1', '--batch_size=4',
      '--learning_rate=1e-4', '--hidden_size=16', '--memory_address_size=8',
      '--memory_length_size=6', '--num_read_heads=1', '--bit_w=4',
      '--min_length=2', '--max_length=3', '--item_bit=2',
      '--training_iteration=4', '--report_interval=2',
      '--checkpoint_interval=2', '--name=ar')
  assert result.returncode == 0, result.stderr[-2000:]
  assert '[4/4] loss' in result.stdout
  with open(os.path.join(tmp_path, 'ar', 'summary.json')) as f:
    summary = json.load(f)
  assert summary['steps'] == 4
  assert summary['config']['mode'] == 'AssociativeRecall'
  # Full FP32 by default (TensorFlow's own default allows TF32 on GPUs); the
  # summary records what TensorFlow reported during the run.
  assert summary['run']['tf32'] is False
  assert summary['run']['reproduce_quirks'] is True
  assert 'full FP32' in result.stdout
  allowed = _run_train_py(tmp_path, '--tf32', '--training_iteration=1',
                          '--hidden_size=8', '--memory_address_size=4',
                          '--memory_length_size=4', '--name=tf32')
  assert allowed.returncode == 0, allowed.stderr[-2000:]
  with open(os.path.join(tmp_path, 'tf32', 'summary.json')) as f:
    assert json.load(f)['run']['tf32'] is True


def test_set_precision_switches_tensorflow_tf32():
  from damrun import cli  # pylint: disable=import-outside-toplevel
  before = tf.config.experimental.tensor_float_32_execution_enabled()
  try:
    assert cli.set_precision(False) is False
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    assert cli.set_precision(True) is True
    assert tf.config.experimental.tensor_float_32_execution_enabled()
  finally:
    tf.config.experimental.enable_tensor_float_32_execution(before)


def test_time_padding_for_xla_buckets_leaves_the_loss_unchanged(tmp_path):
  trainer, _ = _trainer(str(tmp_path), total_steps=0, p_re=0.5)
  batch = trainer.task.next_batch()
  padded = steps.pad_time(batch, 8)
  assert padded.inputs.shape[1] % 8 == 0
  assert padded.inputs.shape[1] > batch.inputs.shape[1]
  np.testing.assert_array_equal(padded.seq_len, batch.seq_len)
  for field in ('inputs', 'targets', 'answer_mask', 'refresh_mask'):
    np.testing.assert_array_equal(  # zeros appended along time only
        getattr(padded, field)[:, :batch.inputs.shape[1]],
        getattr(batch, field))
    assert not getattr(padded, field)[:, batch.inputs.shape[1]:].any()
  assert steps.pad_time(batch, 8, max_time=batch.inputs.shape[1]) is batch
  plain = trainer.eval_step(steps.to_tensors(batch))
  longer = trainer.eval_step(steps.to_tensors(padded))
  for key in plain:
    np.testing.assert_allclose(plain[key], longer[key], rtol=1e-5,
                               err_msg=key)


def test_eval_sets_every_eval_interval_weighted_and_in_csv(tmp_path):
  fixed = [_copy_task(seed=7, batch_size=5).next_batch(),
           _copy_task(seed=8, batch_size=2).next_batch()]
  trainer, lines = _trainer(
      str(tmp_path), total_steps=6, report_interval=2,
      evaluation=trainer_lib.Evaluation(sets={'fixed': lambda: iter(fixed)},
                                        interval=4))
  trainer.train()
  # Evaluated at step 4 (interval) and 6 (the end), not at step 2.
  assert ['| fixed bit_acc' in line for line in lines] == [False, True, True]
  with open(trainer.run_dir.metrics) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['step']) for r in rows] == [2, 4, 6]
  assert rows[0]['fixed_loss'] == ''
  assert rows[1]['fixed_loss'] != '' and rows[2]['fixed_bit_accuracy'] != ''
  # Averaged over examples (5 and 2), not over batches.
  per_batch = [trainer.eval_step(steps.to_tensors(b)) for b in fixed]
  expected = (5 * float(per_batch[0]['loss']) +
              2 * float(per_batch[1]['loss'])) / 7
  np.testing.assert_allclose(
      trainer.evaluate_batches(fixed)['loss'], expected, rtol=1e-5)
  with pytest.raises(ValueError, match='empty'):
    trainer.evaluate_batches([])


@pytest.mark.slow
def test_train_py_stops_on_exploded_weights_with_a_message(tmp_path):
  # --learning_rate=1e8 explodes the weights at step 1: train.py exits 1
  # with a one-line reason (no traceback) and saves no checkpoint.
  result = _run_train_py(
      tmp_path, '--hidden_size=8', '--memory_address_size=4',
      '--memory_length_size=4', '--batch_size=2', '--min_length=1',
      '--max_length=2', '--training_iteration=3', '--checkpoint_interval=1',
      '--learning_rate=1e8', '--nojit_compile', '--name=boom')
  assert result.returncode == 1, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert 'train.py:' in result.stderr
  checkpoint = tmp_path / 'boom' / 'checkpoint'
  assert (tmp_path / 'boom').is_dir()  # the run started
  assert not checkpoint.exists() or not any(
      name.startswith('ckpt-') for name in os.listdir(checkpoint))
