"""The Convex Hull task (SPEC 4; the authors' `run_convexhull.py`).

Data: the Pointer Networks files (Vinyals, Fortunato & Jaitly 2015), one
example per line,

  x1 y1 x2 y2 ... xn yn output i1 i2 ... ik i1 \n

n points in the unit square, the word `output`, then the 1-based indices of
the convex hull's vertices as a closed tour (the first index repeated at the
end); single spaces, and a space before the newline (LF).

Conventions of the original files, checked on ALL 10,000 lines of the
authors' `convex_hull_5_test.txt` (n = 5 on every line):
  * numbers: every coordinate is written `0.dddddddd` (exactly 8 decimals,
    '%.8f'; 100,000 / 100,000 coordinates, range 0.00003011..0.99999293);
  * the tour is closed (last index == first) on 10,000 / 10,000 lines, its
    vertices are distinct and are exactly the vertices of
    `scipy.spatial.ConvexHull` (10,000 / 10,000; hulls of 3, 4, 5 vertices on
    404, 3,608, 5,988 lines);
  * orientation: counter-clockwise in (x, y) (positive signed area, y up) on
    10,000 / 10,000 lines;
  * start: the tour starts at the hull vertex with the LOWEST index on
    10,000 / 10,000 lines (it is point 1 on 9,106 lines, the leftmost point
    on only 2,224 and the lowest point on only 2,248).
Collinear / duplicate points (probability 0) are ignored.

In memory (`read_file`, `convex_hull_indices`, `generate_examples`) a hull is
an int32 array [k] of 0-BASED point indices in tour order, WITHOUT the
repeated closing index (counter-clockwise, starting at the lowest index);
`write_file` adds 1 and closes the tour.

Files: training `convex_hull_5-50_train.txt` (the Pointer Networks download
`convex_hull_5-50_train.txt.zip`, which the DAM authors' code reads under its
extracted name `all_lengths_data_shuffled.txt`: both are accepted), tests
`convex_hull_5_test.txt` and `convex_hull_10_test.txt`. `generate_dataset`
writes compatible files (8 decimals), writing only the files that are missing.

Point distribution of generated data (`DISTRIBUTIONS`). WARNING: generated
data do NOT follow the distribution of the authors' files, and no process
that does was found. The authors' `convex_hull_5_test.txt` is not i.i.d.
uniform: its 5-point lines have hulls of 3 / 4 / 5 vertices on 4.0 / 36.1 /
59.9 % of lines, i.i.d. uniform points give 10.4 / 55.5 / 34.0 %. The default
stays 'uniform' (i.i.d. uniform in [0, 1)^2, the previous generator, the same
stream for the same seed). 'drop_interior' (n + 1 uniform points minus one
point that is not a hull vertex) is the closest process found: it matches the
hull sizes, pair distances, marginals and hull areas, but its min pair
distances differ (KS p 0.0009 to 0.19 on 5 seeds; see `generate_examples`
and docs/convex_hull_data.md).

Encoding (the DAM authors' `task/loader_convexhull.py`, whose reference was
the Self-Attentive Associative Memory code of Le et al. 2020). With
L = num_labels = max_n + 1 labels (label 0 = end of input / end token), a
step input is [x, y, one-hot(label) over L]: input_size = L + 2. For an
example with n points and a hull of k vertices (T = n + k + 3 steps):

  steps 0..n-1      point i: [x_i, y_i, one-hot(label_i)]; training:
                    label_i = perm[i], a fresh random permutation of 1..n
                    per example; test: label_i = i + 1 (identity)
  step n            end of input: [0, 0, one-hot(0)]
  steps n+1..n+k+2  zero inputs; target classes: the labels of the closed
                    tour i1 ... ik i1 (the closing vertex IS emitted, as in
                    the file and in the DAM authors' loader; the SAM code
                    instead overwrote it with the end token), then the end
                    token, class 0.

Outputs have input_size + L channels: the first input_size reconstruct the
input (Memory Refreshing Loss head), the last L are the class logits.
`targets` [B, T, input_size + L]: channels [0, input_size) = the inputs at
every step (reconstruction target), channels [input_size, input_size + L) =
one-hot target class on answer steps, zero elsewhere. `original_mask` = 1 on
the k + 2 answer steps. Unlike the other tasks, `loss_mask` is the MRL
REFRESH MASK ONLY (as in the authors' code): each of the n point steps is
sampled independently with probability p_re (`dam.mrl.sample_refresh_mask`),
never the end-of-input or answer steps, and the loss is

  s * mean_{B,T}(original_mask * softmax_CE)
    + mean_{B,T,D}(loss_mask * (x - x_hat)^2),
  s = max(1, sum(loss_mask) / sum(original_mask)).

Training batches (`ConvexHullTask.next_batch`): one point count n per batch,
uniform over the point counts available (the authors' `random.choice` over
the counts), then B examples of that count drawn uniformly WITH replacement
(their `np.random.choice`). Random draws per batch, in order: n, the B
example indices, B label permutations, then one uniform per [B, T] element
for the refresh mask (whatever p_re is), all from the task's single
`np.random.default_rng(seed)`: a seed fixes the stream, the data do not
depend on p_re, and `get_state` / `set_state` resume it exactly.

Test batches (`encode_test`): identity labels, loss_mask 0, every example
once, in file order. `exact_match` scores an example right only when the
argmax class is right at every answer step (the authors' test accuracy).
"""

