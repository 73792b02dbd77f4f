"""One model configuration (dam/config.py): the authors' flags and a run's
config.json read into `ModelConfig`, config.json written back unchanged,
cores made from the name -> core table `CORES`, a third core added by one
entry, and --memory beside the authors' --dam."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from dam import config as config_lib
from damrun import presets
from damrun import resume_flags
from damrun import rundir
from damrun import saved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The model flags of train.py's defaults (the authors' Copy command), as
# absl gives them (`FLAGS.flag_values_dict()`), at a tiny size.
_FLAGS = dict(presets.TRAIN, hidden_size=8, memory_address_size=6,
              memory_length_size=4, num_read_heads=2, num_memory_blocks=3,
              mlp_sizes='5', seed=0, memory=None)

# config.json's model keys for them, as train.py wrote them before
# dam/config.py (written out by hand).
_DAM_RUN = dict(dam=True, hidden_size=8, memory_address_size=6,
                memory_length_size=4, num_write_heads=1, num_read_heads=2,
                num_memory_blocks=3, mlp_sizes=[5])
_DNC_RUN = dict(_DAM_RUN, dam=False, num_memory_blocks=1)


def test_flags_to_run_config_is_todays_config_json():
  dam = config_lib.ModelConfig.from_settings(_FLAGS)
  assert dam == config_lib.ModelConfig(
      memory='dam', hidden_size=8, memory_size=6, word_size=4, num_reads=2,
      num_writes=1, num_blocks=3, keep_prob=0.9, clip_value=20.,
      mlp_sizes=(5,), seed=0)
  assert dam.to_run_config() == _DAM_RUN and dam.label == 'DAM'
  dnc = config_lib.ModelConfig.from_settings(dict(_FLAGS, dam=False))
  assert dnc.memory == 'dnc' and dnc.label == 'DNC'
  assert dnc.to_run_config() == _DNC_RUN
  # --memory names the core; the authors' --dam then does not matter.
  assert (config_lib.ModelConfig.from_settings(
      dict(_FLAGS, memory='dnc')).to_run_config() == _DNC_RUN)


@pytest.mark.parametrize('run_config', [_DAM_RUN, _DNC_RUN],
                         ids=['dam', 'dnc'])
def test_a_run_config_round_trips(run_config):
  config = dict(run_config, task='Copy', mode='Copy', batch_size=2,
                optimizer='rmsprop')
  model = saved.model_settings(config)
  assert model.to_run_config() == run_config
  assert model.seed is None  # a reopened model: its checkpoint's stream
  assert (model.keep_prob, model.clip_value) == (0.9, 20.)  # no flags.json
  with_flags = saved.model_settings(config, dict(_FLAGS, keep_prob=0.5,
                                                 clip_value=0.))
  assert (with_flags.keep_prob, with_flags.clip_value) == (0.5, 0.)
  assert with_flags.to_run_config() == run_config


def test_a_released_config_json_without_memory_reopens():
  path = os.path.join(ROOT, 'results', 'babi_cpu', 'babi_dam_s0',
                      'config.json')
  with open(path) as f:
    config = json.load(f)
  assert 'memory' not in config
  model = saved.model_settings(config)
  assert model.memory == 'dam' and model.num_blocks == 2
  assert model.to_run_config() == {
      key: config[key] for key in _DAM_RUN}
  assert 'memory' not in model.to_run_config()


def test_missing_settings_and_unknown_memories_are_named():
  with pytest.raises(KeyError, match='memory_address_size'):
    config_lib.ModelConfig.from_settings(dict(dam=True, hidden_size=8))
  with pytest.raises(KeyError, match='neither'):
    config_lib.ModelConfig.from_settings(dict(hidden_size=8))
  with pytest.raises(ValueError, match='dam, dnc'):
    config_lib.ModelConfig(memory='ntm')
  with pytest.raises(ValueError, match='mlp_sizes'):
    config_lib.ModelConfig.from_settings(dict(_FLAGS, mlp_sizes='5,x'))
  assert config_lib.label(dict(dam=True, num_memory_blocks=3),
                          blocks=True) == 'DAM K=3'
  assert config_lib.label(dict(dam=False, num_memory_blocks=1),
                          blocks=True) == 'DNC'


def _shapes(model):
  return sorted((v.name, tuple(v.shape)) for v in model.variables)


@pytest.mark.parametrize('dam', [True, False], ids=['dam', 'dnc'])
def test_flags_and_the_run_config_build_the_same_model(dam):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from dam import model as model_lib  # pylint: disable=import-outside-toplevel
  flags = dict(_FLAGS, dam=dam)
  from_flags = config_lib.ModelConfig.from_settings(flags)
  core = from_flags.build_core(3)
  trained = model_lib.SequenceModel(core)
  trained(tf.zeros([1, 1, 4]), tf.ones([1], tf.int32))
  run_config = dict(from_flags.to_run_config(), task='Copy')
  reopened = saved.build_model(run_config, 3, input_size=4, flags=flags)
  assert type(reopened.core) is type(core)
  assert type(core).__name__ == ('DAM' if dam else 'DNC')
  assert _shapes(reopened) == _shapes(trained)
  # The keyword form of dam/model.py builds the same.
  legacy = model_lib.SequenceModel(model_lib.build_core(
      3, use_dam=dam, hidden_size=8, memory_size=6, word_size=4,
      num_reads=2, num_blocks=3, mlp_sizes=(5,)))
  legacy(tf.zeros([1, 1, 4]), tf.ones([1], tf.int32))
  assert _shapes(legacy) == _shapes(trained)


def _toy_core_class():
  """A third memory core: an LSTM and an output layer (no memory at all),
  with the plain Sonnet RNNCore interface."""
  import sonnet as snt  # pylint: disable=import-outside-toplevel

  class ToyCore(snt.RNNCore):

    def __init__(self, output_size, hidden_size, word_size, name='toy'):
      super().__init__(name=name)
      self.word_size = word_size
      self._lstm = snt.LSTM(hidden_size, name='lstm')
      self._output = snt.Linear(output_size, name='output')

    def initial_state(self, batch_size):
      return self._lstm.initial_state(batch_size)

    def __call__(self, inputs, prev_state, training=False):
      hidden, state = self._lstm(inputs, prev_state)
      return self._output(hidden), state

  return ToyCore


def test_a_third_core_is_one_cores_entry(monkeypatch):
  toy_class = _toy_core_class()
  monkeypatch.setitem(config_lib.CORES, 'toy', config_lib.Core(
      toy_class, ('hidden_size', 'word_size'), 'Toy'))
  model = config_lib.ModelConfig(memory='toy', hidden_size=8, word_size=5,
                                 num_blocks=4)
  core = model.build_core(3)
  assert isinstance(core, toy_class) and core.word_size == 5
  assert model.label == 'Toy'
  run_config = model.to_run_config()
  assert run_config == dict(
      memory='toy', dam=False, hidden_size=8, memory_address_size=64,
      memory_length_size=5, num_write_heads=1, num_read_heads=1,
      num_memory_blocks=1, mlp_sizes=[])
  # Its run reopens from config.json, and is labelled by its entry.
  config = dict(run_config, task='Copy')
  assert saved.model_settings(config) == dataclasses.replace(model,
                                                            num_blocks=1)
  reopened = saved.build_model(config, 3, input_size=4)
  assert isinstance(reopened.core, toy_class)
  assert [tuple(v.shape) for v in reopened.core.trainable_variables
          if 'output/w' in v.name] == [(8, 3)]
  assert config_lib.label(config, blocks=True) == 'Toy'
  # From the flags: --memory=toy, whatever the authors' --dam says.
  assert config_lib.ModelConfig.from_settings(
      dict(_FLAGS, memory='toy')).to_run_config()['memory'] == 'toy'


def test_resuming_with_the_other_spelling_of_a_memory(tmp_path):
  run = str(tmp_path)
  flags = dict(_FLAGS, dam=False)
  with open(resume_flags.flags_path(run), 'w') as f:
    json.dump(flags, f)
  changes = resume_flags.check_changes(
      run, dict(flags, dam=True, memory='dnc'), phased=False, finished=False)
  assert changes == {'dam': [False, True], 'memory': [None, 'dnc']}
  with pytest.raises(rundir.ConfigMismatchError, match='--dam'):
    resume_flags.check_changes(run, dict(flags, dam=True), phased=False,
                               finished=False)
  with pytest.raises(rundir.ConfigMismatchError, match='--memory'):
    resume_flags.check_changes(run, dict(flags, memory='dam'), phased=False,
                               finished=False)


# Defines train.py's flags (without running it), parses each argv given as
# JSON and prints `damrun.build.model_config()` or the parse error.
_MODEL_CONFIGS = '''
import json, runpy, sys
from absl import flags
from damrun import build
runpy.run_path('train.py', run_name='flags_only')
out = []
for argv in json.loads(sys.argv[1]):
  flags.FLAGS.unparse_flags()
  try:
    flags.FLAGS(['train.py'] + argv)
  except flags.Error as e:
    out.append(str(e))
    continue
  out.append(build.model_config())
print(json.dumps(dict(out=out, tensorflow='tensorflow' in sys.modules)))
'''


def test_memory_flag_beside_the_authors_dam_flag():
  argvs = [[], ['--dam=False'], ['--memory=dnc'], ['--memory=dnc', '--nodam'],
           ['--memory=dam', '--dam=True'], ['--memory=dnc', '--dam=True'],
           ['--memory=dam', '--dam=False'], ['--memory=ntm']]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  result = subprocess.run(
      [sys.executable, '-c', _MODEL_CONFIGS, json.dumps(argvs)],
      capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
  assert result.stdout.strip(), result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['tensorflow'] is False
  dam, dnc, memory_dnc, both_dnc, both_dam, *refused = report['out']
  train = presets.TRAIN
  expected_dam = dict(
      dam=True, hidden_size=train['hidden_size'],
      memory_address_size=train['memory_address_size'],
      memory_length_size=train['memory_length_size'],
      num_write_heads=train['num_write_heads'],
      num_read_heads=train['num_read_heads'],
      num_memory_blocks=train['num_memory_blocks'], mlp_sizes=[],
      batch_size=train['batch_size'], optimizer=train['optimizer'])
  assert dam == both_dam == expected_dam
  assert dnc == memory_dnc == both_dnc == dict(
      expected_dam, dam=False, num_memory_blocks=1)
  disagree, disagree_too, unknown = refused
  for message in (disagree, disagree_too):
    assert '--memory=' in message and '--dam=' in message, message
  assert '--memory=dnc and --dam=True' in disagree
  assert 'ntm' in unknown and 'dam' in unknown and 'dnc' in unknown
