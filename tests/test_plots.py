"""Tests of damrun/plots/: what each figure draws equals its input arrays.

Axes and artists are found by their gids (the scheme in the module
docstring of `damrun.plots`).
"""

import gc
import os
import subprocess
import sys
import weakref

from matplotlib import colors as mcolors
from matplotlib import image as mimage
from matplotlib.backends import backend_agg
import numpy as np
import pytest

from damrun import plots

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _softmax(x, axis=-1):
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def _recording(rng, t, k, n, r, wh, dnc):
  """A random recording of one example ([T, K, ...] arrays)."""
  recording = {
      'write_weights': _softmax(3. * rng.normal(size=(t, k, wh, n))),
      'read_weights': _softmax(3. * rng.normal(size=(t, k, r, n))),
      'write_gate': rng.uniform(size=(t, k, wh)),
      'allocation_gate': rng.uniform(size=(t, k, wh)),
      'usage': rng.uniform(size=(t, k, n)),
      'attentive_gate': None, 'read_mode': None, 'link': None,
  }
  if dnc:
    recording['read_mode'] = _softmax(rng.normal(size=(t, r, 1 + 2 * wh)))
    recording['link'] = rng.uniform(size=(k, wh, n, n)) / n
  else:
    recording['attentive_gate'] = _softmax(rng.normal(size=(t, k, r)), 1)
  return recording


def _image(ax):
  """The one AxesImage of `ax`, as a float array."""
  images = ax.get_images()
  assert len(images) == 1, ax.get_gid()
  return np.asarray(images[0].get_array(), dtype=np.float64)


def _time_axes_gids(k, r, wh, bottom):
  gids = []
  for block in range(k):
    gids += [f'k{block}/write_weights/w{w}' for w in range(wh)]
    gids += [f'k{block}/read_weights/r{i}' for i in range(r)]
    gids += [f'k{block}/gates', f'k{block}/usage']
  return gids + bottom


# -- import --------------------------------------------------------------------


def test_import_loads_neither_tensorflow_nor_pyplot():
  code = ('import sys, damrun.plots; '
          'print("tensorflow" in sys.modules, '
          '"matplotlib.pyplot" in sys.modules)')
  result = subprocess.run([sys.executable, '-c', code], cwd=_ROOT,
                          capture_output=True, text=True, timeout=60,
                          check=True)
  assert result.stdout.split() == ['False', 'False']


# -- sequence_figure -----------------------------------------------------------


def test_sequence_figure_draws_the_arrays():
  rng = np.random.default_rng(1)
  t, d, o = 18, 10, 8
  inputs = rng.integers(0, 2, (t, d)).astype(float)
  targets = rng.integers(0, 2, (t, o)).astype(float)
  outputs = rng.uniform(size=(t, o))
  mask = np.zeros(t)
  mask[9:17] = 1.
  fig = plots.sequence_figure(inputs, targets, outputs, mask, title='copy')
  axes = plots.axes_by_gid(fig)
  np.testing.assert_array_equal(_image(axes['inputs']), inputs.T)
  np.testing.assert_array_equal(_image(axes['targets']), targets.T)
  np.testing.assert_array_equal(_image(axes['outputs']), outputs.T)
  np.testing.assert_array_equal(_image(axes['answer_mask']),
                                (mask > 0)[None, :].astype(float))
  for gid in ('inputs', 'targets', 'outputs'):
    assert f'{gid}/colorbar' in axes
    image = axes[gid].get_images()[0]
    assert image.get_interpolation() == 'nearest'
    assert axes[gid].get_xlim() == (-0.5, t - 0.5)
  assert isinstance(fig.canvas, backend_agg.FigureCanvasAgg)
  assert fig.get_suptitle() == 'copy'