import collections
import os

import numpy as np
from scipy import spatial

from dam import mrl
from tasks import base

TRAIN_FILE = 'convex_hull_5-50_train.txt'
# Accepted names of the training file, in order of preference.
TRAIN_FILES = (TRAIN_FILE, 'all_lengths_data_shuffled.txt')
TEST_FILES = {5: 'convex_hull_5_test.txt', 10: 'convex_hull_10_test.txt'}
DEFAULT_DATA_DIR = 'Convexhull_data'  # the DAM authors' directory
ORIGINALS_URL = ('https://drive.google.com/drive/u/0/folders/'
                 '0B2fg8yPGn2TCMzBtS0o4Q2RJaEU')
GENERATE_COMMAND = 'python run_convexhull.py --generate_data --data_dir=<dir>'
DECIMALS = 8
END_TOKEN = 0
# Point distributions of `generate_examples` (see its docstring); the first is
# the default.
DISTRIBUTIONS = ('uniform', 'drop_interior')
DEFAULT_DISTRIBUTION = DISTRIBUTIONS[0]

# One group of examples with the same point count n:
#   points float32 [count, n, 2]; hulls: list of count int32 arrays [k]
#   (0-based, open counter-clockwise tours starting at the lowest index).
Examples = collections.namedtuple('Examples', ('points', 'hulls'))
DataFiles = collections.namedtuple('DataFiles', ('train', 'test'))
Dataset = collections.namedtuple('Dataset', ('train', 'test'))


# -- hulls and files -----------------------------------------------------------


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
  (Vinyals et al. 2015). Their `convex_hull_5_test.txt` is NOT i.i.d.
  uniform (hulls of 3 / 4 / 5 vertices on 4.0 / 36.1 / 59.9 % of its
  10,000 lines; uniform points: 10.4 / 55.5 / 34.0 %, chi-square p ~1e-300;
  mean pair distance 0.563 vs 0.522), and a search of about 50 candidate
  processes (docs/convex_hull_data.md, experiments/convex_hull_distribution.py)
  found none that passes every test at p > 0.01 with 10,000 lines on
  repeated seeds. So the default stays 'uniform'.

  Point distributions (`DISTRIBUTIONS`):
    'uniform' (default): the n points i.i.d. uniform in [0, 1)^2 (the
      previous generator; the same stream for the same rng state).
    'drop_interior': the closest process found, NOT an exact match. Draw
      n + 1 points i.i.d. uniform in [0, 1)^2 and delete one of them: a
      point that is not a vertex of their convex hull, chosen uniformly among
      those, if there is one; otherwise (all n + 1 points are hull vertices)
      the point nearest the border of the square (`drop_one_point`). The
      remaining n points keep their order (they are exchangeable). For
      n = 5 its hull-size law is that of 6 uniform points with sizes 5 and
      6 merged: 3 / 4 / 5 vertices with probability ~0.0383 / 0.3646 /
      0.5970 (Monte Carlo, 600,000 sets; P(6 in convex position) =
      (C(10, 5) / 6!)^2 = 0.1225, Valtr 1995), as in the real file (404 /
      3,608 / 5,988 lines, chi-square p 0.42-0.83 on 5 seeds of 10,000
      lines). It also matches the pair distances, per-coordinate marginals,
      hull areas and max pair distances (p > 0.01 on all 5 seeds), but NOT
      the per-line MIN pair distance (KS p = 0.0016, 0.0009, 0.19, 0.0035,
      0.031): the real points are ~2 % farther from their nearest
      neighbour. The rule for the all-on-hull case (~12 % of lines) was
      picked among alternatives to fit the data, and n != 5 (n + 1 points)
      is an extrapolation.

  Coordinates are rounded to 8 decimals (what `write_file` writes), and the
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


