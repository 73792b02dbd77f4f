"""Figures of one example's predictions: bAbI, Convex Hull, Nth Farthest.

* `babi_answers_figure`: the answers to a story's questions as text lines,
  right in green, wrong in red.
* `convex_hull_figure`: the points, the true hull and the predicted tour.
* `nth_farthest_figure` (Santoro et al. 2018): the vectors in a PCA
  projection, their distances from the reference and the model's
  probabilities per class.
"""

import textwrap

import numpy as np

from damrun.plots import common

# -- bAbI answers --------------------------------------------------------------


def _answer_rows(questions):
  """[(question, target, predicted)] as strings, else ValueError."""
  rows = []
  for i, question in enumerate(questions):
    try:
      rows.append((str(question['question']), str(question['target']),
                   str(question['predicted'])))
    except (KeyError, TypeError):
      raise ValueError(f'questions[{i}] must be a dict with keys question, '
                       f'target and predicted, got {question!r}.') from None
  return rows


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
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: a question is not a mapping with these three keys.
  """
  rows = _answer_rows(questions)
  right = [p.strip() == t.strip() for _, t, p in rows]
  shown = rows[:max(0, min(int(max_questions), 160))]
  q_width = max((len(q) for q, _, _ in shown), default=0)
  p_width = max((len(p) for _, _, p in shown), default=0)
  lines = [f'{q.ljust(q_width)}  ->  predicted: {p.ljust(p_width)}   '
           f'(answer: {t})' for q, t, p in shown]
  extra = len(rows) - len(shown)
  longest = max([len(line) + 2 for line in lines] + [40])
  width = float(np.clip(0.6 + 0.085 * longest, 5., common.MAX_WIDTH))
  num_lines = len(lines) + (1 if extra else 0) + (0 if rows else 1)
  height = min(common.MAX_HEIGHT, 0.8 + 0.24 * num_lines)
  fig = common.new_figure(width, height, dpi=100, layout=None)
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


# -- Convex Hull ---------------------------------------------------------------


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


def _draw_predicted_tour(ax, points, predicted_labels, invalid):
  """The predicted tour, solid, with an arrow and its index on each leg."""
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


def _hull_title(title, equal, true_labels, predicted):
  """The verdict and both label sequences, wrapped at 70 characters."""
  verdict = ('prediction = true tour' if equal else
             'prediction differs from the true tour')
  sequences = (f'true: {" ".join(map(str, true_labels))}\npredicted: '
               f'{" ".join(str(v) for v in predicted)}'
               f'{"  (0 = end)" if any(_is_end(v) for v in predicted) else ""}')
  heading = textwrap.fill(f'{title}: {verdict}' if title else verdict, 70)
  return heading + '\n' + textwrap.fill(sequences, 70,
                                        replace_whitespace=False)


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
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: points is not [n, 2], or true_tour holds labels outside
      1..n.
  """
  points = common.check_array(points, 'points', 'n, 2', 2, {1: 2})
  n = points.shape[0]
  true_labels, bad_true = _tour_until_end(list(true_tour), n)
  if bad_true:
    raise ValueError(f'true_tour has labels {bad_true} outside 1..n={n}.')
  predicted = list(predicted_tour)
  predicted_labels, invalid = _tour_until_end(predicted, n)
  equal = not invalid and predicted_labels == true_labels

  fig = common.new_figure(6.4, 6.8, dpi=100)
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
  _draw_predicted_tour(ax, points, predicted_labels, invalid)
  ax.set_xlim(-0.05, 1.05)
  ax.set_ylim(-0.05, 1.05)
  ax.set_aspect('equal')
  ax.set_xlabel('x', fontsize=8)
  ax.set_ylabel('y', fontsize=8)
  ax.tick_params(labelsize=7)
  ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.1), fontsize=8,
            ncols=1, frameon=False)
  ax.set_title(_hull_title(title, equal, true_labels, predicted),
               fontsize=9, color='#1b7f2a' if equal else '#c62828')
  return fig


# -- Nth Farthest --------------------------------------------------------------