def test_sequence_figure_thins_long_time_labels():
  t = 300
  labels = [f'w{i}' for i in range(t)]
  fig = plots.sequence_figure(np.zeros((t, 3)), np.zeros((t, 2)),
                              np.zeros((t, 2)), time_labels=labels)
  ax = plots.axes_by_gid(fig)['outputs']  # the bottom panel without mask
  ticks = ax.get_xticks()
  shown = [label.get_text() for label in ax.get_xticklabels()]
  step = int(ticks[1] - ticks[0])
  assert step >= 3 and len(ticks) <= 120
  assert shown == [labels[int(i)] for i in ticks]
  # Upper panels share the ticks but show no labels.
  upper = plots.axes_by_gid(fig)['inputs']
  assert not upper.xaxis.get_tick_params()['labelbottom']


def test_sequence_figure_shape_errors():
  with pytest.raises(ValueError, match=r"targets has shape \(5, 2\), "
                     r"expected \[T, O\] matching inputs' T=6"):
    plots.sequence_figure(np.zeros((6, 3)), np.zeros((5, 2)),
                          np.zeros((6, 2)))
  with pytest.raises(ValueError, match=r'outputs has shape \(6, 3\)'):
    plots.sequence_figure(np.zeros((6, 3)), np.zeros((6, 2)),
                          np.zeros((6, 3)))
  with pytest.raises(ValueError, match=r'answer_mask has shape \(6, 1\)'):
    plots.sequence_figure(np.zeros((6, 3)), np.zeros((6, 2)),
                          np.zeros((6, 2)), np.zeros((6, 1)))
  with pytest.raises(ValueError, match='time_labels has 2 labels'):
    plots.sequence_figure(np.zeros((6, 3)), np.zeros((6, 2)),
                          np.zeros((6, 2)), time_labels=['a', 'b'])


# -- memory_figure -------------------------------------------------------------


def test_memory_figure_dam_draws_the_recording():
  rng = np.random.default_rng(2)
  t, k, n, r, wh = 14, 2, 8, 2, 1
  rec = _recording(rng, t, k, n, r, wh, dnc=False)
  labels = [f'tok{i}' for i in range(t)]
  spans, marks = [(3, 6), (10, 12)], [6, 12]
  fig = plots.memory_figure(rec, title='dam', time_labels=labels,
                            spans=spans, marks=marks)
  axes = plots.axes_by_gid(fig)
  for block in range(k):
    np.testing.assert_allclose(
        _image(axes[f'k{block}/write_weights/w0']),
        rec['write_weights'][:, block, 0, :].T)
    for head in range(r):
      np.testing.assert_allclose(
          _image(axes[f'k{block}/read_weights/r{head}']),
          rec['read_weights'][:, block, head, :].T)
    np.testing.assert_allclose(_image(axes[f'k{block}/usage']),
                               rec['usage'][:, block, :].T)
    gates = axes[f'k{block}/gates']
    for name in ('write_gate', 'allocation_gate'):
      line = plots.line_by_gid(gates, f'{name}/w0')
      np.testing.assert_array_equal(line.get_xdata(), np.arange(t))
      np.testing.assert_allclose(line.get_ydata(), rec[name][:, block, 0])
  gate_image = _image(axes['attentive_gate'])
  assert gate_image.shape == (k * r, t)
  for block in range(k):
    for head in range(r):
      np.testing.assert_allclose(gate_image[block * r + head],
                                 rec['attentive_gate'][:, block, head])
  row_labels = [tick.get_text()
                for tick in axes['attentive_gate'].get_yticklabels()]
  assert row_labels == ['k1 r1', 'k1 r2', 'k2 r1', 'k2 r2']
  # Weights, gates and usage on one colour scale 0..1.
  for gid in ('k0/write_weights/w0', 'k1/usage', 'attentive_gate'):
    image = axes[gid].get_images()[0]
    assert image.get_clim() == (0., 1.)
    assert image.get_cmap().name == plots.WEIGHTS_CMAP
  assert 'colorbar/weights' in axes and 'colorbar/attentive_gate' in axes
  assert 'read_mode/r0' not in axes and 'k0/link/w0' not in axes
  # Spans and marks on every time axis; pixel-centred time axes.
  for gid in _time_axes_gids(k, r, wh, ['attentive_gate']):
    ax = axes[gid]
    assert ax.get_xlim() == (-0.5, t - 0.5), gid
    shaded = [p for p in ax.patches if p.get_gid() == 'span']
    assert len(shaded) == len(spans), gid
    lines = [l for l in ax.get_lines() if l.get_gid() == 'mark']
    assert [l.get_xdata()[0] for l in lines] == marks, gid
  usage_labels = [x.get_text() for x in axes['k0/usage'].get_xticklabels()]
  assert usage_labels == labels
  assert not axes['k0/write_weights/w0'].xaxis.get_tick_params()[
      'labelbottom']


