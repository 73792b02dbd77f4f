"""DAM + MRL, DNC: memory-augmented recurrent cores for TensorFlow 2 / Sonnet 2.

Reference implementation of the Distributed Associative Memory network with
Memory Refreshing Loss (Park, Choi & Lee, Neural Networks 144, 2021) and of
its DNC baseline (Graves et al., Nature 2016).

Importing `dam` is cheap: the names below load their module (and
TensorFlow) on first use, so a script's `--help` and flag errors answer
without importing TensorFlow.
"""

import importlib
import sys
import types

# The package's version: pyproject.toml's (a test compares them).
__version__ = '0.1.0'

# Public name -> module that defines it.
_EXPORTS = {
    'DAM': 'dam.dam',
    'DNC': 'dam.dnc',
    'ModelConfig': 'dam.config',
    'MemoryCore': 'dam.core',
    'CoreState': 'dam.core',
    'ControllerResult': 'dam.core',
    'FastUnrollCore': 'dam.contract',
    'addressing_kernel': 'dam.access',
    'compile_unroll': 'dam.unroll',
    'unroll_packed': 'dam.unroll',
    'row_levels': 'dam.unroll',
    'build': 'dam.unroll',
    'parameters_read_once': 'dam.unroll',
}
_SUBMODULES = ('access', 'access_state', 'addressing', 'addressing_fast',
               'contract')

__all__ = sorted(_EXPORTS) + ['unroll'] + list(_SUBMODULES)


def __getattr__(name):
  """Loads an exported name's module on first access (PEP 562)."""
  if name in _EXPORTS:
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
  elif name in _SUBMODULES:
    value = importlib.import_module(f'dam.{name}')
  else:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
  """The `dam` package's module type: `dam.unroll` is the function.

  The function `unroll` shares its name with its module `dam.unroll`, and
  importing a submodule binds it on the package, which would hide the
  function from a lazy `__getattr__`. This data descriptor wins over that
  binding: `dam.unroll` is always the function, as when the package
  imported it eagerly; the module stays in `sys.modules['dam.unroll']`
  (`from dam.unroll import ...` is unaffected).
  """

  @property
  def unroll(self):
    return importlib.import_module('dam.unroll').unroll

  @unroll.setter
  def unroll(self, value):
    del value  # The import system binding the submodule: keep the function.


sys.modules[__name__].__class__ = _Package
