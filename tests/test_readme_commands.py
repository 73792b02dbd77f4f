"""README's promises: its first command prints a line of the shape README
shows, its commands name existing scripts and their flags, the version and
the licence it names are the package's.

tests/test_scripts.py parses the values of README's and docs/'s commands
for the training scripts and eval.py, leaving out commands with <...>
placeholders; here every `python <script>.py` of README, placeholders,
visualize.py and experiments/run_suite.py included, is checked for the
script's existence and its flag names only.
"""

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

import dam

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Scripts of the original code that README names to say which of ours runs
# them (`python joint.py` is `python run_kvmemnn.py`); not in this checkout.
REFERENCE_SCRIPTS = {'joint.py'}

# absl's flags that `app.run` defines when it starts (--help and its kin)
# and the parser's own (--flagfile, --undefok).
ABSL_RUN_FLAGS = {'help', 'helpshort', 'helpfull', 'helpxml', 'flagfile',
                  'undefok', '?'}

# SHA-256 of the Apache License 2.0 as apache.org serves it
# (https://www.apache.org/licenses/LICENSE-2.0.txt, its appendix included).
APACHE_2_SHA256 = (
    'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30')


def _read(*path):
  with open(os.path.join(ROOT, *path)) as f:
    return f.read()


def _section(text, title):
  """The text of the `## title` section, up to the next `## ` heading."""
  match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)', text,
                    re.S | re.M)
  assert match, f'README has no section "## {title}"'
  return match.group(1)


def _code_blocks(text):
  """[(language, body), ...] of the fenced code blocks, in order."""
  return re.findall(r'^```([a-z]*)\n(.*?)^```', text, re.S | re.M)


def _first_command_and_line():
  """README's first command (argv) and the last progress line it shows."""
  blocks = _code_blocks(_section(_read('README.md'), 'A first command'))
  commands = [i for i, (language, _) in enumerate(blocks)
              if language == 'bash']
  assert commands, 'no ```bash block in "A first command"'
  outputs = [body for language, body in blocks[commands[0] + 1:]
             if not language]
  assert outputs, 'no output block after the first command'
  command = re.sub(r'\s*\\\n\s*', ' ', blocks[commands[0]][1]).strip()
  assert '\n' not in command, command
  line = ' '.join(outputs[0].split('\n')).strip()  # wrapped lines joined
  return shlex.split(command), line


def _shape(line):
  """A regex matching the lines of `line`'s shape: its text as written,
  each number a number of as many decimals, h:mm:ss any duration."""
  parts = re.split(r'(\d+:\d\d:\d\d|\d+\.\d+|\d+)', line)
  pattern = ''
  for i, part in enumerate(parts):
    if i % 2 == 0:
      pattern += re.escape(part)
    elif ':' in part:
      pattern += r'(?:\d+ days?, )?\d+:\d\d:\d\d'
    elif '.' in part:
      pattern += r'-?\d+\.\d{%d}' % len(part.split('.')[1])
    else:
      pattern += r'\d+'
  return pattern


def _set_flag(argv, name, value):
  """argv with --name=... set to value (the flag must be there)."""
  prefix = f'--{name}='
  found = [i for i, arg in enumerate(argv) if arg.startswith(prefix)]
  assert len(found) == 1, (name, argv)
  return argv[:found[0]] + [prefix + str(value)] + argv[found[0] + 1:]


def test_shape_of_a_progress_line():
  pattern = _shape('[2000/2000] loss 0.0823 acc 0.9769 bit_acc 0.9949 | '
                   '21.68 steps/s, ETA 0:00:00 | eval loss 0.0032 '
                   'bit_acc 0.9999')
  assert re.fullmatch(pattern, '[20/20] loss 2.1413 acc 0.4827 bit_acc '
                      '0.5012 | 6.88 steps/s, ETA 0:00:00 | eval loss '
                      '2.1374 bit_acc 0.5008')
  for other in ('[20/20] loss 2.1413 acc 0.4827 bit_acc 0.5012 | 6.88 '
                'steps/s, ETA 0:00:00',  # no eval
                '[20/20] loss 2.1413 bit_acc 0.5012 acc 0.4827 | 6.88 '
                'steps/s, ETA 0:00:00 | eval loss 2.1374 bit_acc 0.5008',
                '[20/20] loss 2.14 acc 0.4827 bit_acc 0.5012 | 6.88 '
                'steps/s, ETA 0:00:00 | eval loss 2.1374 bit_acc 0.5008'):
    assert not re.fullmatch(pattern, other), other


def test_readme_shows_the_last_line_of_its_first_command():
  argv, line = _first_command_and_line()
  assert argv[:2] == ['python', 'train.py'], argv
  iterations = [a.split('=', 1)[1] for a in argv
                if a.startswith('--training_iteration=')]
  assert iterations and line.startswith(
      f'[{iterations[0]}/{iterations[0]}] '), (argv, line)
  assert ' steps/s, ETA ' in line and ' | eval loss ' in line, line


