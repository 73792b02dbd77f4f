"""Statistics, tests and candidate processes for the convex hull data search.

The measurements and the generators that experiments/studies/convex_hull_distribution.py
(the driver: flags, seeds, output JSON) compares with the authors'
`convex_hull_5_test.txt` (Vinyals, Fortunato & Jaitly 2015, Pointer Networks;
lines of 5 points in [0, 1]^2); docs/convex_hull_data.md gives the findings.

Statistics of every sample (`Sample.summary`): hull sizes (3 / 4 / 5
vertices), mean pair distance, per-coordinate marginals (share of coordinates
in each outer tenth [0, .1) and [.9, 1] and in each middle tenth [.4, .5) and
[.5, .6)), mean hull area, mean centroid spread. Tests against the real file
(`compare`, p-values):

  hull        chi-square on the 2 x 3 table of hull-size counts
  pair        two-sample KS on all 10 pair distances of every line
  pair_perm   ('drop_interior' and uniform only) the same KS statistic with a
              p-value from --permutations random re-splits of the LINES of
              the two samples (pair distances of one line are dependent,
              which makes the plain KS p-value somewhat optimistic)
  line_pair   KS on the per-line mean pair distance (independent lines)
  min_pair, max_pair   KS on the per-line min / max pair distance
  x, y, coord KS on the x, the y and all coordinates
  area        KS on the hull area

A sample PASSES when all of hull, pair, line_pair, min_pair, max_pair, x, y,
coord and area have p > 0.01 (`ACCEPT_TESTS`).

`hypotheses()` lists every candidate process tried while searching: each a
generator (lines, rng) -> [lines, 5, 2] points.
"""

import numpy as np
from scipy import spatial
from scipy import stats

N = 5
ACCEPT_TESTS = ('hull', 'pair', 'line_pair', 'min_pair', 'max_pair', 'x', 'y',
                'coord', 'area')
_I, _J = np.triu_indices(N, 1)


# -- statistics ----------------------------------------------------------------


def pair_distances(points):
  """[lines, 10] pair distances of [lines, 5, 2] points."""
  return np.sqrt(((points[:, _I] - points[:, _J]) ** 2).sum(-1))


def hull_sizes_and_areas(points):
  sizes = np.empty(len(points), np.int64)
  areas = np.empty(len(points))
  for t, p in enumerate(points):
    hull = spatial.ConvexHull(p)
    sizes[t], areas[t] = len(hull.vertices), hull.volume
  return sizes, areas


class Sample:
  """A [lines, 5, 2] point sample and its per-line statistics."""

  def __init__(self, points):
    self.points = np.asarray(points, np.float64)
    self.sizes, self.areas = hull_sizes_and_areas(self.points)
    self.pairs = pair_distances(self.points)
    self.counts = np.bincount(self.sizes, minlength=N + 1)[3:N + 1]

  def summary(self):
    x = self.points.reshape(len(self.points), -1)
    tenths = np.histogram(x, bins=10, range=(0., 1.))[0] / x.size
    centroids = self.points.mean(1)
    return {
        'lines': len(self.points),
        'hull_counts': {str(k): int(c) for k, c in zip(range(3, N + 1),
                                                        self.counts)},
        'hull_percent': {str(k): round(100. * c / len(self.points), 2)
                         for k, c in zip(range(3, N + 1), self.counts)},
        'mean_pair_distance': round(float(self.pairs.mean()), 4),
        'mean_min_pair_distance': round(float(self.pairs.min(1).mean()), 4),
        'mean_max_pair_distance': round(float(self.pairs.max(1).mean()), 4),
        'mean_hull_area': round(float(self.areas.mean()), 4),
        'outer_tenth_percent': round(50. * (tenths[0] + tenths[-1]), 2),
        'middle_tenth_percent': round(50. * (tenths[4] + tenths[5]), 2),
        'coordinate_tenths_percent': [round(100. * v, 2) for v in tenths],
        'centroid_std': round(float(centroids.std(0).mean()), 4),
    }


def _ks(a, b):
  return float(stats.ks_2samp(a, b).pvalue)


