"""The loop every training script runs.

It counts units of training (a step for the DAM / DNC scripts, an epoch for
the KV-MemNN baseline) from where the run stands to a total: after each unit
it collects the unit's metrics, every `report_interval` units (and at the
last) it asks for a report, every `checkpoint_interval` units (and at the
last) it saves a checkpoint, also after any unit that ends
`checkpoint_seconds` or more after the last save (so a long run never
loses more than that much work to a kill), and on Ctrl-C it saves one before stopping
(when the unit can be interrupted safely). What a unit and a report are is
the trainable's business:

    trainable.advance() -> dict of float metrics of one unit
    trainable.report(progress, window) -> None
        window: dict metric -> list of its values since the last report
    trainable.heartbeat(progress, next_report) -> None   (optional)
        a short line between reports that are far apart in time: called
        after a unit that ends `heartbeat_seconds` or more after the last
        report or heartbeat (the authors' Nth Farthest and Convex Hull
        report every 1,000 steps of several seconds each)
"""

import collections
import time


class Progress(collections.namedtuple('Progress', (
    'count', 'total', 'start', 'run_start', 'window_count', 'window_start'))):
  """Where a run stands at a report.

  count: units done; total: units of the run; start: units done when this
  process started; run_start: time.time() then; window_count /
  window_start: units done and time.time() at the previous report.
  """

  __slots__ = ()

  def window_rate(self):
    """Units per second since the previous report."""
    elapsed = time.time() - self.window_start
    return (self.count - self.window_count) / max(elapsed, 1e-9)

  def run_rate(self):
    """Units per second since this process started."""
    elapsed = time.time() - self.run_start
    return (self.count - self.start) / max(elapsed, 1e-9)


def _next_report(count, total, report_interval, eval_interval=None):
  """The first unit after `count` that is reported: a multiple of
  `report_interval` (or of `eval_interval`), or the last unit `total`."""
  intervals = [report_interval] + ([eval_interval] if eval_interval else [])
  return min([(count // n + 1) * n for n in intervals] + [total])


def run(trainable, start, total, report_interval, checkpoint_interval, save,
        save_on_interrupt=True, log=print, unit='step',
        checkpoint_seconds=None, eval_interval=None, heartbeat_seconds=None):
  """Trains `trainable` from `start` to `total` units (see module docstring).

  Args:
    trainable: has `advance()` and `report(progress, window)`.
    start: units already done (a resumed run).
    total: train until this many units are done.
    report_interval, checkpoint_interval: units between reports and
      between checkpoints (both also at the last unit).
    save: fn(count) -> path, writes a checkpoint after `count` units.
    save_on_interrupt: on Ctrl-C (KeyboardInterrupt), save, say so and
      re-raise; False: just re-raise (a unit that cannot be resumed from
      its middle).
    log: where the interruption message goes.
    unit: its name, for that message.
    checkpoint_seconds: also save after the first unit that ends this many
      seconds or more after the last save (or this process's start); None
      or 0: by count only.
    eval_interval: also report every this many units (a trainable that
      evaluates a test set at this interval, between report intervals).
    heartbeat_seconds: call `trainable.heartbeat(progress, next_report)`
      (next_report: the unit of the next report) after a unit
      that is not reported and ends this many seconds or more after the
      last report or heartbeat; None or 0 (or no such method): never.

  Returns:
    The units done (`total`, or `start` if there was nothing to do).
  """
  for name, value in (('report_interval', report_interval),
                      ('checkpoint_interval', checkpoint_interval)):
    if value < 1:
      raise ValueError(f'{name} must be >= 1, got {value}.')
  count = start
  run_start = last_save = last_line = time.time()
  window, window_count, window_start = {}, start, run_start
  heartbeat = getattr(trainable, 'heartbeat', None) if heartbeat_seconds \
      else None
  try:
    while count < total:
      metrics = trainable.advance()
      count += 1
      for key, value in metrics.items():
        window.setdefault(key, []).append(value)
      if count == _next_report(count - 1, total, report_interval,
                               eval_interval):
        trainable.report(Progress(count, total, start, run_start,
                                  window_count, window_start), window)
        window, window_count, window_start = {}, count, time.time()
        last_line = window_start
      elif heartbeat and time.time() - last_line >= heartbeat_seconds:
        heartbeat(Progress(count, total, start, run_start, window_count,
                           window_start),
                  _next_report(count, total, report_interval, eval_interval))
        last_line = time.time()
      if (count % checkpoint_interval == 0 or count == total or
          (checkpoint_seconds and
           time.time() - last_save >= checkpoint_seconds)):
        save(count)
        last_save = time.time()
  except KeyboardInterrupt:
    if save_on_interrupt:
      path = save(count)
      log(f'Interrupted at {unit} {count}; saved {path}. Run the same '
          f'command to resume.')
    raise
  return count
