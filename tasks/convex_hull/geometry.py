"""Convex hulls and random point sets of the Convex Hull task.

A hull is an int32 array [k] of 0-BASED point indices in tour order,
counter-clockwise, starting at the lowest index, WITHOUT the repeated
closing index (the Pointer Networks files, Vinyals, Fortunato & Jaitly 2015,
write it 1-based and closed; see `tasks.convex_hull.files`).

Point distributions of generated data (`DISTRIBUTIONS`): 'uniform' (the
default, i.i.d. uniform in [0, 1)^2) and 'drop_interior' (the closest
process found to the authors' files, not an exact match). WARNING:
generated data do NOT follow the distribution of the authors' files, and
no process that does was found (docs/convex_hull_data.md).
"""

import numpy as np
from scipy import spatial

from tasks import base

DECIMALS = 8  # coordinates of the files: '%.8f'
# Point distributions of `generate_examples` (see its docstring); the first is
# the default.
DISTRIBUTIONS = ('uniform', 'drop_interior')
DEFAULT_DISTRIBUTION = DISTRIBUTIONS[0]


def convex_hull_indices(points):
  """The convex hull of one point set in the Pointer Networks convention.

  Args:
    points: [n, 2] array, n >= 3, not all collinear.

  Returns:
    int32 [k]: 0-based indices of the hull vertices, counter-clockwise,
    starting at the lowest index, without the closing repeat.

  Raises:
    ValueError: `points` is not [n, 2] with n >= 3, or is degenerate.
  """
  points = np.asarray(points, dtype=np.float64)
  if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
    raise ValueError(f'points must be [n, 2] with n >= 3, got shape '
                     f'{points.shape}.')
  try:
    vertices = spatial.ConvexHull(points).vertices
  except spatial.QhullError as e:
    raise ValueError(f'Degenerate point set (collinear or duplicate '
                     f'points): {e}') from e
  tour = points[vertices]
  area2 = np.sum(tour[:, 0] * np.roll(tour[:, 1], -1) -
                 np.roll(tour[:, 0], -1) * tour[:, 1])
  if area2 < 0:  # Qhull gives counter-clockwise 2-D hulls; make sure.
    vertices = vertices[::-1]
  vertices = np.roll(vertices, -int(np.argmin(vertices)))
  return vertices.astype(np.int32)


def check_distribution(distribution):
  """Returns `distribution` if it is one of `DISTRIBUTIONS`.

  Raises:
    ValueError: naming the argument and the accepted values.
  """
  if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
    raise ValueError(f'distribution must be one of {", ".join(DISTRIBUTIONS)}'
                     f', got {distribution!r}.')
  return distribution


def drop_one_point(points, rng):
  """The deletion step of the 'drop_interior' distribution (not default).

  Args:
    points: [m, 2] array, m >= 4, in general position.
    rng: `np.random.Generator` (used only when there is a non-hull point).

  Returns:
    int: the index of the point to delete. If some points are not vertices
    of the convex hull of `points`, one of them chosen uniformly at random;
    otherwise (all m points are hull vertices) the point nearest the border
    of the unit square, min(x, 1 - x, y, 1 - y) smallest.

  Raises:
    ValueError: degenerate points (collinear or duplicate).
  """
  points = np.asarray(points, dtype=np.float64)
  try:
    vertices = spatial.ConvexHull(points).vertices
  except spatial.QhullError as e:
    raise ValueError(f'Degenerate point set: {e}') from e
  inside = np.setdiff1d(np.arange(len(points)), vertices)
  if len(inside):
    return int(inside[rng.integers(len(inside))])
  return int(np.argmin(np.minimum(points, 1. - points).min(axis=1)))


def _sample_points(n, rng, distribution):
  """One set of n points (float64 [n, 2], unrounded) of `distribution`."""
  if distribution == 'uniform':
    return rng.random((n, 2))
  points = rng.random((n + 1, 2))
  return np.delete(points, drop_one_point(points, rng), axis=0)


def generate_examples(num_examples, min_n, max_n, rng,
                      distribution=DEFAULT_DISTRIBUTION):
  """Random examples: n uniform in [min_n, max_n], then n points.

  WARNING: neither distribution is the one of the Pointer Networks files
  (Vinyals et al. 2015), whose 5-point test file is far from i.i.d. uniform
  (more 5-vertex hulls, larger pair distances); a search of about 50
  candidate processes found none that matches it. The statistics, the tests
  and their p-values: docs/convex_hull_data.md.

  Point distributions (`DISTRIBUTIONS`):
    'uniform' (default): the n points i.i.d. uniform in [0, 1)^2 (the
      previous generator; the same stream for the same rng state).
    'drop_interior': the closest process found, NOT an exact match. Draw
      n + 1 points i.i.d. uniform in [0, 1)^2 and delete one of them
      (`drop_one_point`): a point that is not a vertex of their convex hull,
      chosen uniformly, or, when all n + 1 are hull vertices, the point
      nearest the border of the square. The remaining n points keep their
      order. For n = 5 it matches the real file's hull sizes, pair
      distances, marginals and hull areas, not its per-line minimum pair
      distance; n != 5 is an extrapolation.

  Coordinates are rounded to 8 decimals (what `format_line` writes), and the
  hull is computed on the rounded points, so files are self-consistent.

  Args:
    num_examples: >= 0.
    min_n, max_n: point-count range (inclusive), 3 <= min_n <= max_n.
    rng: `np.random.Generator`.
    distribution: one of `DISTRIBUTIONS`.

  Returns:
    (points_list, hulls): lists of num_examples float64 arrays [n, 2] and
    int32 hull tours [k] (see `convex_hull_indices`).

  Raises:
    ValueError: naming the offending argument.
  """
  check_distribution(distribution)
  num_examples = base.check_int('num_examples', num_examples, 0)
  min_n = base.check_int('min_n', min_n, 3)
  max_n = base.check_int('max_n', max_n, 3)
  if min_n > max_n:
    raise ValueError(f'min_n ({min_n}) must be <= max_n ({max_n}).')
  points_list, hulls = [], []
  for _ in range(num_examples):
    n = int(rng.integers(min_n, max_n + 1))
    while True:
      try:
        points = np.round(_sample_points(n, rng, distribution), DECIMALS)
        hull = convex_hull_indices(points)
      except ValueError:  # degenerate (probability ~0): draw again
        continue
      break
    points_list.append(points)
    hulls.append(hull)
  return points_list, hulls
