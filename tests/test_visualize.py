"""visualize.py and its library (damrun/pictures.py, damrun/saved.py):
pictures of real (tiny) runs trained by the scripts.

The arrays behind the pictures must be the states `dam.unroll` computes
with the run's restored weights on the same input; the pictures must be
real images; the learning curves must come from metrics.csv; bad input
gets a message, not a traceback.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from matplotlib import image as mpimg

from damrun import pictures
from damrun import reporting
from damrun import saved
from dam.unroll import unroll

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ('--hidden_size=8', '--memory_address_size=6', '--memory_length_size=4',
        '--num_read_heads=2', '--num_memory_blocks=2', '--nojit_compile',
        '--batch_size=2', '--report_interval=2', '--checkpoint_interval=2')
COPY = ('train.py', '--mode=Copy', '--bit_w=3', '--min_length=2',
        '--max_length=3', '--training_iteration=4') + TINY


def _python(args, cwd):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable] + list(args), capture_output=True,
                        text=True, env=env, timeout=300, cwd=str(cwd))


def _train(root, script, *flags):
  result = _python([os.path.join(ROOT, script), f'--info_dir={root}',
                    *flags], root)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.fixture(scope='module')
def copy_runs(tmp_path_factory):
  """info/ with a DAM Copy run (TensorBoard memory pictures on) and a DNC
  Copy run (--nomemory_pictures), 4 steps each, checkpoints at 2 and 4."""
  root = tmp_path_factory.mktemp('info')
  _train(root, *COPY, '--dam=True', '--name=copy_dam')
  _train(root, *COPY, '--dam=False', '--num_write_heads=2',
         '--nomemory_pictures', '--name=copy_dnc')
  return root


@pytest.fixture(scope='module')
def data_runs(tmp_path_factory, babi_files):
  """info/ with a bAbI DAM run, a Convex Hull DNC run and an Nth Farthest
  DAM run, and their data folders."""
  root = tmp_path_factory.mktemp('info')
  babi_dir = babi_files.write_tree(root, babi_files.all_tasks())
  _train(root, 'train.py', '--mode=bAbI', f'--data_dir={babi_dir}',
         '--embedding_size=5', '--training_iteration=2', '--name=babi_dam',
         *TINY)
  hull_dir = root / 'hull'
  _train(root, 'run_convexhull.py', '--generate_data', f'--data_dir={hull_dir}',
         '--num_train_examples=20', '--num_test_examples=3', '--max_n=10')
  _train(root, 'run_convexhull.py', f'--data_dir={hull_dir}', '--max_n=10',
         '--dam=False', '--mlp_sizes=8', '--training_iteration=2',
         '--eval_batch_size=3', '--name=hull_dnc', *TINY)
  _train(root, 'run_nfar.py', '--num_vectors=4', '--vector_size=3',
         '--test_examples=5', '--mlp_sizes=8', '--training_iteration=2',
         '--eval_batch_size=5', '--name=nfar_dam', *TINY)
  return root, dict(babi_dam=str(babi_dir), hull_dnc=str(hull_dir))


def _states_after_every_step(model, batch):
  """The state after every step of the example in `batch` (one example),
  from `dam.unroll` (T copies, lengths 1..T, finished sequences frozen)."""
  length = int(batch.seq_len[0])
  inputs = tf.convert_to_tensor(batch.inputs[:1, :length])
  if model.embed is not None:
    inputs = model.embed(inputs)
  copies = tf.tile(inputs, [length] + [1] * (inputs.shape.rank - 1))
  return unroll(model.core, copies, tf.range(1, length + 1),
                freeze_finished=True)


def _check_pictures(root, name, data_dir=None, index=None, kinds=()):
  """Draws the run's example with --record; checks the recorded arrays
  against unroll's states and the PNGs; returns the written paths."""
  run = saved.open_run(name, str(root))
  task = pictures.task_data(run, 0, data_dir)
  example = pictures.example(task, index, seed=0)
  loaded = pictures.load(run, task=task)
  assert loaded.step == 4 if name.startswith('copy') else loaded.step == 2
  # The restored weights are the checkpoint's.
  reader = tf.train.load_checkpoint(loaded.checkpoint)
  key = 'model/core/_output_linear/w/.ATTRIBUTES/VARIABLE_VALUE'
  np.testing.assert_array_equal(loaded.model.core._output_linear.w.numpy(),
                                reader.get_tensor(key))
  out = root / 'plots' / name
  written = pictures.draw(loaded, example, str(out), record=True)
  record = np.load([p for p in written if p.endswith('.npz')][0])
  outputs, states = _states_after_every_step(loaded.model, example.batch)
  access = states.access_state
  length = int(example.batch.seq_len[0])
  assert record['write_weights'].shape[0] == length
  for key in ('write_weights', 'read_weights', 'usage'):
    np.testing.assert_allclose(record[key], getattr(access, key), rtol=0,
                               atol=1e-5, err_msg=key)
  np.testing.assert_allclose(record['logits'], outputs[-1], rtol=0, atol=1e-5)
  np.testing.assert_allclose(record['memory'], access.memory[-1], rtol=0,
                             atol=1e-5)
  if run.config['dam']:
    np.testing.assert_allclose(record['attentive_gate'],
                               access.attentive_gate, rtol=0, atol=1e-5)
    assert 'read_mode' not in record and 'link' not in record
  else:
    np.testing.assert_allclose(record['link'], access.linkage.link[-1],
                               rtol=0, atol=1e-5)
    assert record['read_mode'].shape == (length, 2, 1 + 2 * run.config[
        'num_write_heads'])
    assert 'attentive_gate' not in record
  pngs = sorted(p for p in written if p.endswith('.png'))
  assert [os.path.basename(p).rsplit('_', 1)[1][:-4] for p in pngs] == sorted(
      ('memory',) + tuple(kinds))
  for path in pngs:
    picture = mpimg.imread(path)
    # The answers panel of a one-question story is one line high.
    assert picture.shape[0] > (60 if 'answers' in path else 200), path
    assert picture.shape[1] > 300, path
    assert picture[..., :3].std() > 0.05, path  # not blank
  return written, example


