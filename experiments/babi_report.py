"""The report of the bAbI suite ('babi_cpu'): the DAM and the DNC on bAbI
en-10k joint, test error per epoch.

Park et al. 2021 compare the DAM with the DNC on bAbI by the mean test error
over the 20 tasks and the number of failed tasks (error > 5 %). The suite's
runs (experiments/suites.py) test at every epoch end: those rows of their
metrics.csv hold test_mean_error, test_failed_tasks and test_error_qa1..20
(`damrun.babi_eval.test_row`). A run takes days on two CPU cores and may be
stopped anywhere, so the report reads whatever epochs exist and says how far
each run got. Written to <out_dir>/ (`write`):

  results.json  per run: phases finished, epochs, the per-epoch rows, the
                latest and the best epoch, eval.py's result; the published
                numbers; the data substitutions; the machine and the commit
  table.md      one row per model, then the published rows
  per_task.md   the per-task errors at each model's latest evaluated epoch
  curves.png    test mean error and failed tasks against epochs

Our en-10k copy lacks a training file, which the suite replaces by the 1k
file of the task (experiments/babi_data.py); such tasks are marked wherever
results appear.
"""

import datetime
import glob
import json
import os

from matplotlib import figure
from matplotlib.backends import backend_agg
import numpy as np

from bench.machine import machine
from damrun import plots
from experiments import babi_data
from experiments import report as report_lib
from experiments import suites
from tasks import babi

METRIC = 'test_mean_error'
# Published bAbI en-10k joint results, mean ± sd over runs (None: not given).
PUBLISHED = (
    dict(model='DNC', source='Graves et al. 2016', mean_error=16.7,
         mean_error_sd=7.6, failed_tasks=11.2, failed_tasks_sd=5.4),
    dict(model='rsDNC', source='Franke et al. 2018', mean_error=6.3,
         mean_error_sd=2.7, failed_tasks=None, failed_tasks_sd=None),
    dict(model='BrsDNC', source='Franke et al. 2018', mean_error=3.2,
         mean_error_sd=0.5, failed_tasks=None, failed_tasks_sd=None),
    dict(model='DAM', source='Park et al. 2021', mean_error=None,
         mean_error_sd=None, failed_tasks=None, failed_tasks_sd=None,
         note='see the paper; its numbers are not copied here'),
)


def phase_ends(run):
  """The epoch at which each learning-rate phase of `run` ends, e.g. [50, 55].

  A train.py phase at the learning rate of the one before continues it to
  its --epoch (10, then 50: one phase); another learning rate starts a new
  phase of --epoch more epochs (the 5 of fine-tuning), as the trainer does.
  """
  ends, rate = [], None
  for script, flags in run.phases:
    if script != 'train.py' or 'epoch' not in flags:
      continue
    if ends and flags.get('learning_rate') == rate:
      ends[-1] = max(ends[-1], (ends[-2] if len(ends) > 1 else 0) +
                     flags['epoch'])
    else:
      ends.append((ends[-1] if ends else 0) + flags['epoch'])
    rate = flags.get('learning_rate')
  return ends


def epoch_rows(columns):
  """The tested rows of a run's metrics.csv columns, in order: list of
  {epoch, step, mean_error, failed_tasks, errors {task: %}} (epoch: the
  row's epoch, None without the column); a step logged twice counts once
  (its last row)."""
  if columns is None or METRIC not in columns:
    return []
  by_step, nan = {}, np.full(len(columns['step']), np.nan)
  tasks = {k: columns.get(f'test_error_qa{k}', nan) for k in babi.TASKS}
  for i in np.flatnonzero(np.isfinite(columns[METRIC])):
    errors = {k: float(v[i]) for k, v in tasks.items() if np.isfinite(v[i])}
    epoch = columns.get('epoch', nan)[i]
    failed = columns.get('test_failed_tasks', nan)[i]
    by_step[int(columns['step'][i])] = dict(
        epoch=round(float(epoch), 2) if np.isfinite(epoch) else None,
        step=int(columns['step'][i]), mean_error=float(columns[METRIC][i]),
        failed_tasks=int(failed) if np.isfinite(failed) else None,
        errors=errors)
  return list(by_step.values())