def test_memory_figure_dnc_draws_the_recording():
  rng = np.random.default_rng(3)
  t, k, n, r, wh = 12, 1, 6, 1, 2
  rec = _recording(rng, t, k, n, r, wh, dnc=True)
  fig = plots.memory_figure(rec, marks=[4])
  axes = plots.axes_by_gid(fig)
  for w in range(wh):
    np.testing.assert_allclose(_image(axes[f'k0/write_weights/w{w}']),
                               rec['write_weights'][:, 0, w, :].T)
    np.testing.assert_allclose(_image(axes[f'k0/link/w{w}']),
                               rec['link'][0, w])
    for name in ('write_gate', 'allocation_gate'):
      np.testing.assert_allclose(
          plots.line_by_gid(axes['k0/gates'], f'{name}/w{w}').get_ydata(),
          rec[name][:, 0, w])
  np.testing.assert_allclose(_image(axes['k0/read_weights/r0']),
                             rec['read_weights'][:, 0, 0, :].T)
  names = plots.read_mode_names(wh)
  assert names == ['backward/w0', 'backward/w1', 'forward/w0', 'forward/w1',
                   'content']
  modes = axes['read_mode/r0']
  for i, name in enumerate(names):
    np.testing.assert_allclose(plots.line_by_gid(modes, name).get_ydata(),
                               rec['read_mode'][:, 0, i])
  legend = [text.get_text() for text in modes.get_legend().get_texts()]
  assert legend == ['backward w1', 'backward w2', 'forward w1', 'forward w2',
                    'content']
  assert 'attentive_gate' not in axes and 'colorbar/link' in axes
  assert [l.get_xdata()[0] for l in modes.get_lines()
          if l.get_gid() == 'mark'] == [4]


def test_memory_figure_size_grows_and_stays_bounded():
  rng = np.random.default_rng(4)
  small = plots.memory_figure(_recording(rng, 66, 2, 16, 1, 1, False))
  longer = plots.memory_figure(_recording(rng, 200, 2, 16, 1, 1, False))
  wider = plots.memory_figure(_recording(rng, 66, 4, 16, 1, 1, False))
  taller = plots.memory_figure(_recording(rng, 66, 2, 16, 3, 1, False))
  w0, h0 = small.get_size_inches()
  assert longer.get_size_inches()[0] > w0
  assert wider.get_size_inches()[0] > w0
  assert taller.get_size_inches()[1] > h0
  huge = plots.memory_figure(_recording(rng, 800, 6, 16, 4, 1, False))
  width, height = huge.get_size_inches()
  assert width <= 40. and height <= 40.
  assert huge.dpi <= 100


