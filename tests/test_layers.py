"""The packages form layers: the library below the tasks below the application.

  dam      the library: cores, kernels, unroll, MRL, losses, optimizers,
           recording; imports no other package of this repository;
  tasks    data generators and loaders; imports only `dam`;
  damrun   the application: run machinery, flags, presets, evaluation,
           pictures of runs, the KV-MemNN trainer; imports `dam` and `tasks`;
  scripts, experiments/, bench/: on top, import anything.

The test reads every import statement (at any depth, so a lazy import
inside a function counts) and every `importlib.import_module('...')` with a
literal name, and fails on an import of a higher layer.
"""

import ast
import os
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Package -> layer; a package may import its own layer and those below.
LAYERS = {'dam': 0, 'tasks': 1, 'damrun': 2}
# Top-level names of this repository that sit above every package.
ON_TOP = ('experiments', 'bench', 'tests', 'train', 'eval', 'visualize',
          'run_nfar', 'run_convexhull', 'run_kvmemnn')


def _imported_names(source, module):
  """Absolute names of the modules imported anywhere in `source`.

  Relative imports are resolved against `module` (the dotted name of the
  file, e.g. 'damrun.trainer')."""
  names = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = module.split('.')[:-node.level] if node.level else []
      if node.module:
        names.append('.'.join(base + [node.module]))
      else:  # from . import x: x is a module of the package `base`.
        names += ['.'.join(base + [alias.name]) for alias in node.names]
    elif (isinstance(node, ast.Call) and node.args and
          isinstance(node.args[0], ast.Constant) and
          isinstance(node.args[0].value, str) and
          getattr(node.func, 'attr', getattr(node.func, 'id', None)) ==
          'import_module'):
      names.append(node.args[0].value)
  return names


def upward_imports(root):
  """['<file>: imports <name> (layer <n> above <m>)', ...] for every import
  of a higher layer by a package's module under `root`."""
  found = []
  for package, layer in LAYERS.items():
    for path, _, files in os.walk(os.path.join(root, package)):
      for name in sorted(files):
        if not name.endswith('.py'):
          continue
        filename = os.path.join(path, name)
        rel = os.path.relpath(filename, root)
        module = rel[:-3].replace(os.sep, '.')
        with open(filename, encoding='utf-8') as f:
          source = f.read()
        for imported in _imported_names(source, module):
          top = imported.split('.')[0]
          above = LAYERS.get(top, len(LAYERS) if top in ON_TOP else None)
          if above is not None and above > layer:
            found.append(f'{rel}: imports {imported} (layer {above} above '
                         f'{package}, layer {layer})')
  return found


def test_no_package_imports_a_higher_layer():
  assert upward_imports(ROOT) == []


def test_every_package_is_in_a_layer():
  packages = {name for name in os.listdir(ROOT)
              if os.path.isfile(os.path.join(ROOT, name, '__init__.py'))}
  assert packages == set(LAYERS)


def _tree(tmp_path, files):
  for rel, source in files.items():
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
  return str(tmp_path)


@pytest.mark.parametrize('rel, source, expected', [
    ('dam/core.py', 'import tasks.copy\n', 'imports tasks.copy'),
    ('dam/core.py', 'def f():\n  from damrun import steps\n',
     'imports damrun'),
    ('tasks/copy.py', 'from damrun.trainer import Trainer\n',
     'imports damrun.trainer'),
    ('damrun/steps.py', 'import experiments.suites\n',
     'imports experiments.suites'),
    ('dam/sub/x.py', 'from ... import train\n', 'imports train'),
    ('dam/core.py', 'import importlib\nimportlib.import_module("tasks.copy")\n',
     'imports tasks.copy'),
])
def test_an_upward_import_is_found(tmp_path, rel, source, expected):
  root = _tree(tmp_path, {rel: source})
  found = upward_imports(root)
  assert len(found) == 1 and expected in found[0], found


def test_downward_and_outside_imports_pass(tmp_path):
  root = _tree(tmp_path, {
      'dam/core.py': 'import numpy\nfrom dam import dense\nfrom . import x\n',
      'tasks/copy.py': 'from dam import mrl\nimport tasks.base\n',
      'damrun/steps.py': 'import tasks\nimport dam.unroll\nfrom . import loop\n',
  })
  assert upward_imports(root) == []
