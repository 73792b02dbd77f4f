"""Learning curves of several runs from their metrics.csv columns.

`curves_figure` draws one panel per metric, one colour per run and one
line style per column prefix ('train', 'eval', test sets), optionally a
band per line (e.g. the spread over seeds) and horizontal reference lines
(a threshold, a published number); `smoothed` is the centred exponential
smoothing it optionally draws over the raw values. `METRIC_LABELS` says
what the metrics of metrics.csv are (the panels' y labels).
"""

import math
import re
import textwrap

import matplotlib
from matplotlib import lines as mlines
from matplotlib import patches as mpatches
import numpy as np

from damrun.plots import common

# Columns of metrics.csv that are not '<prefix>_<metric>' metrics.
NON_METRIC_COLUMNS = frozenset(('step', 'wall_time_s', 'steps_per_sec',
                                'epoch', 'evaluation_only', 'eval_training'))
# Line styles of the prefixes other than 'train' (solid) and 'eval'
# (dashed), in turn.
_OTHER_STYLES = [':', '-.', (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)),
                 (0, (7, 2)), (0, (3, 1, 1, 1, 1, 1, 1, 1))]
# Band columns: '<column>/low' and '<column>/high'.
_BAND_SUFFIXES = ('/low', '/high')
# Reference lines: black (no run's colour), a long dash (no prefix's style).
_REFERENCE_STYLE = dict(color='black', linestyle=(0, (9, 4)),
                        linewidth=1.0, zorder=1.5)
_BAND_ALPHA = 0.18

# What the metrics of metrics.csv are ('<prefix>_<metric>' columns, the
# prefix 'train' for the training batches since the last report, 'eval' for
# the held-out batches, a test set's name for that set): the lines under the
# metric's name in its panel's y label.
METRIC_LABELS = {
    'loss': 'the loss minimised\n(with the MRL term when p_re > 0)',
    'reported_loss': 'cross-entropy on the answer steps only\n(per bit; '
                     'bAbI: per word), no MRL term',
    'accuracy': 'exp(-reported_loss),\nthe authors\' "accuracy"',
    'bit_accuracy': 'fraction of right bits\non the answer steps',
    'task_loss': 'cross-entropy of the answers\n(per answer step), no '
                 'MRL term',
    'mrl_loss': "the MRL's reconstruction term\n(squared error, refreshed "
                'steps)',
    'answer_accuracy': 'fraction of answer steps\nwith the argmax right',
    'sequence_accuracy': 'fraction of sequences\nwith every answer right',
    'mean': 'accuracy, mean over\nthe bAbI tasks of the run',
}