def test_memory_figure_shape_errors():
  rng = np.random.default_rng(5)
  rec = _recording(rng, 66, 2, 8, 1, 1, dnc=False)
  bad = dict(rec, read_weights=np.zeros((66, 2, 1)))
  with pytest.raises(ValueError) as error:
    plots.memory_figure(bad)
  message = str(error.value)
  assert "recording['read_weights'] has shape (66, 2, 1)" in message
  assert "expected [T, K, R, N] matching write_weights' T=66, K=2" in message
  with pytest.raises(ValueError, match=r"recording\['usage'\] has shape "
                     r'\(66, 2, 9\)'):
    plots.memory_figure(dict(rec, usage=np.zeros((66, 2, 9))))
  with pytest.raises(ValueError, match=r"recording\['attentive_gate'\]"):
    plots.memory_figure(dict(rec, attentive_gate=np.zeros((66, 2, 3))))
  with pytest.raises(ValueError, match=r"recording\['link'\] has shape"):
    plots.memory_figure(dict(rec, link=np.zeros((2, 1, 8, 7))))
  with pytest.raises(ValueError, match=r"recording\['read_mode'\]"):
    plots.memory_figure(dict(rec, read_mode=np.zeros((66, 1, 2))))
  with pytest.raises(ValueError, match=r"lacks \['write_gate'\]"):
    plots.memory_figure({key: value for key, value in rec.items()
                         if key != 'write_gate'})
  with pytest.raises(ValueError, match='span'):
    plots.memory_figure(rec, spans=[(60, 70)])
  with pytest.raises(ValueError, match='mark'):
    plots.memory_figure(rec, marks=[66])
  with pytest.raises(ValueError, match='time_labels has 3 labels'):
    plots.memory_figure(rec, time_labels=['a', 'b', 'c'])


# -- rendering and files -------------------------------------------------------


def test_figure_to_rgb_renders_a_real_picture():
  rng = np.random.default_rng(6)
  fig = plots.memory_figure(_recording(rng, 20, 2, 8, 1, 1, False),
                            title='render')
  rgb = plots.figure_to_rgb(fig)
  width, height = fig.get_size_inches() * fig.dpi
  assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
  assert abs(rgb.shape[0] - height) <= 1 and abs(rgb.shape[1] - width) <= 1
  colours = np.unique(rgb.reshape(-1, 3)[::7], axis=0)
  assert len(colours) > 50
  assert rgb.std() > 20.


def test_save_png_writes_the_picture_atomically(tmp_path):
  rng = np.random.default_rng(7)
  fig = plots.sequence_figure(rng.uniform(size=(10, 4)),
                              rng.uniform(size=(10, 3)),
                              rng.uniform(size=(10, 3)), np.ones(10))
  expected = plots.figure_to_rgb(fig).shape
  path = tmp_path / 'new' / 'folder' / 'sequence.png'
  plots.save_png(fig, str(path))
  data = path.read_bytes()
  assert data.startswith(b'\x89PNG\r\n\x1a\n')
  picture = mimage.imread(str(path))
  assert picture.shape[:2] == expected[:2]
  assert picture[..., :3].std() > 0.05
  assert os.listdir(path.parent) == ['sequence.png']  # no temporary left
  assert not fig.axes  # released
  # An explicit dpi changes the size.
  fig = plots.babi_answers_figure([{'question': 'q ?', 'target': 'a',
                                    'predicted': 'a'}])
  width, height = fig.get_size_inches()
  plots.save_png(fig, str(tmp_path / 'answers.png'), dpi=50)
  picture = mimage.imread(str(tmp_path / 'answers.png'))
  assert abs(picture.shape[0] - height * 50) <= 1
  assert abs(picture.shape[1] - width * 50) <= 1


def test_figures_are_not_kept_alive():
  fig = plots.sequence_figure(np.zeros((4, 2)), np.zeros((4, 2)),
                              np.zeros((4, 2)))
  plots.figure_to_rgb(fig)
  ref = weakref.ref(fig)
  del fig
  gc.collect()
  assert ref() is None
  pyplot = sys.modules.get('matplotlib.pyplot')
  assert pyplot is None or not pyplot.get_fignums()


# -- bAbI answers --------------------------------------------------------------