def final_eval(run_dir):
  """eval.py's result of the latest step in `run_dir` (eval-<step>*.json):
  {file, step, mean_error, failed_tasks, errors {task: %}}; None if none."""
  found = []
  for path in glob.glob(os.path.join(run_dir, 'eval-*.json')):
    try:
      with open(path) as f:
        data = json.load(f)
      found.append((int(data['step']), os.path.getmtime(path), path, data))
    except (OSError, ValueError, KeyError, TypeError):
      continue  # half-written or foreign: not a result
  if not found:
    return None
  step, _, path, data = max(found, key=lambda item: item[:2])
  return dict(file=os.path.basename(path), step=step,
              mean_error=data.get('mean_error_percent'),
              failed_tasks=data.get('failed_tasks'),
              errors={int(t['task']): t['error_percent']
                      for t in data.get('tasks', ())})


def run_result(run, info_dir, label):
  """Everything the report says about one run (see results.json)."""
  run_dir = os.path.join(info_dir, run.name)
  columns = report_lib.read_columns(run_dir)
  has_rows = columns is not None and len(columns['step']) > 0
  rows = epoch_rows(columns)
  done = sorted(suites.done_phases(info_dir, run))
  epochs = columns.get('epoch') if has_rows else None
  now = epochs[np.isfinite(epochs)] if epochs is not None else []
  hours = report_lib.train_time_s(columns) if has_rows else None
  ends = phase_ends(run)
  return dict(
      name=run.name, model=run.model, label=label, seed=run.seed,
      phases=[script if 'epoch' not in f else  # e.g. 'eval.py'
              f'{script}: {f["epoch"]} epochs, lr {f["learning_rate"]:g}'
              for script, f in run.phases],
      phases_finished=done, finished=len(done) == len(run.phases),
      phase_ends=ends, planned_epochs=ends[-1] if ends else None,
      epoch_reached=float(now[-1]) if len(now) else None,
      steps=int(columns['step'][-1]) if has_rows else None,
      train_hours=None if hours is None else round(hours / 3600, 2),
      epochs=rows, latest=rows[-1] if rows else None,
      best=min(rows, key=lambda r: r['mean_error']) if rows else None,
      final_eval=final_eval(run_dir))


def note(substitutions):
  """The line saying which tasks trained on 1k questions ('' for none)."""
  if not substitutions:
    return ''
  tasks = sorted({s['task'] for s in substitutions})
  names = ', '.join(f'{t} ({babi.TASK_NAMES[t]})' for t in tasks)
  return (f'Task{"s" if len(tasks) > 1 else ""} {names} trained on the '
          f'1k training file (1,000 questions; our en-10k copy lacks it), '
          f'the others on en-10k; every task is tested on its en-10k test '
          f'file.')


def _num(value, digits=2):
  return '--' if value is None else f'{value:.{digits}f}'


def _with(value, extra):
  """'12.34 (7)', '--' without a value."""
  return '--' if value is None else f'{value:.2f} ({extra})'


def _run_cells(r):
  """The cells of a run's row of table.md."""
  latest, best, final = r['latest'], r['best'], r['final_eval'] or {}
  tested = len(r['epochs'])
  if latest and latest['epoch'] is not None:
    tested = latest['epoch']
  reached = r['epoch_reached']
  at = '' if reached is None else f' (at {reached:.2f})'
  latest = latest or {}
  return [r['label'], f'{len(r["phases_finished"])} / {len(r["phases"])}',
          f'{tested:g} / {r["planned_epochs"]}{at}',
          _num(latest.get('mean_error')),
          _num(latest.get('failed_tasks'), 0),
          _with(best and best['mean_error'], best and (
              f'step {best["step"]:,}' if best['epoch'] is None else
              f'{best["epoch"]:g}')),
          _with(final.get('mean_error'), final.get('failed_tasks')),
          _num(r['train_hours'])]


