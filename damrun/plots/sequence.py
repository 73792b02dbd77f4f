"""The sequence figure: inputs, targets and outputs of one example.

The Copy-task figure of Graves et al. 2016 (Fig. 2): channels x time
heatmaps on one time axis, the answer steps marked by a green strip below
(with its legend).
"""

from matplotlib import colors as mcolors
from matplotlib import patches as mpatches
import numpy as np

from damrun.plots import common


def _check_sequence(inputs, targets, outputs, answer_mask, time_labels):
  """The arguments of `sequence_figure` as float64 arrays, else ValueError."""
  inputs = common.check_array(inputs, 'inputs', 'T, D', 2)
  num_steps = inputs.shape[0]
  targets = common.check_array(targets, 'targets', 'T, O', 2,
                               {0: num_steps},
                               f" matching inputs' T={num_steps}")
  outputs = common.check_array(outputs, 'outputs', 'T, O', 2,
                               {0: num_steps, 1: targets.shape[1]},
                               f" matching inputs' T={num_steps} and "
                               f"targets' O={targets.shape[1]}")
  if answer_mask is not None:
    answer_mask = common.check_array(answer_mask, 'answer_mask', 'T', 1,
                                     {0: num_steps},
                                     f" matching inputs' T={num_steps}")
  time_labels = common.check_time_labels(time_labels, num_steps)
  return inputs, targets, outputs, answer_mask, time_labels


def _rows_height(channels):
  """Inches of a heatmap of `channels` rows."""
  return float(np.clip(0.5 + 0.14 * channels, 0.9, 4.))


def _draw_heatmaps(fig, grid, inputs, targets, outputs):
  """The three heatmaps (array.T) with their colour bars; their axes."""
  finite_inputs = inputs[np.isfinite(inputs)]
  in_min = min(0., float(finite_inputs.min())) if finite_inputs.size else 0.
  in_max = max(1., float(finite_inputs.max())) if finite_inputs.size else 1.
  panels = (('inputs', inputs, 'inputs  x', 'channel', in_min, in_max),
            ('targets', targets, 'targets  y', 'channel', 0., 1.),
            ('outputs', outputs, 'outputs  (activated)', 'channel', 0., 1.))
  axes = []
  for row, (gid, data, panel_title, ylabel, vmin, vmax) in enumerate(panels):
    ax = fig.add_subplot(grid[row, 0])
    image = common.heatmap(ax, data.T, gid, panel_title, vmin, vmax)
    ax.set_ylabel(ylabel, fontsize=7)
    colorbar = fig.colorbar(image, cax=fig.add_subplot(grid[row, 1]))
    colorbar.ax.set_gid(f'{gid}/colorbar')
    colorbar.ax.tick_params(labelsize=6)
    axes.append(ax)
  return axes


# The strip's colours: other steps, answer steps.
_STRIP_COLORS = ('#f2f2f2', '#2e7d32')
# What the strip's colours mean (its legend).
ANSWER_STRIP_LABELS = ("answer step: the task's loss and accuracy count "
                       'its outputs', 'other step')


def _draw_answer_mask(ax, answer_mask):
  """The answer steps as a green 1 x T strip, with its legend above it."""
  ax.imshow((answer_mask > 0)[None, :].astype(np.float64), aspect='auto',
            interpolation='nearest', vmin=0., vmax=1.,
            cmap=mcolors.ListedColormap(list(_STRIP_COLORS)))
  ax.set_gid('answer_mask')
  ax.set_yticks([0], ['answer'], fontsize=7)
  handles = [mpatches.Patch(facecolor=color, edgecolor='0.5', linewidth=0.5)
             for color in _STRIP_COLORS[::-1]]
  legend = ax.legend(handles, ANSWER_STRIP_LABELS, loc='lower left',
                     bbox_to_anchor=(0., 1.), ncol=2, fontsize=7,
                     frameon=False, borderaxespad=0.1, handlelength=1.4,
                     columnspacing=1.5)
  legend.set_gid('answer_mask/legend')


def sequence_figure(inputs, targets, outputs, answer_mask=None, title='',
                    time_labels=None):
  """Inputs, targets and outputs of one example (Graves et al. 2016, Fig. 2).

  Three heatmaps stacked on one time axis, channels (rows) x time
  (columns), each with a colour bar; the answer steps are marked by a green
  strip under them, its legend (`ANSWER_STRIP_LABELS`) above it.

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
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: an array has the wrong shape.
  """
  inputs, targets, outputs, answer_mask, time_labels = _check_sequence(
      inputs, targets, outputs, answer_mask, time_labels)
  num_steps = inputs.shape[0]
  heights = [_rows_height(inputs.shape[1]), _rows_height(targets.shape[1]),
             _rows_height(outputs.shape[1])]
  if answer_mask is not None:
    heights.append(0.3)  # and its legend, in the row gap above
  width = float(np.clip(3. + num_steps / 10., 7., common.MAX_WIDTH))
  height = min(common.MAX_HEIGHT,
               sum(heights) + 0.6 + 0.35 * len(heights) +
               common.label_height(time_labels) + (0.3 if title else 0.))
  fig = common.new_figure(width, height, dpi=100 if width <= 20 else 80)
  grid = fig.add_gridspec(len(heights), 2, height_ratios=heights,
                          width_ratios=[1., 0.015])
  if title:
    fig.suptitle(title, fontsize=11)
  axes = _draw_heatmaps(fig, grid, inputs, targets, outputs)
  if answer_mask is not None:
    ax = fig.add_subplot(grid[len(axes), 0])
    _draw_answer_mask(ax, answer_mask)
    axes.append(ax)
  for i, ax in enumerate(axes):
    common.time_axis(ax, num_steps, time_labels, i == len(axes) - 1,
                     width - 1.)
  axes[-1].set_xlabel('time step', fontsize=8)
  return fig
