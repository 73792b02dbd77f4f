"""The report of a suite (experiments/run_suite.py): numbers, table, curves.

From each run's metrics.csv (<info_dir>/<run>/), for the experiment's
metric m (held-out bit accuracy for the algorithmic tasks):

  steps_to_99   the step of the first report with m >= 0.99 (None: never)
  below_after   the fraction of the reports after that one with m < 0.99
                (relapses of a run that had learned; None: never reached)
  final         m at the last report
  train_time_s  sum over reports of (steps since the previous report) /
                steps_per_sec, the training time without start-up
  finished      every phase of the run ended with exit code 0

and per experiment and model, over its seeds: the mean and the sample
standard deviation of steps_to_99 (over the seeds that reached it, with
their count) and of final. Written to <out_dir>/:

  results.json         everything above, the claims' comparisons of steps
                       to 99 % (experiments/comparisons.py), the machine
                       and the commit
  table.md             one row per experiment and model, then the
                       comparisons
  two_by_two.md        the 2 x 2 of memory and loss (DAM / DNC, with and
                       without the MRL) of the experiments that ran all four
                       (`comparisons.two_by_two`; README shows it)
  <experiment>.png     learning curves (`experiment_figure`, drawn by
                       `damrun.plots.curves_figure` as visualize.py
                       --curves): per model the mean over its seeds, the
                       held-out mean in a band from the lowest to the
                       highest seed (min-max), and a dashed line at the
                       0.99 threshold of steps_to_99; for the other metrics
                       every run's curves and a dashed line at the
                       experiment's published value, if it has one

An experiment whose metric has a report of its own (`OWN_REPORTS`: bAbI's
test error per epoch, experiments/babi_report.py) gets that one instead.
"""

import datetime
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from bench.machine import machine
from experiments import comparisons
from experiments import suites

THRESHOLD = 0.99


def read_columns(run_dir):
  """The columns of <run_dir>/metrics.csv ({name: float array}) without the
  rows of re-evaluations; None when the run has no metrics.csv yet."""
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  path = os.path.join(run_dir, 'metrics.csv')
  if not os.path.isfile(path):
    return None
  columns = reporting.read_metrics(path)
  if 'evaluation_only' in columns:  # rows of a re-evaluation
    keep = ~(columns['evaluation_only'] == 1)
    columns = {k: v[keep] for k, v in columns.items()}
  return columns


def run_numbers(run, info_dir, metric):
  """The numbers of one run (see the module docstring)."""
  run_dir = os.path.join(info_dir, run.name)
  finished = suites.done_phases(info_dir, run) == set(
      range(len(run.phases)))
  out = dict(name=run.name, experiment=run.experiment, model=run.model,
             seed=run.seed, finished=finished, steps=None, steps_to_99=None,
             below_after=None,
             final=None, train_time_s=None)
  columns = read_columns(run_dir)
  if columns is None or metric not in columns or not len(columns['step']):
    return out
  steps, values = columns['step'], columns[metric]
  valid = np.isfinite(values)
  out['steps'] = int(steps[-1])
  if valid.any():
    out['final'] = float(values[valid][-1])
    reached = np.flatnonzero(valid & (values >= THRESHOLD))
    if len(reached) and counts_steps_to_99(metric):
      out['steps_to_99'] = int(steps[reached[0]])
      after = values[reached[0] + 1:]
      after = after[np.isfinite(after)]
      out['below_after'] = (float(np.mean(after < THRESHOLD)) if len(after)
                            else 0.)
  prefix = metric.split('_', 1)[0]
  tasks = sorted((int(name[len(prefix) + 5:]), name) for name in columns
                 if name.startswith(f'{prefix}_task'))
  if tasks:  # the KV-MemNN's per-task accuracies at the last report
    out['final_per_task'] = {t: float(columns[name][-1]) for t, name in tasks}
  out['train_time_s'] = train_time_s(columns)
  return out


