"""Tests of damrun/plots/curves.py: learning curves draw the finite points
of each run's metrics.csv columns, smoothed, banded and referenced as asked.

Lines are found by their gids (the scheme in the module docstring of
`damrun.plots`).
"""

from matplotlib import colors as mcolors
import numpy as np
import pytest

from damrun import plots


def _columns():
  nan = np.nan
  return {
      'step': np.array([0., 10., 20., 30., 40., 40.]),
      'wall_time_s': np.array([0., 1., 2., 3., 4., 5.]),
      'train_loss': np.array([4., 2., nan, 1., 0.5, nan]),
      'eval_loss': np.array([nan, 3., nan, 2., nan, nan]),
      'test5_bit_accuracy': np.array([nan, nan, 0.6, nan, 0.8, 0.9]),
      'train_bit_accuracy': np.array([0.5, 0.6, 0.7, 0.8, 0.9, nan]),
      'train_mrl_loss': np.array([1., 0.9, 0.8, 0.7, 0.6, nan]),
      'train_zeta': np.array([1., 2., 3., 4., 5., nan]),
      'evaluation_only': np.array([nan, nan, nan, nan, nan, 1.]),
  }


def test_smoothed_is_the_centred_exponential_smoothing():
  # s_i = sum_{|k| <= m_i} w^|k| y_{i+k} / sum w^|k|, m_i = min(i, L-1-i).
  np.testing.assert_allclose(plots.smoothed([1., 2., 4.], 0.5),
                             [1., (2. + 0.5 * (1. + 4.)) / 2., 4.])
  np.testing.assert_allclose(plots.smoothed([0., 0., 1., 0., 0.], 0.5),
                             [0., 0.5 / 2., 1. / 2.5, 0.5 / 2., 0.])
  np.testing.assert_array_equal(plots.smoothed([3., 1.], 0.), [3., 1.])
  np.testing.assert_array_equal(plots.smoothed([3., 1.], 0.9), [3., 1.])
  with pytest.raises(ValueError, match=r'smooth must be in \[0, 1\)'):
    plots.smoothed([1.], 1.)


def test_smoothed_ends_at_the_last_value():
  # A step: 50 reports at 0, then 10 at 1. TensorBoard's debiased EMA
  # (smooth 0.9) ends at 1 - 0.9^10 = 0.65; the centred one at 1 (within
  # 1e-12), and the plateau's last five points are all 1.
  step = np.r_[np.zeros(50), np.ones(10)]
  out = plots.smoothed(step, 0.9)
  assert abs(out[-1] - 1.) < 1e-12
  np.testing.assert_allclose(out[-5:], 1., atol=1e-12)
  assert out[50] < 1. and out[49] > 0.  # the step itself is smoothed
  # The newcomer's case: a held-out bit accuracy back at 0.9999 after
  # three reports at 0.9 is drawn at 0.9999, not at ~0.98.
  dip = np.r_[np.full(20, 1.), np.full(3, 0.9), 0.9999]
  assert abs(plots.smoothed(dip, 0.6)[-1] - 0.9999) < 1e-12
  # Centred: no lag on a straight line, mirror-symmetric, constants kept.
  ramp = 0.1 * np.arange(40.)
  np.testing.assert_allclose(plots.smoothed(ramp, 0.95), ramp, atol=1e-12)
  noisy = np.random.default_rng(0).normal(size=31)
  np.testing.assert_allclose(plots.smoothed(noisy[::-1], 0.7),
                             plots.smoothed(noisy, 0.7)[::-1], atol=1e-12)
  np.testing.assert_allclose(plots.smoothed(np.full(7, 2.5), 0.99), 2.5)


