"""Figures of sequences, memory activity, task predictions and learning curves.

Pure functions: NumPy arrays in, a `matplotlib.figure.Figure` out. The
figures are built on the Agg canvas directly, never through `pyplot`, so
no global state is touched and figures made in a loop are freed with their
last reference (nothing keeps them registered). Importing this package
loads NumPy and matplotlib only (no TensorFlow).

One module per family of figures; every public name is re-exported here:

* `sequence_figure` (sequence.py): inputs, targets and outputs of one
  example as channels x time heatmaps (the Copy-task figure of Graves et
  al. 2016).
* `memory_figure` (memory.py): what the memory writes, reads and attends
  to, per block (DAM, Park et al. 2021) or for the single memory of the DNC
  (`read_mode_names`: the order of its read modes).
* `babi_answers_figure`, `convex_hull_figure`, `nth_farthest_figure`
  (predictions.py): one example's predictions of the bAbI, Convex Hull and
  Nth Farthest tasks.
* `curves_figure` (its centred smoothing `smoothed`, and `METRIC_LABELS`,
  what the metrics are; curves.py): learning curves of several runs from
  their metrics.csv columns, with optional bands (e.g. the spread over
  seeds) and reference lines (a threshold, a published value).
* `figure_to_rgb` (for `tf.summary.image`), `save_png` (atomic write),
  `axes_by_gid` and `line_by_gid` (common.py, with the input checks, time
  axes and heatmaps the figures share).

Symbols: T time steps, K memory blocks, N slots per block, Wh write heads
per block, R read heads, D input channels, O output channels.

Axes and artists carry a gid (`artist.get_gid()`, see `axes_by_gid`) so a
caller or a test can find what was drawn. Indices in gids are 0-based array
indices; the titles and labels a reader sees count from 1 (k1 = block 0).

  sequence_figure:     'inputs', 'targets', 'outputs' (heatmaps of
                       array.T), 'answer_mask' (a 1 x T strip, its legend
                       'answer_mask/legend': `ANSWER_STRIP_LABELS`);
                       colour bars '<gid>/colorbar'.
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
                       when smoothing, '{run label}/{column}/raw'; bands
                       '{run label}/{column}/band' (fill_between
                       collections); reference lines 'reference/{value:g}'
                       (texts 'reference/{value:g}/value').
"""

from damrun.plots.common import axes_by_gid
from damrun.plots.common import figure_to_rgb
from damrun.plots.common import line_by_gid
from damrun.plots.common import save_png
from damrun.plots.common import WEIGHTS_CMAP
from damrun.plots.curves import curves_figure
from damrun.plots.curves import METRIC_LABELS
from damrun.plots.curves import NON_METRIC_COLUMNS
from damrun.plots.curves import smoothed
from damrun.plots.memory import memory_figure
from damrun.plots.memory import read_mode_names
from damrun.plots.predictions import babi_answers_figure
from damrun.plots.predictions import convex_hull_figure
from damrun.plots.predictions import nth_farthest_figure
from damrun.plots.sequence import ANSWER_STRIP_LABELS
from damrun.plots.sequence import sequence_figure

__all__ = [
    'ANSWER_STRIP_LABELS', 'METRIC_LABELS', 'axes_by_gid',
    'babi_answers_figure', 'convex_hull_figure', 'curves_figure',
    'figure_to_rgb', 'line_by_gid', 'memory_figure', 'nth_farthest_figure',
    'read_mode_names', 'save_png', 'sequence_figure', 'smoothed',
]
