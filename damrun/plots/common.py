"""What every figure of `damrun.plots` shares.

* Figures: `new_figure` (its own Agg canvas, never through pyplot),
  `axes_by_gid`, `figure_to_rgb` and `save_png`, and the size limits
  `MAX_WIDTH` and `MAX_HEIGHT` (inches).
* Input checks: `check_array`, `check_time_labels`, `check_spans_marks`
  (ValueError naming the argument and the expected shape).
* Time axes and heatmaps: `time_axis` (steps 0..T-1, optional labels,
  shaded spans and marked steps), `heatmap` (rows x T images in
  `WEIGHTS_CMAP`) and `label_height` (room for rotated time labels).
"""

import io
import math
import os

from matplotlib import ticker
from matplotlib.backends import backend_agg
from matplotlib.figure import Figure
import numpy as np

from dam import fileio

# One colormap for every weight, gate and usage heatmap (values in [0, 1]).
WEIGHTS_CMAP = 'viridis'
# Shading of `spans` and the lines of `marks` on the time axes.
_SPAN_STYLE = dict(facecolor='#ff9800', alpha=0.22, edgecolor='none',
                   zorder=3)
_MARK_STYLE = dict(color='#e53935', linewidth=0.8, alpha=0.9, zorder=4)
# Widest figure, in inches, and the largest height.
MAX_WIDTH = 40.
MAX_HEIGHT = 40.


# -- figures, rendering and files ----------------------------------------------


def new_figure(width, height, dpi=100, layout='constrained'):
  """A Figure with its own Agg canvas, not registered with pyplot."""
  fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
  backend_agg.FigureCanvasAgg(fig)
  return fig


def axes_by_gid(fig):
  """{gid: axes} for the axes of `fig` that have a gid (see `damrun.plots`)."""
  return {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}


def line_by_gid(ax, gid):
  """The one line of `ax` whose gid is `gid` (see `damrun.plots`).

  Raises:
    KeyError: no line, or more than one, has that gid; the message lists
      the gids `ax` has.
  """
  found = [line for line in ax.get_lines() if line.get_gid() == gid]
  if len(found) != 1:
    raise KeyError(f'{len(found)} lines of axes {ax.get_gid()!r} have the '
                   f'gid {gid!r}; its lines: '
                   f'{[line.get_gid() for line in ax.get_lines()]}')
  return found[0]


def figure_to_rgb(fig):
  """Renders `fig` with the Agg canvas.

  Args:
    fig: a `matplotlib.figure.Figure`.

  Returns:
    uint8 [H, W, 3], H and W = the figure size in inches times its dpi
    (e.g. for `tf.summary.image` after adding a batch axis).
  """
  canvas = fig.canvas
  if not isinstance(canvas, backend_agg.FigureCanvasAgg):
    canvas = backend_agg.FigureCanvasAgg(fig)
  canvas.draw()
  rgba = np.asarray(canvas.buffer_rgba(), dtype=np.uint8)
  return np.ascontiguousarray(rgba[..., :3])


def save_png(fig, path, dpi=None):
  """Writes `fig` as a PNG, atomically, then releases the figure.

  The picture is rendered into memory first and written with
  `dam.fileio.write_atomic`, so `path` holds the old file or the whole new
  one, never half a picture. The folder is created if missing. The figure
  is cleared afterwards (even on failure): do not draw it again.

  Args:
    fig: a `matplotlib.figure.Figure`.
    path: the .png file to (over)write.
    dpi: resolution; the figure's own dpi if None.
  """
  try:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi='figure' if dpi is None else dpi)
    data = buf.getvalue()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fileio.write_atomic(path, lambda f: f.write(data), mode='wb')
  finally:
    fig.clear()


# -- input checks --------------------------------------------------------------