def _ordinal(number):
  """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
  if 10 <= number % 100 <= 20:
    suffix = 'th'
  else:
    suffix = {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th')
  return f'{number}{suffix}'


def _check_nth_farthest(vectors, labels, probabilities, indices):
  """vectors [N, Dv], labels [N] (int64), probabilities [N] and the ints of
  `indices` ({name: value} each in 0..N-1), else ValueError."""
  vectors = common.check_array(vectors, 'vectors', 'N, Dv', 2)
  num = vectors.shape[0]
  labels_f = common.check_array(labels, 'labels', 'N', 1, {0: num},
                                f" matching vectors' N={num}")
  probabilities = common.check_array(probabilities, 'probabilities', 'N', 1,
                                     {0: num}, f" matching vectors' N={num}")
  labels = labels_f.astype(np.int64)
  if not np.array_equal(np.sort(labels_f), np.arange(num)):
    raise ValueError(f'labels must be a permutation of 0..N-1={num - 1}, '
                     f'got {labels_f.tolist()}.')
  for name, value in indices.items():
    try:
      ok = int(value) == value and 0 <= int(value) < num
    except (TypeError, ValueError, OverflowError):
      ok = False
    if not ok:
      raise ValueError(f'{name} must be an integer in 0..N-1={num - 1}, got '
                       f'{value!r}.')
  return vectors, labels, probabilities, [int(v) for v in indices.values()]


def _pca(vectors):
  """The centred vectors [N, Dv] on their first two right singular vectors:
  ([N, 2] (zeros past Dv), each component's share of the variance [2])."""
  centred = vectors - vectors.mean(axis=0)
  _, singular, basis = np.linalg.svd(centred, full_matrices=False)
  projection = np.zeros([vectors.shape[0], 2])
  dims = min(2, basis.shape[0])
  projection[:, :dims] = centred @ basis[:dims].T
  variance = singular ** 2
  share = variance / variance.sum() if variance.sum() > 0 else variance * 0.
  share = np.concatenate([share, np.zeros(2)])[:2]
  return projection, share


def _draw_pca(ax, vectors, labels, nth, reference_label, answer_label,
              predicted):
  """The PCA scatter: reference starred, answer ringed, prediction crossed."""
  num = vectors.shape[0]
  projection, share = _pca(vectors)
  index_of = {label: i for i, label in enumerate(labels)}
  ax.set_gid('pca')
  ax.scatter(projection[:, 0], projection[:, 1], s=28, color='0.45',
             zorder=3, gid='vectors', label='vectors')
  for i in range(num):
    ax.annotate(str(labels[i]), projection[i], xytext=(5, 4),
                textcoords='offset points', fontsize=9, zorder=6)
  answer_xy = projection[index_of[answer_label]]
  predicted_xy = projection[index_of[predicted]]
  ax.scatter(*projection[index_of[reference_label]], marker='*', s=260,
             color='tab:blue', zorder=4,
             label=f'reference (label {reference_label})')
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


def _draw_distances(ax, vectors, labels, nth, reference_label, answer_label):
  """Distances from the reference in all Dv dims, farthest first (rank n
  = 0 at the top), rank `nth` highlighted."""
  num = vectors.shape[0]
  ref = int(np.flatnonzero(labels == reference_label)[0])
  distances = np.linalg.norm(vectors - vectors[ref], axis=1)  # [N]
  order = np.argsort(-distances, kind='stable')  # farthest first
  computed_answer = int(labels[order[nth]])
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


def _draw_probabilities(ax, probabilities, answer_label, predicted):
  """One bar per class: the true class green, a wrong prediction red."""
  num = probabilities.shape[0]
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
    A `matplotlib.figure.Figure` (gids: see `damrun.plots`).

  Raises:
    ValueError: an array has the wrong shape, labels is not a permutation,
      or nth, reference_label or answer_label is not in 0..N-1.
  """
  vectors, labels, probabilities, indices = _check_nth_farthest(
      vectors, labels, probabilities,
      dict(nth=nth, reference_label=reference_label,
           answer_label=answer_label))
  nth, reference_label, answer_label = indices
  predicted = int(np.argmax(probabilities))
  fig = common.new_figure(15., 5.4, dpi=100)
  if title:
    fig.suptitle(title, fontsize=11)
  grid = fig.add_gridspec(1, 3, width_ratios=[1.25, 1., 1.])
  _draw_pca(fig.add_subplot(grid[0, 0]), vectors, labels, nth,
            reference_label, answer_label, predicted)
  _draw_distances(fig.add_subplot(grid[0, 1]), vectors, labels, nth,
                  reference_label, answer_label)
  _draw_probabilities(fig.add_subplot(grid[0, 2]), probabilities,
                      answer_label, predicted)
  return fig