@pytest.mark.slow
def test_readme_first_command_prints_a_line_of_the_shape_readme_shows(
    tmp_path):
  argv, line = _first_command_and_line()
  # The same command, 20 iterations with a report every 10, eager (XLA's
  # compilation would double the time), into a temporary directory.
  argv = _set_flag(argv, 'training_iteration', 20)
  argv = _set_flag(argv, 'report_interval', 10)
  argv += ['--nojit_compile', f'--info_dir={tmp_path}']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  result = subprocess.run([sys.executable] + argv[1:], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)
  output = result.stdout + result.stderr
  assert result.returncode == 0, output[-3000:]
  progress = [l.strip() for l in output.splitlines()
              if re.match(r'\[\d+/\d+\] ', l.strip())]
  assert progress and progress[-1].startswith('[20/20] '), output[-3000:]
  assert re.fullmatch(_shape(line), progress[-1]), (line, progress[-1])


def _readme_commands():
  """[(script, argv after it), ...]: every `python <script>.py ...` of
  README, in code blocks (continued lines joined) and inline code."""
  text = _read('README.md')
  lines = []
  for _, body in _code_blocks(text):
    lines += re.sub(r'\s*\\\n\s*', ' ', body).splitlines()
  lines += re.findall(r'`(python3? [^`]+)`',
                      re.sub(r'^```.*?^```', '', text, flags=re.S | re.M))
  commands = []
  for line in lines:
    try:
      words = shlex.split(line, comments=True)
    except ValueError:  # not a shell line (Python, BibTeX)
      continue
    for i, word in enumerate(words[:-1]):
      if word in ('python', 'python3') and words[i + 1].endswith('.py'):
        args = []
        for arg in words[i + 2:]:
          if arg in ('&&', '||', ';', '|', '>', '2>&1'):
            break
          args.append(arg)
        commands.append((words[i + 1], args))
  return commands


# Defines a script's flags without running it; prints {name: boolean?}.
_SCRIPT_FLAGS = '''
import json, runpy, sys
from absl import flags
runpy.run_path(sys.argv[1], run_name='flags_only')
print(json.dumps({name: bool(flags.FLAGS[name].boolean)
                  for name in flags.FLAGS}))
'''


def _script_flags(script):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  result = subprocess.run([sys.executable, '-c', _SCRIPT_FLAGS, script],
                          capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)
  assert result.returncode == 0, (script, result.stderr[-3000:])
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_readme_commands_name_existing_scripts_and_their_flags():
  commands = _readme_commands()
  scripts = {script for script, _ in commands} - REFERENCE_SCRIPTS
  missing = [s for s in sorted(scripts)
             if not os.path.isfile(os.path.join(ROOT, s))]
  assert not missing, f'README runs scripts that do not exist: {missing}'
  assert {'train.py', 'run_nfar.py', 'run_convexhull.py', 'eval.py',
          'visualize.py', 'experiments/run_suite.py'} <= scripts, scripts
  unknown = []
  for script in sorted(scripts):
    defined = _script_flags(script)
    for _, args in (c for c in commands if c[0] == script):
      for arg in args:
        if not arg.startswith('-') or re.fullmatch(r'-[\d.]+', arg):
          continue  # a value (a path, a placeholder, a negative number)
        name = arg.lstrip('-').split('=', 1)[0]
        negated = (name.startswith('no') and name[2:] in defined and
                   defined[name[2:]] and '=' not in arg)
        if name not in defined and name not in ABSL_RUN_FLAGS and (
            not negated):
          unknown.append(f'{script} {arg}')
  assert not unknown, f'README uses flags its scripts lack: {unknown}'


def _pyproject():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)


def _citation_field(name):
  """A top-level scalar of CITATION.cff (None when absent)."""
  match = re.search(rf'^{name}:\s*"?([^"\n]+?)"?\s*$', _read('CITATION.cff'),
                    re.M)
  return match and match.group(1)


def test_version_is_pyproject_s_everywhere():
  version = _pyproject()['project']['version']
  assert dam.__version__ == version
  cited = _citation_field('version')
  assert cited is None or cited == version, cited
  readme = _read('README.md')
  assert re.findall(r'version=\{([^}]*)\}', readme) == [version]
  assert f'Version {version} (`dam.__version__`)' in readme


def test_licence_is_apache_2_everywhere():
  text = _read('LICENSE')
  copyright_line, licence = text.split('\n', 1)
  assert re.fullmatch(r'Copyright 20\d\d The DAM-TF2 contributors\.',
                      copyright_line), copyright_line
  # The official text, verbatim (the appendix included).
  assert hashlib.sha256(licence.encode()).hexdigest() == APACHE_2_SHA256
  project = _pyproject()
  assert project['project']['license'] == 'Apache-2.0'
  assert project['project']['license-files'] == ['LICENSE']
  # The SPDX string form needs setuptools >= 77 (PEP 639).
  requires = project['build-system']['requires']
  minimum = [r for r in requires if r.startswith('setuptools')]
  assert minimum, requires
  major = int(re.search(r'>=\s*(\d+)', minimum[0]).group(1))
  assert major >= 77, minimum
  assert _citation_field('license') == 'Apache-2.0'
  licence_section = _section(_read('README.md'), 'Licence')
  assert 'Apache License 2.0' in licence_section
  assert '(LICENSE)' in licence_section