def test_babi_answers_figure_colours_right_and_wrong():
  questions = [
      {'question': 'where is mary ?', 'target': 'bathroom',
       'predicted': 'bathroom'},
      {'question': 'where is john ?', 'target': 'hallway',
       'predicted': 'garden'},
  ]
  fig = plots.babi_answers_figure(questions, title='task 1')
  ax = plots.axes_by_gid(fig)['answers']
  texts = {text.get_gid(): text for text in ax.texts if text.get_gid()}
  right, wrong = texts['answer/0'], texts['answer/1']
  assert right.get_text().startswith('✓ where is mary ?')
  assert 'predicted: bathroom' in right.get_text()
  assert '(answer: bathroom)' in right.get_text()
  assert wrong.get_text().startswith('✗ where is john ?')
  assert '(answer: hallway)' in wrong.get_text()
  green, red = mcolors.to_rgb(right.get_color()), mcolors.to_rgb(
      wrong.get_color())
  assert green[1] > green[0] and red[0] > red[1]
  assert any('task 1' in t.get_text() and '1/2 right' in t.get_text()
             for t in ax.texts)
  with pytest.raises(ValueError, match=r'questions\[0\]'):
    plots.babi_answers_figure([{'question': 'q'}])


# -- convex hull ---------------------------------------------------------------


def test_convex_hull_figure_skips_invalid_labels():
  rng = np.random.default_rng(8)
  points = rng.uniform(size=(6, 2))
  true_tour = [1, 3, 5, 1]
  fig = plots.convex_hull_figure(points, true_tour, [1, 3, 99, 5, 0, 2],
                                 title='hull')
  ax = plots.axes_by_gid(fig)['hull']
  true_line = plots.line_by_gid(ax, 'true_tour')
  np.testing.assert_allclose(true_line.get_xydata(), points[[0, 2, 4, 0]])
  assert true_line.get_linestyle() == '--'
  predicted = plots.line_by_gid(ax, 'predicted_tour')
  np.testing.assert_allclose(predicted.get_xydata(), points[[0, 2, 4]])
  assert predicted.get_linestyle() == '-'
  scatter = [c for c in ax.collections if c.get_gid() == 'points'][0]
  np.testing.assert_allclose(scatter.get_offsets(), points)
  legend = ' '.join(t.get_text() for t in ax.get_legend().get_texts())
  assert 'invalid' in legend and '99' in legend
  assert 'differs' in ax.get_title()
  plots.figure_to_rgb(fig)  # draws


def test_convex_hull_figure_right_prediction_and_errors():
  points = np.array([[0.1, 0.1], [0.9, 0.1], [0.5, 0.9], [0.5, 0.4]])
  fig = plots.convex_hull_figure(points, [1, 2, 3, 1], [1, 2, 3, 1, 0])
  ax = plots.axes_by_gid(fig)['hull']
  assert 'prediction = true tour' in ax.get_title()
  fig = plots.convex_hull_figure(points, [1, 2, 3, 1], [0, 7, -1])
  assert len(plots.line_by_gid(plots.axes_by_gid(fig)['hull'],
                   'predicted_tour').get_xdata()) == 0
  plots.figure_to_rgb(fig)
  with pytest.raises(ValueError, match=r'points has shape \(4, 3\)'):
    plots.convex_hull_figure(np.zeros((4, 3)), [1, 2, 1], [1])
  with pytest.raises(ValueError, match='true_tour'):
    plots.convex_hull_figure(points, [1, 9, 1], [1])


# -- Nth Farthest --------------------------------------------------------------


