"""The tasks (Park et al. 2021). Every task implements `tasks.base.Task`:
batches (`tasks.base.Batch`: inputs, targets, seq_len, answer_mask,
refresh_mask) and a loss built from `dam.mrl` and `dam.losses`, and says
how it is built from flags, reopened from a saved run and drawn.

`TASKS` (`tasks.registry`): every task by name (config.json's 'task',
train.py's --mode), the one list the scripts and tools read:

* `tasks.example`: tasks built one example at a time with sigmoid outputs,
  the algorithmic tasks of train.py: `copy`, `associative_recall`,
  `representation_recall`;
* `tasks.two_head`: tasks with a reconstruction head and a class head:
  `nth_farthest` (run_nfar.py), `convex_hull` (run_convexhull.py, a
  package);
* `babi` (train.py --mode=bAbI, eval.py; a package), and `babi_kv`, its
  encoding for the KV-MemNN baseline (run_kvmemnn.py; not a DAM task).

Importing this package loads only the registry (no TensorFlow, so the
scripts' --help stays fast); `tasks.Batch`, `tasks.CopyTask`, ... are
imported when first used.
"""

import importlib

from tasks.registry import TASKS

# Names imported on first use: name -> module.
_LAZY = {
    'Batch': 'tasks.base',
    'CopyTask': 'tasks.copy',
    'AssociativeRecallTask': 'tasks.associative_recall',
    'RepresentationRecallTask': 'tasks.representation_recall',
}


def __getattr__(name):
  if name in _LAZY:
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['Batch', 'CopyTask', 'AssociativeRecallTask',
           'RepresentationRecallTask', 'TASKS']