def format_line(points, hull):
  """One example as a Pointer Networks line (ending ' \\n').

  Args:
    points: [n, 2].
    hull: [k] 0-based open tour.

  Raises:
    ValueError: bad shapes or hull indices.
  """
  points = np.asarray(points, dtype=np.float64)
  hull = np.asarray(hull)
  if points.ndim != 2 or points.shape[1] != 2 or not len(points):
    raise ValueError(f'points must be [n, 2], got shape {points.shape}.')
  if (hull.ndim != 1 or not len(hull) or hull.min() < 0 or
      hull.max() >= len(points) or len(set(hull.tolist())) != len(hull)):
    raise ValueError(f'hull must hold distinct 0-based indices of the '
                     f'{len(points)} points, got {hull!r}.')
  coordinates = ' '.join(f'{v:.{DECIMALS}f}' for v in points.reshape(-1))
  tour = ' '.join(str(int(i) + 1) for i in list(hull) + [hull[0]])
  return f'{coordinates} output {tour} \n'


def write_file(path, points_list, hulls):
  """Writes examples in the Pointer Networks text format.

  Args:
    path: output file (overwritten).
    points_list: sequence of [n, 2] arrays (n may vary).
    hulls: sequence of the same length of 0-based open tours [k].

  Returns:
    path.
  """
  if len(points_list) != len(hulls):
    raise ValueError(f'points_list ({len(points_list)}) and hulls '
                     f'({len(hulls)}) must have the same length.')
  with open(path, 'w', encoding='ascii', newline='\n') as f:
    for points, hull in zip(points_list, hulls):
      f.write(format_line(points, hull))
  return path


def generate_file(path, num_examples, n, seed=None, chunk_size=10_000,
                  distribution=DEFAULT_DISTRIBUTION):
  """Writes num_examples random examples in the Pointer Networks format.

  Args:
    path: output file (overwritten).
    num_examples: >= 0 lines.
    n: the point count (int), or an inclusive range (min_n, max_n), n >= 3.
    seed: seed (or SeedSequence) of `np.random.default_rng`.
    chunk_size: examples generated per write (bounds memory).
    distribution: point distribution, one of `DISTRIBUTIONS` (see
      `generate_examples`; default 'uniform').

  Returns:
    path.
  """
  if isinstance(n, (tuple, list)):
    if len(n) != 2:
      raise ValueError(f'n must be an int or (min_n, max_n), got {n!r}.')
    min_n, max_n = n
  else:
    min_n = max_n = n
  num_examples = base.check_int('num_examples', num_examples, 0)
  chunk_size = base.check_int('chunk_size', chunk_size, 1)
  rng = np.random.default_rng(seed)
  # Validates min_n, max_n and distribution before opening the file.
  generate_examples(0, min_n, max_n, rng, distribution)
  with open(path, 'w', encoding='ascii', newline='\n') as f:
    for start in range(0, num_examples, chunk_size):
      count = min(chunk_size, num_examples - start)
      points_list, hulls = generate_examples(count, min_n, max_n, rng,
                                             distribution)
      f.writelines(format_line(p, h) for p, h in zip(points_list, hulls))
  return path


