"""Learning curves of several runs from their metrics.csv columns.

`curves_figure` draws one panel per metric, one colour per run and one
line style per column prefix ('train', 'eval', test sets); `smoothed` is
TensorBoard's debiased EMA it optionally draws instead of the raw values.
"""

import math
import re

import matplotlib
from matplotlib import lines as mlines
import numpy as np

from damrun.plots import common

# Columns of metrics.csv that are not '<prefix>_<metric>' metrics.
NON_METRIC_COLUMNS = frozenset(('step', 'wall_time_s', 'steps_per_sec',
                                'epoch', 'evaluation_only', 'eval_training'))
# Line styles of the prefixes other than 'train' (solid) and 'eval'
# (dashed), in turn.
_OTHER_STYLES = [':', '-.', (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)),
                 (0, (7, 2)), (0, (3, 1, 1, 1, 1, 1, 1, 1))]


def smoothed(values, smooth):
  """TensorBoard's debiased exponential moving average.

  s_0 = 0, s_i = smooth s_{i-1} + (1 - smooth) y_i, returned s_i / (1 -
  smooth^(i+1)) (i counts from 0 over `values`).

  Args:
    values: [L] finite floats.
    smooth: in [0, 1); 0 returns the values.

  Returns:
    float64 [L].

  Raises:
    ValueError: smooth is not in [0, 1), or values is not 1-D finite.
  """
  smooth = _check_smooth(smooth)
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 1:
    raise ValueError(f'values has shape {values.shape}, expected [L].')
  if not np.all(np.isfinite(values)):
    raise ValueError('values must be finite (drop NaN points first).')
  out = np.empty_like(values)
  state = 0.
  for i, value in enumerate(values):
    state = smooth * state + (1. - smooth) * value
    out[i] = state / (1. - smooth ** (i + 1))
  return out


def _check_smooth(smooth):
  try:
    ok = 0. <= float(smooth) < 1.
  except (TypeError, ValueError):
    ok = False
  if not ok:
    raise ValueError(f'smooth must be in [0, 1), got {smooth!r}.')
  return float(smooth)


# -- metrics, prefixes and their order -----------------------------------------


def _split_metric(column):
  """'train_bit_accuracy' -> ('train', 'bit_accuracy'); None if no metric."""
  if column in NON_METRIC_COLUMNS or '_' not in column:
    return None
  prefix, metric = column.split('_', 1)
  if not prefix or not metric:
    return None
  return prefix, metric


def _metric_order(name):
  """Sort key: 'loss', other '*loss', '*accuracy*', the rest."""
  if name == 'loss':
    group = 0
  elif name.endswith('loss'):
    group = 1
  elif 'accuracy' in name:
    group = 2
  else:
    group = 3
  return group, name


def _natural(text):
  """Sort key ordering 'test5' before 'test10'."""
  return [int(part) if part.isdigit() else part
          for part in re.split(r'(\d+)', text)]


def _prefix_order(prefix):
  return ({'train': 0, 'eval': 1}.get(prefix, 2), _natural(prefix))


def _metric_names(runs, metrics):
  """(the metrics to show in order, {metric: the prefixes it has})."""
  found = {}  # metric -> set of prefixes
  for _, columns in runs:
    for column in columns:
      split = _split_metric(column)
      if split:
        found.setdefault(split[1], set()).add(split[0])
  if not found:
    raise ValueError(
        f'no metric column (<prefix>_<metric>, e.g. train_loss) in runs '
        f'{[label for label, _ in runs]}; their columns: '
        f'{sorted({c for _, columns in runs for c in columns})}.')
  if metrics is None:
    return sorted(found, key=_metric_order), found
  names = [str(name) for name in metrics]
  unknown = [name for name in names if name not in found]
  if unknown or not names:
    raise ValueError(f'metrics {unknown or names} not found in runs '
                     f'{[label for label, _ in runs]}; available: '
                     f'{sorted(found, key=_metric_order)}.')
  return names, found


def _prefix_styles(prefixes):
  """{prefix: line style}: train solid, eval dashed, the others in turn."""
  styles, others = {}, 0
  for prefix in prefixes:
    if prefix == 'train':
      styles[prefix] = '-'
    elif prefix == 'eval':
      styles[prefix] = '--'
    else:
      styles[prefix] = _OTHER_STYLES[others % len(_OTHER_STYLES)]
      others += 1
  return styles


def _run_colors(count):
  if count <= 10:
    cmap = matplotlib.colormaps['tab10']
    return [cmap(i) for i in range(count)]
  if count <= 20:
    cmap = matplotlib.colormaps['tab20']
    return [cmap(i) for i in range(count)]
  cmap = matplotlib.colormaps['turbo']
  return [cmap(x) for x in np.linspace(0.05, 0.95, count)]


