"""bAbI on the shared loop: train.py --mode=bAbI, fine-tuning, eval.py.

Tiny models on small synthetic files in bAbI format (tests/test_babi_data.py
writes them); nothing here needs the real data.
"""

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
from damrun import babi_eval
from damrun import rundir
from damrun import trainer as trainer_lib
from tasks import babi


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL = [os.path.join(ROOT, 'eval.py')]
TRAIN = [os.path.join(ROOT, 'train.py')]
TINY_MODEL = ['--dam=True', '--num_memory_blocks=2', '--hidden_size=16',
              '--memory_address_size=8', '--memory_length_size=6',
              '--num_read_heads=2']


def _run(argv, cwd):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable] + argv, capture_output=True,
                        text=True, env=env, timeout=300, cwd=str(cwd))


def test_softmax_loss_known_answer():
  # B = 1, T = 3, V = 3; step 2 is the answer, step 0 a refresh step.
  logits = tf.constant([[[2., 0., 0.], [0., 0., 0.], [0., 1., 3.]]])
  targets = tf.constant([[0, 1, 1]])
  refresh_mask = tf.constant([[1., 0., 0.]])
  answer_mask = tf.constant([[0., 0., 1.]])
  per_step = losses.sparse_softmax_cross_entropy(logits, targets)
  loss = mrl.single_output_loss(per_step, refresh_mask, answer_mask,
                                tf.constant([3]), tf.constant(2.))  # alpha 2
  out = losses.token_metrics(logits, targets, per_step, answer_mask)
  ce0 = -np.log(np.exp(2.) / (np.exp(2.) + 2.))
  ce2 = -np.log(np.exp(1.) / (1. + np.exp(1.) + np.exp(3.)))
  np.testing.assert_allclose(loss, (ce0 + 2. * ce2) / 3., rtol=1e-6)
  np.testing.assert_allclose(out['reported_loss'], ce2, rtol=1e-6)
  np.testing.assert_allclose(out['answer_accuracy'], 0.)  # argmax 2 != 1


# -- eval on a hand-built case -------------------------------------------------

EVAL_TRAIN = """\
1 Mary went to the kitchen.
2 Where is Mary? \tkitchen\t1
"""
# Task 1: two questions, answers kitchen and garden.
EVAL_TEST_1 = """\
1 Mary went to the kitchen.
2 Where is Mary? \tkitchen\t1
1 John went to the garden.
2 Where is John? \tgarden\t1
"""
# Task 19: a two-word answer whose first word is kitchen.
EVAL_TEST_19 = """\
1 The kitchen is north of the garden.
2 How do you go from the garden to the kitchen? \tkitchen,n\t1
"""


def _eval_data(babi_files, tmp_path):
  files = babi_files.all_tasks(extra={(1, 'train'): EVAL_TRAIN,
                                      (1, 'test'): EVAL_TEST_1,
                                      (19, 'test'): EVAL_TEST_19})
  return babi.load(babi_files.write_tree(tmp_path, files), log=None)


def _constant_model(data, word):
  """A 'model' that predicts `word` at every step."""
  word_id, vocab = data.lexicon[word], data.vocab_size

  def model(inputs, seq_len, training=False):
    del seq_len, training
    return tf.one_hot(tf.fill(tf.shape(inputs), word_id), vocab)
  return model


def _oracle_model(data):
  """Predicts the right answer everywhere (looks the targets up)."""
  table = {}
  for task in data.test.values():
    for story in task.stories:
      table[story.inputs.tobytes()] = story.targets
  vocab = data.vocab_size

  def lookup(inputs, seq_len):
    out = np.zeros_like(inputs)
    for b, length in enumerate(seq_len):
      out[b, :length] = table[inputs[b, :length].tobytes()]
    return out

  def model(inputs, seq_len, training=False):
    del training
    ids = tf.numpy_function(lookup, [inputs, seq_len], tf.int32)
    return tf.one_hot(ids, vocab)
  return model


def test_eval_errors_known_answers(babi_files, tmp_path):
  data = _eval_data(babi_files, tmp_path)
  oracle = babi_eval.evaluate(_oracle_model(data), data, 1, log=lambda _: None)
  assert all(error == 0. for _, _, _, error in oracle.values())
  assert len(oracle) == 20
  constant = babi_eval.evaluate(_constant_model(data, 'kitchen'), data, 2,
                               log=lambda _: None)
  # Task 1: kitchen right, garden wrong -> 50 %; task 19: 'kitchen, n'
  # has one wrong token -> the question is wrong -> 100 %.
  assert constant[1][1:] == (2, 1, 50.)
  assert constant[19][1:] == (1, 0, 100.)
  table, mean, failed = babi_eval.report(constant)
  assert 'single supporting fact' in table and 'Failed (err. > 5%)' in table
  errors = [r[3] for r in constant.values()]
  assert mean == pytest.approx(np.mean(errors))
  assert failed == sum(e > 5. for e in errors)


# -- fine-tuning phases --------------------------------------------------------


def _trainer(tmp_path, data, lr, phase_steps, log):
  tf.random.set_seed(0)
  task = babi.BabiTask.from_data(data, batch_size=2, p_re=0.1, seed=0)
  core = model_lib.build_core(data.vocab_size, hidden_size=8, memory_size=4,
                              word_size=4, num_reads=1, num_blocks=2, seed=0)
  return trainer_lib.Trainer(
      model_lib.SequenceModel(core, data.vocab_size, 4), task,
      optimizers.make_optimizer('rmsprop', lr),
      rundir.RunDirectory('run', str(tmp_path / 'info')),
      trainer_lib.Settings(report_interval=2, checkpoint_interval=2,
                           phase_steps=phase_steps), log=log)


