"""experiments/release_weights.py: a bAbI run's weights as a small run
directory that eval.py evaluates like the run itself.

A tiny model trained for a few steps on the small generated bAbI files of
conftest's `babi_files`; nothing here needs the real data.
"""

import hashlib
import json
import os

import numpy as np
import pytest

from test_babi_training import EVAL, ROOT, TINY_MODEL, TRAIN, _run

RELEASE = [os.path.join(ROOT, 'experiments', 'release_weights.py')]


def _checkpoint_bytes(folder, step):
  return sum(os.path.getsize(os.path.join(folder, name))
             for name in os.listdir(folder)
             if name.startswith(f'ckpt-{step}.'))


def _digests(folder):
  """path -> sha256 of every file under `folder`."""
  out = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, folder)] = hashlib.sha256(
            f.read()).hexdigest()
  return out


def _eval_rows(run_root, step):
  with open(os.path.join(run_root, f'eval-{step}.json')) as f:
    saved = json.load(f)
  assert saved['step'] == step
  return [(r['task'], r['questions'], r['right'], r['error_percent'])
          for r in saved['tasks']], saved['mean_error_percent']


@pytest.mark.slow
def test_release_holds_the_weights_only_and_evaluates_as_the_run(
    babi_files, tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tasks import babi  # pylint: disable=import-outside-toplevel
  # Tasks 1-15 answer 'ball', 16-20 a word of their own, in training and
  # test: a few steps at a high rate learn 'ball', and the error table is
  # not the same number everywhere.
  def story(n):
    word = 'ball' if n <= 15 else ('apple', 'box', 'cup', 'desk', 'egg')[
        n - 16]
    return (f'1 Mary saw the {word}.\n2 John took it.\n'
            f'3 What did Mary see? \t{word}\t1\n') * 2
  files = {(n, split): story(n) for n in babi.TASKS
           for split in ('train', 'test')}
  data_dir = babi_files.write_tree(tmp_path, files)
  result = _run(TRAIN + TINY_MODEL + [
      '--babi=True', '--p_re=0.1', '--batch_size=4', '--embedding_size=8',
      '--report_interval=5', '--epoch=2',
      '--learning_rate=1e-2', '--nomemory_pictures', f'--data_dir={data_dir}',
      '--name=b'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  source = tmp_path / 'info' / 'b'
  steps = sorted(int(n[5:-6]) for n in os.listdir(source / 'checkpoint')
                 if n.endswith('.index'))
  assert len(steps) >= 2, steps
  step = steps[-2]  # an older one: --num picks it, not the newest
  before = _digests(source)

  out = tmp_path / 'results' / 'b'
  result = _run(RELEASE + [f'--run={source}', f'--out={out}',
                           f'--num={step}'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'ckpt-{step}' in result.stdout and 'Written ' in result.stdout
  assert _digests(source) == before  # the source run is untouched

  # Weights only: the model's variables, at the source step, bit for bit.
  assert sorted(os.listdir(out)) == ['checkpoint', 'config.json',
                                     'flags.json']
  prefix = str(out / 'checkpoint' / f'ckpt-{step}')
  assert tf.train.latest_checkpoint(str(out / 'checkpoint')) == prefix
  keys = {key for key, _ in tf.train.list_variables(prefix)}
  keys.discard('_CHECKPOINTABLE_OBJECT_GRAPH')
  source_prefix = str(source / 'checkpoint' / f'ckpt-{step}')
  source_keys = {key for key, _ in tf.train.list_variables(source_prefix)}
  assert any(key.startswith('optimizer/') for key in source_keys)
  counter = 'save_counter/.ATTRIBUTES/VARIABLE_VALUE'  # restore() wants it
  assert keys - {counter} == {key for key in source_keys
                              if key.startswith('model/')}
  keys.discard(counter)
  released = tf.train.load_checkpoint(prefix)
  original = tf.train.load_checkpoint(source_prefix)
  for key in keys:
    np.testing.assert_array_equal(released.get_tensor(key),
                                  original.get_tensor(key), err_msg=key)
  assert (_checkpoint_bytes(out / 'checkpoint', step) <
          _checkpoint_bytes(source / 'checkpoint', step) / 2)
  with open(out / 'config.json') as f:
    config = json.load(f)
  with open(source / 'config.json') as f:
    source_config = json.load(f)
  assert config.pop('release')['step'] == step
  assert config == source_config

  # eval.py reads the release as a run (its newest checkpoint, no --num)
  # and gives the source run's numbers at that step.
  result = _run(EVAL + [f'--info_dir={tmp_path / "results"}', '--name=b',
                        f'--data_dir={data_dir}'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  for n in babi.TASKS:
    assert babi.TASK_NAMES[n].replace('-', ' ') in result.stdout, n
  assert 'Mean Err.' in result.stdout and 'Failed (err. > 5%)' in result.stdout
  assert f'ckpt-{step} (DAM, step {step})' in result.stdout
  result = _run(EVAL + ['--name=b', f'--num={step}', f'--data_dir={data_dir}'],
                tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  rows, mean = _eval_rows(out, step)
  assert len(rows) == 20
  assert len({row[3] for row in rows}) > 1, rows  # a table, not one number
  assert (rows, mean) == _eval_rows(source, step)

  # A second release into the same folder is refused; nothing changes.
  written = _digests(out)
  result = _run(RELEASE + [f'--run={source}', f'--out={out}'], tmp_path)
  assert result.returncode == 2
  assert 'already holds a release' in result.stderr
  assert f'step {step}' in result.stderr and 'another --out' in (
      result.stderr)
  assert _digests(out) == written


def _fake_run(root, checkpoint_steps):
  """A bAbI run directory whose checkpoint files are only names (enough for
  the refusals, which come before any checkpoint is read)."""
  root.mkdir(parents=True)
  with open(root / 'config.json', 'w') as f:
    json.dump(dict(mode='bAbI', task='bAbI', dam=True, vocab_size=10,
                   embedding_size=4), f)
  (root / 'checkpoint').mkdir()
  for step in checkpoint_steps:
    for suffix in ('index', 'data-00000-of-00001'):
      (root / 'checkpoint' / f'ckpt-{step}.{suffix}').write_bytes(b'')
  return root


def test_release_refuses_a_missing_run_an_absent_step_and_a_full_out(
    tmp_path):
  out = tmp_path / 'release'
  result = _run(RELEASE + [f'--run={tmp_path / "nowhere"}', f'--out={out}'],
                tmp_path)
  assert result.returncode == 2
  assert 'No run directory at' in result.stderr
  assert '--run=<info_dir>/<name>' in result.stderr
  (tmp_path / 'empty').mkdir()
  result = _run(RELEASE + [f'--run={tmp_path / "empty"}', f'--out={out}'],
                tmp_path)
  assert result.returncode == 2 and 'holds no config.json' in result.stderr

  untrained = _fake_run(tmp_path / 'info' / 'new', [])
  result = _run(RELEASE + [f'--run={untrained}', f'--out={out}'], tmp_path)
  assert result.returncode == 2 and 'no checkpoint yet' in result.stderr

  run = _fake_run(tmp_path / 'info' / 'b', [10, 20])
  result = _run(RELEASE + [f'--run={run}', f'--out={out}', '--num=7'],
                tmp_path)
  assert result.returncode == 2
  assert 'No checkpoint at step 7' in result.stderr
  assert 'available steps: 10, 20' in result.stderr
  assert '--num' in result.stderr

  # An --out holding files, or inside the source run, is refused.
  out.mkdir()
  (out / 'notes.txt').write_text('mine')
  result = _run(RELEASE + [f'--run={run}', f'--out={out}'], tmp_path)
  assert result.returncode == 2 and 'holds files' in result.stderr
  result = _run(RELEASE + [f'--run={run}', f'--out={run / "release"}'],
                tmp_path)
  assert result.returncode == 2 and 'inside the run' in result.stderr
  assert not (run / 'release').exists() and not out.joinpath(
      'config.json').exists()
  assert sorted(os.listdir(tmp_path)) == ['empty', 'info', 'release']
