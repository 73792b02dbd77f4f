"""The memory figure: what the memory writes, reads and attends to.

One column per memory block (the DAM's K blocks, Park et al. 2021, or the
single memory of the DNC), and below the blocks the DAM's attentive gate
or the DNC's read modes and final temporal link matrix. The axes are placed
in inches by `_layout` rather than by a layout engine (constrained layout
takes seconds on the ~100 axes of a large memory).

Symbols: T time steps, K memory blocks, N slots per block, Wh write heads
per block, R read heads.
"""

import collections

import numpy as np

from damrun.plots import common

# Line styles of the write heads (and of the DNC's read modes per head).
_HEAD_STYLES = ['-', '--', ':', '-.']
# Margins left and right of the axes, and the space between block columns,
# in inches.
_LEFT, _RIGHT, _GAP = 0.8, 0.95, 0.75
# Bands above every axes (title) and under it (ticks; the x label).
_TITLE_BAND, _TICK_BAND, _XLABEL_BAND = 0.26, 0.1, 0.22


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
  check = common.check_array
  ww = check(recording['write_weights'], "recording['write_weights']",
             'T, K, Wh, N', 4)
  t, k, wh, n = ww.shape
  out = {'write_weights': ww}
  out['read_weights'] = check(
      recording['read_weights'], "recording['read_weights']", 'T, K, R, N', 4,
      {0: t, 1: k, 3: n},
      f" matching write_weights' T={t}, K={k}, N={n}")
  r = out['read_weights'].shape[2]
  for key in ('write_gate', 'allocation_gate'):
    out[key] = check(recording[key], f"recording['{key}']", 'T, K, Wh', 3,
                     {0: t, 1: k, 2: wh},
                     f" matching write_weights' T={t}, K={k}, Wh={wh}")
  out['usage'] = check(recording['usage'], "recording['usage']", 'T, K, N',
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
    out[key] = None if value is None else check(
        value, f"recording['{key}']", spec, ndim, sizes, note)
  return out


# -- layout --------------------------------------------------------------------

# The figure's size and where its axes go, in inches: `rows` from the top
# as (kind, axes height, space under the axes), `places` the (bottom,
# height) of each row; `axes_width` of a block column, `full_width` of the
# axes across all blocks.
_Layout = collections.namedtuple(
    '_Layout', 'width height axes_width full_width rows places')


def _rows(shape, num_reads, time_labels, full_width, gate, modes, link):
  """The rows from the top: (kind, axes height, space under the axes)."""
  _, num_blocks, num_writes, num_slots = shape
  map_height = float(np.clip(0.7 + 0.6 * num_slots / 64., 1., 2.2))
  label_band = (0.28 if time_labels is None else
                common.label_height(time_labels) + 0.08)
  rows = ([('write', map_height, _TICK_BAND)] * num_writes +
          [('read', map_height, _TICK_BAND)] * num_reads +
          [('gates', 0.85, _TICK_BAND), ('usage', map_height, label_band)])
  if gate is not None:
    rows.append(('attentive_gate',
                 0.25 + min(0.17 * num_blocks * num_reads, 6.),
                 label_band + _XLABEL_BAND))
  if modes is not None:
    rows += [('read_mode', 1.0, _TICK_BAND)] * (num_reads - 1) + [
        ('read_mode', 1.0, label_band + _XLABEL_BAND)]
  if link is not None:
    count = num_blocks * num_writes
    side = float(np.clip(1.2 + 1.6 * num_slots / 64., 2.4, 4.))
    side = min(side, (full_width - 0.4) / count - 0.9)
    rows.append(('link', side, 0.45))
  return rows


def _layout(rec, time_labels, title):
  """The `_Layout` of the memory figure of the checked recording `rec`.

  About (4.6 + T / 25) inches wide per block, at most `common.MAX_WIDTH`;
  the rows shrink together to keep the height within `common.MAX_HEIGHT`.
  """
  shape = rec['write_weights'].shape
  num_steps, num_blocks = shape[:2]
  width = float(np.clip(_LEFT + _RIGHT + num_blocks * (4.6 + num_steps / 25.),
                        8., common.MAX_WIDTH))
  axes_width = (width - _LEFT - _RIGHT - (num_blocks - 1) * _GAP) / num_blocks
  full_width = width - _LEFT - _RIGHT
  rows = _rows(shape, rec['read_weights'].shape[2], time_labels, full_width,
               rec['attentive_gate'], rec['read_mode'], rec['link'])
  top = 0.45 if title else 0.1
  fixed = top + 0.1 + sum(_TITLE_BAND + under for _, _, under in rows)
  scale = min(1., (common.MAX_HEIGHT - fixed) / sum(h for _, h, _ in rows))
  rows = [(kind, h * scale, under) for kind, h, under in rows]
  height = fixed + sum(h for _, h, _ in rows)
  places, y = [], height - top
  for _, h, under in rows:
    y -= _TITLE_BAND + h
    places.append((y, h))
    y -= under
  return _Layout(width, height, axes_width, full_width, rows, places)


class _Sheet:
  """The figure, with axes placed in inches and one shared time axis."""

  def __init__(self, fig, plan, num_steps, time_labels, spans, marks):
    self.fig = fig
    self._width, self._height = plan.width, plan.height
    self._time = (num_steps, time_labels, spans, marks)

  def add_axes(self, x, y, w, h):
    """Axes at x, y (lower left corner) of size w x h, in inches."""
    return self.fig.add_axes((x / self._width, y / self._height,
                              w / self._width, h / self._height))

  def colorbar(self, image, gid, x, bottom, top, label=None):
    """A colour bar of `image` at x, from bottom to top, in inches."""
    cax = self.add_axes(x, bottom, 0.14, top - bottom)
    bar = self.fig.colorbar(image, cax=cax)
    cax.set_gid(gid)
    cax.tick_params(labelsize=6)
    if label:
      bar.set_label(label, fontsize=7)

  def time_axis(self, ax, show_labels, axes_width):
    """The time x axis of `ax` (`common.time_axis` with spans and marks)."""
    num_steps, time_labels, spans, marks = self._time
    common.time_axis(ax, num_steps, time_labels, show_labels, axes_width,
                     spans, marks)


# -- the block columns ---------------------------------------------------------


def _draw_gates(ax, rec, k):
  """Block k's write and allocation gates over time, per write head."""
  num_steps, _, num_writes = rec['write_gate'].shape
  ax.set_gid(f'k{k}/gates')
  ax.set_title(f'k{k + 1} gates', fontsize=8, loc='left')
  steps = np.arange(num_steps)
  for w in range(num_writes):
    style = _HEAD_STYLES[w % len(_HEAD_STYLES)]
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


def _draw_block(sheet, plan, rec, k):
  """Block k's column: write and read weights, gates, usage.

  Returns:
    The usage image (for the shared colour bar).
  """
  num_writes = rec['write_weights'].shape[2]
  x = _LEFT + k * (plan.axes_width + _GAP)
  image = None
  for row in range(num_writes + rec['read_weights'].shape[2] + 2):
    kind = plan.rows[row][0]
    bottom, h = plan.places[row]
    ax = sheet.add_axes(x, bottom, plan.axes_width, h)
    if kind == 'write':
      w = row
      image = common.heatmap(ax, rec['write_weights'][:, k, w, :].T,
                             f'k{k}/write_weights/w{w}',
                             f'k{k + 1} write weights  w{w + 1}')
    elif kind == 'read':
      r = row - num_writes
      image = common.heatmap(ax, rec['read_weights'][:, k, r, :].T,
                             f'k{k}/read_weights/r{r}',
                             f'k{k + 1} read weights  r{r + 1}')
    elif kind == 'usage':
      image = common.heatmap(ax, rec['usage'][:, k, :].T, f'k{k}/usage',
                             f'k{k + 1} usage')
    else:
      _draw_gates(ax, rec, k)
    if kind != 'gates':
      ax.set_ylabel('slot', fontsize=7, labelpad=2)
    sheet.time_axis(ax, kind == 'usage', plan.axes_width)
  return image


# -- below the blocks ----------------------------------------------------------


def _draw_attentive_gate(sheet, plan, place, gate):
  """The DAM's attentive gate [T, K, R] as K * R rows over time."""
  num_steps, num_blocks, num_reads = gate.shape
  bottom, h = place
  ax = sheet.add_axes(_LEFT, bottom, plan.full_width, h)
  image = common.heatmap(
      ax, gate.reshape(num_steps, num_blocks * num_reads).T,
      'attentive_gate',
      'attentive gate g (softmax over blocks, per read head)')
  ax.set_yticks(range(num_blocks * num_reads),
                [f'k{k + 1} r{r + 1}' for k in range(num_blocks)
                 for r in range(num_reads)])
  ax.tick_params(axis='y', labelsize=6 if h / (num_blocks * num_reads) >
                 0.1 else 4)
  sheet.time_axis(ax, True, plan.full_width)
  ax.set_xlabel('time step', fontsize=8)
  sheet.colorbar(image, 'colorbar/attentive_gate', plan.width - _RIGHT + 0.2,
                 bottom, bottom + h, 'g')


def _draw_read_modes(sheet, plan, places, modes):
  """The DNC's read modes [T, R, 1 + 2 Wh]: one panel of lines per read
  head, at `places` (one (bottom, height) per read head)."""
  num_steps, num_reads, num_modes = modes.shape
  num_writes = (num_modes - 1) // 2
  names = read_mode_names(num_writes)
  mode_colors = (['tab:red'] * num_writes + ['tab:green'] * num_writes +
                 ['tab:blue'])
  for r, (bottom, h) in enumerate(places):
    ax = sheet.add_axes(_LEFT, bottom, plan.full_width, h)
    ax.set_gid(f'read_mode/r{r}')
    ax.set_title(f'read modes  r{r + 1}', fontsize=8, loc='left')
    for i, name in enumerate(names):
      kind, _, head = name.partition('/')
      w = int(head[1:]) if head else 0
      label = kind if num_writes == 1 or not head else (
          f'{kind} w{w + 1}')
      ax.plot(np.arange(num_steps), modes[:, r, i], gid=name, label=label,
              color=mode_colors[i],
              linestyle=_HEAD_STYLES[w % len(_HEAD_STYLES)], linewidth=1.)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([0., 0.5, 1.])
    ax.tick_params(axis='y', labelsize=6)
    ax.grid(axis='y', linewidth=0.4, alpha=0.5)
    if r == 0:
      ax.legend(loc='lower right', bbox_to_anchor=(1., 1.), fontsize=6,
                ncols=len(names), frameon=False, borderaxespad=0.1)
    sheet.time_axis(ax, r == num_reads - 1, plan.full_width)
    if r == num_reads - 1:
      ax.set_xlabel('time step', fontsize=8)


def _draw_links(sheet, place, link):
  """The DNC's final link matrices [K, Wh, N, N], side by side."""
  num_blocks, num_writes = link.shape[:2]
  bottom, side = place
  x = _LEFT
  image = None
  for k in range(num_blocks):
    for w in range(num_writes):
      ax = sheet.add_axes(x, bottom, side, side)
      image = ax.imshow(link[k, w], interpolation='nearest', vmin=0.,
                        vmax=1., cmap=common.WEIGHTS_CMAP, aspect='auto')
      ax.set_gid(f'k{k}/link/w{w}')
      ax.set_title(f'k{k + 1} final link L  w{w + 1}', fontsize=8,
                   loc='left')
      ax.set_xlabel('slot j (from)', fontsize=7, labelpad=2)
      ax.set_ylabel('slot i (to)', fontsize=7, labelpad=2)
      ax.tick_params(labelsize=6)
      x += side + 0.9
  sheet.colorbar(image, 'colorbar/link', x - 0.75, bottom, bottom + side, 'L')


# -- the figure ----------------------------------------------------------------


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
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`); about
    (4.6 + T / 25) inches wide per block, at most 40 inches in all.

  Raises:
    ValueError: an array is missing or has the wrong shape, a span or mark
      is outside the time axis, or time_labels is not T long.
  """
  rec = _check_recording(recording)
  num_steps, num_blocks, num_writes, _ = rec['write_weights'].shape
  num_reads = rec['read_weights'].shape[2]
  time_labels = common.check_time_labels(time_labels, num_steps)
  spans, marks = common.check_spans_marks(spans, marks, num_steps)
  plan = _layout(rec, time_labels, title)
  fig = common.new_figure(plan.width, plan.height,
                          dpi=100 if plan.width <= 20 else 80, layout=None)
  if title:
    fig.suptitle(title, fontsize=11, y=1. - 0.12 / plan.height, va='top')
  sheet = _Sheet(fig, plan, num_steps, time_labels, spans, marks)
  for k in range(num_blocks):
    image = _draw_block(sheet, plan, rec, k)
  row = num_writes + num_reads + 2  # the first row below the blocks
  sheet.colorbar(image, 'colorbar/weights', plan.width - _RIGHT + 0.2,
                 plan.places[row - 1][0], sum(plan.places[0]),
                 'weight / usage')
  if rec['attentive_gate'] is not None:
    _draw_attentive_gate(sheet, plan, plan.places[row], rec['attentive_gate'])
    row += 1
  if rec['read_mode'] is not None:
    _draw_read_modes(sheet, plan, plan.places[row:row + num_reads],
                     rec['read_mode'])
    row += num_reads
  if rec['link'] is not None:
    _draw_links(sheet, plan.places[row], rec['link'])
  return fig
