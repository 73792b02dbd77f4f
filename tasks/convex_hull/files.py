"""The Pointer Networks convex hull files (Vinyals, Fortunato & Jaitly 2015).

One example per line,

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
Collinear / duplicate points (probability 0) are ignored. So a hull has at
least 3 distinct vertices: a line whose tour has 1 or 2 (`output 1 1`, a
cut or damaged line) is refused (file:line), as `format_line` refuses to
write one.

In memory (`read_file`) a hull is a 0-based open tour (see
`tasks.convex_hull.geometry`); `format_line` adds 1 and closes the tour.

Files: training `convex_hull_5-50_train.txt` (the Pointer Networks download
`convex_hull_5-50_train.txt.zip`, which the DAM authors' code reads under its
extracted name `all_lengths_data_shuffled.txt`: both are accepted), tests
`convex_hull_5_test.txt` and `convex_hull_10_test.txt`
(`tasks.convex_hull.generate` writes compatible files).
"""

import collections
import os

import numpy as np

from tasks import base
from tasks.convex_hull.geometry import DECIMALS

TRAIN_FILE = 'convex_hull_5-50_train.txt'
# Accepted names of the training file, in order of preference.
TRAIN_FILES = (TRAIN_FILE, 'all_lengths_data_shuffled.txt')
TEST_FILES = {5: 'convex_hull_5_test.txt', 10: 'convex_hull_10_test.txt'}
ORIGINALS_URL = ('https://drive.google.com/drive/u/0/folders/'
                 '0B2fg8yPGn2TCMzBtS0o4Q2RJaEU')
GENERATE_COMMAND = 'python run_convexhull.py --generate_data --data_dir=<dir>'
# The fewest vertices of a hull (a triangle; see the module doc).
MIN_HULL = 3

# One group of examples with the same point count n:
#   points float32 [count, n, 2]; hulls: list of count int32 arrays [k]
#   (0-based, open counter-clockwise tours starting at the lowest index).
Examples = collections.namedtuple('Examples', ('points', 'hulls'))
DataFiles = collections.namedtuple('DataFiles', ('train', 'test'))
Dataset = collections.namedtuple('Dataset', ('train', 'test'))


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
  if len(hull) < MIN_HULL:
    raise ValueError(f'a hull has at least {MIN_HULL} distinct vertices '
                     f'(points in general position), got {hull!r}.')
  coordinates = ' '.join(f'{v:.{DECIMALS}f}' for v in points.reshape(-1))
  tour = ' '.join(str(int(i) + 1) for i in list(hull) + [hull[0]])
  return f'{coordinates} output {tour} \n'


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
  if len(hull) < MIN_HULL:
    raise fail(f'a hull of points in general position has at least '
               f'{MIN_HULL} distinct vertices, this one {len(hull)}')
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