class GeneratedFiles(DataFiles):
  """What `generate_dataset` returns: a `DataFiles` (train, test) with two
  extra attributes (not tuple fields, so it still equals the `DataFiles` of
  `find_files`): `written`, the paths it wrote, and `kept`, the existing
  paths it left untouched (in the order train, test 5, test 10)."""

  def __new__(cls, train, test, written=(), kept=()):
    self = super().__new__(cls, train, test)
    self.written = list(written)
    self.kept = list(kept)
    return self


def generate_dataset(data_dir, num_train=100_000, train_min_n=5,
                     train_max_n=20, num_test=10_000, seed=0,
                     overwrite=False, distribution=DEFAULT_DISTRIBUTION):
  """Writes the MISSING ones of a training file and the two test files.

  Existing files are kept byte for byte (so a real `convex_hull_5_test.txt`
  in data_dir stays as it is); the training file counts as present under
  any of its accepted names `TRAIN_FILES`. The training file (named
  `TRAIN_FILE` for `find_files`, although its point counts are
  train_min_n..train_max_n) mixes point counts uniformly; the test files
  have n = 5 and n = 10 (as the originals, 10,000 lines each by default).
  Each file has its own random stream spawned from `seed`, so a file's
  content does not depend on num_train or on which other files are written.
  Each file is written to `<path>.tmp` and then renamed, so an interrupted
  run leaves no partial file that a later run would keep.

  Args:
    data_dir: directory (created if missing).
    num_train: training lines (the original has 1,000,000 for n = 5..50).
    train_min_n, train_max_n: training point counts (inclusive).
    num_test: lines per test file.
    seed: seed of the three streams.
    overwrite: regenerate all three files, replacing existing ones (the
      training file is then written as `TRAIN_FILE`).
    distribution: point distribution, one of `DISTRIBUTIONS` (see
      `generate_examples`): 'uniform' (default, i.i.d. uniform points) or
      'drop_interior' (closer to, but not exactly, the distribution of the
      Pointer Networks files; no exact process was found).

  Returns:
    `GeneratedFiles`(train=path, test={5: path, 10: path}) with the lists
    `.written` and `.kept`.

  Raises:
    ValueError: naming the offending argument (nothing written).
  """
  check_distribution(distribution)
  base.check_int('num_train', num_train, 1)
  base.check_int('num_test', num_test, 1)
  train_min_n = base.check_int('train_min_n', train_min_n, 3)
  train_max_n = base.check_int('train_max_n', train_max_n, 3)
  if train_min_n > train_max_n:
    raise ValueError(f'train_min_n ({train_min_n}) must be <= train_max_n '
                     f'({train_max_n}).')
  train = os.path.join(data_dir, TRAIN_FILE)
  if not overwrite:
    for name in TRAIN_FILES:
      if os.path.exists(os.path.join(data_dir, name)):
        train = os.path.join(data_dir, name)
        break
  test = {n: os.path.join(data_dir, name) for n, name in TEST_FILES.items()}
  train_seed, *test_seeds = np.random.SeedSequence(seed).spawn(
      1 + len(TEST_FILES))
  jobs = [(train, num_train, (train_min_n, train_max_n), train_seed)]
  jobs += [(path, num_test, n, test_seed)
           for (n, path), test_seed in zip(test.items(), test_seeds)]
  written, kept = [], []
  for path, count, n, file_seed in jobs:
    if os.path.exists(path) and not overwrite:
      kept.append(path)
      continue
    os.makedirs(data_dir, exist_ok=True)
    generate_file(path + '.tmp', count, n, file_seed,
                  distribution=distribution)
    os.replace(path + '.tmp', path)
    written.append(path)
  return GeneratedFiles(train, test, written, kept)


