"""Ctrl-C and SIGTERM (e.g. a cluster's preemption) stop a run between steps.

A KeyboardInterrupt raised at once could land after a step's update and
before its step count (a checkpoint one update ahead of its step); the
signal is noted instead, and the trainer raises KeyboardInterrupt before
its next step (the loop then saves a checkpoint).
"""

import signal
import threading


class stop_at_a_step_boundary:  # pylint: disable=invalid-name
  """Within: SIGINT and SIGTERM set `trainer.stop_signal` to their name.

  The trainer checks `stop_signal` before each step. A second signal raises
  KeyboardInterrupt at once. Handlers are installed in the main thread only
  (elsewhere the signals keep their handlers).
  """

  def __init__(self, trainer):
    self._trainer = trainer
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self._trainer.stop_signal is not None:
      raise KeyboardInterrupt
    name = signal.Signals(signum).name
    self._trainer.stop_signal = name
    print(f'{name} received: stopping after this step and saving a '
          f'checkpoint (again to stop at once).', flush=True)

  def __enter__(self):
    self._trainer.stop_signal = None
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGINT, signal.SIGTERM):
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    return False