def test_curves_figure_plots_the_finite_points():
  columns = _columns()
  fig = plots.curves_figure([('a', columns)])
  axes = plots.axes_by_gid(fig)
  assert [ax.get_gid() for ax in fig.axes] == ['loss', 'mrl_loss',
                                               'bit_accuracy', 'zeta']
  loss = axes['loss']
  train = plots.line_by_gid(loss, 'a/train_loss')
  np.testing.assert_array_equal(train.get_xdata(), [0., 10., 30., 40.])
  np.testing.assert_array_equal(train.get_ydata(), [4., 2., 1., 0.5])
  evaluation = plots.line_by_gid(loss, 'a/eval_loss')
  np.testing.assert_array_equal(evaluation.get_xdata(), [10., 30.])
  np.testing.assert_array_equal(evaluation.get_ydata(), [3., 2.])
  # The evaluation_only row (0.9 at step 40) is dropped.
  test = plots.line_by_gid(axes['bit_accuracy'], 'a/test5_bit_accuracy')
  np.testing.assert_array_equal(test.get_xdata(), [20., 40.])
  np.testing.assert_array_equal(test.get_ydata(), [0.6, 0.8])
  styles = {train.get_linestyle(), evaluation.get_linestyle(),
            test.get_linestyle()}
  assert train.get_linestyle() == '-' and evaluation.get_linestyle() == '--'
  assert len(styles) == 3
  for ax in fig.axes:
    name = ax.get_gid()
    # The y label: the metric, and what it is when `METRIC_LABELS` knows.
    assert ax.get_xlabel() == 'step' and ax.get_ylabel() == (
        f'{name}\n{plots.METRIC_LABELS[name]}'
        if name in plots.METRIC_LABELS else name)
    assert ax.get_yscale() == 'linear'
  assert 'MRL' in plots.METRIC_LABELS['reported_loss']
  legend = [t.get_text() for t in fig.legends[0].get_texts()]
  assert 'a' in legend and {'train', 'eval', 'test5'} <= set(legend)


def test_curves_figure_smoothing_colours_and_log_scale():
  other = {'step': np.array([0., 1., 2.]),
           'train_loss': np.array([1., 2., 4.]),
           'train_bit_accuracy': np.array([0.1, 0.2, 0.3])}
  fig = plots.curves_figure([('a', _columns()), ('b', other)], smooth=0.5,
                            log_scale=True)
  axes = plots.axes_by_gid(fig)
  smoothed = plots.line_by_gid(axes['loss'], 'b/train_loss')
  np.testing.assert_allclose(smoothed.get_ydata(), [1., 2.25, 4.])
  raw = plots.line_by_gid(axes['loss'], 'b/train_loss/raw')
  np.testing.assert_array_equal(raw.get_ydata(), [1., 2., 4.])
  assert raw.get_alpha() == pytest.approx(0.25)
  assert raw.get_color() == smoothed.get_color()
  # One colour per run.
  colours = {}
  for ax in fig.axes:
    for line in ax.get_lines():
      run = line.get_gid().split('/')[0]
      colours.setdefault(run, set()).add(mcolors.to_hex(line.get_color()))
  assert len(colours['a']) == 1 and len(colours['b']) == 1
  assert colours['a'] != colours['b']
  assert axes['loss'].get_yscale() == 'log'
  assert axes['mrl_loss'].get_yscale() == 'log'
  assert axes['bit_accuracy'].get_yscale() == 'linear'
  assert axes['zeta'].get_yscale() == 'linear'
  plots.figure_to_rgb(fig)


def test_curves_figure_metrics_select_and_order():
  fig = plots.curves_figure([('a', _columns())],
                            metrics=['bit_accuracy', 'loss'])
  assert [ax.get_gid() for ax in fig.axes] == ['bit_accuracy', 'loss']
  with pytest.raises(ValueError, match="'nope'"):
    plots.curves_figure([('a', _columns())], metrics=['nope'])


def test_curves_figure_bad_input():
  with pytest.raises(ValueError, match=r'smooth must be in \[0, 1\)'):
    plots.curves_figure([('a', _columns())], smooth=1.)
  with pytest.raises(ValueError, match=r'smooth must be in \[0, 1\)'):
    plots.curves_figure([('a', _columns())], smooth=-0.1)
  with pytest.raises(ValueError, match='runs is empty'):
    plots.curves_figure([])
  with pytest.raises(ValueError, match="run 'b' has no 'step' column"):
    plots.curves_figure([('a', _columns()),
                         ('b', {'train_loss': np.ones(3)})])
  with pytest.raises(ValueError, match=r"no metric column.*\['a', 'b'\]"):
    plots.curves_figure([('a', {'step': np.ones(2), 'epoch': np.ones(2)}),
                         ('b', {'step': np.ones(2)})])
  with pytest.raises(ValueError, match="column 'train_loss' has 2 rows"):
    plots.curves_figure([('a', {'step': np.ones(3),
                                'train_loss': np.ones(2)})])