def _parse_line(tokens, line, path, line_number):
  """(points float32 [n, 2], hull int32 [k] 0-based open tour) of one line."""
  def fail(reason):
    return ValueError(f'{path}:{line_number}: malformed Convex Hull line '
                      f'({reason}); expected "x1 y1 ... xn yn output i1 ... '
                      f'ik i1": {line.rstrip()[:200]!r}')
  if tokens.count('output') != 1:
    raise fail('needs exactly one "output"')
  split = tokens.index('output')
  if split == 0 or split % 2:
    raise fail(f'{split} coordinates: need a positive even number')
  n = split // 2
  try:
    points = np.array([float(t) for t in tokens[:split]], np.float32)
    tour = [int(t) for t in tokens[split + 1:]]
  except ValueError as e:
    raise fail(str(e)) from e
  if not np.all(np.isfinite(points)):
    raise fail('non-finite coordinate')
  if len(tour) < 2 or tour[0] != tour[-1]:
    raise fail('the tour must be closed: its last index repeats the first')
  hull = tour[:-1]
  if min(hull) < 1 or max(hull) > n:
    raise fail(f'hull indices must be in 1..{n}')
  if len(set(hull)) != len(hull):
    raise fail('repeated hull vertex')
  return points.reshape(n, 2), np.array(hull, np.int32) - 1


def read_file(path, max_n=None):
  """Reads a Pointer Networks convex hull file, grouped by point count.

  Blank lines are skipped. With max_n, lines with more points are skipped
  before their numbers are parsed (so they are not validated).

  Args:
    path: the text file.
    max_n: keep only examples with n <= max_n (None: all).

  Returns:
    dict n -> `Examples`(points float32 [count, n, 2], hulls list of count
    int32 [k] 0-based open tours), keys ascending, examples in file order.

  Raises:
    ValueError: a malformed line (message: file name and line number).
  """
  if max_n is not None:
    max_n = base.check_int('max_n', max_n, 1)
  groups = {}
  with open(path, encoding='ascii', errors='replace') as f:
    for line_number, line in enumerate(f, 1):
      tokens = line.split()
      if not tokens:
        continue
      if (max_n is not None and 'output' in tokens and
          tokens.index('output') > 2 * max_n):
        continue
      points, hull = _parse_line(tokens, line, path, line_number)
      group = groups.setdefault(len(points), ([], []))
      group[0].append(points)
      group[1].append(hull)
  return {n: Examples(np.stack(groups[n][0]), groups[n][1])
          for n in sorted(groups)}


def _missing_message(data_dir, missing):
  return (
      f'Missing Convex Hull data file(s) {", ".join(missing)} in directory '
      f'{os.path.abspath(data_dir)!r}. The originals are the Pointer Networks '
      f'(Vinyals et al. 2015) files convex_hull_5-50_train.txt.zip (extract '
      f'it; {" or ".join(TRAIN_FILES)} is accepted), convex_hull_5_test.txt '
      f'and convex_hull_10_test.txt from the authors\' Google Drive folder '
      f'{ORIGINALS_URL}. To generate compatible files instead run: '
      f'{GENERATE_COMMAND} (here <dir> = {data_dir}).')


def find_files(data_dir):
  """Locates the training file and the two test files.

  Returns:
    `DataFiles`(train=path, test={5: path, 10: path}).

  Raises:
    FileNotFoundError: naming every missing file, the directory, where the
      originals come from and `GENERATE_COMMAND`.
  """
  missing = []
  train = None
  for name in TRAIN_FILES:
    if os.path.isfile(os.path.join(data_dir, name)):
      train = os.path.join(data_dir, name)
      break
  else:
    missing.append(' or '.join(TRAIN_FILES))
  test = {}
  for n, name in TEST_FILES.items():
    path = os.path.join(data_dir, name)
    if os.path.isfile(path):
      test[n] = path
    else:
      missing.append(name)
  if missing:
    raise FileNotFoundError(_missing_message(data_dir, missing))
  return DataFiles(train, test)


def load_dataset(data_dir, max_n=20):
  """Reads the training file (n <= max_n) and the two test files.

  Returns:
    `Dataset`(train=dict n -> `Examples` (n <= max_n),
    test={5: `Examples`, 10: `Examples`}).

  Raises:
    FileNotFoundError: see `find_files`.
    ValueError: a malformed line, no training example with n <= max_n, or a
      test file holding another point count than its name says.
  """
  max_n = base.check_int('max_n', max_n, 3)
  files = find_files(data_dir)
  train = read_file(files.train, max_n=max_n)
  if not train:
    raise ValueError(f'No training example with n <= max_n ({max_n}) in '
                     f'{files.train}.')
  test = {}
  for n, path in files.test.items():
    groups = read_file(path)
    if set(groups) != {n}:
      raise ValueError(f'{path} must hold only examples with n = {n}, found '
                       f'point counts {sorted(groups)}.')
    test[n] = groups[n]
  return Dataset(train, test)


