"""Key-Value Memory Network baseline: model pieces and run_kvmemnn.py."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dam import kvmemnn
from dam import optimizers
from tasks import babi_kv


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_position_encoding_hand_computed():
  # J = 2, d = 2: l[j, k] = 1 + 4 (k - 1.5)(j - 1.5) / 4.
  np.testing.assert_allclose(kvmemnn.position_encoding(2, 2),
                             [[1.25, 0.75], [0.75, 1.25]])
  # J = 3, d = 2, j = 1, k = 1: 1 + 4 (-0.5)(-1) / 6 = 4/3.
  enc = kvmemnn.position_encoding(3, 2)
  assert enc.shape == (3, 2)
  np.testing.assert_allclose(enc[0, 0], 4. / 3., rtol=1e-6)
  np.testing.assert_allclose(enc[1], [1., 1.])  # the middle word: all ones
  # A one-word sentence is not reweighted.
  np.testing.assert_allclose(kvmemnn.position_encoding(1, 4), np.ones([1, 4]))


def _hand_model():
  # V = 4 (nil + 3 words), J = 1, M = 2, d = F = 2, one hop.
  model = kvmemnn.KVMemNN(4, 1, 2, embedding_size=2, feature_size=2, hops=1,
                          seed=0)
  model.W.assign([[0., 0.], [1., 0.], [0., 1.], [1., 1.]])
  model.W_memory.assign([[0., 0.], [2., 0.], [0., 2.], [1., -1.]])
  eye = np.eye(2, dtype=np.float32)
  for var in (model.A, model.R[0], model.B):
    var.assign(eye)
  model.TK.assign(np.zeros([2, 2]))
  model.TV.assign([[0., 1.], [0., 0.]])
  return model


def test_one_hop_answer_distribution_by_hand():
  model = _hand_model()
  stories = tf.constant([[[1], [2]]])  # slot 0: word 1, slot 1: word 2
  queries = tf.constant([[1]])
  logits = model(stories, queries).numpy()[0]
  # J = 1: encoding 1. q = W[1] = (1, 0); keys (2, 0), (0, 2);
  # values + TV = (2, 1), (0, 2); u = A q = (1, 0).
  p = np.exp([2., 0.]) / np.exp([2., 0.]).sum()  # softmax(u . A k)
  o = p[0] * np.array([2., 1.]) + p[1] * np.array([0., 2.])
  u = np.array([1., 0.]) + o  # R = I
  expected = u @ np.array([[0., 0.], [2., 0.], [0., 2.], [1., -1.]]).T
  np.testing.assert_allclose(logits, expected, rtol=1e-6)
  probs = tf.nn.softmax(logits).numpy()
  assert probs.argmax() == 1 and probs[0] < probs[3]


def test_loss_is_cross_entropy_sum_plus_l2():
  model = _hand_model()
  logits = model(tf.constant([[[1], [2]]] * 2), tf.constant([[1], [2]]))
  total, ce = kvmemnn.loss(model, logits, tf.constant([1, 2]), 0.5)
  expected_ce = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=[1, 2], logits=logits))
  squares = sum(float(tf.reduce_sum(v ** 2)) for v in model.trainable_variables)
  np.testing.assert_allclose(ce, expected_ce, rtol=1e-6)
  np.testing.assert_allclose(total, expected_ce + 0.5 * squares / 2,
                             rtol=1e-6)


def test_process_gradients_clip_noise_and_nil_rows():
  model = kvmemnn.KVMemNN(5, 3, 4, embedding_size=3, feature_size=2, seed=1)
  grads = [tf.ones_like(v) * 10. for v in model.trainable_variables]
  out = kvmemnn.process_gradients(model, grads, 2., 0.,
                                  tf.random.Generator.from_seed(0))
  for g, v in zip(out, model.trainable_variables):
    if v is model.W or v is model.W_memory:
      np.testing.assert_array_equal(g[0], 0.)
      assert float(tf.norm(g)) < 2. + 1e-5  # clipped before the zeroing
    else:
      np.testing.assert_allclose(float(tf.norm(g)), 2., rtol=1e-5)
  noisy = kvmemnn.process_gradients(
      model, [tf.zeros_like(v) for v in model.trainable_variables], 20., 1e-3,
      tf.random.Generator.from_seed(0))
  values = np.concatenate([g.numpy().ravel() for g in noisy])
  assert 0.7e-3 < values[values != 0].std() < 1.3e-3


@pytest.mark.parametrize('reader', ['bow', 'simple_gru'])
def test_nil_rows_stay_zero_after_training_steps(reader):
  model = kvmemnn.KVMemNN(6, 4, 3, embedding_size=4, feature_size=3, hops=2,
                          reader=reader, keep_prob=0.8, seed=2)
  variables = model.trainable_variables
  optimizer = optimizers.TF1Adam(0.05, epsilon=0.1)
  noise = tf.random.Generator.from_seed(3)
  rng = np.random.default_rng(0)
  stories = rng.integers(0, 6, [8, 3, 4]).astype(np.int32)
  queries = rng.integers(0, 6, [8, 4]).astype(np.int32)
  answers = rng.integers(1, 6, [8]).astype(np.int32)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      total, _ = kvmemnn.loss(model, model(stories, queries, training=True),
                              answers, 0.1)
    optimizer.apply(kvmemnn.process_gradients(
        model, tape.gradient(total, variables), 20., 1e-3, noise), variables)
    return total
  losses = [float(step()) for _ in range(30)]
  for var in (model.W, model.W_memory):
    np.testing.assert_array_equal(var[0].numpy(), 0.)
    assert np.abs(var[1:].numpy()).max() > 0.
  assert losses[-1] < losses[0]


def test_bad_arguments():
  with pytest.raises(ValueError, match='reader'):
    kvmemnn.KVMemNN(5, 3, 4, reader='lstm')
  with pytest.raises(ValueError, match='hops'):
    kvmemnn.KVMemNN(5, 3, 4, hops=0)


@pytest.mark.slow
def test_tiny_joint_run_writes_20_rows_and_resumes(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                   set_name='en')
  output = tmp_path / 'scores.csv'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')

  def run(epochs, *extra):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, 'run_kvmemnn.py'),
         f'--data_dir={data_dir}', f'--epochs={epochs}',
         '--evaluation_interval=2', '--batch_size=4', '--embedding_size=8',
         '--feature_size=6', '--memory_size=4', f'--output_file={output}',
         f'--param_output_file={tmp_path / "params.csv"}',
         f'--info_dir={tmp_path / "info"}', *extra],
        capture_output=True, text=True, env=env, timeout=300,
        cwd=str(tmp_path))
  result = run(2, '--random_state=0')
  assert result.returncode == 0, result.stderr[-3000:]
  # Resumes at epoch 2 (the saved random_state is reused) and goes on to 4.
  result = run(4)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Resumed from' in result.stdout and 'at epoch 2' in result.stdout
  assert '[epoch 3/4]' in result.stdout and '[epoch 1/4]' not in result.stdout
  # A changed model size is refused, naming it.
  refused = run(6, '--feature_size=7')
  assert refused.returncode == 2 and 'feature_size' in refused.stderr
  with open(output) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['Task']) for r in rows] == list(range(1, 21))
  assert set(rows[0]) == {'Task', 'Training Accuracy', 'Validation Accuracy',
                          'Testing Accuracy'}
  for row in rows:
    assert 0. <= float(row['Testing Accuracy']) <= 1.
  run_dir = tmp_path / 'info' / 'kvmemnn_joint'
  with open(run_dir / 'metrics.csv') as f:
    assert [int(r['epoch']) for r in csv.DictReader(f)] == [2, 4]
  with open(run_dir / 'summary.json') as f:
    summary = json.load(f)
  assert set(summary) == {'mode', 'epochs', 'settings', 'random_state',
                          'results', 'wall_time_s', 'output_file'}
  assert summary['epochs'] == 4 and summary['mode'] == 'joint'
  assert sorted(os.listdir(run_dir)) == ['.lock', 'checkpoint',
                                         'config.json', 'flags.json',
                                         'history.jsonl', 'metrics.csv',
                                         'summary.json']
  # A corrupt latest checkpoint is named and skipped (the one restore of
  # damrun.checkpoints): the run resumes from the older one.
  data_file = run_dir / 'checkpoint' / 'ckpt-4.data-00000-of-00001'
  with open(data_file, 'r+b') as f:
    f.truncate(8)
  corrupt = run(6)
  assert corrupt.returncode == 0, corrupt.stderr[-3000:]
  assert 'skipping' in corrupt.stdout and 'ckpt-4' in corrupt.stdout
  assert 'Resumed from' in corrupt.stdout and 'at epoch 2' in corrupt.stdout
  # By default the reference's task-ordered batches (its behaviour, kept
  # with --reproduce_quirks); --noreproduce_quirks mixes tasks.
  with open(tmp_path / 'info' / 'kvmemnn_joint' / 'config.json') as f:
    assert json.load(f)['mix_tasks'] is False
  mixed = run(2, '--random_state=0', '--noreproduce_quirks', '--name=mixed')
  assert mixed.returncode == 0, mixed.stderr[-3000:]
  with open(tmp_path / 'info' / 'mixed' / 'config.json') as f:
    assert json.load(f)['mix_tasks'] is True


def test_epoch_batches_mixed_or_reference_contiguous():
  rng = np.random.default_rng(0)
  # n = 23, B = 5: range(0, 18, 5) -> 4 batches, as the reference.
  mixed = babi_kv.epoch_batches(rng, 23, 5, mix_tasks=True)
  assert len(mixed) == 4 and all(len(b) == 5 for b in mixed)
  rows = np.concatenate(mixed)
  assert len(set(rows.tolist())) == 20 and rows.max() < 23
  assert any(np.any(np.diff(b) != 1) for b in mixed)  # not contiguous
  contiguous = babi_kv.epoch_batches(rng, 23, 5, mix_tasks=False)
  starts = sorted(int(b[0]) for b in contiguous)
  assert starts == [0, 5, 10, 15]
  for b in contiguous:
    np.testing.assert_array_equal(b, np.arange(b[0], b[0] + 5))