def smoothed(values, smooth):
  """Centred exponential smoothing whose window narrows at the ends.

  s_i = sum_{|k| <= m_i} smooth^|k| y_{i+k} / sum_{|k| <= m_i} smooth^|k|,
  m_i = min(i, L - 1 - i) (i counts from 0 over `values`; terms with
  smooth^|k| < 1e-9 are left out). The kernel is symmetric, so the curve
  does not lag (a straight line comes out unchanged) and the window is
  narrowed at the ends so as to stay centred: s_0 = y_0 and s_{L-1} =
  y_{L-1}, the curve ends at the last value. (TensorBoard's one-sided EMA,
  used here before, lags: after a dip it drew a last held-out bit accuracy
  of 0.9999 as ~0.98.) The points near the ends are averaged over fewer
  values, so they stay noisier than the middle.

  Args:
    values: [L] finite floats.
    smooth: in [0, 1); 0 returns the values. The weight of a neighbour k
      points away is smooth^k, as in TensorBoard's slider.

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
  length = values.shape[0]
  total, weight = values.copy(), np.ones(length)
  if smooth == 0. or length < 3:
    return total
  reach = min((length - 1) // 2,
              math.ceil(math.log(1e-9) / math.log(smooth)))
  index = np.arange(length)
  half = np.minimum(index, length - 1 - index)  # m_i
  for k in range(1, reach + 1):
    i = index[half >= k]
    total[i] += smooth ** k * (values[i - k] + values[i + k])
    weight[i] += 2. * smooth ** k
  return total / weight


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
  if (column in NON_METRIC_COLUMNS or '_' not in column or
      column.endswith(_BAND_SUFFIXES)):
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


def _check_bands(runs):
  """ValueError unless every '<c>/low' has its '<c>/high' and column c."""
  for label, columns in runs:
    for name in columns:
      for suffix, other in zip(_BAND_SUFFIXES, _BAND_SUFFIXES[::-1]):
        if name.endswith(suffix):
          column = name[:-len(suffix)]
          if column + other not in columns or column not in columns:
            raise ValueError(
                f'run {label!r} has the band column {name!r} without '
                f'{column + other!r} and {column!r}: a band needs '
                f"'<column>/low', '<column>/high' and the column.")


def _check_references(references, names):
  """[(metric, value, label)] with every metric among the panels."""
  checked = []
  for reference in references or ():
    try:
      metric, value, label = reference
      value = float(value)
    except (TypeError, ValueError):
      raise ValueError(f'references must hold (metric, value, label) '
                       f'triples, got {reference!r}.') from None
    if metric not in names or not math.isfinite(value):
      raise ValueError(f'reference {reference!r}: the metric must be one of '
                       f'the panels {names} and the value finite.')
    checked.append((str(metric), value, str(label)))
  return checked


def _draw_band(ax, x, columns, column, finite, smooth, color, gid):
  """The band of `column` (its '/low' and '/high' columns) behind its line."""
  low, high = (columns[column + suffix] for suffix in _BAND_SUFFIXES)
  keep = finite & np.isfinite(low) & np.isfinite(high)
  if not keep[finite].all() or not keep.any():
    return  # a band with holes is not drawn
  low, high = low[keep], high[keep]
  if smooth > 0.:
    low, high = smoothed(low, smooth), smoothed(high, smooth)
  ax.fill_between(x, low, high, color=color, alpha=_BAND_ALPHA, linewidth=0,
                  gid=gid, zorder=1)


def _draw_panel(ax, name, runs, prefixes, styles, colors, smooth, log_scale,
                references):
  """The panel of metric `name`: one line per run and prefix, their bands
  and the reference lines of `name`."""
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
      if column + _BAND_SUFFIXES[0] in columns:
        _draw_band(ax, x, columns, column, finite, smooth, colors[run_index],
                   f'{label}/{column}/band')
      if smooth > 0. and y.size:
        ax.plot(x, y, color=colors[run_index], linestyle=styles[prefix],
                linewidth=0.8, alpha=0.25, gid=f'{label}/{column}/raw')
        y = smoothed(y, smooth)
      ax.plot(x, y, color=colors[run_index], linestyle=styles[prefix],
              linewidth=1.4, gid=f'{label}/{column}',
              label=f'{label} {prefix}',
              marker='o' if y.size == 1 else None, markersize=3)
  for metric, value, text in references:
    if metric == name:
      ax.axhline(value, gid=f'reference/{value:g}', label=text,
                 **_REFERENCE_STYLE)
      ax.annotate(f'{value:g}', (0., value), xycoords=('axes fraction',
                                                       'data'),
                  xytext=(3, 2), textcoords='offset points', fontsize=7,
                  va='bottom', gid=f'reference/{value:g}/value')
  if log_scale and name.endswith('loss'):
    ax.set_yscale('log')
  ax.set_xlabel('step', fontsize=8)
  ax.set_ylabel(name if name not in METRIC_LABELS else
                f'{name}\n{METRIC_LABELS[name]}', fontsize=8)
  ax.tick_params(labelsize=7)
  ax.grid(linewidth=0.4, alpha=0.5)


def _legend(fig, runs, prefixes, styles, colors, smooth, band_label,
            references):
  """The figure's legend: the runs' colours, then the prefixes' styles,
  then the band, the raw values and the reference lines."""
  blank = mlines.Line2D([], [], linestyle='none')
  handles = [blank] + [
      mlines.Line2D([], [], color=colors[i], linewidth=2.)
      for i in range(len(runs))] + [blank] + [
          mlines.Line2D([], [], color='0.2', linestyle=styles[p],
                        linewidth=1.4) for p in prefixes]
  texts = (['runs (colour)'] + [label for label, _ in runs] +
           ['lines (style)'] + prefixes)
  if any(name.endswith(_BAND_SUFFIXES[0]) for _, columns in runs
         for name in columns):
    handles.append(mpatches.Patch(color='0.2', alpha=_BAND_ALPHA + 0.07,
                                  linewidth=0))
    texts.append(band_label or 'band')
  if smooth > 0.:
    handles.append(mlines.Line2D([], [], color='0.2', alpha=0.25))
    texts.append(f'raw values (lines: centred\nexponential smoothing '
                 f'{smooth:g})')
  for text in dict.fromkeys(text for _, _, text in references):
    handles.append(mlines.Line2D([], [], **_REFERENCE_STYLE))
    texts.append(text)
  fig.legend(handles, texts, loc='outside right upper', fontsize=8,
             frameon=False, handlelength=2.6)


def curves_figure(runs, smooth=0.0, log_scale=False, metrics=None, title='',
                  band_label='', references=()):
  """Learning curves of several runs, one panel per metric.

  Column names are '<prefix>_<metric>' (split at the first underscore:
  'train_bit_accuracy' -> 'train', 'bit_accuracy'); the prefix is 'train',
  'eval' or a test-set name ('test', 'test5', ...). The columns of
  `NON_METRIC_COLUMNS` are not metrics; rows with evaluation_only == 1 are
  dropped. In a panel, one colour per run, one linestyle per prefix (train
  solid, eval dashed, the others dotted, dash-dot, ...), x = step; each
  line plots only its finite points. A column c with the columns
  'c/low' and 'c/high' gets a band between those behind its line, in its
  colour (`band_label` says what it is; not drawn where they have holes).
  The y label of a metric of `METRIC_LABELS` says what it is.

  Args:
    runs: list of (label, columns), columns a dict column name -> [L] floats
      (NaN where the CSV cell was empty), with a 'step' column.
    smooth: in [0, 1): the centred smoothing of `smoothed`, per line (and
      band) over its finite points; the raw points are then drawn faintly
      too.
    log_scale: log y axis on the panels whose metric ends in 'loss'.
    metrics: metric names to show, in this order (all if None): 'loss',
      then other '*loss', then '*accuracy*', then the rest.
    title: figure title.
    band_label: the legend's text for the bands (e.g. 'band: min-max over
      3 seeds').
    references: (metric, value, label) triples: a horizontal dashed line at
      `value` on the panel of `metric`, labelled in the legend (e.g. a
      threshold, a published number).

  Returns:
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: smooth is not in [0, 1), runs is empty, a run lacks 'step'
      or has columns of different lengths, no metric column is found,
      `metrics` names a metric no run has, a band column lacks its pair or
      its column, or a reference's metric is not a panel.
  """
  smooth = _check_smooth(smooth)
  runs = _check_runs(runs)
  _check_bands(runs)
  names, found = _metric_names(runs, metrics)
  references = _check_references(references, names)
  prefixes = sorted({p for name in names for p in found[name]},
                    key=_prefix_order)
  styles = _prefix_styles(prefixes)
  colors = _run_colors(len(runs))
  num_cols = min(3, len(names))
  num_rows = math.ceil(len(names) / num_cols)
  # The legend's width: ~0.075 inch per character of its longest line.
  longest = max(len(line) for text in [label for label, _ in runs] + [
      text for _, _, text in references] for line in text.split('\n'))
  width = min(common.MAX_WIDTH,
              4.6 * num_cols + max(2.2, 0.6 + 0.075 * longest))
  if title:  # over the panels, wrapped to their width (~0.1 inch a letter)
    title = textwrap.fill(title, max(20, int(4.6 * num_cols / 0.1)))
  height = min(common.MAX_HEIGHT, 3.3 * num_rows + (
      0.3 + 0.2 * title.count('\n') if title else 0.2))
  fig = common.new_figure(width, height, dpi=100)
  if title:
    fig.suptitle(title, fontsize=11, x=0.01, ha='left')
  grid = fig.add_gridspec(num_rows, num_cols)
  for index, name in enumerate(names):
    ax = fig.add_subplot(grid[index // num_cols, index % num_cols])
    _draw_panel(ax, name, runs, prefixes, styles, colors, smooth, log_scale,
                references)
  _legend(fig, runs, prefixes, styles, colors, smooth, band_label,
          references)
  return fig