@pytest.mark.parametrize('name', ['copy_dam', 'copy_dnc'])
def test_copy_pictures_are_the_unrolled_states(copy_runs, name):
  written, example = _check_pictures(copy_runs, name, kinds=('sequence',))
  assert all(os.path.basename(p).startswith('step4_seed0_') for p in written)
  record = np.load(written[-1])
  np.testing.assert_array_equal(record['inputs'], example.batch.inputs[0])
  np.testing.assert_allclose(record['outputs'],
                             1. / (1. + np.exp(-record['logits'])),
                             rtol=1e-6)


@pytest.mark.slow
def test_babi_pictures(data_runs):
  root, data_dirs = data_runs
  written, example = _check_pictures(root, 'babi_dam', data_dirs['babi_dam'],
                                     index=3, kinds=('answers',))
  # Index 3 over tasks 1..20 in order (one test story each): task 4.
  assert os.path.basename(written[0]).startswith('step2_task4-0_')
  assert (example.batch.inputs[0] == 3).sum() == 1  # one answer '-'


@pytest.mark.slow
def test_convex_hull_and_nth_farthest_pictures(data_runs):
  root, data_dirs = data_runs
  written, example = _check_pictures(root, 'hull_dnc', data_dirs['hull_dnc'],
                                     index=4, kinds=('points', 'sequence'))
  # Index 4: the n = 10 file's second example (3 examples of n = 5 first).
  assert os.path.basename(written[0]).startswith('step2_test10-1_')
  np.testing.assert_allclose(example.info['points'],
                             example.batch.inputs[0, :10, :2])
  written, _ = _check_pictures(root, 'nfar_dam', index=2,
                               kinds=('points', 'sequence'))
  assert os.path.basename(written[0]).startswith('step2_test-2_')


def _images(log_dir, tag='memory'):
  """{step: decoded RGB} of the image summaries `tag` in `log_dir`."""
  found = {}
  for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          encoded = tf.make_ndarray(value.tensor)[2]
          found[event.step] = tf.io.decode_png(encoded).numpy()
  return found


def test_training_logs_memory_pictures_to_tensorboard(copy_runs):
  images = _images(copy_runs / 'copy_dam' / 'log')
  assert sorted(images) == [2, 4]  # every evaluation (= report) step
  for picture in images.values():
    assert picture.ndim == 3 and picture.shape[2] == 3
    assert picture.shape[0] > 200 and picture.std() > 10  # not blank
  assert not _images(copy_runs / 'copy_dnc' / 'log')  # --nomemory_pictures


def test_visualize_script_writes_the_pictures_and_curves(copy_runs):
  result = _python([os.path.join(ROOT, 'visualize.py'), '--name=copy_dam',
                    f'--info_dir={copy_runs}', '--num=2'], copy_runs)
  assert result.returncode == 0, result.stderr[-3000:]
  plots_dir = copy_runs / 'copy_dam' / 'plots'
  assert sorted(os.listdir(plots_dir)) == ['step2_seed0_memory.png',
                                           'step2_seed0_sequence.png']
  out = copy_runs / 'curves.png'
  result = _python([os.path.join(ROOT, 'visualize.py'), '--curves',
                    str(copy_runs / 'copy_dam'), 'copy_dnc',
                    f'--info_dir={copy_runs}', f'--out={out}',
                    '--smooth=0.5', '--log_scale'], copy_runs)
  assert result.returncode == 0, result.stderr[-3000:]
  picture = mpimg.imread(out)
  assert picture.shape[0] > 200 and picture[..., :3].std() > 0.05