def compare(real, sample, permutations=0, rng=None):
  """p-values of `sample` against `real` (see the module docstring)."""
  table = np.array([real.counts, sample.counts])
  table = table[:, table.sum(0) > 0]
  result = {
      'hull': float(stats.chi2_contingency(table).pvalue),
      'pair': _ks(real.pairs.ravel(), sample.pairs.ravel()),
      'line_pair': _ks(real.pairs.mean(1), sample.pairs.mean(1)),
      'min_pair': _ks(real.pairs.min(1), sample.pairs.min(1)),
      'max_pair': _ks(real.pairs.max(1), sample.pairs.max(1)),
      'x': _ks(real.points[..., 0].ravel(), sample.points[..., 0].ravel()),
      'y': _ks(real.points[..., 1].ravel(), sample.points[..., 1].ravel()),
      'coord': _ks(real.points.ravel(), sample.points.ravel()),
      'area': _ks(real.areas, sample.areas),
  }
  if permutations:
    observed = stats.ks_2samp(real.pairs.ravel(),
                              sample.pairs.ravel()).statistic
    both = np.concatenate([real.pairs, sample.pairs])
    hits = 0
    for _ in range(permutations):
      order = rng.permutation(len(both))
      a, b = both[order[:len(real.pairs)]], both[order[len(real.pairs):]]
      hits += stats.ks_2samp(a.ravel(), b.ravel()).statistic >= observed
    result['pair_perm'] = (hits + 1) / (permutations + 1)
  result['min_p'] = min(result[k] for k in ACCEPT_TESTS)
  result['accepted'] = bool(result['min_p'] > 0.01)
  return result


def describe_real(real):
  """Measurements of the real file beyond the compared statistics."""
  p = real.points
  lo, hi = p.min(1), p.max(1)
  flat = p.reshape(len(p), -1)
  corr = np.corrcoef(flat.T)
  same_axis = [corr[2 * i + a, 2 * j + a] for a in (0, 1)
               for i in range(N) for j in range(i + 1, N)]
  cross_axis = [corr[2 * i, 2 * j + 1] for i in range(N) for j in range(N)]
  vertex = np.zeros((len(p), N), bool)
  for t, q in enumerate(p):
    vertex[t, spatial.ConvexHull(q).vertices] = True
  grid = np.histogram2d(p[..., 0].ravel(), p[..., 1].ravel(), bins=5,
                        range=[[0, 1], [0, 1]])[0] / p[..., 0].size * 25
  quantiles = [0, .1, .5, .9, 1]
  return {
      'per_line_min_x_quantiles': np.quantile(lo[:, 0], quantiles).round(4)
                                  .tolist(),
      'per_line_max_x_quantiles': np.quantile(hi[:, 0], quantiles).round(4)
                                  .tolist(),
      'per_line_x_range_mean': round(float((hi - lo)[:, 0].mean()), 4),
      'per_line_y_range_mean': round(float((hi - lo)[:, 1].mean()), 4),
      'uniform_expected_range_mean': round(4 / 6, 4),
      'corr_same_axis_different_points_mean': round(float(np.mean(same_axis)),
                                                    4),
      'corr_x_y_mean': round(float(np.mean(cross_axis)), 4),
      'share_hull_vertex_by_point_index': vertex.mean(0).round(4).tolist(),
      'density_5x5_grid_relative_to_uniform': grid.round(3).tolist(),
      'lag1_line_correlation_same_coordinate': round(float(np.mean(
          [np.corrcoef(flat[:-1, j], flat[1:, j])[0, 1]
           for j in range(2 * N)])), 4),
  }


# -- candidate processes (the search) ------------------------------------------


def _interior(p):
  return np.setdiff1d(np.arange(len(p)), spatial.ConvexHull(p).vertices)


def _rejection(accept, lines, rng, batch=None):
  """Lines of 5 uniform points kept when accept(points [b, 5, 2], rng)."""
  out = []
  while sum(len(o) for o in out) < lines:
    cand = rng.random((batch or 2 * lines, N, 2))
    out.append(cand[accept(cand, rng)])
  return np.concatenate(out)[:lines]