def test_curves_figure_bands_and_reference_lines():
  steps = np.array([100., 200., 300., 400.])
  columns = {'step': steps,
             'train_bit_accuracy': np.array([0.5, 0.8, 0.95, 0.999]),
             'eval_bit_accuracy': np.array([0.5, 0.7, 0.9, 0.995]),
             'eval_bit_accuracy/low': np.array([0.4, 0.6, 0.85, 0.99]),
             'eval_bit_accuracy/high': np.array([0.6, 0.8, 0.97, 1.]),
             'train_reported_loss': np.array([0.7, 0.3, 0.1, 0.01])}
  fig = plots.curves_figure(
      [('a', columns)], metrics=['reported_loss', 'bit_accuracy'],
      band_label='band: min-max over 3 seeds',
      references=[('bit_accuracy', 0.99, '0.99 threshold')])
  axes = plots.axes_by_gid(fig)
  # The band columns are no metric: two panels.
  assert [ax.get_gid() for ax in fig.axes] == ['reported_loss',
                                               'bit_accuracy']
  (band,) = [c for c in axes['bit_accuracy'].collections
             if c.get_gid() == 'a/eval_bit_accuracy/band']
  y = band.get_paths()[0].vertices[:, 1]
  np.testing.assert_allclose(np.unique(y), np.unique(np.r_[
      columns['eval_bit_accuracy/low'], columns['eval_bit_accuracy/high']]))
  line = plots.line_by_gid(axes['bit_accuracy'], 'a/eval_bit_accuracy')
  assert mcolors.to_hex(band.get_facecolor()[0]) == mcolors.to_hex(
      line.get_color())
  assert not [c for c in axes['bit_accuracy'].collections
              if c.get_gid() == 'a/train_bit_accuracy/band']
  # The threshold: a horizontal dashed line at 0.99 on its panel only, in
  # black (no run's colour), with its value written by it.
  threshold = plots.line_by_gid(axes['bit_accuracy'], 'reference/0.99')
  np.testing.assert_array_equal(threshold.get_ydata(), [0.99, 0.99])
  assert threshold.get_linestyle() == '--'
  assert mcolors.to_hex(threshold.get_color()) == '#000000'
  assert not [line for line in axes['reported_loss'].get_lines()
              if line.get_gid().startswith('reference')]
  assert [t.get_text() for t in axes['bit_accuracy'].texts] == ['0.99']
  legend = [t.get_text() for t in fig.legends[0].get_texts()]
  assert 'band: min-max over 3 seeds' in legend
  assert '0.99 threshold' in legend
  plots.figure_to_rgb(fig)
  # Smoothing smooths the band with its line.
  fig = plots.curves_figure([('a', columns)], smooth=0.5,
                            metrics=['bit_accuracy'])
  (band,) = [c for c in fig.axes[0].collections
             if c.get_gid() == 'a/eval_bit_accuracy/band']
  assert np.min(band.get_paths()[0].vertices[:, 1]) == pytest.approx(0.4)
  assert np.max(band.get_paths()[0].vertices[:, 1]) == pytest.approx(1.)
  # Bad input.
  lone = dict(columns)
  del lone['eval_bit_accuracy/high']
  with pytest.raises(ValueError, match="without 'eval_bit_accuracy/high'"):
    plots.curves_figure([('a', lone)])
  with pytest.raises(ValueError, match='must be one of the panels'):
    plots.curves_figure([('a', columns)], metrics=['bit_accuracy'],
                        references=[('reported_loss', 1., 'x')])
  with pytest.raises(ValueError, match='triples'):
    plots.curves_figure([('a', columns)], references=[(0.99, 'x')])
