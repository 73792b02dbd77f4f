"""Figures of sequences, memory activity, task predictions and learning curves.

Pure functions: NumPy arrays in, a `matplotlib.figure.Figure` out. The
figures are built on the Agg canvas directly, never through `pyplot`, so
no global state is touched and figures made in a loop are freed with their
last reference (nothing keeps them registered). Importing this module loads
NumPy and matplotlib only (no TensorFlow).

* `sequence_figure`: inputs, targets and outputs of one example as
  channels x time heatmaps (the Copy-task figure of Graves et al. 2016).
* `memory_figure`: what the memory writes, reads and attends to, per block
  (DAM, Park et al. 2021) or for the single memory of the DNC.
* `babi_answers_figure`, `convex_hull_figure`, `nth_farthest_figure`:
  one example's predictions of the bAbI, Convex Hull and Nth Farthest tasks.
* `curves_figure` (and its `smoothed` EMA): learning curves of several runs
  from their metrics.csv columns.
* `figure_to_rgb` (for `tf.summary.image`) and `save_png` (atomic write).

Symbols: T time steps, K memory blocks, N slots per block, Wh write heads
per block, R read heads, D input channels, O output channels.

Axes and artists carry a gid (`artist.get_gid()`, see `axes_by_gid`) so a
caller or a test can find what was drawn. Indices in gids are 0-based array
indices; the titles and labels a reader sees count from 1 (k1 = block 0).

  sequence_figure:     'inputs', 'targets', 'outputs' (heatmaps of
                       array.T), 'answer_mask' (a 1 x T strip); colour bars
                       '<gid>/colorbar'.
  memory_figure:       per block k: 'k{k}/write_weights/w{w}' (image
                       write_weights[:, k, w, :].T), 'k{k}/read_weights/r{r}'
                       (read_weights[:, k, r, :].T), 'k{k}/gates' (lines
                       'write_gate/w{w}' and 'allocation_gate/w{w}'),
                       'k{k}/usage' (usage[:, k, :].T); 'colorbar/weights'.
                       DAM: 'attentive_gate' (image of K * R rows, row
                       k * R + r = attentive_gate[:, k, r]);
                       'colorbar/attentive_gate'.
                       DNC: 'read_mode/r{r}' (lines 'backward/w{w}',
                       'forward/w{w}', 'content' = read_mode[:, r, i] in the
                       order of the last axis, `read_mode_names`),
                       'k{k}/link/w{w}' (image link[k, w]);
                       'colorbar/link'.
                       On every time axis: patches 'span', lines 'mark'.
  babi_answers_figure: 'answers' (one text per question, gid 'answer/{i}').
  convex_hull_figure:  'hull' with the scatter 'points' and the lines
                       'true_tour' and 'predicted_tour'.
  nth_farthest_figure: 'pca' (scatter 'vectors', N points, in the order of
                       `vectors`), 'distances' (one bar per vector, farthest
                       first), 'probabilities' (one bar per class, heights =
                       probabilities).
  curves_figure:       one axes per metric, gid = the metric name, with
                       lines '{run label}/{column}' (plotted values) and,
                       when smoothing, '{run label}/{column}/raw'.
"""

import io
import math
import os
import re
import textwrap

import matplotlib
from matplotlib import colors as mcolors
from matplotlib import lines as mlines
from matplotlib import ticker
from matplotlib.backends import backend_agg
from matplotlib.figure import Figure
import numpy as np

from dam import fileio

__all__ = [
    'axes_by_gid', 'babi_answers_figure', 'convex_hull_figure',
    'curves_figure', 'figure_to_rgb', 'memory_figure', 'nth_farthest_figure',
    'read_mode_names', 'save_png', 'sequence_figure', 'smoothed',
]

# One colormap for every weight, gate and usage heatmap (values in [0, 1]).
WEIGHTS_CMAP = 'viridis'
# Shading of `spans` and the lines of `marks` on the time axes.
_SPAN_STYLE = dict(facecolor='#ff9800', alpha=0.22, edgecolor='none',
                   zorder=3)
_MARK_STYLE = dict(color='#e53935', linewidth=0.8, alpha=0.9, zorder=4)
# Widest figure, in inches, and the largest height.
_MAX_WIDTH = 40.
_MAX_HEIGHT = 40.
# Columns of metrics.csv that are not '<prefix>_<metric>' metrics.
NON_METRIC_COLUMNS = frozenset(('step', 'wall_time_s', 'steps_per_sec',
                                'epoch', 'evaluation_only', 'eval_training'))


# -- figures, rendering and files ----------------------------------------------


def _new_figure(width, height, dpi=100, layout='constrained'):
  """A Figure with its own Agg canvas, not registered with pyplot."""
  fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
  backend_agg.FigureCanvasAgg(fig)
  return fig


def axes_by_gid(fig):
  """{gid: axes} for the axes of `fig` that have a gid (see module doc)."""
  return {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}


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


# -- validation ----------------------------------------------------------------


def _array(value, name, spec, ndim, sizes=None, note='', allow_empty=False):
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