def _drop_from(m, choose, lines, rng):
  """m uniform points, delete choose(p, rng) until 5 remain (None: redraw)."""
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((m, 2))
    while len(p) > N:
      i = choose(p, rng)
      if i is None:
        p = rng.random((m, 2))
        continue
      p = np.delete(p, i, 0)
    out[t] = p
  return out


def _random_interior(p, rng):
  inside = _interior(p)
  return inside[rng.integers(len(inside))] if len(inside) else None


def _interior_else(rule):
  def choose(p, rng):
    inside = _interior(p)
    if len(inside):
      return inside[rng.integers(len(inside))]
    return rule(p, rng)
  return choose


def _area_loss(p):
  full = spatial.ConvexHull(p).volume
  return np.array([full - spatial.ConvexHull(np.delete(p, j, 0)).volume
                   for j in range(len(p))])


def _perimeter_loss(p):
  full = spatial.ConvexHull(p).area
  return np.array([full - spatial.ConvexHull(np.delete(p, j, 0)).area
                   for j in range(len(p))])


def _sq_dist(p):
  d = ((p[:, None] - p[None]) ** 2).sum(-1)
  np.fill_diagonal(d, np.inf)
  return d


def _closest_pair(p, rng):
  a, b = np.unravel_index(np.argmin(_sq_dist(p)), (len(p), len(p)))
  return (a, b)[rng.integers(2)]


def _uniform_convex(rng):
  while True:
    q = rng.random((N, 2))
    if len(spatial.ConvexHull(q).vertices) == N:
      return q