def check_array(value, name, spec, ndim, sizes=None, note='',
                allow_empty=False):
  """`value` as a float64 array of `ndim` axes, else ValueError.

  Args:
    value: array-like.
    name: how the message names it, e.g. "recording['usage']".
    spec: the expected axes, e.g. 'T, K, N'.
    ndim: number of axes.
    sizes: {axis: expected size} (None: any).
    note: appended to the message, e.g. " matching write_weights' T=66".
    allow_empty: whether a size may be 0.
  """
  try:
    array = np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError) as error:
    raise ValueError(f'{name} is not a numeric array ({error}); expected '
                     f'[{spec}]{note}.') from None
  bad = array.ndim != ndim or any(
      array.shape[axis] != size for axis, size in (sizes or {}).items())
  if bad:
    raise ValueError(f'{name} has shape {array.shape}, expected [{spec}]'
                     f'{note}.')
  if not allow_empty and 0 in array.shape:
    raise ValueError(f'{name} has shape {array.shape}, expected [{spec}] '
                     f'with every size >= 1.')
  return array


def check_time_labels(time_labels, num_steps):
  """time_labels as a list of T strings (or None), else ValueError."""
  if time_labels is None:
    return None
  labels = [str(label) for label in time_labels]
  if len(labels) != num_steps:
    raise ValueError(f'time_labels has {len(labels)} labels, expected T='
                     f'{num_steps} (one per time step).')
  return labels


def check_spans_marks(spans, marks, num_steps):
  """Validated spans [(start, end)] and marks [t] on a T-step time axis."""
  checked_spans = []
  for span in spans or ():
    try:
      start, end = (int(v) for v in span)
    except (TypeError, ValueError):
      raise ValueError(f'spans must hold (start, end) pairs of time '
                       f'indices, got {span!r}.') from None
    if not 0 <= start < end <= num_steps:
      raise ValueError(f'span {span!r} is not within the time axis: need '
                       f'0 <= start < end <= T={num_steps}.')
    checked_spans.append((start, end))
  checked_marks = []
  for mark in marks or ():
    try:
      t = int(mark)
      exact = t == mark
    except (TypeError, ValueError):
      exact = False
    if not exact or not 0 <= t < num_steps:
      raise ValueError(f'mark {mark!r} is not a time index in [0, T='
                       f'{num_steps}).')
    checked_marks.append(t)
  return checked_spans, checked_marks


# -- time axes and heatmaps ----------------------------------------------------


def _label_step(num_steps, width_in):
  """Label every k-th time step so the labels fit in `width_in` inches."""
  fit = max(1, int(width_in * 72 / 7.))  # rotated 6 pt labels, 7 pt apart
  return max(1, math.ceil(num_steps / min(fit, 120)))


def time_axis(ax, num_steps, time_labels, show_labels, width_in,
              spans=(), marks=()):
  """Sets up a time x axis over steps 0..T-1 (pixel centres at integers).

  Args:
    ax: the axes.
    num_steps: T.
    time_labels: list of T strings, or None (integer steps).
    show_labels: whether this axes shows the tick labels.
    width_in: the axes' approximate width in inches (label density).
    spans: (start, end) pairs to shade (start inclusive, end exclusive).
    marks: time indices marked by a thin vertical line.
  """
  ax.set_xlim(-0.5, num_steps - 0.5)
  if time_labels is None:
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.tick_params(axis='x', labelsize=7, labelbottom=show_labels)
  else:
    step = _label_step(num_steps, width_in)
    positions = list(range(0, num_steps, step))
    ax.set_xticks(positions)
    if show_labels:
      ax.set_xticklabels([time_labels[t] for t in positions])
    ax.tick_params(axis='x', labelsize=6, labelrotation=90, length=2,
                   labelbottom=show_labels)
  for start, end in spans:
    ax.axvspan(start - 0.5, end - 0.5, gid='span', **_SPAN_STYLE)
  for t in marks:
    ax.axvline(t, gid='mark', **_MARK_STYLE)


def heatmap(ax, data, gid, title, vmin=0., vmax=1., cmap=WEIGHTS_CMAP):
  """imshow of data [rows, T] (channels or slots x time)."""
  image = ax.imshow(data, aspect='auto', interpolation='nearest', cmap=cmap,
                    vmin=vmin, vmax=vmax)
  ax.set_gid(gid)
  ax.set_title(title, fontsize=8, loc='left')
  ax.tick_params(axis='y', labelsize=6)
  return image


def label_height(time_labels):
  """Inches taken by rotated time labels (0.2 without labels)."""
  if time_labels is None:
    return 0.2
  longest = max((len(label) for label in time_labels), default=1)
  return min(1.4, 0.08 + 0.048 * longest)