def train_time_s(columns):
  """The training time of a run's metrics.csv columns, in seconds: the sum
  over reports of (steps since the previous report) / steps_per_sec (start-up
  and evaluations left out); without steps_per_sec the last wall_time_s (one
  process's clock, the KV-MemNN's); None without either."""
  rates = columns.get('steps_per_sec')
  if rates is not None:
    intervals = np.diff(np.concatenate([[0.], columns['step']]))
    ok = np.isfinite(rates) & (rates > 0) & (intervals > 0)
    return round(float(np.sum(intervals[ok] / rates[ok])), 1)
  if 'wall_time_s' in columns:
    return float(columns['wall_time_s'][-1])
  return None


def counts_steps_to_99(metric):
  """Whether the report counts steps to 99 % of `metric` (bit accuracies)."""
  return metric.endswith('bit_accuracy')


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  std = statistics.stdev(values) if len(values) > 1 else 0.
  return statistics.mean(values), std


def aggregate(numbers):
  """Per (experiment, model): seeds, finished, reached, means and spreads."""
  groups = {}
  for row in numbers:
    groups.setdefault((row['experiment'], row['model']), []).append(row)
  out = []
  for (experiment, model), rows in groups.items():
    done = [r for r in rows if r['finished']]
    steps_mean, steps_std = _mean_std([r['steps_to_99'] for r in done])
    final_mean, final_std = _mean_std([r['final'] for r in done])
    time_mean, _ = _mean_std([r['train_time_s'] for r in done])
    below_mean, below_std = _mean_std([r.get('below_after') for r in done])
    out.append(dict(
        experiment=experiment, model=model, seeds=len(rows),
        finished=len(done),
        reached_99=sum(r['steps_to_99'] is not None for r in done),
        steps_to_99=[r['steps_to_99'] for r in done],
        steps_to_99_mean=steps_mean, steps_to_99_std=steps_std,
        final=[r['final'] for r in done], final_mean=final_mean,
        final_std=final_std, below_after=[r.get('below_after')
                                          for r in done],
        below_after_mean=below_mean, below_after_std=below_std,
        train_time_s_mean=time_mean))
  return out


def git_commit():
  """The checkout's HEAD commit (None outside a git checkout)."""
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True,
                          text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))
                          ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def _fmt(mean, std, digits=0):
  if mean is None:
    return '--'
  if digits == 0:
    return f'{mean:,.0f} ± {std:,.0f}'
  return f'{mean:.{digits}f} ± {std:.{digits}f}'


