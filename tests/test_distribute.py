"""Data-parallel training (dam/distribute.py, damrun/steps.py, --strategy):
one step on 2 replicas is the single-device step on the same global batch.

TensorFlow fixes its devices at start-up, so the checks run in a fresh
process whose CPU is split into 2 logical devices.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dam import distribute
from damrun import steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Trains 3 steps of every configuration on one device and under a
# MirroredStrategy of 2 logical CPU devices from the same initial weights
# and batch; prints the largest parameter and metric differences.
_COMPARE = '''
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dam import model as model_lib, optimizers
from damrun import steps
from tasks.babi import BabiTask, Story
from tasks.copy import CopyTask
from tasks.nth_farthest import NthFarthestTask

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
rng = np.random.default_rng(0)
stories = []
for _ in range(8):
  n = int(rng.integers(5, 12))
  x = rng.integers(4, 20, size=n).astype(np.int32)
  x[-1] = 3
  y = x.copy()
  y[-1] = int(rng.integers(4, 20))
  q = np.zeros(n, bool)
  q[-3:-1] = True
  stories.append(Story(x, y, q, 1))
tasks = {
    'copy': lambda: CopyTask(batch_size=4, min_length=2, max_length=5,
                             p_re=0.3, seed=1),
    'nth_farthest': lambda: NthFarthestTask(batch_size=4, p_re=0.3, seed=1),
    'babi_quirks': lambda: BabiTask(stories, 20, 4, p_re=0.3, seed=0,
                                    max_time=20, reproduce_quirks=True),
    'babi': lambda: BabiTask(stories, 20, 4, p_re=0.3, seed=0, max_time=20,
                             reproduce_quirks=False),
}
out = {}
for name, make_task in tasks.items():
  for use_dam in (True, False):
    models = []
    for strat in (None, strategy):
      task = make_task()
      with strat.scope() if strat else tf.distribute.get_strategy().scope():
        core = model_lib.build_core(
            task.output_size, use_dam=use_dam, hidden_size=16, memory_size=8,
            word_size=6, num_reads=2, num_blocks=2, keep_prob=1.0, seed=0)
        model = model_lib.SequenceModel(
            core, *((20, 8) if task.vocab_size else ()))
        optimizer = optimizers.make_optimizer('rmsprop', 1e-3)
        variables = steps.build(model, optimizer, task.batch_specs(4))
      if models:
        for v, w in zip(variables, models[0][1]):
          v.assign(w)
      step = steps.make_train_step(model, optimizer, task.loss,
                                   task.batch_specs(4), mode='function',
                                   strategy=strat)
      models.append((step, variables, task))
    (single, v1, t1), (mirrored, v2, t2) = models
    metrics = 0.
    for _ in range(3):
      batch = t1.next_batch()
      t2.next_batch()
      a = single(steps.to_tensors(batch))
      b = mirrored(steps.to_tensors(batch))
      metrics = max([metrics] + [abs(float(a[k]) - float(b[k])) for k in a])
    params = max(float(np.max(np.abs(x.numpy() - y.numpy())))
                 for x, y in zip(v1, v2))
    scale = max(float(np.max(np.abs(x.numpy()))) for x in v1)
    out[f'{name}_{"dam" if use_dam else "dnc"}'] = dict(
        params=params, metrics=metrics, scale=scale)
print(json.dumps(out))
'''


def _python(code, *args, env=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='',
             **(env or {}))
  return subprocess.run([sys.executable, '-c', code, *args],
                        capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=600)


@pytest.mark.slow
def test_mirrored_steps_equal_single_device_steps():
  result = _python(_COMPARE)
  assert result.returncode == 0, result.stderr[-3000:]
  diffs = json.loads(result.stdout.strip().splitlines()[-1])
  assert sorted(diffs) == sorted(
      f'{t}_{m}' for t in ('copy', 'nth_farthest', 'babi_quirks', 'babi')
      for m in ('dam', 'dnc'))
  for name, diff in diffs.items():
    # 3 updates of RMSProp(1e-3) from the same weights and batches: float32
    # summation order only (the sums of the two halves).
    assert diff['params'] < 1e-6, (name, diff)
    assert diff['metrics'] < 1e-5, (name, diff)
    assert diff['scale'] > 0.1, (name, diff)


def test_outside_a_strategy_the_reductions_are_the_plain_ones():
  x = tf.constant([[1., 2.], [3., 4.], [5., 6.]])
  assert float(distribute.batch_sum(x)) == 21.
  assert float(distribute.batch_count(x)) == 3.
  assert int(distribute.batch_max(tf.constant([3, 7, 5]))) == 7
  assert float(distribute.batch_mean(tf.constant([1., 2., 6.]))) == 3.
  with tf.GradientTape() as tape:
    tape.watch(x)
    total = distribute.batch_sum(2. * x)
  np.testing.assert_array_equal(tape.gradient(total, x), 2. * np.ones([3, 2]))


def test_batch_size_must_split_across_replicas():
  class Two:  # what check_divisible reads of a strategy
    num_replicas_in_sync = 2

  steps.check_divisible(16, Two())
  steps.check_divisible(16, None)
  with pytest.raises(ValueError, match=r'--batch_size=15 does not split '
                     r'across 2 replicas.*e\.g\. 14 or 16'):
    steps.check_divisible(15, Two())


def _free_ports(count):
  import socket  # pylint: disable=import-outside-toplevel
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


_TINY_COPY = ['--mode=Copy', '--hidden_size=16', '--memory_address_size=8',
              '--memory_length_size=6', '--batch_size=4', '--min_length=2',
              '--max_length=4', '--report_interval=2',
              '--checkpoint_interval=2', '--nomemory_pictures', '--name=run']


def _train(info_dir, steps, *flags, env=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='',
             **(env or {}))
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'train.py'), f'--info_dir={info_dir}',
       f'--training_iteration={steps}', *_TINY_COPY, *flags],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
      cwd=ROOT)


def _finish(process):
  out, _ = process.communicate(timeout=600)
  assert process.returncode == 0, out[-3000:]
  return out


def _multi_worker(info_dir, steps):
  ports = _free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{port}' for port in ports]}
  workers = [_train(info_dir, steps, '--strategy=multi_worker', env=dict(
      TF_CONFIG=json.dumps(dict(cluster=cluster,
                                task=dict(type='worker', index=i)))))
             for i in (1, 0)]
  return [_finish(process) for process in workers][::-1]  # chief first


@pytest.mark.slow
def test_multi_worker_trains_checkpoints_and_resumes_across_device_counts(
    tmp_path):
  run = tmp_path / 'run'
  # 2 steps on one device, 2 more on 2 workers (127.0.0.1), 2 more on one.
  _finish(_train(tmp_path, 2))
  chief, other = _multi_worker(tmp_path, 4)
  assert 'Resumed from' in chief and 'ckpt-2 at step 2' in chief
  assert '2 replicas (--strategy=multi_worker)' in chief
  assert '[4/4]' in chief and '[4/4]' not in other  # the chief reports
  assert sorted(os.listdir(run / 'checkpoint')) == [
      'checkpoint', 'ckpt-2.data-00000-of-00001', 'ckpt-2.index',
      'ckpt-4.data-00000-of-00001', 'ckpt-4.index']
  # The other worker resumed from the chief's checkpoint and wrote its own.
  assert (run / 'worker1' / 'checkpoint' / 'ckpt-4.index').exists()
  history = (run / 'worker1' / 'history.jsonl').read_text().splitlines()
  assert json.loads(history[-1])['checkpoint'].endswith('run/checkpoint/'
                                                        'ckpt-2')
  # Both workers hold the same weights.
  chief_weights = tf.train.load_checkpoint(str(run / 'checkpoint' /
                                               'ckpt-4'))
  other_weights = tf.train.load_checkpoint(str(run / 'worker1' /
                                               'checkpoint' / 'ckpt-4'))
  keys = [k for k, _ in tf.train.list_variables(str(run / 'checkpoint' /
                                                    'ckpt-4'))
          if k.startswith('model/')]
  assert keys
  for key in keys:
    np.testing.assert_array_equal(chief_weights.get_tensor(key),
                                  other_weights.get_tensor(key))
  out = _finish(_train(tmp_path, 6))
  assert 'ckpt-4 at step 4' in out and '[6/6]' in out
  rows = (run / 'metrics.csv').read_text().splitlines()
  assert [row.split(',')[0] for row in rows[1:]] == ['2', '4', '6']


def test_batch_size_not_divisible_is_refused_by_the_script(tmp_path):
  result = _train(tmp_path, 2, '--strategy=mirrored', '--cpu_devices=2',
                  '--batch_size=3')
  out, _ = result.communicate(timeout=300)
  assert result.returncode == 1, out[-2000:]
  assert ('--batch_size=3 does not split across 2 replicas' in out and
          'Traceback' not in out)
  assert not (tmp_path / 'run').exists()  # nothing written