def _published_cells(p):
  """The cells of a published row of table.md."""
  def cell(mean, sd):
    return '--' if mean is None else f'{mean:g} ± {sd:g}'
  error = cell(p['mean_error'], p['mean_error_sd'])
  return [f'{p["model"]}, {p["source"]} (published)', '--', '--',
          p.get('note', error) if p['mean_error'] is None else error,
          cell(p['failed_tasks'], p['failed_tasks_sd']), '--', '--', '--']


def table(results, substitutions):
  """table.md: one row per run, the published rows, the notes."""
  lines = ['| model | phases done | epochs tested / planned (training at) | '
           'latest mean error % | failed tasks | best mean error % (epoch) | '
           'eval.py mean error % (failed) | training h |',
           '|' + ' --- |' * 8]
  lines += ['| ' + ' | '.join(_run_cells(r)) + ' |' for r in results]
  lines += ['| ' + ' | '.join(_published_cells(p)) + ' |' for p in PUBLISHED]
  lines += ['', 'bAbI en-10k joint, tested at every epoch end; a task fails '
            'with error > 5 %; published rows: mean ± sd over runs. Training '
            'hours: steps / steps per second, summed over reports.']
  if substitutions:
    lines += ['', note(substitutions)]
  return '\n'.join(lines) + '\n'


def per_task_table(results, substitutions):
  """per_task.md: error % per task at each run's latest tested epoch (and
  eval.py's, where it ran), then the mean and failed rows; 1k-trained
  tasks marked '*'."""
  marked = {s['task'] for s in substitutions}
  columns = []  # (header, {task: %}, mean, failed)
  for r in results:
    latest = r['latest']
    if latest is None:
      columns.append((f'{r["label"]} (no tested epoch yet)', {}, None, None))
    else:
      epoch = '' if latest['epoch'] is None else f'epoch {latest["epoch"]:g}, '
      columns.append((f'{r["label"]} ({epoch}step {latest["step"]:,})',
                      latest['errors'], latest['mean_error'],
                      latest['failed_tasks']))
    final = r['final_eval']
    if final:
      columns.append((f'{r["label"]}, eval.py (step {final["step"]:,})',
                      final['errors'], final['mean_error'],
                      final['failed_tasks']))
  lines = ['| task | name | ' + ' | '.join(c[0] for c in columns) + ' |',
           '|' + ' --- |' * (2 + len(columns))]
  for task in babi.TASKS:
    cells = [_num(c[1].get(task)) for c in columns]
    lines.append(f'| {task}{"*" if task in marked else ""} | '
                 f'{babi.TASK_NAMES[task]} | ' + ' | '.join(cells) + ' |')
  lines.append('| | **mean** | ' + ' | '.join(_num(c[2]) for c in columns) +
               ' |')
  lines.append('| | **failed (> 5 %)** | ' + ' | '.join(
      _num(c[3], 0) for c in columns) + ' |')
  if substitutions:
    lines += ['', '\\* ' + note(substitutions)]
  return '\n'.join(lines) + '\n'