def test_nth_farthest_figure_draws_probabilities_and_distances():
  rng = np.random.default_rng(9)
  num, dims = 8, 16
  vectors = rng.uniform(-1., 1., (num, dims))
  labels = rng.permutation(num)
  reference, nth = 5, 1
  distances = np.linalg.norm(
      vectors - vectors[np.argmax(labels == reference)], axis=1)
  order = np.argsort(-distances, kind='stable')
  answer = int(labels[order[nth]])
  probabilities = _softmax(rng.normal(size=num))
  fig = plots.nth_farthest_figure(vectors, labels, nth, reference, answer,
                                  probabilities, title='nfar')
  axes = plots.axes_by_gid(fig)
  bars = axes['probabilities'].patches
  np.testing.assert_allclose([bar.get_height() for bar in bars],
                             probabilities)
  assert mcolors.to_hex(bars[answer].get_facecolor()) == mcolors.to_hex(
      'tab:green')
  widths = [bar.get_width() for bar in axes['distances'].patches]
  np.testing.assert_allclose(widths, distances[order])
  tick_labels = [t.get_text() for t in axes['distances'].get_yticklabels()]
  assert tick_labels[nth] == f'n={nth}: label {answer}'
  pca = axes['pca']
  scatter = [c for c in pca.collections if c.get_gid() == 'vectors'][0]
  projection = scatter.get_offsets()
  assert projection.shape == (num, 2)
  # The projection keeps the most variance: PC1's variance >= PC2's, and
  # both equal the top squared singular values / N.
  singular = np.linalg.svd(vectors - vectors.mean(0), compute_uv=False)
  np.testing.assert_allclose(np.var(projection, axis=0) * num,
                             singular[:2] ** 2, rtol=1e-6)
  assert 'PC1' in pca.get_xlabel() and '% of variance' in pca.get_xlabel()
  assert 'the 2nd farthest from label 5' in pca.get_title()
  plots.figure_to_rgb(fig)


def test_nth_farthest_figure_errors():
  vectors = np.zeros((4, 16))
  with pytest.raises(ValueError, match=r'probabilities has shape \(3,\)'):
    plots.nth_farthest_figure(vectors, [0, 1, 2, 3], 0, 1, 2, np.ones(3))
  with pytest.raises(ValueError, match='permutation'):
    plots.nth_farthest_figure(vectors, [0, 1, 1, 3], 0, 1, 2, np.ones(4))
  with pytest.raises(ValueError, match='reference_label'):
    plots.nth_farthest_figure(vectors, [0, 1, 2, 3], 0, 4, 2, np.ones(4))
  with pytest.raises(ValueError, match=r'vectors has shape \(4,\)'):
    plots.nth_farthest_figure(np.zeros(4), [0, 1, 2, 3], 0, 1, 2, np.ones(4))


def test_sequence_figure_says_what_the_answer_strip_marks():
  mask = np.r_[np.zeros(5), np.ones(5)]
  fig = plots.sequence_figure(np.zeros((10, 3)), np.zeros((10, 2)),
                              np.zeros((10, 2)), mask)
  legend = plots.axes_by_gid(fig)['answer_mask'].get_legend()
  assert legend.get_gid() == 'answer_mask/legend'
  assert tuple(t.get_text() for t in legend.get_texts()) == (
      plots.ANSWER_STRIP_LABELS)
  assert 'answer step' in plots.ANSWER_STRIP_LABELS[0]
  # The first entry has the strip's answer colour, the second the other.
  strip = plots.axes_by_gid(fig)['answer_mask'].get_images()[0]
  colours = [mcolors.to_hex(patch.get_facecolor())
             for patch in legend.get_patches()]
  assert colours == [mcolors.to_hex(strip.cmap(1.)),
                     mcolors.to_hex(strip.cmap(0.))]
  plots.figure_to_rgb(fig)


def test_line_by_gid_finds_one_line_and_names_the_others():
  fig = plots.curves_figure([('a', {'step': np.array([0., 1.]),
                                    'train_loss': np.array([2., 1.])})])
  ax = plots.axes_by_gid(fig)['loss']
  np.testing.assert_array_equal(
      plots.line_by_gid(ax, 'a/train_loss').get_ydata(), [2., 1.])
  with pytest.raises(KeyError, match=r"0 lines .*'a/eval_loss'.*a/train_loss"):
    plots.line_by_gid(ax, 'a/eval_loss')
  ax.plot([0, 1], [0, 1], gid='a/train_loss')
  with pytest.raises(KeyError, match='2 lines'):
    plots.line_by_gid(ax, 'a/train_loss')
