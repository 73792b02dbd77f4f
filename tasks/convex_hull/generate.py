"""Writes Convex Hull data files compatible with the Pointer Networks ones
(`tasks.convex_hull.files`), from the point distributions of
`tasks.convex_hull.geometry` (which do NOT match the originals' distribution:
see there).
"""

import os

import numpy as np

from tasks import base
from tasks.convex_hull.files import DataFiles
from tasks.convex_hull.files import TEST_FILES
from tasks.convex_hull.files import TRAIN_FILE
from tasks.convex_hull.files import TRAIN_FILES
from tasks.convex_hull.files import format_line
from tasks.convex_hull.geometry import DEFAULT_DISTRIBUTION
from tasks.convex_hull.geometry import check_distribution
from tasks.convex_hull.geometry import generate_examples


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
