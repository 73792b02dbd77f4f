"""The project's own promises: CI runs exactly README's commands, the
package installs what the scripts import, the scripts run from a checkout."""

import fnmatch
import os
import re
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path):
  with open(os.path.join(ROOT, *path)) as f:
    return f.read()


def _readme_code_lines():
  blocks = re.findall(r'```bash\n(.*?)```', _read('README.md'), re.S)
  return {line.strip() for block in blocks for line in block.splitlines()}


def test_ci_runs_exactly_readme_install_and_test_commands():
  ci_lines = [line.strip() for line in _read('.ci', 'run').splitlines()
              if line.strip() and not line.startswith('#')]
  commands = [line for line in ci_lines
              if not line.startswith(('set ', 'cd '))]
  assert commands == [
      'python3 -m venv .venv', '. .venv/bin/activate',
      'pip install -r requirements.txt',
      'python -m pytest -q tests -m "slow or not slow"']
  readme = _readme_code_lines()
  missing = [c for c in commands if c not in readme]
  assert not missing, f'.ci/run commands not in README: {missing}'


def test_default_test_selection_leaves_out_only_slow_tests():
  # README's quick command runs the default selection; CI runs everything.
  options = tomllib.loads(_read('pyproject.toml'))['tool']['pytest'][
      'ini_options']
  assert options['addopts'] == "-m 'not slow'"
  assert any(m.startswith('slow:') for m in options['markers'])
  assert 'python -m pytest -q tests' in _readme_code_lines()


def test_requirements_have_version_bounds():
  for line in _read('requirements.txt').splitlines():
    line = line.split('#')[0].strip()
    if line:
      assert '>=' in line and '<' in line.replace('>=', ''), line


def test_faithfulness_table_is_linked_and_names_the_switches():
  doc = _read('docs', 'faithfulness.md')
  assert '(docs/faithfulness.md)' in _read('README.md')
  for script in ('train.py', 'run_nfar.py', 'run_convexhull.py',
                 'run_kvmemnn.py'):
    source = _read(script)
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


def test_scripts_run_from_a_checkout_without_path_tricks():
  # `python train.py` puts the repository root on sys.path; installed, the
  # packages are found anyway.
  for script in SCRIPTS:
    assert 'sys.path' not in _read(script), script


def test_pyproject_packages_every_package_and_requirements():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    project = tomllib.load(f)
  assert project['project']['dynamic'] == ['dependencies']
  assert project['tool']['setuptools']['dynamic']['dependencies'] == {
      'file': ['requirements.txt']}
  include = project['tool']['setuptools']['packages']['find']['include']
  packages = [os.path.relpath(path, ROOT).replace(os.sep, '.')
              for top in ('dam', 'tasks')
              for path, _, files in os.walk(os.path.join(ROOT, top))
              if '__init__.py' in files]
  assert 'dam.run' in packages
  for package in packages:
    assert any(fnmatch.fnmatch(package, pattern) for pattern in include), (
        package)
