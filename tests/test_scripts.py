"""The five scripts' flags: no TensorFlow for --help and flag errors, the
authors' presets (damrun/presets.py) as defaults, their commands as written."""

import json
import os
import re
import subprocess
import sys

import pytest

from damrun import presets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ('train.py', 'run_nfar.py', 'run_convexhull.py', 'eval.py',
           'run_kvmemnn.py')


def _flag_text(name, value):
  """'--name=value' as the authors wrote it (True, 1e-4, 0.1)."""
  if isinstance(value, float) and 0. < abs(value) < 1e-3:
    mantissa, exponent = f'{value:e}'.split('e')
    value = f'{float(mantissa):g}e{int(exponent)}'
  return f'--{name}={value}'


def _command_flags(name):
  """The flags of the authors' command `name`: ['--mode=Copy', ...]."""
  _, flags = presets.COMMANDS[name]
  return [_flag_text(key, value) for key, value in flags.items()]


def _command_line(name):
  """The authors' command `name` as one shell line."""
  script, _ = presets.COMMANDS[name]
  return ' '.join(['python', script] + _command_flags(name))

# Runs a script as `python <script> <args>` does (from the repository root),
# then prints whether TensorFlow was imported and how it exited.
_RUN_AND_REPORT = '''
import json, runpy, sys
sys.argv = sys.argv[1:]
code = 0
try:
  runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
  code = e.code
print(json.dumps({'tensorflow': 'tensorflow' in sys.modules, 'code': code}))
'''

# Defines a script's flags (without running it), parses each argv given as
# JSON and prints the values of the flags named.
_PARSE_FLAGS = '''
import json, runpy, sys
from absl import flags
script, names, argvs = sys.argv[1], json.loads(sys.argv[2]), json.loads(
    sys.argv[3])
module = runpy.run_path(script, run_name='flags_only')
out = []
for argv in argvs:
  flags.FLAGS.unparse_flags()
  flags.FLAGS([script] + argv)
  values = {name: flags.FLAGS[name].value for name in names}
  if 'settings' in module:  # run_kvmemnn.py: the mode's preset + flags
    values['settings'] = module['settings']()
  out.append(values)
print(json.dumps(out))
'''


def _python(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable, *args], capture_output=True,
                        text=True, env=env, timeout=300, cwd=ROOT)


def _last_json(result):
  assert result.stdout.strip(), result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_and_flag_errors_answer_without_tensorflow(script):
  helped = _python('-c', _RUN_AND_REPORT, script, '--help')
  assert 'flags:' in helped.stdout + helped.stderr
  assert _last_json(helped) == {'tensorflow': False, 'code': 1}
  refused = _python('-c', _RUN_AND_REPORT, script, '--batch_size=0')
  assert '--batch_size must be a positive integer' in refused.stderr
  assert _last_json(refused) == {'tensorflow': False, 'code': 1}


def test_visualize_help_and_flag_errors_answer_without_tensorflow():
  helped = _python('-c', _RUN_AND_REPORT, 'visualize.py', '--help')
  assert '--curves' in helped.stdout + helped.stderr
  assert _last_json(helped) == {'tensorflow': False, 'code': 1}
  refused = _python('-c', _RUN_AND_REPORT, 'visualize.py', '--smooth=1')
  assert '--smooth must be in [0, 1)' in refused.stderr
  assert _last_json(refused) == {'tensorflow': False, 'code': 1}


_SCRIPT_PRESETS = {'train.py': presets.TRAIN,
                   'run_nfar.py': presets.NTH_FARTHEST,
                   'run_convexhull.py': presets.CONVEX_HULL,
                   'eval.py': presets.EVAL}


@pytest.mark.parametrize('script', sorted(_SCRIPT_PRESETS))
def test_defaults_are_the_presets_and_the_authors_commands_parse(script):
  defaults = _SCRIPT_PRESETS[script]
  commands = sorted(name for name, (s, _) in presets.COMMANDS.items()
                    if s == script)
  names = sorted(defaults)
  argvs = [[]] + [_command_flags(name) for name in commands]
  result = _python('-c', _PARSE_FLAGS, script, json.dumps(names),
                   json.dumps(argvs))
  parsed = _last_json(result)
  assert parsed[0] == defaults
  for name, values in zip(commands, parsed[1:]):
    expected = presets.settings(name)
    assert values == {k: expected[k] for k in names}, name


def test_kvmemnn_presets_by_mode_and_flags_win():
  names = ['task_id']
  argvs = [[], ['--task_id', '20', '--learning_rate', '0.005',
                '--feature_size', '40', '--epochs', '200']]
  joint, single = _last_json(_python(
      '-c', _PARSE_FLAGS, 'run_kvmemnn.py', json.dumps(names),
      json.dumps(argvs)))
  mode, values = joint['settings']
  assert mode == 'joint'
  expected = dict(presets.KVMEMNN['joint'])
  assert re.fullmatch(r'logs/scores_\d+\.csv', values.pop('output_file'))
  expected.pop('output_file')
  assert values == expected
  mode, values = single['settings']
  assert mode == 'single' and single['task_id'] == 20
  assert values == dict(presets.KVMEMNN['single'], learning_rate=0.005,
                        feature_size=40, epochs=200)


def test_readme_shows_the_authors_commands_of_the_presets():
  with open(os.path.join(ROOT, 'README.md')) as f:
    readme = re.sub(r'\s*\\\n\s*', ' ', f.read())  # join continued lines
  for name in presets.COMMANDS:
    line = _command_line(name)  # README's eval command: the newest step
    assert line + '\n' in readme, line


def _documented_commands():
  """{script: [argv, ...]}: every `python <script> ...` command of README.md
  and docs/*.md, in code blocks (continued lines joined, environment
  prefixes such as TF_CONFIG=... dropped) and in inline code; commands with
  <...> markers (such as --num=<step>) and --help are left out."""
  paths = [os.path.join(ROOT, 'README.md')] + [
      os.path.join(ROOT, 'docs', n)
      for n in sorted(os.listdir(os.path.join(ROOT, 'docs')))
      if n.endswith('.md')]
  found = {}
  for path in paths:
    with open(path) as f:
      text = f.read()
    lines = []
    for block in re.findall(r'```[a-z]*\n(.*?)```', text, re.S):
      block = re.sub(r'\s*\\\n\s*', ' ', block)
      lines += [l for l in block.splitlines() if not l.startswith('#')]
    lines += re.findall(r'`(python [^`]+)`', re.sub(r'```.*?```', '', text,
                                                    flags=re.S))
    for line in lines:
      m = re.search(r'(?:^|\s)python (\S+\.py)((?:\s+[^\s#]+)*)', line)
      if (not m or '<' in line or m.group(1) not in SCRIPTS
          or '--help' in m.group(2)):
        continue
      found.setdefault(m.group(1), []).append(m.group(2).split())
  return found


def test_every_documented_command_parses():
  commands = _documented_commands()
  # README launches every training script at least once.
  assert {'train.py', 'run_nfar.py', 'run_convexhull.py',
          'run_kvmemnn.py'} <= set(commands), sorted(commands)
  assert any('--strategy=multi_worker' in argv
             for argv in commands['train.py'])
  for script, argvs in sorted(commands.items()):
    result = _python('-c', _PARSE_FLAGS, script, '[]', json.dumps(argvs))
    assert result.returncode == 0, (script, result.stderr[-3000:])
    assert len(_last_json(result)) == len(argvs)
