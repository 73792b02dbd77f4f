"""The project's own promises: CI runs exactly README's commands, the
package installs what the scripts import (and its console scripts are the
scripts), the scripts run from a checkout."""

import fnmatch
import os
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path):
  with open(os.path.join(ROOT, *path)) as f:
    return f.read()


def _readme_code_lines(section=None):
  """The lines of README's ```bash blocks (of the `## section` only, if
  given)."""
  text = _read('README.md')
  if section:
    match = re.search(rf'^## {re.escape(section)}\n(.*?)(?=^## |\Z)', text,
                      re.S | re.M)
    assert match, f'README has no section "## {section}"'
    text = match.group(1)
  blocks = re.findall(r'```bash\n(.*?)```', text, re.S)
  return {line.strip() for block in blocks for line in block.splitlines()}


def _pyproject():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)


def test_ci_runs_exactly_readme_install_and_test_commands():
  ci_lines = [line.strip() for line in _read('.ci', 'run').splitlines()
              if line.strip() and not line.startswith('#')]
  commands = [line for line in ci_lines
              if not line.startswith(('set ', 'cd '))]
  install = ['python3 -m venv .venv', '. .venv/bin/activate',
             'pip install -r requirements.txt']
  test = ['pip install -r requirements-test.txt',
          'python -m pytest -q tests -m "slow or not slow"']
  assert commands == install + test
  for section, lines in (('Install', install), ('Test', test)):
    readme = _readme_code_lines(section)
    missing = [c for c in lines if c not in readme]
    assert not missing, f'.ci/run commands not in README\'s {section}: {missing}'


def test_default_test_selection_leaves_out_only_slow_tests():
  # README's quick command runs the default selection; CI runs everything.
  options = tomllib.loads(_read('pyproject.toml'))['tool']['pytest'][
      'ini_options']
  assert options['addopts'] == "-m 'not slow'"
  assert any(m.startswith('slow:') for m in options['markers'])
  assert 'python -m pytest -q tests' in _readme_code_lines()


def _requirements(name):
  """The requirement lines of a requirements file, comments left out."""
  lines = [line.split('#')[0].strip() for line in _read(name).splitlines()]
  return [line for line in lines if line]


def test_requirements_have_version_bounds():
  for name in ('requirements.txt', 'requirements-test.txt'):
    for line in _requirements(name):
      assert '>=' in line and '<' in line.replace('>=', ''), (name, line)


def test_pytest_is_a_test_requirement_only():
  def names(file):
    return {re.split(r'[<>=\[; ]', line)[0].lower()
            for line in _requirements(file)}
  assert 'pytest' not in names('requirements.txt')
  assert names('requirements-test.txt') == {'pytest'}
  project = _pyproject()
  assert set(project['project']['dynamic']) == {'dependencies',
                                                'optional-dependencies'}
  assert project['tool']['setuptools']['dynamic'][
      'optional-dependencies'] == {'test': {'file': ['requirements-test.txt']}}


def test_faithfulness_table_is_linked_and_names_the_switches():
  doc = _read('docs', 'faithfulness.md')
  assert '(docs/faithfulness.md)' in _read('README.md')
  for script in ('train.py', 'run_nfar.py', 'run_convexhull.py',
                 'run_kvmemnn.py'):
    source = _read(*_script_code(script))
    assert ('define_precision_flags()' in source or
            'define_flags(' in source), script
    assert f'`{script}`' in doc, script
  for flag in ('--reproduce_quirks', '--noreproduce_quirks', '--tf32'):
    assert flag in doc, flag
  # Every table row has the header's number of cells.
  for table in re.findall(r'((?:^\|.*\|\n)+)', doc, re.M):
    rows = table.strip().splitlines()
    widths = {row.count(' | ') for row in rows}
    assert len(widths) == 1, rows[0]


SCRIPTS = ('train.py', 'run_nfar.py', 'run_convexhull.py', 'run_kvmemnn.py',
           'eval.py', 'visualize.py')

# Script -> its console script; the code is damrun/scripts/<script>.
CONSOLE_SCRIPTS = {'train.py': 'dam-train', 'eval.py': 'dam-eval',
                   'visualize.py': 'dam-visualize'}


def _script_code(script):
  """The path of the file holding a script's code: damrun/scripts/ for the
  shims of CONSOLE_SCRIPTS, else the script itself."""
  if script in CONSOLE_SCRIPTS:
    return ('damrun', 'scripts', script)
  return (script,)


def test_scripts_run_from_a_checkout_without_path_tricks():
  # `python train.py` puts the repository root on sys.path; installed, the
  # packages are found anyway.
  for script in SCRIPTS:
    assert 'sys.path' not in _read(script), script
    assert 'sys.path' not in _read(*_script_code(script)), script


# The top-level packages `pip install .` installs: the three layers
# (tests/test_layers.py). `tasks` is a common name; README's Install says so.
INSTALLED = ('dam', 'tasks', 'damrun')