def _interior_else_uniform_convex(lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((N + 1, 2))
    inside = _interior(p)
    out[t] = (np.delete(p, inside[rng.integers(len(inside))], 0)
              if len(inside) else _uniform_convex(rng))
  return out


def _redraw(lines, rng, mode, rounds=1, q=1.):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((N, 2))
    for _ in range(rounds):
      inside = _interior(p)
      if not len(inside):
        break
      if mode == 'one':
        p[inside[rng.integers(len(inside))]] = rng.random(2)
      else:
        for i in inside:
          if rng.random() < q:
            p[i] = rng.random(2)
    out[t] = p
  return out


def _sequential_outside(lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = list(rng.random((3, 2)))
    while len(p) < N:
      z = rng.random(2)
      if spatial.Delaunay(np.array(p)).find_simplex(z) < 0:
        p.append(z)
    out[t] = np.array(p)[rng.permutation(N)]
  return out


def _replace_if_outside(lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((N, 2))
    z = rng.random(2)
    inside = _interior(p)
    if len(inside) and spatial.Delaunay(p).find_simplex(z) < 0:
      p[inside[rng.integers(len(inside))]] = z
    out[t] = p
  return out


def _add_one_if_not_convex(lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((N, 2))
    if len(_interior(p)):
      p = np.vstack([p, rng.random(2)])
      inside = _interior(p)
      p = np.delete(p, inside[rng.integers(len(inside))], 0)
    out[t] = p
  return out


def _farthest_point(m, lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((m, 2))
    chosen = [int(rng.integers(m))]
    d = ((p - p[chosen[0]]) ** 2).sum(1)
    for _ in range(N - 1):
      i = int(np.argmax(d))
      chosen.append(i)
      d = np.minimum(d, ((p - p[i]) ** 2).sum(1))
    out[t] = p[chosen][rng.permutation(N)]
  return out


def _max_hull_subset(lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    p = rng.random((N + 1, 2))
    sizes = np.array([len(spatial.ConvexHull(np.delete(p, j, 0)).vertices)
                      for j in range(N + 1)])
    best = np.flatnonzero(sizes == sizes.max())
    out[t] = np.delete(p, best[rng.integers(len(best))], 0)
  return out


def _mixture_6_7(q, lines, rng):
  out = np.empty((lines, N, 2))
  for t in range(lines):
    m = 7 if rng.random() < q else 6
    out[t] = _drop_from(m, _interior_else(
        lambda p, r: r.integers(len(p))), 1, rng)[0]
  return out


def _hull_size_weights():
  # Accept a uniform line with probability proportional to (real share /
  # uniform share) of its hull size: real 4.04 / 36.08 / 59.88 %, uniform
  # 10.44 / 55.53 / 34.03 %.
  ratio = np.array([4.04 / 10.44, 36.08 / 55.53, 59.88 / 34.03])
  return ratio / ratio.max()


def _by_hull_size(lines, rng):
  w = _hull_size_weights()
  return _rejection(lambda c, r: r.random(len(c)) <
                    w[hull_sizes_and_areas(c)[0] - 3], lines, rng)


def _area_biased(lines, rng):
  return _rejection(lambda c, r: r.random(len(c)) <
                    hull_sizes_and_areas(c)[1], lines, rng, batch=4 * lines)


def _hard_core(r):
  return lambda lines, rng: _rejection(
      lambda c, _: pair_distances(c).min(1) >= r, lines, rng)


def _area_threshold(a0):
  return lambda lines, rng: _rejection(
      lambda c, _: hull_sizes_and_areas(c)[1] >= a0, lines, rng)


def _disk(lines, rng):
  r = 0.5 * np.sqrt(rng.random((lines, N)))
  theta = 2 * np.pi * rng.random((lines, N))
  return np.stack([.5 + r * np.cos(theta), .5 + r * np.sin(theta)], -1)


def _nearest_border(p, _):
  return int(np.argmin(np.minimum(p, 1 - p).min(1)))


def _random_side_extreme(p, rng):
  side = rng.integers(4)  # largest x, largest y, smallest x, smallest y
  values = p[:, side % 2]
  return int(np.argmax(values) if side < 2 else np.argmin(values))


def hypotheses():
  """(name, description, generator(lines, rng) -> [lines, 5, 2])."""
  def drop(m, choose):
    return lambda lines, rng: _drop_from(m, choose, lines, rng)

  centroid = lambda p, _: int(np.argmin(((p - p.mean(0)) ** 2).sum(1)))
  centre = lambda p, _: int(np.argmin(((p - .5) ** 2).sum(1)))
  nn_crowded = lambda p, _: int(np.argmin(
      np.sort(np.sqrt(_sq_dist(p)), 1)[:, :2].sum(1)))
  return [
      ('uniform_disk', 'i.i.d. uniform in the inscribed disk', _disk),
      ('beta_0.8', 'i.i.d. Beta(0.8, 0.8) coordinates (U-shaped marginal)',
       lambda lines, rng: rng.beta(.8, .8, (lines, N, 2))),
      ('beta_0.9', 'i.i.d. Beta(0.9, 0.9) coordinates (U-shaped marginal)',
       lambda lines, rng: rng.beta(.9, .9, (lines, N, 2))),
      ('hard_core_0.05', 'uniform lines, rejected if a pair is < 0.05 apart',
       _hard_core(.05)),
      ('hard_core_0.08', 'uniform lines, rejected if a pair is < 0.08 apart',
       _hard_core(.08)),
      ('area_at_least_0.04', 'uniform lines, rejected if hull area < 0.04',
       _area_threshold(.04)),
      ('area_at_least_0.08', 'uniform lines, rejected if hull area < 0.08',
       _area_threshold(.08)),
      ('reject_by_hull_size', 'uniform lines accepted with a probability '
       'depending on the hull size, fitted so hull sizes match exactly',
       _by_hull_size),
      ('area_biased', 'uniform lines accepted with probability = hull area '
       '(= 6 points, keep 5 if the 6th falls inside their hull)',
       _area_biased),
      ('sequential_outside', 'points added one by one, each redrawn until '
       'outside the hull of the previous ones (then shuffled)',
       _sequential_outside),
      ('redraw_all_interior_once', '5 uniform points, every non-hull point '
       'redrawn once', lambda lines, rng: _redraw(lines, rng, 'all')),
      ('redraw_each_interior_p0.8', '5 uniform points, each non-hull point '
       'redrawn once with probability 0.8',
       lambda lines, rng: _redraw(lines, rng, 'all', q=.8)),
      ('redraw_one_interior_once', '5 uniform points, one random non-hull '
       'point redrawn once', lambda lines, rng: _redraw(lines, rng, 'one')),
      ('redraw_one_interior_twice', 'as above, two rounds',
       lambda lines, rng: _redraw(lines, rng, 'one', rounds=2)),
      ('replace_interior_if_outside', '5 uniform points and a 6th; if the '
       '6th is outside the hull it replaces a random non-hull point',
       _replace_if_outside),
      ('add_one_drop_interior_if_not_convex', '5 uniform points; if not in '
       'convex position add a 6th and delete a random non-hull point',
       _add_one_if_not_convex),
      ('six_drop_nearest_centroid', '6 uniform points, delete the one '
       'nearest their centroid', drop(6, centroid)),
      ('six_drop_nearest_centre', '6 uniform points, delete the one nearest '
       '(0.5, 0.5)', drop(6, centre)),
      ('six_drop_from_closest_pair', '6 uniform points, delete one point of '
       'the closest pair', drop(6, _closest_pair)),
      ('six_drop_most_crowded', '6 uniform points, delete the point with '
       'the smallest sum of its 2 nearest-neighbour distances',
       drop(6, nn_crowded)),
      ('six_drop_interior_else_redraw', '6 uniform points, delete a random '
       'non-hull point; redraw all 6 if all are hull vertices',
       drop(6, _random_interior)),
      ('seven_drop_two_nearest_centroid', '7 uniform points, delete the '
       'point nearest the centroid, twice', drop(7, centroid)),
      ('seven_drop_two_interior_else_redraw', '7 uniform points, delete a '
       'random non-hull point twice (redraw if none)',
       drop(7, _random_interior)),
      ('farthest_point_6', 'farthest-point sampling of 5 of 6 uniform '
       'points', lambda lines, rng: _farthest_point(6, lines, rng)),
      ('farthest_point_12', 'farthest-point sampling of 5 of 12 uniform '
       'points', lambda lines, rng: _farthest_point(12, lines, rng)),
      ('six_keep_largest_hull_size', '6 uniform points, delete a point so '
       'that the hull of the other 5 has the most vertices', _max_hull_subset),
      ('six_largest_hull_area', '6 uniform points, keep the 5 with the '
       'largest hull area (delete the point whose removal loses least area)',
       drop(6, lambda p, r: int(np.argmin(_area_loss(p))))),
      ('six_largest_hull_perimeter', '6 uniform points, keep the 5 with '
       'the largest hull perimeter',
       drop(6, lambda p, r: int(np.argmin(_perimeter_loss(p))))),
      ('six_drop_interior_else_random', '6 uniform points, delete a random '
       'non-hull point; if all 6 are hull vertices, a random point',
       drop(6, _interior_else(lambda p, r: int(r.integers(len(p)))))),
      ('six_drop_interior_else_max_area_loss', 'as above, else the vertex '
       'whose removal loses most area',
       drop(6, _interior_else(lambda p, r: int(np.argmax(_area_loss(p)))))),
      ('six_drop_interior_else_rightmost', 'as above, else the point with '
       'the largest x', drop(6, _interior_else(
           lambda p, r: int(np.argmax(p[:, 0]))))),
      ('six_drop_interior_else_random_side_extreme', 'as above, else the '
       'extreme point of a random side (largest / smallest x or y)',
       drop(6, _interior_else(_random_side_extreme))),
      ('six_drop_interior_else_uniform_convex', 'as above, else output 5 '
       'fresh uniform points in convex position',
       _interior_else_uniform_convex),
      ('six_drop_interior_else_nearest_border', 'as above, else the point '
       'nearest the border of the square (= the generator\'s '
       '\'drop_interior\', unrounded)', drop(6, _interior_else(
           _nearest_border))),
      ('mixture_6_7_q0.3', '6 (prob. 0.7) or 7 (0.3) uniform points, delete '
       'random non-hull points (else random points) until 5 remain',
       lambda lines, rng: _mixture_6_7(.3, lines, rng)),
      ('seven_drop_interior_else_random', '7 uniform points, delete random '
       'non-hull points (else random points) until 5 remain',
       drop(7, _interior_else(lambda p, r: int(r.integers(len(p)))))),
  ]