def test_learning_curves_plot_the_metrics_csv_points(tmp_path):
  run = tmp_path / 'copy_dam'
  run.mkdir()
  (run / 'metrics.csv').write_text(
      'step,train_loss,train_accuracy,eval_loss\n'
      '10,2.5,0.25,\n'
      '20,1.5,0.5,1.75\n'
      '30,0.5,0.75,0.25\n')
  (run / 'config.json').write_text(json.dumps(
      dict(task='Copy', dam=True, num_memory_blocks=2)))
  (run / 'flags.json').write_text(json.dumps(dict(p_re=0.1,
                                                  learning_rate=1e-4)))
  columns = reporting.read_metrics(str(run / 'metrics.csv'))
  np.testing.assert_array_equal(columns['eval_loss'][1:], [1.75, 0.25])
  assert np.isnan(columns['eval_loss'][0])
  assert pictures.run_label(str(run)) == 'copy_dam (DAM K=2, p_re 0.1, lr 0.0001)'
  figure = pictures.learning_curves(['copy_dam'], str(tmp_path))
  lines = {}
  for axes in figure.axes:
    for line in axes.get_lines():
      if len(line.get_xdata()):
        lines[(axes.get_gid(), line.get_linestyle())] = (
            list(line.get_xdata()), list(line.get_ydata()))
  assert lines[('loss', '-')] == ([10, 20, 30], [2.5, 1.5, 0.5])
  assert lines[('loss', '--')] == ([20, 30], [1.75, 0.25])
  assert lines[('accuracy', '-')] == ([10, 20, 30], [0.25, 0.5, 0.75])


def _visualize(cwd, *flags):
  result = _python([os.path.join(ROOT, 'visualize.py'), *flags], cwd)
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  return result.returncode, result.stderr


def test_bad_input_gets_a_message(copy_runs, tmp_path):
  info = f'--info_dir={copy_runs}'
  # No such run.
  code, err = _visualize(tmp_path, '--name=nothing', info)
  assert code == 2 and "No run 'nothing'" in err and 'config.json' in err
  # ... answered with the runs there are and the command that makes one.
  assert 'copy_dam, copy_dnc' in err and '--name=copy_dam' in err
  assert 'python train.py --name=nothing' in err
  # A run without a checkpoint yet.
  (copy_runs / 'fresh').mkdir()
  (copy_runs / 'fresh' / 'config.json').write_text(
      (copy_runs / 'copy_dam' / 'config.json').read_text())
  code, err = _visualize(tmp_path, '--name=fresh', info)
  assert code == 2 and 'has no checkpoint yet' in err
  # A KV-MemNN run: no DNC-style memory.
  (copy_runs / 'kv').mkdir()
  (copy_runs / 'kv' / 'config.json').write_text(json.dumps(
      dict(model='KV-MemNN', mode='babi')))
  code, err = _visualize(tmp_path, '--name=kv', info)
  assert code == 2 and 'KV-MemNN run' in err and '--curves' in err
  # --example is for fixed test sets; Copy examples are generated.
  code, err = _visualize(tmp_path, '--name=copy_dam', info, '--example=3')
  assert code == 2 and 'pass --seed instead' in err
  code, err = _visualize(tmp_path, '--name=copy_dam', info, '--babi_task=2')
  assert code == 2 and '--babi_task is for bAbI runs' in err
  # A checkpoint step that is not there.
  code, err = _visualize(tmp_path, '--name=copy_dam', info, '--num=3')
  assert code == 2 and 'available steps: 2, 4' in err
  # Curves of a directory without metrics.csv.
  code, err = _visualize(tmp_path, '--curves', str(tmp_path))
  assert code == 2 and 'No metrics.csv' in err
  assert 'There is no info/ folder yet' in err  # the default --info_dir
  code, err = _visualize(tmp_path, '--curves', 'gone', info)
  assert code == 2 and 'No metrics.csv in gone' in err
  assert f'--curves {copy_runs}/copy_dam' in err  # a run that has curves
  # Nothing to do.
  code, err = _visualize(tmp_path)
  assert code != 0 and '--name=<run>' in err


@pytest.mark.slow
def test_example_index_out_of_range(data_runs):
  root, data_dirs = data_runs
  code, err = _visualize(root, '--name=babi_dam', f'--info_dir={root}',
                         f'--data_dir={data_dirs["babi_dam"]}',
                         '--example=20')
  assert code == 2 and 'out of range' in err and '(0..19)' in err
  code, err = _visualize(root, '--name=babi_dam', f'--info_dir={root}',
                         f'--data_dir={data_dirs["babi_dam"]}',
                         '--babi_task=2', '--example=1')
  assert code == 2 and 'task 2' in err and '(0..0)' in err
