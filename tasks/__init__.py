"""Algorithmic task generators of train.py (SPEC 4): Copy, Associative
Recall and Representation Recall. Each yields padded `tasks.base.Batch`es
(inputs, targets, seq_len, loss_mask, original_mask) with Memory Refreshing
Loss masks from `dam.mrl`.
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
