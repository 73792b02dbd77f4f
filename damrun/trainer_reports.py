"""What a `damrun.trainer.Trainer` reports while it trains.

At each report: the progress line (step/total, epoch for epoch-based tasks,
loss, the task's metrics, steps/s, ETA) and its row of metrics.csv and
TensorBoard (`damrun.reporting`), with the held-out batches' metrics; every
evaluation interval and at the end also the fixed test sets, the task's own
test and the memory picture of one example (`damrun.pictures`). At the
end of a training, the run's summary (summary.json).
"""

import json
import os
import time

import numpy as np

from damrun import reporting


class Reports:
  """The reports of one trainer (see module docstring)."""

  def __init__(self, trainer):
    """`trainer`: the `damrun.trainer.Trainer` reported on."""
    self._trainer = trainer
    self._recorder = None  # `damrun.pictures.Recorder` of the pictures
    self.reporter = None
    # The trainer's (compile_seconds, compile_steps) at the last report and
    # the last steps/s measured without compilation (for the ETA).
    self._compiled_before = (0., 0)
    self._rate_without_compiling = None

  def start(self, start_step):
    """Opens the files of a training that starts at `start_step`: rows and
    TensorBoard events past it (written after the last checkpoint by a
    killed process) are dropped."""
    self.reporter = reporting.Reporter(self._trainer.run_dir,
                                       resume_step=start_step)

  def report(self, progress, window):
    """The progress line and the row of metrics.csv / TensorBoard."""
    trainer = self._trainer
    step = progress.count
    row, line = self._training(progress, window)
    evaluation = trainer.evaluation
    if evaluation.task is not None and evaluation.batches > 0:
      held_out = trainer.evaluate()
      row.update({f'eval_{k}': v for k, v in held_out.items()})
      last = trainer.report_metrics[-1:]
      line += (f' | eval loss {held_out["loss"]:.4f} '
               f'{reporting.format_metrics(held_out, last)}')
    evaluation_step = (step % trainer.eval_interval == 0 or
                       step == trainer.total_steps)
    if trainer.eval_sets and evaluation_step:
      line += self.evaluate_sets(row)
    if evaluation.test is not None and evaluation_step:
      test_row, text = evaluation.test(trainer.model)
      row.update(test_row)
      line += f' | {text}'
    trainer.log(line)
    self.reporter.write(row)
    if evaluation.picture is not None and evaluation_step:
      self._log_picture(step)

  def _training(self, progress, window):
    """(row, line) of the training metrics since the last report."""
    trainer = self._trainer
    step = progress.count
    means = {k: float(np.mean(v)) for k, v in window.items()}
    rate = progress.window_rate()
    rate_note, eta_rate = self._eta_rate(progress, rate)
    eta = (trainer.total_steps - step) / max(eta_rate, 1e-9)
    row = {'step': step,
           'wall_time_s': round(time.time() - progress.run_start, 3),
           'steps_per_sec': rate}
    row.update({f'train_{k}': v for k, v in means.items()})
    epoch = trainer.task.progress()  # epoch-based tasks (bAbI): fractional
    if epoch is not None:
      row['epoch'] = round(epoch, 4)
    line = (f'[{step}/{trainer.total_steps}]'
            f'{"" if epoch is None else f" epoch {epoch:.2f}"} '
            f'loss {means["loss"]:.4f} '
            f'{reporting.format_metrics(means, trainer.report_metrics)} '
            f'| {rate:.2f} steps/s, ETA {reporting.format_duration(eta)}'
            f'{rate_note}')
    return row, line

  def heartbeat_line(self, progress, next_report):
    """'[30/300000] 0.14 steps/s, ETA 24 days, 19:22:13 (next report at step
    1000)': the rate since the last report without the steps that compiled
    (as the ETA of the progress line; the report's state is unchanged)."""
    total = self._trainer.total_steps
    seconds, compiled = self._compiled_since_report()
    rate = (self._rate_without(progress, seconds, compiled) or
            self._rate_without_compiling or progress.window_rate())
    eta = (total - progress.count) / max(rate, 1e-9)
    return (f'[{progress.count}/{total}] {rate:.2f} steps/s, ETA '
            f'{reporting.format_duration(eta)} (next report at step '
            f'{next_report})')

  def _compiled_since_report(self):
    """(seconds, steps) of the compilations since the last report."""
    trainer = self._trainer
    seconds_before, compiled_before = self._compiled_before
    return (getattr(trainer, 'compile_seconds', 0.) - seconds_before,
            getattr(trainer, 'compile_steps', 0) - compiled_before)

  @staticmethod
  def _rate_without(progress, seconds, compiled):
    """Steps/s since the last report, `compiled` steps and their `seconds`
    left out; None when no such step is left."""
    steps = progress.count - progress.window_count - compiled
    elapsed = time.time() - progress.window_start - seconds
    return steps / elapsed if steps > 0 and elapsed > 0 else None

  def _eta_rate(self, progress, rate):
    """(note for the line, steps/s for the ETA): the steps that compiled
    (XLA, the first trace) since the last report, and their time, left out
    of the ETA's rate; the note says so ('' when none compiled). Without a
    step left (all compiled), the last such rate, else `rate`."""
    trainer = self._trainer
    seconds, compiled = self._compiled_since_report()
    self._compiled_before = (getattr(trainer, 'compile_seconds', 0.),
                             getattr(trainer, 'compile_steps', 0))
    if not compiled:
      self._rate_without_compiling = rate
      return '', rate
    without = self._rate_without(progress, seconds, compiled)
    if without is not None:
      self._rate_without_compiling = without
    eta_rate = self._rate_without_compiling or rate
    return (f' (at {eta_rate:.2f} steps/s: the {seconds:.0f} s of '
            f'compilation left out)', eta_rate)

  def _log_picture(self, step):
    """The memory picture of `Evaluation.picture` to TensorBoard."""
    from damrun import pictures  # pylint: disable=g-import-not-at-top
    trainer = self._trainer
    if self._recorder is None:
      self._recorder = pictures.Recorder(trainer.model)
    self.reporter.image(
        'memory', pictures.memory_picture(
            self._recorder, trainer.evaluation.picture,
            title=f'{os.path.basename(trainer.run_dir.root)}, step {step}'),
        step)

  def evaluate_sets(self, row):
    """Evaluates every evaluation set into `row`; returns the line part."""
    trainer = self._trainer
    line = ''
    for name, make_batches in trainer.eval_sets.items():
      results = trainer.evaluate_batches(make_batches())
      row.update({f'{name}_{k}': v for k, v in results.items()})
      metrics = reporting.format_metrics(results,
                                         trainer.report_metrics[-1:])
      line += f' | {name} {metrics}'
    return line

  def evaluate_finished(self, step):
    """Evaluates a finished run's sets again (e.g. with other evaluation
    settings); the row goes to metrics.csv with evaluation_only = 1."""
    trainer = self._trainer
    training = trainer.evaluation.training
    row = {'step': step, 'evaluation_only': 1,
           'eval_training': int(training)}
    line = self.evaluate_sets(row)
    trainer.log(f'[{step}/{trainer.total_steps}] already trained; '
                f'evaluation ({"training" if training else "evaluation"} '
                f'mode){line}')
    self.reporter.write(row, scalars=False)


  def summary(self, start_step, step, wall, previous_final):
    """The run's summary (summary.json) after training from `start_step`
    to `step` in `wall` seconds; `previous_final` (see `previous_final`)
    stands for the last row if this process wrote none."""
    trainer = self._trainer
    history = trainer.history_path
    return dict(
        name=os.path.basename(trainer.run_dir.root), steps=step,
        start_step=start_step, wall_time_s=wall,
        steps_per_sec=(step - start_step) / wall if wall > 0 else None,
        final=self.reporter.last or previous_final,
        checkpoint=trainer.checkpoints.latest,
        config=trainer.config, run=trainer.run_info,
        traces=dict(trainer.traces), flags=trainer.flags,
        phases=trainer.phases.finished(),
        history=history if os.path.exists(history) else None,
        xla_compiles={k: len(v) for k, v in trainer.compiled_shapes.items()})


# The entries of summary.json that time the training; a command that only
# finds its run finished keeps them as they were.
TIMING_KEYS = ('start_step', 'wall_time_s', 'steps_per_sec', 'traces',
               'xla_compiles')


def keep_timing(summary_path, summary):
  """`summary` with the timing entries (`TIMING_KEYS`) of the run's
  summary.json if it is at the same step, else none measured (None)."""
  try:
    with open(summary_path) as f:
      previous = json.load(f)
  except (OSError, ValueError):
    previous = None
  if not isinstance(previous, dict) or previous.get('steps') != summary.get(
      'steps'):  # none, or of an earlier process that stopped before
    previous = dict(wall_time_s=None, steps_per_sec=None)
  return dict(summary, **{k: previous[k] for k in TIMING_KEYS
                          if k in previous})


def previous_final(summary_path, start_step):
  """summary.json's `final` of an earlier process of the run, if it is not
  past `start_step` (a rerun of a finished command keeps it)."""
  try:
    with open(summary_path) as f:
      final = json.load(f).get('final')
  except (OSError, ValueError, AttributeError):
    return None
  if isinstance(final, dict) and final.get('step', 0) <= start_step:
    return final
  return None