@pytest.mark.slow
def test_new_learning_rate_fine_tunes_and_same_rate_resumes(babi_files, tmp_path):
  data = babi.load(babi_files.write_tree(tmp_path, babi_files.all_tasks()),
                   log=None)
  lines = []
  first = _trainer(tmp_path, data, 3e-5, 6, lines.append)
  assert first.total_steps == 6
  first.train()
  assert int(first.step.numpy()) == 6
  # Same learning rate: the phase is over, nothing more to do.
  again = _trainer(tmp_path, data, 3e-5, 6, lines.append)
  assert again.total_steps == 6
  # Another learning rate: a new phase from the restored step.
  tune = _trainer(tmp_path, data, 1e-5, 4, lines.append)
  assert tune.total_steps == 10
  assert any(line.startswith('Fine-tuning') for line in lines)
  tune.step.assign(8)  # as if interrupted at step 8 and saved
  tune.save()
  # Resuming the interrupted fine-tuning (same rate) keeps its phase.
  resumed = _trainer(tmp_path, data, 1e-5, 4, lines.append)
  assert int(resumed.step.numpy()) == 8 and resumed.total_steps == 10


# -- the scripts ---------------------------------------------------------------


@pytest.mark.slow
def test_train_finetune_and_eval_scripts(babi_files, tmp_path):
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
  common = TINY_MODEL + ['--babi=True', '--p_re=0.1', '--batch_size=4',
                         '--embedding_size=8', '--report_interval=5',
                         f'--data_dir={data_dir}', '--name=b']
  result = _run(TRAIN + common + ['--learning_rate=3e-5', '--epoch=2'],
                tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert '10 steps per epoch' in result.stdout
  assert '[20/20] epoch 2.00 loss' in result.stdout  # task.progress()
  # The authors' fine-tuning command: same flags, new rate, --epoch=5 ... 1.
  result = _run(TRAIN + common + ['--learning_rate=1e-5', '--epoch=1'],
                tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Fine-tuning' in result.stdout and '[30/30]' in result.stdout
  checkpoints = os.listdir(tmp_path / 'info' / 'b' / 'checkpoint')
  assert 'ckpt-30.index' in checkpoints and 'ckpt-10.index' in checkpoints
  # The first command again would train the fine-tuned weights at the
  # first rate: refused, nothing written.
  result = _run(TRAIN + common + ['--learning_rate=3e-5', '--epoch=2'],
                tmp_path)
  assert result.returncode == 2, result.stderr[-3000:]
  assert 'trained at learning rate 3e-05 until step 20' in result.stderr
  assert '--return_to_learning_rate' in result.stderr
  assert sorted(os.listdir(tmp_path / 'info' / 'b' / 'checkpoint')) == sorted(
      checkpoints)

  result = _run(EVAL + TINY_MODEL + ['--name=b', '--num=20',
                                     f'--data_dir={data_dir}'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Mean Err.' in result.stdout and 'Failed (err. > 5%)' in result.stdout
  with open(tmp_path / 'info' / 'b' / 'eval-20.json') as f:
    saved = json.load(f)
  assert saved['step'] == 20 and len(saved['tasks']) == 20
  with open(tmp_path / 'info' / 'b' / 'eval-20.csv') as f:
    rows = list(csv.DictReader(f))
  assert [int(r['task']) for r in rows] == list(range(1, 21))

  # Clear errors: an absent step, a flag the model was not trained with.
  result = _run(EVAL + ['--name=b', '--num=7', f'--data_dir={data_dir}'],
                tmp_path)
  assert result.returncode == 2
  assert 'available steps: 10, 20, 30' in result.stderr
  result = _run(EVAL + ['--name=b', '--hidden_size=32',
                        f'--data_dir={data_dir}'], tmp_path)
  assert result.returncode == 2
  assert '--hidden_size=32 but the checkpoint was trained with 16' in (
      result.stderr)
  # A corrupt checkpoint is named, and nothing is deleted.
  data_file = tmp_path / 'info' / 'b' / 'checkpoint' / (
      'ckpt-30.data-00000-of-00001')
  with open(data_file, 'r+b') as f:
    f.truncate(8)
  result = _run(EVAL + ['--name=b', '--num=30', f'--data_dir={data_dir}'],
                tmp_path)
  assert result.returncode == 2 and 'Cannot restore' in result.stderr
  assert 'ckpt-30' in result.stderr and data_file.exists()
  # Without --num: the newest checkpoint that restores, naming the other.
  result = _run(EVAL + ['--name=b', f'--data_dir={data_dir}'], tmp_path)
  assert result.returncode == 0, result.stderr
  output = result.stdout + result.stderr
  assert 'skipping' in output and 'ckpt-30' in output
  assert 'ckpt-20' in output and data_file.exists()
  # Without --data_dir: the folder the run trained on (its flags.json) ...
  result = _run(EVAL + ['--name=b', '--num=20'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  # ... and when it is gone (a released run) and bAbI_data/ is empty too,
  # the flags that supply the data.
  os.rename(data_dir, tmp_path / 'moved')
  result = _run(EVAL + ['--name=b', '--num=20'], tmp_path)
  assert result.returncode == 2 and 'Traceback' not in result.stderr
  assert f'neither the run\'s data folder {data_dir}' in result.stderr
  assert '--data_dir=<folder holding' in result.stderr
  assert '--download' in result.stderr


def test_missing_babi_data_is_reported(tmp_path):
  result = _run(TRAIN + ['--mode=bAbI', f'--data_dir={tmp_path / "none"}'],
                tmp_path)
  assert result.returncode == 2
  assert 'tasks_1-20_v1-2.tar.gz' in result.stderr
  assert '--download' in result.stderr
  assert not (tmp_path / 'info').exists()
