"""Learning-rate phases of a run (bAbI: --epoch epochs, then fine-tuning).

A phased run trains `phase_steps` steps at one learning rate. Restoring a
checkpoint trained at ANOTHER learning rate than the optimizer's starts a
new phase at the restored step (the step count goes on); the same learning
rate resumes the current phase. The phase start and its learning rate are
variables saved in the checkpoints; each finished phase's last checkpoint
is listed in <run>/phases.json and never rotated out, and going back to an
earlier phase's rate needs --return_to_learning_rate.
"""

import os

import numpy as np
import tensorflow as tf

from dam import fileio
from damrun import run_records
from damrun import rundir


class Phases:
  """The current phase (checkpointed variables) and the finished ones."""

  def __init__(self, run_root):
    """Creates the phase variables (in the caller's strategy scope).

    Attributes:
      start: the step the current phase started at.
      learning_rate: the current phase's learning rate (-1: none yet).
      path: <run>/phases.json, the finished phases.
    """
    self._run_root = run_root
    self.path = os.path.join(run_root, 'phases.json')
    self.start = tf.Variable(0, dtype=tf.int64, trainable=False,
                             name='phase_start_step')
    self.learning_rate = tf.Variable(-1., dtype=tf.float64, trainable=False,
                                     name='phase_learning_rate')

  def finished(self):
    """The finished learning-rate phases: [{learning_rate, end_step,
    checkpoint}] (their last checkpoints are never rotated out)."""
    return run_records.read_phases(self.path)

  def begin(self, phase_steps, optimizer, step, restored_from, checkpoints,
            may_return, log):
    """Resumes the current phase or starts a new one; returns its end step.

    Args:
      phase_steps: the phase's length in steps.
      optimizer: the run's optimizer; its learning rate is the phase's.
      step: the `tf.Variable` step counter (restored).
      restored_from: the checkpoint restored, or None.
      checkpoints: the run's `damrun.checkpoints.Checkpoints` (a finished
        phase's last checkpoint is kept).
      may_return: --return_to_learning_rate: an earlier phase's learning
        rate may start a new phase.
      log: where the fine-tuning line goes.

    Raises:
      ValueError: a negative `phase_steps`.
      damrun.rundir.ConfigMismatchError: an earlier phase's learning rate
        without `may_return`; nothing was changed.
    """
    if phase_steps < 0:
      raise ValueError(f'phase_steps must be >= 0, got {phase_steps}.')
    learning_rate = float(optimizer.learning_rate)
    previous = float(self.learning_rate.numpy())
    if restored_from and previous >= 0 and not np.isclose(
        learning_rate, previous, rtol=1e-6, atol=0.):
      self._new_phase(phase_steps, learning_rate, previous, step,
                      restored_from, checkpoints, may_return, log)
    self.learning_rate.assign(learning_rate)
    return int(self.start.numpy()) + phase_steps

  def _new_phase(self, phase_steps, learning_rate, previous, step,
                 restored_from, checkpoints, may_return, log):
    """Closes the restored phase (phases.json) and starts one at `step`."""
    phases = self.finished()
    earlier = [phase for phase in phases if np.isclose(
        phase['learning_rate'], learning_rate, rtol=1e-6, atol=0.)]
    if earlier and not may_return:
      raise rundir.ConfigMismatchError(
          f'The run in {self._run_root} trained at learning rate '
          f'{learning_rate:g} until step {earlier[-1]["end_step"]} '
          f'({earlier[-1]["checkpoint"]}), then at {previous:g} up to step '
          f'{int(step.numpy())}: this command would start another '
          f'phase at the earlier rate on the later weights (e.g. the first '
          f'bAbI command rerun after fine-tuning). Run the latest phase\'s '
          f'command to resume, pass --return_to_learning_rate to do this '
          f'deliberately, or a new --name; nothing was changed.')
    entry = dict(learning_rate=previous, end_step=int(step.numpy()),
                 checkpoint=restored_from)
    # A process killed after writing it, before its first checkpoint of the
    # new phase, restores the same checkpoint: its entry is there already.
    if not phases or phases[-1] != entry:
      phases.append(entry)
      fileio.write_json_atomic(self.path, phases, indent=2)
    checkpoints.keep(restored_from)
    self.start.assign(step)
    log(f'Fine-tuning: the checkpoint was trained at learning rate '
        f'{previous:g}; training {phase_steps} more steps at '
        f'{learning_rate:g} from step {int(step.numpy())}.')