def _time_labels(time_labels, num_steps):
  """time_labels as a list of T strings (or None), else ValueError."""
  if time_labels is None:
    return None
  labels = [str(label) for label in time_labels]
  if len(labels) != num_steps:
    raise ValueError(f'time_labels has {len(labels)} labels, expected T='
                     f'{num_steps} (one per time step).')
  return labels


def _spans_marks(spans, marks, num_steps):
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


# -- time axes -----------------------------------------------------------------


def _label_step(num_steps, width_in):
  """Label every k-th time step so the labels fit in `width_in` inches."""
  fit = max(1, int(width_in * 72 / 7.))  # rotated 6 pt labels, 7 pt apart
  return max(1, math.ceil(num_steps / min(fit, 120)))


def _time_axis(ax, num_steps, time_labels, show_labels, width_in,
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


def _heatmap(ax, data, gid, title, vmin=0., vmax=1., cmap=WEIGHTS_CMAP):
  """imshow of data [rows, T] (channels or slots x time)."""
  image = ax.imshow(data, aspect='auto', interpolation='nearest', cmap=cmap,
                    vmin=vmin, vmax=vmax)
  ax.set_gid(gid)
  ax.set_title(title, fontsize=8, loc='left')
  ax.tick_params(axis='y', labelsize=6)
  return image


def _label_height(time_labels):
  """Inches taken by rotated time labels (0 without labels)."""
  if time_labels is None:
    return 0.2
  longest = max((len(label) for label in time_labels), default=1)
  return min(1.4, 0.08 + 0.048 * longest)


# -- (1) sequences -------------------------------------------------------------


def sequence_figure(inputs, targets, outputs, answer_mask=None, title='',
                    time_labels=None):
  """Inputs, targets and outputs of one example (Graves et al. 2016, Fig. 2).

  Three heatmaps stacked on one time axis, channels (rows) x time
  (columns), each with a colour bar; the answer steps are marked by a green
  strip under them.

  Args:
    inputs: x, [T, D].
    targets: y, [T, O].
    outputs: the model's activated outputs (e.g. sigmoid probabilities),
      [T, O].
    answer_mask: [T], > 0 on the answer steps; no strip if None.
    title: figure title.
    time_labels: T strings for the time ticks (every k-th shown when T is
      large), or None for step numbers.

  Returns:
    A `matplotlib.figure.Figure` (gids: see the module docstring).

  Raises:
    ValueError: an array has the wrong shape.
  """
  inputs = _array(inputs, 'inputs', 'T, D', 2)
  num_steps = inputs.shape[0]
  targets = _array(targets, 'targets', 'T, O', 2, {0: num_steps},
                   f" matching inputs' T={num_steps}")
  outputs = _array(outputs, 'outputs', 'T, O', 2,
                   {0: num_steps, 1: targets.shape[1]},
                   f" matching inputs' T={num_steps} and targets' "
                   f'O={targets.shape[1]}')
  if answer_mask is not None:
    answer_mask = _array(answer_mask, 'answer_mask', 'T', 1, {0: num_steps},
                         f" matching inputs' T={num_steps}")
  time_labels = _time_labels(time_labels, num_steps)

  def rows_height(channels):
    return float(np.clip(0.5 + 0.14 * channels, 0.9, 4.))

  heights = [rows_height(inputs.shape[1]), rows_height(targets.shape[1]),
             rows_height(outputs.shape[1])]
  if answer_mask is not None:
    heights.append(0.3)
  width = float(np.clip(3. + num_steps / 10., 7., _MAX_WIDTH))
  height = min(_MAX_HEIGHT, sum(heights) + 0.6 + 0.35 * len(heights) +
               _label_height(time_labels) + (0.3 if title else 0.))
  fig = _new_figure(width, height, dpi=100 if width <= 20 else 80)
  grid = fig.add_gridspec(len(heights), 2, height_ratios=heights,
                          width_ratios=[1., 0.015])
  if title:
    fig.suptitle(title, fontsize=11)
  finite_inputs = inputs[np.isfinite(inputs)]
  in_min = min(0., float(finite_inputs.min())) if finite_inputs.size else 0.
  in_max = max(1., float(finite_inputs.max())) if finite_inputs.size else 1.
  panels = (('inputs', inputs, 'inputs  x', 'channel', in_min, in_max),
            ('targets', targets, 'targets  y', 'channel', 0., 1.),
            ('outputs', outputs, 'outputs  (activated)', 'channel', 0., 1.))
  axes = []
  for row, (gid, data, panel_title, ylabel, vmin, vmax) in enumerate(panels):
    ax = fig.add_subplot(grid[row, 0])
    image = _heatmap(ax, data.T, gid, panel_title, vmin, vmax)
    ax.set_ylabel(ylabel, fontsize=7)
    colorbar = fig.colorbar(image, cax=fig.add_subplot(grid[row, 1]))
    colorbar.ax.set_gid(f'{gid}/colorbar')
    colorbar.ax.tick_params(labelsize=6)
    axes.append(ax)
  if answer_mask is not None:
    ax = fig.add_subplot(grid[len(panels), 0])
    ax.imshow((answer_mask > 0)[None, :].astype(np.float64), aspect='auto',
              interpolation='nearest', vmin=0., vmax=1.,
              cmap=mcolors.ListedColormap(['#f2f2f2', '#2e7d32']))
    ax.set_gid('answer_mask')
    ax.set_yticks([0], ['answer'], fontsize=7)
    axes.append(ax)
  for i, ax in enumerate(axes):
    _time_axis(ax, num_steps, time_labels, i == len(axes) - 1, width - 1.)
  axes[-1].set_xlabel('time step', fontsize=8)
  return fig


# -- (2) memory ----------------------------------------------------------------


def read_mode_names(num_write_heads):
  """Names of the DNC read modes, in the order of read_mode's last axis.

  Args:
    num_write_heads: Wh.

  Returns:
    1 + 2 Wh names: 'backward/w0', ..., 'forward/w0', ..., 'content' (the
    gids of the read-mode lines of `memory_figure`).
  """
  return ([f'backward/w{w}' for w in range(num_write_heads)] +
          [f'forward/w{w}' for w in range(num_write_heads)] + ['content'])


def _check_recording(recording):
  """The recording's arrays, validated: a dict of float64 arrays or None."""
  required = ('write_weights', 'read_weights', 'write_gate',
              'allocation_gate', 'usage')
  try:
    missing = [key for key in required if recording.get(key) is None]
  except AttributeError:
    raise ValueError(f'recording must be a mapping of arrays, got '
                     f'{type(recording).__name__}.') from None
  if missing:
    raise ValueError(f'recording lacks {missing} (it needs {list(required)}; '
                     f'attentive_gate, read_mode and link may be None).')
  ww = _array(recording['write_weights'], "recording['write_weights']",
              'T, K, Wh, N', 4)
  t, k, wh, n = ww.shape
  out = {'write_weights': ww}
  out['read_weights'] = _array(
      recording['read_weights'], "recording['read_weights']", 'T, K, R, N', 4,
      {0: t, 1: k, 3: n},
      f" matching write_weights' T={t}, K={k}, N={n}")
  r = out['read_weights'].shape[2]
  for key in ('write_gate', 'allocation_gate'):
    out[key] = _array(recording[key], f"recording['{key}']", 'T, K, Wh', 3,
                      {0: t, 1: k, 2: wh},
                      f" matching write_weights' T={t}, K={k}, Wh={wh}")
  out['usage'] = _array(recording['usage'], "recording['usage']", 'T, K, N',
                        3, {0: t, 1: k, 2: n},
                        f" matching write_weights' T={t}, K={k}, N={n}")
  optional = (
      ('attentive_gate', 'T, K, R', 3, {0: t, 1: k, 2: r},
       f" matching write_weights' T={t}, K={k} and read_weights' R={r}"),
      ('read_mode', 'T, R, 1 + 2*Wh', 3, {0: t, 1: r, 2: 1 + 2 * wh},
       f" matching write_weights' T={t}, Wh={wh} and read_weights' R={r}"),
      ('link', 'K, Wh, N, N', 4, {0: k, 1: wh, 2: n, 3: n},
       f" matching write_weights' K={k}, Wh={wh}, N={n}"))
  for key, spec, ndim, sizes, note in optional:
    value = recording.get(key)
    out[key] = None if value is None else _array(
        value, f"recording['{key}']", spec, ndim, sizes, note)
  return out


def memory_figure(recording, title='', time_labels=None, spans=(), marks=()):
  """What the memory writes, reads and attends to, for one example.

  One column per memory block k; in each, from the top: the write weights
  ww of every write head, the read weights wr of every read head (slots x
  time heatmaps), the write gate g^w and allocation gate g^a over time (one
  pair of lines per write head) and the usage u (slots x time). Below the
  blocks, across the width: the DAM's attentive gate g (one row per (block,
  read head)), or the DNC's read modes pi (one panel per read head) and its
  final temporal link matrix L (one image per write head).

  Args:
    recording: a mapping of arrays of ONE example:
      'write_weights' [T, K, Wh, N];
      'read_weights' [T, K, R, N] (DAM: the gated weights g c; DNC: the
        mixed read weights);
      'write_gate' [T, K, Wh] and 'allocation_gate' [T, K, Wh], in [0, 1];
      'usage' [T, K, N];
      'attentive_gate' [T, K, R] or None/absent (DAM; sums to 1 over K);
      'read_mode' [T, R, 1 + 2 Wh] or None/absent (DNC; softmax over
        backward x Wh, forward x Wh, content);
      'link' [K, Wh, N, N] or None/absent (DNC: the final L[k, w, i, j]).
    title: figure title.
    time_labels: T strings for the time ticks (e.g. the bAbI words), or None.
    spans: (start, end) time-index pairs (start inclusive, end exclusive)
      shaded on every time axis (e.g. the bAbI question tokens).
    marks: time indices marked by a thin vertical line on every time axis
      (e.g. the bAbI answer steps).

  Returns:
    A `matplotlib.figure.Figure` (gids: see the module docstring); about
    (4.6 + T / 25) inches wide per block, at most 40 inches in all.

  Raises:
    ValueError: an array is missing or has the wrong shape, a span or mark
      is outside the time axis, or time_labels is not T long.
  """
  rec = _check_recording(recording)
  num_steps, num_blocks, num_writes, num_slots = rec['write_weights'].shape
  num_reads = rec['read_weights'].shape[2]
  time_labels = _time_labels(time_labels, num_steps)
  spans, marks = _spans_marks(spans, marks, num_steps)
  gate, modes, link = rec['attentive_gate'], rec['read_mode'], rec['link']

  # The layout, in inches, computed here rather than by a layout engine
  # (constrained layout takes seconds on the ~100 axes of a large memory).
  left, right, gap = 0.8, 0.95, 0.75  # margins; space between block columns
  width = float(np.clip(left + right + num_blocks * (4.6 + num_steps / 25.),
                        8., _MAX_WIDTH))
  axes_width = (width - left - right - (num_blocks - 1) * gap) / num_blocks
  full_width = width - left - right
  map_height = float(np.clip(0.7 + 0.6 * num_slots / 64., 1., 2.2))
  title_band, tick_band, xlabel_band = 0.26, 0.1, 0.22
  label_band = (0.28 if time_labels is None else
                _label_height(time_labels) + 0.08)
  # Rows from the top: (kind, axes height, space under the axes).
  rows = ([('write', map_height, tick_band)] * num_writes +
          [('read', map_height, tick_band)] * num_reads +
          [('gates', 0.85, tick_band), ('usage', map_height, label_band)])
  if gate is not None:
    rows.append(('attentive_gate',
                 0.25 + min(0.17 * num_blocks * num_reads, 6.),
                 label_band + xlabel_band))
  if modes is not None:
    rows += [('read_mode', 1.0, tick_band)] * (num_reads - 1) + [
        ('read_mode', 1.0, label_band + xlabel_band)]
  if link is not None:
    count = num_blocks * num_writes
    side = float(np.clip(1.2 + 1.6 * num_slots / 64., 2.4, 4.))
    side = min(side, (full_width - 0.4) / count - 0.9)
    rows.append(('link', side, 0.45))
  top = 0.45 if title else 0.1
  fixed = top + 0.1 + sum(title_band + under for _, _, under in rows)
  scale = min(1., (_MAX_HEIGHT - fixed) / sum(h for _, h, _ in rows))
  rows = [(kind, h * scale, under) for kind, h, under in rows]
  height = fixed + sum(h for _, h, _ in rows)
  fig = _new_figure(width, height, dpi=100 if width <= 20 else 80,
                    layout=None)
  if title:
    fig.suptitle(title, fontsize=11, y=1. - 0.12 / height, va='top')

  def add_axes(x, y, w, h):
    """Axes at x, y (lower left corner) of size w x h, in inches."""
    return fig.add_axes((x / width, y / height, w / width, h / height))

  def colorbar(image, gid, x, bottom, top_, label=None):
    cax = add_axes(x, bottom, 0.14, top_ - bottom)
    bar = fig.colorbar(image, cax=cax)
    cax.set_gid(gid)
    cax.tick_params(labelsize=6)
    if label:
      bar.set_label(label, fontsize=7)

  def time_axis(ax, show_labels, axes_width_):
    _time_axis(ax, num_steps, time_labels, show_labels, axes_width_, spans,
               marks)

  # Vertical positions (bottom, height) of every row.
  places, y = [], height - top
  for _, h, under in rows:
    y -= title_band + h
    places.append((y, h))
    y -= under

  # The block columns.
  head_styles = ['-', '--', ':', '-.']
  num_block_rows = num_writes + num_reads + 2
  image = None
  for k in range(num_blocks):
    x = left + k * (axes_width + gap)
    for row in range(num_block_rows):
      kind = rows[row][0]
      bottom, h = places[row]
      ax = add_axes(x, bottom, axes_width, h)
      if kind == 'write':
        w = row
        image = _heatmap(ax, rec['write_weights'][:, k, w, :].T,
                         f'k{k}/write_weights/w{w}',
                         f'k{k + 1} write weights  w{w + 1}')
      elif kind == 'read':
        r = row - num_writes
        image = _heatmap(ax, rec['read_weights'][:, k, r, :].T,
                         f'k{k}/read_weights/r{r}',
                         f'k{k + 1} read weights  r{r + 1}')
      elif kind == 'usage':
        image = _heatmap(ax, rec['usage'][:, k, :].T, f'k{k}/usage',
                         f'k{k + 1} usage')
      else:
        ax.set_gid(f'k{k}/gates')
        ax.set_title(f'k{k + 1} gates', fontsize=8, loc='left')
        steps = np.arange(num_steps)
        for w in range(num_writes):
          style = head_styles[w % len(head_styles)]
          suffix = f' w{w + 1}' if num_writes > 1 else ''
          ax.plot(steps, rec['write_gate'][:, k, w], color='tab:blue',
                  linestyle=style, linewidth=1., gid=f'write_gate/w{w}',
                  label=f'write gate{suffix}')
          ax.plot(steps, rec['allocation_gate'][:, k, w], color='tab:orange',
                  linestyle=style, linewidth=1., gid=f'allocation_gate/w{w}',
                  label=f'allocation gate{suffix}')
        ax.set_ylim(-0.05, 1.05)
        ax.set_yticks([0., 0.5, 1.])
        ax.tick_params(axis='y', labelsize=6)
        ax.grid(axis='y', linewidth=0.4, alpha=0.5)
        ax.legend(loc='lower right', bbox_to_anchor=(1., 1.), fontsize=6,
                  ncols=2 * num_writes, frameon=False, borderaxespad=0.1,
                  handlelength=1.8)
      if kind != 'gates':
        ax.set_ylabel('slot', fontsize=7, labelpad=2)
      time_axis(ax, kind == 'usage', axes_width)
  colorbar(image, 'colorbar/weights', width - right + 0.2,
           places[num_block_rows - 1][0], sum(places[0]),
           'weight / usage')

  # Below the blocks.
  row = num_block_rows
  if gate is not None:
    bottom, h = places[row]
    ax = add_axes(left, bottom, full_width, h)
    image = _heatmap(ax, gate.reshape(num_steps, num_blocks * num_reads).T,
                     'attentive_gate',
                     'attentive gate g (softmax over blocks, per read head)')
    ax.set_yticks(range(num_blocks * num_reads),
                  [f'k{k + 1} r{r + 1}' for k in range(num_blocks)
                   for r in range(num_reads)])
    ax.tick_params(axis='y', labelsize=6 if h / (num_blocks * num_reads) >
                   0.1 else 4)
    time_axis(ax, True, full_width)
    ax.set_xlabel('time step', fontsize=8)
    colorbar(image, 'colorbar/attentive_gate', width - right + 0.2, bottom,
             bottom + h, 'g')
    row += 1
  if modes is not None:
    names = read_mode_names(num_writes)
    mode_colors = (['tab:red'] * num_writes + ['tab:green'] * num_writes +
                   ['tab:blue'])
    for r in range(num_reads):
      bottom, h = places[row]
      ax = add_axes(left, bottom, full_width, h)
      ax.set_gid(f'read_mode/r{r}')
      ax.set_title(f'read modes  r{r + 1}', fontsize=8, loc='left')
      for i, name in enumerate(names):
        kind, _, head = name.partition('/')
        w = int(head[1:]) if head else 0
        label = kind if num_writes == 1 or not head else (
            f'{kind} w{w + 1}')
        ax.plot(np.arange(num_steps), modes[:, r, i], gid=name, label=label,
                color=mode_colors[i],
                linestyle=head_styles[w % len(head_styles)], linewidth=1.)
      ax.set_ylim(-0.05, 1.05)
      ax.set_yticks([0., 0.5, 1.])
      ax.tick_params(axis='y', labelsize=6)
      ax.grid(axis='y', linewidth=0.4, alpha=0.5)
      if r == 0:
        ax.legend(loc='lower right', bbox_to_anchor=(1., 1.), fontsize=6,
                  ncols=len(names), frameon=False, borderaxespad=0.1)
      time_axis(ax, r == num_reads - 1, full_width)
      if r == num_reads - 1:
        ax.set_xlabel('time step', fontsize=8)
      row += 1
  if link is not None:
    bottom, side = places[row]
    x = left
    for k in range(num_blocks):
      for w in range(num_writes):
        ax = add_axes(x, bottom, side, side)
        image = ax.imshow(link[k, w], interpolation='nearest', vmin=0.,
                          vmax=1., cmap=WEIGHTS_CMAP, aspect='auto')
        ax.set_gid(f'k{k}/link/w{w}')
        ax.set_title(f'k{k + 1} final link L  w{w + 1}', fontsize=8,
                     loc='left')
        ax.set_xlabel('slot j (from)', fontsize=7, labelpad=2)
        ax.set_ylabel('slot i (to)', fontsize=7, labelpad=2)
        ax.tick_params(labelsize=6)
        x += side + 0.9
    colorbar(image, 'colorbar/link', x - 0.75, bottom, bottom + side, 'L')
  return fig


# -- (3) bAbI answers ----------------------------------------------------------


def babi_answers_figure(questions, title='', max_questions=150):
  """bAbI predictions as text, one line per question.

  "where is mary ?  ->  predicted: bathroom   (answer: bathroom)", with a
  check mark in green when right, a cross in red when wrong.

  Args:
    questions: list of dicts {'question': str, 'target': str,
      'predicted': str}; right when predicted == target (ignoring
      surrounding spaces).
    title: figure title; the count of right answers is appended.
    max_questions: at most this many lines (and at most 160, what fits in
      the largest figure); a last line tells how many were left out.

  Returns:
    A `matplotlib.figure.Figure` (gids: see the module docstring).

  Raises:
    ValueError: a question is not a mapping with these three keys.
  """
  rows = []
  for i, question in enumerate(questions):
    try:
      rows.append((str(question['question']), str(question['target']),
                   str(question['predicted'])))
    except (KeyError, TypeError):
      raise ValueError(f'questions[{i}] must be a dict with keys question, '
                       f'target and predicted, got {question!r}.') from None
  right = [p.strip() == t.strip() for _, t, p in rows]
  shown = rows[:max(0, min(int(max_questions), 160))]
  q_width = max((len(q) for q, _, _ in shown), default=0)
  p_width = max((len(p) for _, _, p in shown), default=0)
  lines = [f'{q.ljust(q_width)}  ->  predicted: {p.ljust(p_width)}   '
           f'(answer: {t})' for q, t, p in shown]
  extra = len(rows) - len(shown)
  longest = max([len(line) + 2 for line in lines] + [40])
  width = float(np.clip(0.6 + 0.085 * longest, 5., _MAX_WIDTH))
  num_lines = len(lines) + (1 if extra else 0) + (0 if rows else 1)
  height = min(_MAX_HEIGHT, 0.8 + 0.24 * num_lines)
  fig = _new_figure(width, height, dpi=100, layout=None)
  ax = fig.add_axes((0., 0., 1., 1.))
  ax.set_gid('answers')
  ax.set_axis_off()
  summary = (f'{sum(right)}/{len(rows)} right' if rows else 'no questions')
  heading = f'{title}  ({summary})' if title else summary
  top = 1. - 0.35 / height
  line_step = 0.24 / height
  ax.text(0.02, top, heading, fontsize=11, fontweight='bold', va='center',
          transform=ax.transAxes)
  for i, line in enumerate(lines):
    ok = right[i]
    ax.text(0.02, top - (i + 1.2) * line_step,
            f'{"✓" if ok else "✗"} {line}', color='#1b7f2a' if ok else
            '#c62828', fontsize=10, family='monospace', va='center',
            transform=ax.transAxes, gid=f'answer/{i}')
  if extra:
    ax.text(0.02, top - (len(lines) + 1.2) * line_step,
            f'... and {extra} more ({sum(right[len(shown):])} of them right)',
            fontsize=10, color='0.3', va='center', transform=ax.transAxes)
  return fig


# -- (4) convex hull -----------------------------------------------------------


def _is_end(value):
  """Whether a tour entry is the end token 0."""
  try:
    return int(value) == 0 and value == 0
  except (TypeError, ValueError, OverflowError):
    return False


def _tour_until_end(tour, num_points):
  """(valid 1-based labels up to the end token 0, the invalid labels)."""
  valid, invalid = [], []
  for value in tour:
    try:
      label = int(value)
      exact = label == value
    except (TypeError, ValueError, OverflowError):
      invalid.append(value)
      continue
    if exact and label == 0:
      break
    if exact and 1 <= label <= num_points:
      valid.append(label)
    else:
      invalid.append(value)
  return valid, invalid


def convex_hull_figure(points, true_tour, predicted_tour, title=''):
  """One Convex Hull example: the points, the true hull and the prediction.

  Args:
    points: [n, 2] in [0, 1)^2; point i has the label i + 1.
    true_tour: the true closed tour as 1-based labels, e.g. [1, 3, 5, 1]
      (drawn dashed); anything from an end token 0 on is ignored.
    predicted_tour: the model's labels in emission order (drawn solid with
      arrows); drawing stops at the end token 0; labels outside 1..n are
      skipped and listed in the legend.
    title: figure title; whether the prediction equals the true tour (both
      up to their end token) is appended.

  Returns:
    A `matplotlib.figure.Figure` (gids: see the module docstring).

  Raises:
    ValueError: points is not [n, 2], or true_tour holds labels outside
      1..n.
  """
  points = _array(points, 'points', 'n, 2', 2, {1: 2})
  n = points.shape[0]
  true_labels, bad_true = _tour_until_end(list(true_tour), n)
  if bad_true:
    raise ValueError(f'true_tour has labels {bad_true} outside 1..n={n}.')
  predicted = list(predicted_tour)
  predicted_labels, invalid = _tour_until_end(predicted, n)
  equal = not invalid and predicted_labels == true_labels

  fig = _new_figure(6.4, 6.8, dpi=100)
  ax = fig.add_subplot()
  ax.set_gid('hull')
  ax.scatter(points[:, 0], points[:, 1], s=22, color='0.25', zorder=3,
             gid='points', label=f'points (n = {n})')
  for i, (x, y) in enumerate(points):
    ax.annotate(str(i + 1), (x, y), xytext=(4, 4), textcoords='offset points',
                fontsize=8, color='0.15', zorder=5)
  if true_labels:
    xy = points[np.asarray(true_labels) - 1]
    ax.plot(xy[:, 0], xy[:, 1], linestyle='--', color='tab:blue',
            linewidth=1.6, gid='true_tour', label='true hull', zorder=2)
  predicted_label = 'predicted tour'
  if invalid:
    predicted_label += (f' (skipped invalid labels: '
                        f'{", ".join(str(v) for v in invalid)})')
  xy = (points[np.asarray(predicted_labels) - 1] if predicted_labels
        else np.zeros([0, 2]))
  ax.plot(xy[:, 0], xy[:, 1], linestyle='-', color='tab:red', linewidth=1.2,
          marker='o', markersize=3, gid='predicted_tour',
          label=predicted_label, zorder=4)
  for i in range(len(xy) - 1):
    if np.allclose(xy[i], xy[i + 1]):
      continue
    ax.annotate('', xy=xy[i + 1], xytext=xy[i], zorder=4,
                arrowprops=dict(arrowstyle='-|>', color='tab:red', lw=1.2,
                                shrinkA=3, shrinkB=4, mutation_scale=12))
    middle = (xy[i] + xy[i + 1]) / 2
    ax.annotate(str(i + 1), middle, xytext=(-3, -9),
                textcoords='offset points', fontsize=6, color='tab:red')
  ax.set_xlim(-0.05, 1.05)
  ax.set_ylim(-0.05, 1.05)
  ax.set_aspect('equal')
  ax.set_xlabel('x', fontsize=8)
  ax.set_ylabel('y', fontsize=8)
  ax.tick_params(labelsize=7)
  ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.1), fontsize=8,
            ncols=1, frameon=False)
  verdict = ('prediction = true tour' if equal else
             'prediction differs from the true tour')
  sequences = (f'true: {" ".join(map(str, true_labels))}\npredicted: '
               f'{" ".join(str(v) for v in predicted)}'
               f'{"  (0 = end)" if any(_is_end(v) for v in predicted) else ""}')
  heading = textwrap.fill(f'{title}: {verdict}' if title else verdict, 70)
  ax.set_title(heading + '\n' + textwrap.fill(sequences, 70,
                                              replace_whitespace=False),
               fontsize=9, color='#1b7f2a' if equal else '#c62828')
  return fig