def test_pyproject_packages_every_package_and_requirements():
  project = _pyproject()
  assert project['tool']['setuptools']['dynamic']['dependencies'] == {
      'file': ['requirements.txt']}
  include = project['tool']['setuptools']['packages']['find']['include']

  def installed(package):
    return any(fnmatch.fnmatch(package, pattern) for pattern in include)

  # Every top-level package of the checkout, and every package under the
  # installed ones, is installed exactly when it is one of INSTALLED.
  tops = sorted(name for name in os.listdir(ROOT)
                if os.path.isfile(os.path.join(ROOT, name, '__init__.py')))
  assert tops == sorted(INSTALLED)
  for top in tops:
    packages = [os.path.relpath(path, ROOT).replace(os.sep, '.')
                for path, _, files in os.walk(os.path.join(ROOT, top))
                if '__init__.py' in files]
    for package in packages:
      assert installed(package), package
    assert top in packages
  assert installed('damrun.scripts')  # the console scripts' code
  for other in ('tests', 'experiments', 'bench', 'train', 'eval'):
    assert not installed(other), other
  install = _section_text('Install')
  for top in INSTALLED:
    assert f'`{top}`' in install, top


def _section_text(title):
  match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)',
                    _read('README.md'), re.S | re.M)
  assert match, f'README has no section "## {title}"'
  return match.group(1)


def test_console_scripts_are_the_scripts():
  # [project.scripts] names each script's `run`, the function its
  # checkout shim calls (test_script_and_its_console_script_print_the_same_
  # help calls it); README's Install names them.
  scripts = _pyproject()['project']['scripts']
  assert scripts == {
      console: f'damrun.scripts.{script[:-3]}:run'
      for script, console in CONSOLE_SCRIPTS.items()}
  install = _section_text('Install')
  for script, console in CONSOLE_SCRIPTS.items():
    shim = _read(script)
    module = script[:-3]
    assert re.search(rf'^from damrun\.scripts import {module}\b', shim,
                     re.M), script
    assert re.search(r'^  \w+\.run\(\)$', shim, re.M), script
    assert 'flags' not in shim, script  # defined once, in damrun/scripts/
    assert re.search(r'^def run\(\):', _read(*_script_code(script)), re.M)
    assert f'`{console}`' in install, console


# Runs a console script's entry point as pip's generated script does (in
# its own process: each script module defines its flags once, when
# imported).
_CONSOLE_SCRIPT = '''
import importlib, sys
module, function = sys.argv[1].split(':')
run = getattr(importlib.import_module(module), function)
assert callable(run), sys.argv[1]
sys.argv = sys.argv[2:]
sys.exit(run())
'''


def _help(*argv):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  result = subprocess.run([sys.executable, *argv], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)
  assert result.returncode == 1, result.stderr[-3000:]  # absl's --help exit
  return result.stdout + result.stderr


@pytest.mark.parametrize('script', sorted(CONSOLE_SCRIPTS))
def test_script_and_its_console_script_print_the_same_help(script):
  console = CONSOLE_SCRIPTS[script]
  entry = _pyproject()['project']['scripts'][console]
  for option in ('--help', '--helpfull'):
    shown = _help(script, option)
    installed = _help('-c', _CONSOLE_SCRIPT, entry, console, option)
    # absl files the script's flags under the program's name, first.
    assert f'\nflags:\n\n{script}:\n  --' in shown, shown[:3000]
    assert installed.replace(f'\n{console}:\n', f'\n{script}:\n') == shown


def test_readme_shows_the_cpu_suite_report_as_written():
  # README's results section is the suite's own 2 x 2 of memory and loss
  # (two_by_two.md, generated by experiments/run_suite.py), not numbers
  # typed by hand, and links the full table.
  square = _read(os.path.join('results', 'cpu', 'two_by_two.md'))
  table = _read(os.path.join('results', 'cpu', 'table.md'))
  readme = _read('README.md')
  rows = [line for line in square.splitlines() if line.startswith('| ')]
  assert len(rows) == 2 + 2 * 3  # header; copy and associative recall
  missing = [line for line in square.splitlines() if line not in readme]
  assert not missing, missing
  assert '(results/cpu/table.md)' in readme
  assert sum(line.startswith('| ') for line in table.splitlines()) >= 15


def _python_files():
  """Every .py file of the checkout (paths relative to it), virtual
  environments, hidden folders and build outputs left out."""
  skipped = {'build', 'dist', '__pycache__'}
  found = []
  for path, dirs, files in os.walk(ROOT):
    dirs[:] = [d for d in dirs if not d.startswith('.') and d not in skipped
               and not d.endswith('.egg-info')
               and not os.path.isfile(os.path.join(path, d, 'pyvenv.cfg'))]
    found += [os.path.relpath(os.path.join(path, f), ROOT)
              for f in files if f.endswith('.py')]
  return sorted(found)


def test_modules_fit_500_lines_and_readme_20_kb():
  files = _python_files()
  assert 'dam/model.py' in files and 'tests/test_repository.py' in files
  long = {}
  for name in files:
    with open(os.path.join(ROOT, name)) as f:
      count = sum(1 for _ in f)
    if count > 500:
      long[name] = count
  assert not long, f'split these modules (over 500 lines): {long}'
  assert os.path.getsize(os.path.join(ROOT, 'README.md')) <= 20 * 1024