# -- batches -------------------------------------------------------------------


def encode_example(points, hull, labels, num_labels):
  """One example's steps (see the module docstring).

  Args:
    points: [n, 2].
    hull: [k] 0-based open tour.
    labels: int [n], the label (1..num_labels-1) of each point.
    num_labels: L (label 0 = end token).

  Returns:
    `tasks.base.Example` with T = n + k + 3 steps: inputs [T, L + 2],
    targets [T, 2 L + 2], answer [T] (the k + 2 answer steps), eligible [T]
    (the n point steps).
  """
  points = np.asarray(points, np.float32)
  hull = np.asarray(hull)
  labels = np.asarray(labels)
  n, k = len(points), len(hull)
  input_size = num_labels + 2
  time = n + k + 3
  inputs = np.zeros([time, input_size], np.float32)
  inputs[:n, :2] = points
  inputs[np.arange(n), 2 + labels] = 1.
  inputs[n, 2 + END_TOKEN] = 1.
  targets = np.zeros([time, input_size + num_labels], np.float32)
  targets[:, :input_size] = inputs
  classes = np.concatenate([labels[hull], labels[hull[:1]], [END_TOKEN]])
  targets[np.arange(n + 1, time), input_size + classes] = 1.
  answer = np.arange(time) > n
  eligible = np.arange(time) < n
  return base.Example(inputs, targets, answer, eligible)


def _as_examples(examples, max_n, name):
  """Validates an `Examples` (or (points, hulls)) group; returns it."""
  try:
    points, hulls = examples
  except (TypeError, ValueError) as e:
    raise ValueError(f'{name} must be an Examples(points, hulls) pair.') from e
  points = np.asarray(points, np.float32)
  if points.ndim != 3 or points.shape[2] != 2 or not len(points):
    raise ValueError(f'{name}: points must be [count >= 1, n, 2], got shape '
                     f'{points.shape}.')
  n = points.shape[1]
  if n > max_n:
    raise ValueError(f'{name}: n = {n} points exceeds max_n ({max_n}).')
  if len(hulls) != len(points):
    raise ValueError(f'{name}: {len(points)} point sets but {len(hulls)} '
                     f'hulls.')
  hulls = [np.asarray(h, np.int64) for h in hulls]
  for hull in hulls:
    if hull.ndim != 1 or not len(hull) or hull.min() < 0 or hull.max() >= n:
      raise ValueError(f'{name}: hull {hull!r} must hold 0-based indices of '
                       f'the {n} points.')
  return Examples(points, hulls)


def encode_test(examples, batch_size, max_n=20):
  """Deterministic test batches: identity labels, no refresh, file order.

  Args:
    examples: `Examples` of one point count n <= max_n (or a (points, hulls)
      pair).
    batch_size: examples per batch (the last batch may be smaller).
    max_n: the task's max_n (sets num_labels = max_n + 1).

  Returns:
    list of `tasks.base.Batch` covering every example exactly once, in order;
    loss_mask is all zero.
  """
  batch_size = base.check_int('batch_size', batch_size, 1)
  max_n = base.check_int('max_n', max_n, 3)
  points, hulls = _as_examples(examples, max_n, 'examples')
  num_labels = max_n + 1
  labels = np.arange(1, points.shape[1] + 1)
  batches = []
  for start in range(0, len(points), batch_size):
    encoded = [encode_example(p, h, labels, num_labels)
               for p, h in zip(points[start:start + batch_size],
                               hulls[start:start + batch_size])]
    inputs, targets, seq_len, original_mask, _ = base.pad_examples(
        encoded, num_labels + 2, 2 * num_labels + 2)
    batches.append(base.Batch(inputs, targets, seq_len,
                              np.zeros_like(original_mask), original_mask))
  return batches