# -- (5) Nth Farthest ----------------------------------------------------------


def _ordinal(number):
  """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
  if 10 <= number % 100 <= 20:
    suffix = 'th'
  else:
    suffix = {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th')
  return f'{number}{suffix}'


def nth_farthest_figure(vectors, labels, nth, reference_label, answer_label,
                        probabilities, title=''):
  """One Nth Farthest example (Santoro et al. 2018) and the model's answer.

  Left: a 2-D PCA projection of the vectors with their labels; the
  reference is a star, the true answer is ringed, the predicted answer
  (argmax of probabilities) is crossed. Middle: the Euclidean distances
  from the reference in the full Dv dims, farthest first (rank n = 0 is the
  farthest, as in `tasks.nth_farthest`), the asked rank highlighted.
  Right: the probabilities per class, the true class highlighted.

  Args:
    vectors: [N, Dv].
    labels: [N], a permutation of 0..N-1, the label of each vector.
    nth: n in 0..N-1 (0 = the farthest).
    reference_label: m, the label of the reference vector.
    answer_label: the true class (the label of the n-th farthest).
    probabilities: [N], the model's softmax over the classes (labels).
    title: figure title.

  Returns:
    A `matplotlib.figure.Figure` (gids: see the module docstring).

  Raises:
    ValueError: an array has the wrong shape, labels is not a permutation,
      or nth, reference_label or answer_label is not in 0..N-1.
  """
  vectors = _array(vectors, 'vectors', 'N, Dv', 2)
  num = vectors.shape[0]
  labels_f = _array(labels, 'labels', 'N', 1, {0: num},
                    f" matching vectors' N={num}")
  probabilities = _array(probabilities, 'probabilities', 'N', 1, {0: num},
                         f" matching vectors' N={num}")
  labels = labels_f.astype(np.int64)
  if not np.array_equal(np.sort(labels_f), np.arange(num)):
    raise ValueError(f'labels must be a permutation of 0..N-1={num - 1}, '
                     f'got {labels_f.tolist()}.')
  for name, value in (('nth', nth), ('reference_label', reference_label),
                      ('answer_label', answer_label)):
    try:
      ok = int(value) == value and 0 <= int(value) < num
    except (TypeError, ValueError, OverflowError):
      ok = False
    if not ok:
      raise ValueError(f'{name} must be an integer in 0..N-1={num - 1}, got '
                       f'{value!r}.')
  nth, reference_label, answer_label = (int(nth), int(reference_label),
                                        int(answer_label))
  predicted = int(np.argmax(probabilities))
  index_of = {label: i for i, label in enumerate(labels)}
  ref = index_of[reference_label]
  distances = np.linalg.norm(vectors - vectors[ref], axis=1)  # [N]
  order = np.argsort(-distances, kind='stable')  # farthest first
  computed_answer = int(labels[order[nth]])

  # PCA: the centred vectors on their first two right singular vectors.
  centred = vectors - vectors.mean(axis=0)
  _, singular, basis = np.linalg.svd(centred, full_matrices=False)
  projection = np.zeros([num, 2])
  dims = min(2, basis.shape[0])
  projection[:, :dims] = centred @ basis[:dims].T
  variance = singular ** 2
  share = variance / variance.sum() if variance.sum() > 0 else variance * 0.
  share = np.concatenate([share, np.zeros(2)])[:2]

  fig = _new_figure(15., 5.4, dpi=100)
  if title:
    fig.suptitle(title, fontsize=11)
  grid = fig.add_gridspec(1, 3, width_ratios=[1.25, 1., 1.])
  ax = fig.add_subplot(grid[0, 0])
  ax.set_gid('pca')
  ax.scatter(projection[:, 0], projection[:, 1], s=28, color='0.45',
             zorder=3, gid='vectors', label='vectors')
  for i in range(num):
    ax.annotate(str(labels[i]), projection[i], xytext=(5, 4),
                textcoords='offset points', fontsize=9, zorder=6)
  answer_xy = projection[index_of[answer_label]]
  predicted_xy = projection[index_of[predicted]]
  ax.scatter(*projection[ref], marker='*', s=260, color='tab:blue',
             zorder=4, label=f'reference (label {reference_label})')
  ax.scatter(*answer_xy, s=300, facecolors='none', edgecolors='tab:green',
             linewidths=2., zorder=5, label=f'true answer ({answer_label})')
  ax.scatter(*predicted_xy, marker='x', s=120, color='tab:red',
             linewidths=2., zorder=6, label=f'predicted ({predicted})')
  ax.set_xlabel(f'PC1 ({100 * share[0]:.0f}% of variance)', fontsize=8)
  ax.set_ylabel(f'PC2 ({100 * share[1]:.0f}% of variance)', fontsize=8)
  ax.tick_params(labelsize=7)
  question = (f'n = {nth}: the {_ordinal(nth + 1)} farthest from label '
              f'{reference_label}')
  ax.set_title(f'{question}\nPCA projection of the {num} vectors '
               f'({vectors.shape[1]} dims)', fontsize=9)
  ax.margins(0.15)
  ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.13),
            ncols=2, frameon=False)

  ax = fig.add_subplot(grid[0, 1])
  ax.set_gid('distances')
  bar_colors = ['tab:green' if rank == nth else '0.6' for rank in range(num)]
  ax.barh(np.arange(num), distances[order], color=bar_colors, gid='bars')
  ax.set_yticks(np.arange(num),
                [f'n={rank}: label {labels[i]}' for rank, i in
                 enumerate(order)])
  ax.invert_yaxis()
  ax.tick_params(labelsize=7)
  ax.set_xlabel(f'Euclidean distance from label {reference_label} '
                f'({vectors.shape[1]} dims)', fontsize=8)
  check = ('' if computed_answer == answer_label else
           f'\n(distances give label {computed_answer}, '
           f'not {answer_label}!)')
  ax.set_title(f'distances, farthest first{check}', fontsize=9)
  for rank, i in enumerate(order):
    ax.annotate(f'{distances[i]:.2f}', (distances[i], rank), xytext=(3, 0),
                textcoords='offset points', va='center', fontsize=7)
  ax.margins(x=0.15)

  ax = fig.add_subplot(grid[0, 2])
  ax.set_gid('probabilities')
  colors = ['tab:green' if c == answer_label else
            ('tab:red' if c == predicted else 'tab:gray') for c in range(num)]
  ax.bar(np.arange(num), probabilities, color=colors, gid='bars')
  ax.set_xticks(np.arange(num))
  ax.set_xlabel('class (label)', fontsize=8)
  ax.set_ylabel('probability', fontsize=8)
  ax.set_ylim(0., max(1., float(np.nanmax(probabilities)) * 1.05))
  ax.tick_params(labelsize=7)
  verdict = 'right' if predicted == answer_label else 'wrong'
  ax.set_title(f'model: {predicted} ({verdict}; true {answer_label}, green)',
               fontsize=9)
  return fig


# -- (6) learning curves -------------------------------------------------------


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
      array = _array(values, f'run {label!r} column {name!r}', 'L', 1,
                     allow_empty=True)
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
    A `matplotlib.figure.Figure` (gids: see the module docstring).

  Raises:
    ValueError: smooth is not in [0, 1), runs is empty, a run lacks 'step'
      or has columns of different lengths, no metric column is found, or
      `metrics` names a metric no run has.
  """
  smooth = _check_smooth(smooth)
  runs = _check_runs(runs)
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
    names = sorted(found, key=_metric_order)
  else:
    names = [str(name) for name in metrics]
    unknown = [name for name in names if name not in found]
    if unknown or not names:
      raise ValueError(f'metrics {unknown or names} not found in runs '
                       f'{[label for label, _ in runs]}; available: '
                       f'{sorted(found, key=_metric_order)}.')
  prefixes = sorted({p for name in names for p in found[name]},
                    key=_prefix_order)
  other_styles = [':', '-.', (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)),
                  (0, (7, 2)), (0, (3, 1, 1, 1, 1, 1, 1, 1))]
  styles, others = {}, 0
  for prefix in prefixes:
    if prefix == 'train':
      styles[prefix] = '-'
    elif prefix == 'eval':
      styles[prefix] = '--'
    else:
      styles[prefix] = other_styles[others % len(other_styles)]
      others += 1
  colors = _run_colors(len(runs))

  num_cols = min(3, len(names))
  num_rows = math.ceil(len(names) / num_cols)
  width = min(_MAX_WIDTH, 4.6 * num_cols + 2.2)
  height = min(_MAX_HEIGHT, 3.3 * num_rows + (0.5 if title else 0.2))
  fig = _new_figure(width, height, dpi=100)
  if title:
    fig.suptitle(title, fontsize=11)
  grid = fig.add_gridspec(num_rows, num_cols)
  for index, name in enumerate(names):
    ax = fig.add_subplot(grid[index // num_cols, index % num_cols])
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
  return fig
