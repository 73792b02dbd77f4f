"""Ctrl-C and SIGTERM (e.g. a cluster's preemption) stop a run between units.

A KeyboardInterrupt raised where the signal lands could fall after a step's
update and before its step count, and the checkpoint saved on the way out
would then be one update ahead of its step number (the resumed run silently
diverges). So while a training loop runs, a signal is only noted: the
trainable raises KeyboardInterrupt before its next unit (`check`), the loop
saves a checkpoint there, and the script ends with one line and exit code
128 + the signal's number (`exit_code`: 130 for SIGINT, 143 for SIGTERM).
A second signal never raises: a terminal's Ctrl-C reaches every process of
its group and a supervisor (experiments/run_suite.py, a cluster) often
forwards a SIGTERM too, so two signals a few ms apart are one request. (To
stop at once, losing the work since the last checkpoint: kill -9.)

`script_handlers` (`damrun.cli.run_main`) installs the handlers for a whole
script: before a loop runs, a signal raises KeyboardInterrupt at once
(nothing is under way that a stop must finish); once a stop has begun, or
after the loop ended, further signals are only noted, so the exit is never a
traceback. Without it (a trainer used in-process), `stop_at_a_step_boundary`
installs the handlers for the loop only and restores the previous ones.
"""

import contextlib
import os
import signal
import sys
import threading

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
  """The process's stop requests (the handlers are process-wide)."""

  def __init__(self):
    self.installed = False  # by `script_handlers` or a loop
    self.trainable = None  # the trainable whose loop runs, or None
    self.unit = 'step'
    self.first = None  # the first signal's number
    self.stopping = False  # a stop has begun (or the loop ended): only note
    self.stopping_at_a_boundary = False  # a loop stops (and saves, says so)
    self.noted_again = False


_STATE = _State()


def _say(line):
  """Writes a line to stdout from a signal handler (os.write: a print()
  there could re-enter a buffered write under way and raise)."""
  try:
    sys.stdout.flush()
  except (OSError, ValueError, RuntimeError):
    pass
  try:
    os.write(sys.stdout.fileno(), (line + '\n').encode())
  except (OSError, ValueError, AttributeError):
    pass


def _handle(signum, frame):
  """SIGINT / SIGTERM: note it; raise only when nothing is under way."""
  del frame
  name = signal.Signals(signum).name
  state = _STATE
  if state.first is None:
    state.first = signum
  trainable = state.trainable
  if trainable is not None and trainable.stop_signal is None:
    trainable.stop_signal = name
    _say(f'{name} received: stopping after the {state.unit} under way and '
         f'saving a checkpoint (kill -9 stops at once, losing the '
         f'{state.unit}s since the last checkpoint).')
    return
  if trainable is not None or state.stopping:
    if not state.noted_again:
      state.noted_again = True
      _say(f'{name} received again: still stopping cleanly; the '
           f'{state.unit} under way is never cut in half.')
    return
  state.stopping = True
  raise KeyboardInterrupt


def _install():
  """Installs the handlers (main thread only); returns the previous ones."""
  if threading.current_thread() is not threading.main_thread():
    return {}
  return {signum: signal.signal(signum, _handle) for signum in _SIGNALS}


def _restore(previous):
  for signum, handler in previous.items():
    signal.signal(signum, handler)


@contextlib.contextmanager
def script_handlers():
  """Within: a whole script's SIGINT / SIGTERM handling (module doc)."""
  previous = _install()
  _STATE.__init__()
  _STATE.installed = bool(previous)
  try:
    yield _STATE
  finally:
    _restore(previous)
    _STATE.installed = False


def exit_code():
  """The exit code of a stopped script: 128 + the first signal's number
  (130 without one, as a plain KeyboardInterrupt)."""
  return 128 + (_STATE.first or signal.SIGINT)


def signal_name():
  """The first signal's name ('SIGINT' without one)."""
  return signal.Signals(_STATE.first or signal.SIGINT).name


def check(trainable):
  """Raises KeyboardInterrupt if a signal asked `trainable` to stop; called
  between two units (`damrun.loop`), where stopping is safe."""
  if trainable.stop_signal is not None:
    _STATE.stopping = _STATE.stopping_at_a_boundary = True
    raise KeyboardInterrupt


class stop_at_a_step_boundary:  # pylint: disable=invalid-name
  """Within: SIGINT and SIGTERM set `trainable.stop_signal` to their name.

  The trainable calls `check` before each unit (`unit` names it in the
  messages: 'step', 'epoch'). Later signals are only noted. The handlers
  are installed here unless `script_handlers` did (then they stay, and
  signals after the loop are only noted); in the main thread only.
  """

  def __init__(self, trainable, unit='step'):
    self._trainable, self._unit = trainable, unit
    self._previous = {}

  def __enter__(self):
    self._trainable.stop_signal = None
    if not _STATE.installed:
      self._previous = _install()
      _STATE.first, _STATE.noted_again = None, False
    _STATE.trainable, _STATE.unit, _STATE.stopping = (self._trainable,
                                                      self._unit, False)
    return self

  def __exit__(self, *exc):
    # After the loop (finished or stopping) signals are only noted: what
    # follows writes the run's records and returns.
    _STATE.stopping, _STATE.trainable = True, None
    _restore(self._previous)
    self._previous = {}
    return False