def exact_match(predictions, batch):
  """Which examples have every answer step (end token included) right.

  Args:
    predictions: int class ids [B, T], class logits [B, T, L], or the full
      model output [B, T, input_size + L] (the last L channels are used).
    batch: the `tasks.base.Batch` they answer.

  Returns:
    bool [B]; `.mean()` is the exact-match accuracy.
  """
  predictions = np.asarray(predictions)
  input_size = batch.inputs.shape[-1]
  num_classes = batch.targets.shape[-1] - input_size
  if predictions.ndim == 3:
    if predictions.shape[-1] not in (num_classes, input_size + num_classes):
      raise ValueError(f'Expected {num_classes} class logits or '
                       f'{input_size + num_classes} outputs per step, got '
                       f'{predictions.shape[-1]}.')
    predictions = np.argmax(predictions[..., -num_classes:], axis=-1)
  if predictions.shape != batch.original_mask.shape:
    raise ValueError(f'predictions {predictions.shape} do not match the batch '
                     f'{batch.original_mask.shape}.')
  classes = np.argmax(batch.targets[..., input_size:], axis=-1)  # [B, T]
  answer = batch.original_mask != 0
  return np.all((predictions == classes) | ~answer, axis=1)


class ConvexHullTask(base.Task):
  """Convex-hull training batches (see module docstring, `tasks.base.Batch`).

  Attributes:
    max_n: the largest point count; examples with more points are dropped.
    num_labels, num_classes: max_n + 1 (label / class 0 = end token).
    input_size, reconstruction_size: num_labels + 2 = max_n + 3.
    output_size: input_size + num_classes.
    answer_channels: slice(input_size, output_size), the class logits.
    max_time: 2 max_n + 3, the longest sequence (n = k = max_n).
    point_counts: the point counts available (ascending).
    examples: dict n -> `Examples` used for training.
    batch_size, p_re: the flags; min_length, max_length: the smallest and
      largest available point counts.
  """

  def __init__(self, examples_by_n, batch_size=128, max_n=20, p_re=0.0,
               seed=None):
    """Args: training data (dict n -> `Examples`, e.g. `read_file` or
    `load_dataset().train`), the authors' flags, and the data/MRL seed.

    Raises:
      ValueError: naming the offending argument, or no training example with
        n <= max_n.
    """
    max_n = base.check_int('max_n', max_n, 3)
    examples = {}
    for n, group in dict(examples_by_n).items():
      if n <= max_n and len(group[0]):
        examples[n] = _as_examples(group, max_n, f'examples_by_n[{n}]')
    if not examples:
      raise ValueError(f'No training examples with n <= max_n ({max_n}); '
                       f'point counts given: {sorted(dict(examples_by_n))}.')
    self.examples = {n: examples[n] for n in sorted(examples)}
    self.point_counts = list(self.examples)
    super().__init__(batch_size, self.point_counts[0], self.point_counts[-1],
                     p_re, seed)
    self.max_n = max_n
    self.num_labels = self.num_classes = max_n + 1
    self.input_size = self.reconstruction_size = self.num_labels + 2
    self.output_size = self.input_size + self.num_classes
    self.answer_channels = slice(self.input_size, self.output_size)
    self.max_time = 2 * max_n + 3

  def next_batch(self):
    """The next training batch (one point count, random labels).

    Returns:
      `Batch`(inputs [B, T, input_size], targets [B, T, output_size],
      seq_len [B] int32, loss_mask [B, T] (MRL refresh mask only),
      original_mask [B, T]); zero past each sequence's end.
    """
    n = self.point_counts[int(self._rng.integers(len(self.point_counts)))]
    points, hulls = self.examples[n]
    indices = self._rng.integers(0, len(points), size=self.batch_size)
    encoded = [encode_example(points[i], hulls[i],
                              self._rng.permutation(n) + 1, self.num_labels)
               for i in indices]
    inputs, targets, seq_len, original_mask, eligible = base.pad_examples(
        encoded, self.input_size, self.output_size)
    loss_mask = mrl.sample_refresh_mask(eligible, self.p_re, self._rng)
    return base.Batch(inputs, targets, seq_len, loss_mask, original_mask)
