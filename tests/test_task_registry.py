"""Adding a task is its module and one line in tasks/registry.py.

A toy task defined here (`ToyTask`: bit vectors, a flag, the vectors again),
registered only for a test's duration, goes through every place that takes
tasks from the registry: train.py's --mode, the suites' command lines
(experiments/suites.py), reopening its run (damrun/saved.py,
damrun/pictures.py) and visualize.py's pictures, the generic ones, since
it declares no picture of its own. The scripts run in a subprocess through
a launcher that registers the toy task first, then runs the script as
`python <script>` does.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tasks import example as example_lib
from tasks import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


class ToyTask(example_lib.ExampleTask):
  """L random bit vectors (L in [min_length, max_length]), a flag step, then
  the L vectors again as targets. Declares only what train.py builds it
  from: its flags (`flag_args`)."""

  flag_args = example_lib.ExampleTask.flag_args + ('bit_w',)

  def __init__(self, batch_size=2, bit_w=3, min_length=1, max_length=3,
               p_re=0., seed=None):
    super().__init__(batch_size, min_length, max_length, p_re, seed)
    self.bit_w = bit_w
    self.input_size = self.output_size = bit_w + 1
    self.max_time = 2 * self.max_length + 1
    self.answer_channels = slice(0, bit_w)

  def _example(self):
    length = self._length()
    items = self._bits([length, self.bit_w])
    time = 2 * length + 1
    inputs = np.zeros([time, self.input_size], np.float32)
    inputs[:length, :self.bit_w] = items
    inputs[length, self.bit_w] = 1.
    targets = inputs.copy()
    targets[length + 1:, :self.bit_w] = items
    steps = np.arange(time)
    return example_lib.Example(inputs, targets, steps > length,
                               steps < length)


# Registers the toy task, then runs the script given (with its flags) as
# `python <script>` does.
_LAUNCH = f'''
import runpy, sys
sys.path[:0] = [{ROOT!r}, {TESTS!r}]
from tasks import registry
registry.register('Toy', 'test_task_registry:ToyTask')
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''

# The model and run settings of the toy runs: tiny, eager-sized, no XLA.
_TINY = dict(hidden_size=8, memory_address_size=6, memory_length_size=4,
             num_read_heads=1, num_memory_blocks=2, batch_size=2, bit_w=3,
             min_length=1, max_length=3, report_interval=2,
             checkpoint_interval=2, jit_compile=False)


def _python(args, cwd, register=True):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  command = ['-c', _LAUNCH] if register else []
  return subprocess.run([sys.executable, *command, *args],
                        capture_output=True, text=True, env=env, timeout=600,
                        cwd=str(cwd))


def _toy_run(info_dir, name='toy'):
  """A toy run directory as train.py writes it, without a checkpoint."""
  run = info_dir / name
  run.mkdir(parents=True)
  config = dict(task='Toy', mode='Toy', dam=True, hidden_size=8,
                memory_address_size=6, memory_length_size=4,
                num_write_heads=1, num_read_heads=1, num_memory_blocks=2,
                mlp_sizes=[], bit_w=3)
  (run / 'config.json').write_text(json.dumps(config))
  (run / 'flags.json').write_text(json.dumps(dict(min_length=1,
                                                  max_length=3, bit_w=3)))
  return run


# -- the registry --------------------------------------------------------------


def test_every_task_is_registered_once_by_name():
  import tasks  # pylint: disable=import-outside-toplevel
  assert registry.names() == ['Copy', 'AssociativeRecall',
                              'RepresentationRecall', 'bAbI', 'NthFarthest',
                              'ConvexHull']
  assert registry.names('train.py') == registry.names()[:4]
  assert registry.scripts() == ['train.py', 'run_nfar.py',
                                'run_convexhull.py']
  assert list(tasks.TASKS) == registry.names()
  for name in registry.names():
    task_class = registry.get(name.upper())  # any case
    assert registry.name_of(task_class) == name
    assert tasks.TASKS[name] is task_class
  assert registry.canonical('babi') == 'bAbI'
  assert registry.canonical('Toy') is None
  with pytest.raises(KeyError, match='tasks/registry.py'):
    registry.get('Toy')


def test_a_task_is_registered_for_a_block_only():
  with registry.registered('Toy', ToyTask) as entry:
    assert entry == registry.Entry('Toy', ToyTask, 'train.py')
    assert registry.names('train.py')[-1] == 'Toy'
    assert registry.get('toy') is ToyTask
    assert registry.name_of(ToyTask) == 'Toy'
    with pytest.raises(ValueError, match='registered already'):
      registry.register('TOY', ToyTask)
  assert 'Toy' not in registry.names()
  with pytest.raises(KeyError):
    registry.name_of(ToyTask)
  with pytest.raises(ValueError, match='module:Class'):
    registry.register('Toy', 'no_colon')


def test_train_py_tasks_build_from_train_py_flags():
  """`flag_args` of every train.py task are train.py flags, and
  `from_flags` is the constructor with them."""
  from damrun import presets  # pylint: disable=import-outside-toplevel
  for name in registry.names('train.py') + ['Toy']:
    task_class = ToyTask if name == 'Toy' else registry.get(name)
    assert set(task_class.flag_args) <= set(presets.TRAIN), name
  copy_class = registry.get('Copy')
  values = dict(presets.TRAIN, bit_w=5, min_length=2, max_length=4)
  built = copy_class.from_flags(values, 3, 0.5, 7).next_batch()
  direct = copy_class(batch_size=3, bit_w=5, min_length=2, max_length=4,
                      p_re=0.5, seed=7).next_batch()
  for a, b in zip(built, direct):
    np.testing.assert_array_equal(a, b)


# -- a toy run reopened (damrun/saved.py, damrun/pictures.py) ------------------


def test_a_run_of_an_unregistered_task_is_refused(tmp_path):
  from damrun import saved  # pylint: disable=import-outside-toplevel
  _toy_run(tmp_path)
  with pytest.raises(saved.SavedRunError, match="'Toy'.*tasks/registry.py"):
    saved.open_run('toy', str(tmp_path), need_checkpoint=False)


def test_a_reopened_toy_run_draws_the_generic_pictures(tmp_path):
  from damrun import pictures  # pylint: disable=import-outside-toplevel
  from damrun import saved  # pylint: disable=import-outside-toplevel
  _toy_run(tmp_path)
  with registry.registered('Toy', ToyTask):
    run = saved.open_run('toy', str(tmp_path), need_checkpoint=False)
    settings = saved.settings(run)
    assert (settings['bit_w'], settings['max_length']) == (3, 3)
    task = pictures.task_data(run, seed=0)
    assert task[:4] == ('Toy', 4, 4, None)  # the task's own sizes
    with pytest.raises(pictures.PictureError, match='pass --seed instead'):
      pictures.example(task, 3)
    with pytest.raises(pictures.PictureError, match='is for bAbI runs'):
      pictures.example(task, babi_task=2)
    example = pictures.example(task, seed=0)
    assert example.name == 'seed0'
    assert example.info['description'] == 'Toy example of seed 0'
    assert example.batch.inputs.shape[0] == 1
    model = saved.build_model(run.config, task.output_size, task.input_size)
    loaded = pictures.Loaded(run, model, 'ckpt-0', 0, task)
    written = pictures.draw(loaded, example, str(tmp_path / 'plots'),
                            record=True)
  assert [os.path.basename(p) for p in written] == [
      'step0_seed0_memory.png', 'step0_seed0_sequence.png',
      'step0_seed0_record.npz']
  record = np.load(written[-1])
  np.testing.assert_allclose(record['outputs'],
                             1. / (1. + np.exp(-record['logits'])),
                             rtol=1e-6)  # the default activation: sigmoid


# -- a suite entry (experiments/suites.py) -------------------------------------


def _toy_suite(monkeypatch):
  """A suite 'toy' of one experiment: the toy task through train.py
  (--mode in lower case), DAM and DNC, seed 0, 4 steps."""
  from experiments import suites  # pylint: disable=import-outside-toplevel
  experiment = suites.Experiment(
      'toy', (('train.py', dict(mode='toy', **_TINY)),), ('dam', 'dnc'),
      (0,), 4, dict(eval_batches=1), 'eval_bit_accuracy', 'a toy task')
  monkeypatch.setitem(suites.SUITES, 'toy', (experiment,))
  return suites


def test_a_suite_entry_of_the_toy_task_builds_its_command_line(
    monkeypatch, tmp_path):
  suites = _toy_suite(monkeypatch)
  dam_run, dnc_run = suites.runs('toy')
  assert (dam_run.name, dnc_run.name) == ('toy_dam_s0', 'toy_dnc_s0')
  (script, flags), = dnc_run.phases
  argv = suites.command_line(script, flags, str(tmp_path))
  assert argv[:2] == ['train.py', '--mode=toy']
  for flag in ('--nodam', '--p_re=0.0', '--seed=0', '--training_iteration=4',
               '--eval_batches=1', '--name=toy_dnc_s0', '--nojit_compile',
               f'--info_dir={tmp_path}'):
    assert flag in argv, flag
  with registry.registered('Toy', ToyTask):
    assert registry.entry(flags['mode']).script == script


# -- the scripts ---------------------------------------------------------------


@pytest.mark.slow
def test_toy_task_trains_reopens_and_draws_through_the_scripts(
    monkeypatch, tmp_path):
  from damrun import pictures  # pylint: disable=import-outside-toplevel
  from damrun import saved  # pylint: disable=import-outside-toplevel
  suites = _toy_suite(monkeypatch)
  run = suites.runs('toy')[0]  # the DAM
  (script, flags), = run.phases
  argv = suites.command_line(script, flags, str(tmp_path))
  argv[0] = os.path.join(ROOT, argv[0])
  # Without the registration, train.py does not know the task.
  refused = _python(argv, tmp_path, register=False)
  assert refused.returncode == 1 and 'mode' in refused.stderr
  # train.py (the suite's command line) trains it: 4 steps, checkpoints 2, 4.
  trained = _python(argv, tmp_path)
  assert trained.returncode == 0, trained.stderr[-3000:]
  assert 'DAM on Toy' in trained.stdout
  root = tmp_path / run.name
  config = json.loads((root / 'config.json').read_text())
  assert config['task'] == 'Toy'  # the registry's name, whatever the case
  # Reopened (damrun/saved.py, damrun/pictures.py) at its last checkpoint.
  with registry.registered('Toy', ToyTask):
    reopened = saved.open_run(run.name, str(tmp_path))
    task = pictures.task_data(reopened)
    loaded = pictures.load(reopened, task=task)
    assert loaded.step == 4 and task.input_size == 4
    written = pictures.draw(loaded, pictures.example(task), str(tmp_path / 'p'))
  assert len(written) == 2
  # visualize.py draws it, and refuses it without the registration.
  drawn = _python([os.path.join(ROOT, 'visualize.py'), f'--name={run.name}',
                   f'--info_dir={tmp_path}', '--num=2'], tmp_path)
  assert drawn.returncode == 0, drawn.stderr[-3000:]
  assert sorted(os.listdir(root / 'plots')) == ['step2_seed0_memory.png',
                                                'step2_seed0_sequence.png']
  unknown = _python([os.path.join(ROOT, 'visualize.py'), f'--name={run.name}',
                     f'--info_dir={tmp_path}'], tmp_path, register=False)
  assert unknown.returncode == 2 and 'tasks/registry.py' in unknown.stderr