def _panel(ax, results, key, label, last):
  """One panel of curves.png: `key` of every run's tested epochs, the
  published DNC's mean ± sd, the start of fine-tuning."""
  dnc = PUBLISHED[0]
  for r in results:
    rows = [row for row in r['epochs']
            if row['epoch'] is not None and row[key] is not None]
    ax.plot([row['epoch'] for row in rows], [row[key] for row in rows],
            marker='o', markersize=4, label=f'{r["label"]} (this run)')
  mean, sd = dnc[key], dnc[f'{key}_sd']
  ax.axhline(mean, color='0.25', linestyle='--', linewidth=1.2,
             label=f'DNC, {dnc["source"]} (mean ± sd of its runs)')
  ax.axhspan(mean - sd, mean + sd, color='0.5', alpha=0.12, linewidth=0)
  ax.annotate(f'{mean:g}{" %" if key == "mean_error" else ""}', (1, mean),
              xycoords=('axes fraction', 'data'), xytext=(-4, 3),
              textcoords='offset points', ha='right', color='0.25')
  for end in sorted({e for r in results for e in r['phase_ends'][:-1]}):
    if end <= last:
      ax.axvline(end, color='0.6', linestyle=':', label=f'epoch {end}: '
                 'fine-tuning starts (lower learning rate)')
  top = 100 if key == 'mean_error' else 20
  ax.set(xlim=(0, last + 0.5), ylim=(-0.02 * top, 1.02 * top),
         xlabel='epoch', ylabel=label)
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.yaxis.get_major_locator().set_params(integer=True)
  ax.grid(alpha=0.3)
  if not any(r['epochs'] for r in results):
    ax.text(0.5, 0.75, 'no tested epoch yet', transform=ax.transAxes,
            ha='center', va='center', color='0.4', fontsize=12)


def curves_figure(results, substitutions):
  """Test mean error % and failed tasks against epochs, every run, with the
  published DNC's as dashed lines; a Figure (Agg canvas, no pyplot)."""
  fig = figure.Figure(figsize=(11, 5), dpi=110, layout='constrained')
  backend_agg.FigureCanvasAgg(fig)
  axes = fig.subplots(1, 2)
  last = max([1.] + [row['epoch'] for r in results for row in r['epochs']
                     if row['epoch'] is not None])
  _panel(axes[0], results, 'mean_error', 'test mean error (%)', last)
  _panel(axes[1], results, 'failed_tasks', 'failed tasks (error > 5 %)',
         last)
  fig.legend(*axes[0].get_legend_handles_labels(), loc='outside lower center',
             ncol=2, frameon=False)
  tasks = sorted({s['task'] for s in substitutions})
  trained = (f' (task{"s" if len(tasks) > 1 else ""} '
             f'{", ".join(map(str, tasks))} trained on 1k)' if tasks else '')
  fig.suptitle(f'bAbI en-10k joint{trained}: test error at each epoch end')
  return fig


def write(suite, experiment, runs, info_dir, out_dir):
  """Writes the report of the bAbI `experiment`'s `runs` (results.json,
  table.md, per_task.md, curves.png) into `out_dir`; returns the paths.

  The substitutions are those of <info_dir>/babi_data, the folder the suite
  trains from (`experiments.babi_data.complete`).
  """
  substitutions = babi_data.substitutions(os.path.join(info_dir, 'babi_data'))
  several = len(experiment.seeds) > 1
  results = [run_result(run, info_dir, suites.MODEL_LABELS[run.model] + (
      f' s{run.seed}' if several else '')) for run in runs]
  os.makedirs(out_dir, exist_ok=True)
  report = dict(
      suite=suite, experiment=experiment.name, paper=experiment.paper,
      date=datetime.date.today().isoformat(), commit=report_lib.git_commit(),
      machine=machine(), substitutions=substitutions,
      tasks_trained_on_1k=sorted({s['task'] for s in substitutions}),
      note=note(substitutions) or None, published=list(PUBLISHED),
      runs=results)
  written = []
  for name, text in (('results.json', json.dumps(report, indent=2)),
                     ('table.md', table(results, substitutions)),
                     ('per_task.md', per_task_table(results, substitutions))):
    written.append(os.path.join(out_dir, name))
    with open(written[-1], 'w') as f:
      f.write(text)
  written.append(os.path.join(out_dir, 'curves.png'))
  plots.save_png(curves_figure(results, substitutions), written[-1])
  return written