def table(rows, experiments, suite=None):
  """The markdown tables of `aggregate` rows: one for the experiments whose
  steps to 99 % are counted, one for the others (final metric); then, per
  experiment, what the paper claims and (given `suite`) the command that
  runs its rows again."""
  by_name = {e.name: e for e in experiments}
  counted = [r for r in rows if counts_steps_to_99(
      by_name[r['experiment']].metric)]
  other = [r for r in rows if r not in counted]
  lines = []
  if counted:
    lines += [
        '| experiment | model | seeds done | reached 99 % | steps to 99 % '
        '(mean ± sd) | per seed | final (mean ± sd) | reports < 99 % after '
        'reaching it (mean ± sd) | training min / run |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for row in counted:
    per_seed = comparisons.seeds_text(row['steps_to_99']) or '--'
    lines.append(
        f'| {row["experiment"]} ({by_name[row["experiment"]].steps:,} '
        f'steps) | {suites.MODEL_LABELS[row["model"]]} | {row["finished"]} '
        f'/ {row["seeds"]} | {row["reached_99"]} / {row["finished"]} | '
        f'{_fmt(row["steps_to_99_mean"], row["steps_to_99_std"])} | '
        f'{per_seed} | {_fmt(row["final_mean"], row["final_std"], 4)} | '
        f'{_percent(row)} | {_minutes(row)} |')
  if other:
    lines += (['', ] if counted else []) + [
        '| experiment | model | seeds done | metric | final (mean ± sd) | '
        'per seed | training min / run |',
        '| --- | --- | --- | --- | --- | --- | --- |']
  for row in other:
    per_seed = ', '.join('--' if v is None else f'{v:.3f}'
                         for v in row['final']) or '--'
    lines.append(
        f'| {row["experiment"]} | {suites.MODEL_LABELS[row["model"]]} | '
        f'{row["finished"]} / {row["seeds"]} | '
        f'{by_name[row["experiment"]].metric} | '
        f'{_fmt(row["final_mean"], row["final_std"], 3)} | {per_seed} | '
        f'{_minutes(row)} |')
  budgets = comparisons.step_budgets(experiments)
  compared = comparisons.compare([r for r in rows if r in counted], budgets)
  if compared:
    lines += ['', 'The claims\' comparisons (finished seeds):', '']
    lines += [comparisons.comparison_line(c, budgets) for c in compared]
  names = [e.name for e in experiments
           if any(r['experiment'] == e.name for r in rows)]
  if names:
    lines += ['', 'Claims tested and how to run each row again:', '']
  for name in names:
    line = f'* {name}: {by_name[name].paper}.'
    if suite:  # with what a fresh clone needs (`suites.rerun_flags`)
      line += (f' `python experiments/run_suite.py --suite={suite} '
               f'--only={name}{suites.rerun_flags(by_name[name])}`')
    lines.append(line)
  return '\n'.join(lines) + '\n'


def _percent(row):
  if row.get('below_after_mean') is None:
    return '--'
  return (f'{100 * row["below_after_mean"]:.0f} ± '
          f'{100 * row["below_after_std"]:.0f} %')


def _minutes(row):
  return ('--' if row['train_time_s_mean'] is None else
          f'{row["train_time_s_mean"] / 60:.1f}')


def _mean_curves(runs, info_dir, metric):
  """[(label, columns)] per model: the mean over its seeds (those with a
  metrics.csv) of the train and held-out columns of `metric` and of the
  reported loss; the held-out ones with their band columns
  '<column>/low' and '<column>/high', the lowest and the highest seed at
  each report, when there are two seeds or more (the reports of all seeds
  are at the same steps; the runs' common reports are used)."""
  base = metric.split('_', 1)[1]
  curves = []
  models = []
  for run in runs:
    if run.model not in models:
      models.append(run.model)
  for model in models:
    tables = [c for c in (read_columns(os.path.join(info_dir, run.name))
                          for run in runs if run.model == model)
              if c is not None]
    if not tables:
      continue
    length = min(len(c['step']) for c in tables)
    columns = {'step': tables[0]['step'][:length]}
    for name in (f'train_{base}', f'eval_{base}', 'train_reported_loss',
                 'eval_reported_loss'):
      if all(name in c for c in tables):
        seeds = np.array([c[name][:length] for c in tables])
        columns[name] = np.mean(seeds, axis=0)
        if len(tables) > 1 and name.startswith('eval_'):
          columns[f'{name}/low'] = np.min(seeds, axis=0)
          columns[f'{name}/high'] = np.max(seeds, axis=0)
    curves.append((f'{suites.MODEL_LABELS[model]} (mean of {len(tables)} '
                   f'seeds)', columns))
  return curves


# Experiments whose metric has a report of its own: metric -> the module
# whose write(suite, experiment, runs, info_dir, out_dir) writes it and
# returns the paths. Imported when needed (it builds on this module).
OWN_REPORTS = {'test_mean_error': 'experiments.babi_report'}


def write(suite, runs, info_dir, out_dir):
  """Writes the report of `runs` into `out_dir`; returns the paths.

  An experiment whose metric is in `OWN_REPORTS` gets that report, in
  `out_dir` when it is the only experiment of `runs`, else in
  <out_dir>/<experiment>/; the others share the report of the module
  docstring.
  """
  experiments = [e for e in suites.SUITES[suite]
                 if any(r.experiment == e.name for r in runs)]
  own = [e for e in experiments if e.metric in OWN_REPORTS]
  written = []
  for experiment in own:
    writer = importlib.import_module(OWN_REPORTS[experiment.metric]).write
    folder = (out_dir if len(experiments) == 1 else
              os.path.join(out_dir, experiment.name))
    written += writer(suite, experiment, [
        r for r in runs if r.experiment == experiment.name], info_dir, folder)
  rest = [e for e in experiments if e not in own]
  if rest or not own:
    names = {e.name for e in rest}
    written += _write_common(suite, rest, [
        r for r in runs if r.experiment in names], info_dir, out_dir)
  return written


def experiment_figure(experiment, runs, info_dir):
  """The learning curves of one experiment's `runs` (a Figure; None when no
  run has a metrics.csv).

  An experiment whose steps to 99 % are counted: per model, the mean over
  its seeds of the train and held-out reported loss and of its metric, a
  band from the lowest to the highest seed around the held-out means, and
  a dashed line at `THRESHOLD` on the metric's panel. The others (the
  KV-MemNN's accuracies): every run's train, validation and test curves of
  the metric, and a dashed line at the experiment's published `reference`
  (`suites.Experiment`), titled with the experiment's `title`.
  """
  from damrun import plots  # pylint: disable=g-import-not-at-top
  from damrun import reporting  # pylint: disable=g-import-not-at-top
  base = experiment.metric.split('_', 1)[1]
  band_label, references = '', []
  if counts_steps_to_99(experiment.metric):
    curves = _mean_curves(runs, info_dir, experiment.metric)
    panels = ['reported_loss', base]
    title = (f'{experiment.name}: {experiment.steps:,} steps, the '
             f'authors\' configuration')
    band_label = 'band: min-max over the seeds\n(held-out curves)'
    references.append((base, THRESHOLD, f'{THRESHOLD:g}: the held-out '
                       f'threshold of the table\'s\nsteps to 99 %'))
  else:  # every run's own curves (the KV-MemNN's accuracies)
    curves = [(suites.MODEL_LABELS[r.model],
               reporting.read_metrics(os.path.join(info_dir, r.name,
                                                   'metrics.csv')))
              for r in runs if read_columns(os.path.join(info_dir, r.name))]
    panels, title = [base], experiment.name
  if experiment.title:
    title = f'{experiment.name}: {experiment.title}'
  if experiment.reference is not None:
    references.append((base,) + tuple(experiment.reference))
  if not curves:
    return None
  return plots.curves_figure(curves, log_scale=True, metrics=panels,
                             title=title, band_label=band_label,
                             references=references)


def _write_common(suite, experiments, runs, info_dir, out_dir):
  """The report of the module docstring for `experiments`; the paths."""
  from damrun import plots  # pylint: disable=g-import-not-at-top
  metric = {e.name: e.metric for e in experiments}
  numbers = [run_numbers(run, info_dir, metric[run.experiment])
             for run in runs]
  rows = aggregate(numbers)
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for experiment in experiments:
    figure = experiment_figure(
        experiment, [r for r in runs if r.experiment == experiment.name],
        info_dir)
    if figure is None:
      continue
    path = os.path.join(out_dir, f'{experiment.name}.png')
    plots.save_png(figure, path)
    written.append(path)
  report = dict(
      suite=suite, date=datetime.date.today().isoformat(),
      commit=git_commit(), machine=machine(), threshold=THRESHOLD,
      experiments=[dict(name=e.name, commands=[
          c if isinstance(c, str) else list(c) for c in e.commands],
                        models=list(e.models), seeds=list(e.seeds),
                        steps=e.steps, metric=e.metric, paper=e.paper)
                   for e in experiments],
      summary=rows,
      comparisons=comparisons.compare(
          rows, comparisons.step_budgets(experiments)),
      runs=numbers)
  path = os.path.join(out_dir, 'results.json')
  with open(path, 'w') as f:
    json.dump(report, f, indent=2)
  written.append(path)
  path = os.path.join(out_dir, 'table.md')
  with open(path, 'w') as f:
    f.write(table(rows, experiments, suite))
  written.append(path)
  square = comparisons.two_by_two(rows, comparisons.step_budgets(experiments))
  path = os.path.join(out_dir, 'two_by_two.md')
  if square:
    with open(path, 'w') as f:
      f.write(square)
    written.append(path)
  elif os.path.exists(path):  # an earlier report's, no longer true
    os.remove(path)
  return written


# Flags that do not change the cost of a step: left out of a configuration.
_NOT_COST = ('seed', 'random_state', 'name', 'learning_rate', 'epoch',
             'training_iteration')


def _time_trial(script, phase_flags, steps, name, scratch, argv_of, env,
                cwd):
  """Runs `steps` steps of one phase as the run `name` in `scratch`.

  Returns:
    dict(rate: the steps/s of the last report or None, steps_per_epoch:
    what the bAbI script prints or None, error: the output's tail when
    there is no rate).
  """
  trial = dict(phase_flags, training_iteration=steps,
               report_interval=max(1, steps // 2),
               checkpoint_interval=10 * steps, name=name)
  done = subprocess.run([sys.executable] + argv_of(script, trial, scratch),
                        cwd=cwd, env=env, capture_output=True, text=True)
  columns = read_columns(os.path.join(scratch, name))
  rate = None
  if (done.returncode == 0 and columns is not None and
      'steps_per_sec' in columns and len(columns['step'])):
    rate = float(columns['steps_per_sec'][-1])
  per_epoch = re.search(r'([\d,]+) steps per epoch', done.stdout)
  return dict(
      rate=rate, steps_per_epoch=(int(per_epoch.group(1).replace(
          ',', '')) if per_epoch else None),
      error=None if rate else (done.stderr or done.stdout)[-300:])


def estimate(runs, steps, out_dir, argv_of, env, cwd):
  """Times `steps` steps of each distinct training configuration of `runs`
  and writes the expected hours of every run on this machine to
  <out_dir>/estimate.json.

  A configuration is a phase's script and flags without seed, name,
  learning rate and length (they do not change the cost of a step). Its
  rate is the steps/s of the trial's last report (a second report, so
  compilation is left out). A phase trains its --training_iteration steps,
  or --epoch epochs of the steps per epoch the bAbI script prints; eval.py
  phases are not timed.

  Args:
    runs: the suite's runs.
    steps: trial steps per configuration (>= 2).
    out_dir: where estimate.json goes.
    argv_of: fn(script, flags, info_dir) -> argv after `python`.
    env: the trials' environment (threads).
    cwd: the repository root.

  Returns:
    The path written.
  """
  scratch = tempfile.mkdtemp(prefix='suite_estimate_')
  trials, results = {}, []
  for run in runs:
    hours, notes = 0., []
    for script, phase_flags in run.phases:
      if script == 'eval.py':
        continue
      key = (script, json.dumps(
          {k: v for k, v in phase_flags.items() if k not in _NOT_COST},
          sort_keys=True))
      if key not in trials:
        trials[key] = _time_trial(script, phase_flags, steps,
                                  f'trial{len(trials)}', scratch, argv_of,
                                  env, cwd)
      trial = trials[key]
      total = phase_flags.get('training_iteration')
      if 'epoch' in phase_flags and trial['steps_per_epoch']:
        total = phase_flags['epoch'] * trial['steps_per_epoch']
      if trial['rate'] and total:
        hours += total / trial['rate'] / 3600
      else:
        hours = None
        notes.append(f'{script}: {trial["error"] or "no step count"}')
        break
    results.append(dict(name=run.name, hours=None if hours is None else
                        round(hours, 2), notes=notes))
  known = [r['hours'] for r in results if r['hours'] is not None]
  report = dict(
      machine=machine(), commit=git_commit(), trial_steps=steps,
      threads=env.get('TF_NUM_INTRAOP_THREADS'),
      trials=[dict(script=k[0], flags=json.loads(k[1]), **v)
              for k, v in trials.items()],
      total_hours=round(sum(known), 1),
      unknown=[r['name'] for r in results if r['hours'] is None],
      runs=results)
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, 'estimate.json')
  with open(path, 'w') as f:
    json.dump(report, f, indent=2)
  return path
