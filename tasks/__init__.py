"""The tasks (Park et al. 2021). Every task implements `tasks.base.Task`:
batches (`tasks.base.Batch`: inputs, targets, seq_len, answer_mask,
refresh_mask) and a loss built from `dam.mrl` and `dam.losses`.

* `tasks.example`: tasks built one example at a time with sigmoid outputs,
  the algorithmic tasks of train.py, registered in `TASKS`: `copy`,
  `associative_recall`, `representation_recall`;
* `tasks.two_head`: tasks with a reconstruction head and a class head:
  `nth_farthest` (run_nfar.py), `convex_hull` (run_convexhull.py, a
  package);
* `babi` (train.py --mode=bAbI, eval.py; a package), and `babi_kv`, its
  encoding for the KV-MemNN baseline (run_kvmemnn.py).
"""

from tasks.associative_recall import AssociativeRecallTask
from tasks.base import Batch
from tasks.copy import CopyTask
from tasks.representation_recall import RepresentationRecallTask

TASKS = {
    'Copy': CopyTask,
    'AssociativeRecall': AssociativeRecallTask,
    'RepresentationRecall': RepresentationRecallTask,
}

__all__ = ['Batch', 'CopyTask', 'AssociativeRecallTask',
           'RepresentationRecallTask', 'TASKS']