def _check_runs(runs):
  """[(label, {column: float64 [L]})] without evaluation_only rows."""
  runs = list(runs)
  if not runs:
    raise ValueError('runs is empty: give at least one (label, columns) '
                     'pair.')
  checked = []
  for i, run in enumerate(runs):
    try:
      label, columns = run
      columns = dict(columns)
    except (TypeError, ValueError):
      raise ValueError(f'runs[{i}] must be a (label, columns) pair with '
                       f'columns a dict of arrays, got {run!r}.') from None
    label = str(label)
    if 'step' not in columns:
      raise ValueError(f"run {label!r} has no 'step' column (columns: "
                       f'{sorted(columns)}).')
    arrays = {}
    length = None
    for name, values in columns.items():
      array = common.check_array(values, f'run {label!r} column {name!r}',
                                 'L', 1, allow_empty=True)
      if length is None:
        length = array.shape[0]
      elif array.shape[0] != length:
        raise ValueError(f'run {label!r} column {name!r} has {array.shape[0]}'
                         f' rows, expected {length} like the other columns.')
      arrays[name] = array
    if 'evaluation_only' in arrays:
      keep = ~(arrays['evaluation_only'] == 1)
      arrays = {name: array[keep] for name, array in arrays.items()}
    checked.append((label, arrays))
  return checked


# -- drawing -------------------------------------------------------------------


def _draw_panel(ax, name, runs, prefixes, styles, colors, smooth, log_scale):
  """The panel of metric `name`: one line per run and prefix."""
  ax.set_gid(name)
  ax.set_title(name, fontsize=9)
  for run_index, (label, columns) in enumerate(runs):
    steps = columns['step']
    for prefix in prefixes:
      column = f'{prefix}_{name}'
      if column not in columns:
        continue
      values = columns[column]
      finite = np.isfinite(steps) & np.isfinite(values)
      x, y = steps[finite], values[finite]
      if smooth > 0. and y.size:
        ax.plot(x, y, color=colors[run_index], linestyle=styles[prefix],
                linewidth=0.8, alpha=0.25, gid=f'{label}/{column}/raw')
        y = smoothed(y, smooth)
      ax.plot(x, y, color=colors[run_index], linestyle=styles[prefix],
              linewidth=1.4, gid=f'{label}/{column}',
              label=f'{label} {prefix}',
              marker='o' if y.size == 1 else None, markersize=3)
  if log_scale and name.endswith('loss'):
    ax.set_yscale('log')
  ax.set_xlabel('step', fontsize=8)
  ax.set_ylabel(name, fontsize=8)
  ax.tick_params(labelsize=7)
  ax.grid(linewidth=0.4, alpha=0.5)


def _legend(fig, runs, prefixes, styles, colors, smooth):
  """The figure's legend: the runs' colours, then the prefixes' styles."""
  blank = mlines.Line2D([], [], linestyle='none')
  handles = [blank] + [
      mlines.Line2D([], [], color=colors[i], linewidth=2.)
      for i in range(len(runs))] + [blank] + [
          mlines.Line2D([], [], color='0.2', linestyle=styles[p],
                        linewidth=1.4) for p in prefixes]
  texts = (['runs (colour)'] + [label for label, _ in runs] +
           ['lines (style)'] + prefixes)
  if smooth > 0.:
    handles.append(mlines.Line2D([], [], color='0.2', alpha=0.25))
    texts.append(f'raw values (lines: EMA {smooth:g})')
  fig.legend(handles, texts, loc='outside right upper', fontsize=8,
             frameon=False, handlelength=2.6)


def curves_figure(runs, smooth=0.0, log_scale=False, metrics=None, title=''):
  """Learning curves of several runs, one panel per metric.

  Column names are '<prefix>_<metric>' (split at the first underscore:
  'train_bit_accuracy' -> 'train', 'bit_accuracy'); the prefix is 'train',
  'eval' or a test-set name ('test', 'test5', ...). The columns of
  `NON_METRIC_COLUMNS` are not metrics; rows with evaluation_only == 1 are
  dropped. In a panel, one colour per run, one linestyle per prefix (train
  solid, eval dashed, the others dotted, dash-dot, ...), x = step; each
  line plots only its finite points.

  Args:
    runs: list of (label, columns), columns a dict column name -> [L] floats
      (NaN where the CSV cell was empty), with a 'step' column.
    smooth: in [0, 1): the debiased EMA of `smoothed`, per line over its
      finite points; the raw points are then drawn faintly too.
    log_scale: log y axis on the panels whose metric ends in 'loss'.
    metrics: metric names to show, in this order (all if None): 'loss',
      then other '*loss', then '*accuracy*', then the rest.
    title: figure title.

  Returns:
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: smooth is not in [0, 1), runs is empty, a run lacks 'step'
      or has columns of different lengths, no metric column is found, or
      `metrics` names a metric no run has.
  """
  smooth = _check_smooth(smooth)
  runs = _check_runs(runs)
  names, found = _metric_names(runs, metrics)
  prefixes = sorted({p for name in names for p in found[name]},
                    key=_prefix_order)
  styles = _prefix_styles(prefixes)
  colors = _run_colors(len(runs))
  num_cols = min(3, len(names))
  num_rows = math.ceil(len(names) / num_cols)
  width = min(common.MAX_WIDTH, 4.6 * num_cols + 2.2)
  height = min(common.MAX_HEIGHT, 3.3 * num_rows + (0.5 if title else 0.2))
  fig = common.new_figure(width, height, dpi=100)
  if title:
    fig.suptitle(title, fontsize=11)
  grid = fig.add_gridspec(num_rows, num_cols)
  for index, name in enumerate(names):
    ax = fig.add_subplot(grid[index // num_cols, index % num_cols])
    _draw_panel(ax, name, runs, prefixes, styles, colors, smooth, log_scale)
  _legend(fig, runs, prefixes, styles, colors, smooth)
  return fig
