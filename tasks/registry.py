"""The tasks by name: the one list every script and tool reads.

A name is what config.json records as a run's 'task' and what train.py's
--mode takes (case-insensitively); each name maps to a task class
(`tasks.base.Task`) and to the script that trains it. train.py's --mode
choices, reopening a saved run (`damrun.saved`, visualize.py), eval.py's
check of its run and bench/'s task configurations all come from here; what
is particular to a task (the flags its constructor takes, its sizes, its
examples and pictures) lives on its class (`tasks.base.Task`: `flag_args`,
`from_flags`, `reopen`, `example`, `activate`, `picture`, ...).

Adding a task: its module (a `tasks.base.Task` subclass) and one
`register` line below. Classes are given as 'module:Class' paths and
imported on first use, so reading the names (train.py's --help) imports
neither TensorFlow nor the tasks. `registered(...)` adds a task for the
duration of a `with` block (tests, or a plugin run through a launcher).
"""

import collections
import collections.abc
import contextlib
import importlib

Entry = collections.namedtuple('Entry', ('name', 'task', 'script'))
Entry.__doc__ = """One registered task.

Fields:
  name: its name (config.json's 'task', train.py's --mode).
  task: its `tasks.base.Task` subclass, or the class's 'module:Class' path.
  script: the script that trains it ('train.py': a --mode of train.py).
"""

_ENTRIES = {}  # name -> Entry, in registration order


def canonical(name):
  """The registered name equal to `name` up to case, or None."""
  if not isinstance(name, str):
    return None
  if name in _ENTRIES:
    return name
  folded = name.casefold()
  for known in _ENTRIES:
    if known.casefold() == folded:
      return known
  return None


def register(name, task, script='train.py'):
  """Registers a task class (or its 'module:Class' path) under `name`.

  Raises:
    ValueError: `name` is taken (up to case), or `task` is neither a class
      nor a 'module:Class' path.
  """
  if canonical(name) is not None:
    raise ValueError(f'A task named {canonical(name)!r} is registered '
                     f'already.')
  if not isinstance(task, type) and not (isinstance(task, str) and
                                         task.count(':') == 1):
    raise ValueError(f'{name}: give the task class or its "module:Class" '
                     f'path, not {task!r}.')
  _ENTRIES[name] = Entry(name, task, script)


def unregister(name):
  """Removes the task `name` (KeyError if there is none)."""
  del _ENTRIES[entry(name).name]


@contextlib.contextmanager
def registered(name, task, script='train.py'):
  """`register(name, task, script)` for the duration of a `with` block."""
  register(name, task, script)
  try:
    yield _ENTRIES[name]
  finally:
    _ENTRIES.pop(name, None)


# -- the tasks (Park et al. 2021), one line each -------------------------------

register('Copy', 'tasks.copy:CopyTask')
register('AssociativeRecall', 'tasks.associative_recall:AssociativeRecallTask')
register('RepresentationRecall',
         'tasks.representation_recall:RepresentationRecallTask')
register('bAbI', 'tasks.babi.task:BabiTask')
register('NthFarthest', 'tasks.nth_farthest:NthFarthestTask',
         script='run_nfar.py')
register('ConvexHull', 'tasks.convex_hull.task:ConvexHullTask',
         script='run_convexhull.py')

# -- reading the registry ------------------------------------------------------


def names(script=None):
  """The registered names in order (those `script` trains, if given)."""
  return [e.name for e in _ENTRIES.values()
          if script is None or e.script == script]


def scripts():
  """The scripts that train the registered tasks, in order, once each."""
  return list(dict.fromkeys(e.script for e in _ENTRIES.values()))


def entry(name):
  """The `Entry` of `name` (any case).

  Raises:
    KeyError: no such task (the message names the registered ones).
  """
  known = canonical(name)
  if known is None:
    raise KeyError(f'Unknown task {name!r}; the tasks are '
                   f'{", ".join(_ENTRIES)} (tasks/registry.py).')
  return _ENTRIES[known]


def _load(task):
  if isinstance(task, type):
    return task
  module, _, attribute = task.partition(':')
  return getattr(importlib.import_module(module), attribute)


def get(name):
  """The task class of `name` (any case), imported.

  Raises:
    KeyError: see `entry`.
  """
  return _load(entry(name).task)


def _path(task_class):
  return f'{task_class.__module__}:{task_class.__qualname__}'


def name_of(task_class):
  """The name `task_class` is registered under.

  Raises:
    KeyError: it is not registered.
  """
  for e in _ENTRIES.values():
    if e.task is task_class or e.task == _path(task_class):
      return e.name
  raise KeyError(f'{_path(task_class)} is not a registered task '
                 f'(tasks/registry.py).')


class _Tasks(collections.abc.Mapping):
  """name -> task class, read-only and live (`tasks.TASKS`); a class is
  imported when looked up."""

  def __getitem__(self, name):
    if name not in _ENTRIES:
      raise KeyError(name)
    return _load(_ENTRIES[name].task)

  def __iter__(self):
    return iter(list(_ENTRIES))

  def __len__(self):
    return len(_ENTRIES)

  def __repr__(self):
    return f'TASKS({", ".join(_ENTRIES)})'


TASKS = _Tasks()
