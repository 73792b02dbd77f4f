"""Tests of the Convex Hull data (tasks/convex_hull/geometry.py, files.py,
generate.py); NumPy only.

Every file is written by the tests into pytest's tmp_path. Hulls are checked
against an independent monotone-chain implementation (the `monotone_chain`
fixture of conftest.py).
"""

import os
import re

import numpy as np
import pytest

from tasks import convex_hull as ch

# The Pointer Networks line format: 8-decimal coordinates, `output`, a tour,
# a space before the newline.
LINE_RE = re.compile(r'^((?:[01]\.\d{8} )+)output((?: [1-9]\d*)+) \n$')

# Two lines of the original convex_hull_5_test.txt, with their hulls.
ORIGINAL_LINES = [
    '0.99624295 0.92802603 0.24557767 0.80411435 0.43667577 0.33301639 '
    '0.36675234 0.71464094 0.80695481 0.14914953 output 1 2 3 5 1 \n',
    '0.20152248 0.21674790 0.91895591 0.81588405 0.03823278 0.19645296 '
    '0.18247854 0.70493646 0.54589439 0.94249244 output 1 2 5 4 3 1 \n',
]


def _signed_area(points, tour):
  p = np.asarray(points, np.float64)[list(tour)]
  return 0.5 * np.sum(p[:, 0] * np.roll(p[:, 1], -1) -
                      np.roll(p[:, 0], -1) * p[:, 1])


# -- hulls and the file format -------------------------------------------------


def test_generated_hulls_match_independent_monotone_chain(monotone_chain):
  points_list, hulls = ch.generate_examples(500, 3, 30,
                                            np.random.default_rng(1))
  sizes = set()
  for points, hull in zip(points_list, hulls):
    assert hull.dtype == np.int32
    assert list(hull) == monotone_chain(points)
    assert hull[0] == hull.min()  # starts at the lowest index
    assert _signed_area(points, hull) > 0  # counter-clockwise
    np.testing.assert_array_equal(points, np.round(points, 8))
    assert points.min() >= 0. and points.max() <= 1.
    sizes.add(len(points))
  assert sizes == set(range(3, 31))


def test_convex_hull_indices_reproduces_original_lines(monotone_chain):
  for line in ORIGINAL_LINES:
    tokens = line.split()
    split = tokens.index('output')
    points = np.array(tokens[:split], np.float64).reshape(-1, 2)
    tour = [int(t) - 1 for t in tokens[split + 1:-1]]
    assert list(ch.convex_hull_indices(points)) == tour
    assert list(ch.convex_hull_indices(points)) == monotone_chain(points)
    assert ch.format_line(points, tour) == line


def test_hand_written_lines_parse_to_known_hulls(tmp_path):
  path = tmp_path / 'hand.txt'
  # Line 1: a square around an interior point (point 1); line 2: a triangle
  # whose lowest-index vertex (point 2) is neither leftmost nor lowest.
  path.write_text(
      '0.50000000 0.50000000 0.10000000 0.10000000 0.90000000 0.20000000 '
      '0.80000000 0.90000000 0.20000000 0.80000000 output 2 3 4 5 2 \n'
      '0.50000000 0.60000000 0.90000000 0.90000000 0.10000000 0.90000000 '
      '0.50000000 0.10000000 output 2 3 4 2 \n')
  groups = ch.read_file(str(path))
  assert sorted(groups) == [4, 5]
  np.testing.assert_array_equal(groups[5].hulls[0], [1, 2, 3, 4])
  np.testing.assert_array_equal(groups[4].hulls[0], [1, 2, 3])
  np.testing.assert_allclose(
      groups[5].points[0], [[.5, .5], [.1, .1], [.9, .2], [.8, .9], [.2, .8]])
  assert groups[5].points.dtype == np.float32
  for group in groups.values():
    np.testing.assert_array_equal(
        ch.convex_hull_indices(group.points[0]), group.hulls[0])


def test_generate_file_round_trips_and_matches_the_line_format(tmp_path):
  path = str(tmp_path / 'mixed.txt')
  assert ch.generate_file(path, 300, (3, 12), seed=4, chunk_size=64) == path
  points_list, hulls = ch.generate_examples(300, 3, 12,
                                            np.random.default_rng(4))
  with open(path, 'rb') as f:
    raw = f.read()
  assert b'\r' not in raw
  lines = raw.decode('ascii').splitlines(keepends=True)
  assert len(lines) == 300
  for line, points, hull in zip(lines, points_list, hulls):
    match = LINE_RE.match(line)
    assert match, line
    coordinates = match.group(1).split()
    tour = [int(t) for t in match.group(2).split()]
    assert len(coordinates) == 2 * len(points)
    np.testing.assert_array_equal(np.array(coordinates, np.float64),
                                  points.reshape(-1))
    assert tour == [int(i) + 1 for i in hull] + [int(hull[0]) + 1]
  groups = ch.read_file(path)
  by_n = {}
  for points, hull in zip(points_list, hulls):
    by_n.setdefault(len(points), []).append((points, hull))
  assert sorted(groups) == sorted(by_n)
  for n, group in groups.items():
    assert group.points.shape == (len(by_n[n]), n, 2)
    for got_points, got_hull, (points, hull) in zip(
        group.points, group.hulls, by_n[n]):
      np.testing.assert_array_equal(got_points, points.astype(np.float32))
      np.testing.assert_array_equal(got_hull, hull)


def test_format_line_uses_0_based_open_tours(tmp_path):
  # Written as generate_file writes its lines, read back with read_file.
  path = str(tmp_path / 'one.txt')
  points = np.array([[0., 0.], [1., 0.], [0., 1.]])
  with open(path, 'w', encoding='ascii', newline='\n') as f:
    f.write(ch.format_line(points, np.array([0, 1, 2])))
  with open(path) as f:
    assert f.read() == ('0.00000000 0.00000000 1.00000000 0.00000000 '
                        '0.00000000 1.00000000 output 1 2 3 1 \n')
  (n, group), = ch.read_file(path).items()
  assert n == 3
  np.testing.assert_array_equal(group.points, [points.astype(np.float32)])
  assert [h.tolist() for h in group.hulls] == [[0, 1, 2]]
  with pytest.raises(ValueError, match='hull'):
    ch.format_line(np.zeros([3, 2]), np.array([0, 1, 3]))


def test_read_file_max_n_drops_larger_examples_and_groups_by_n(tmp_path):
  path = str(tmp_path / 'mixed.txt')
  ch.generate_file(path, 200, (5, 12), seed=2)
  all_groups = ch.read_file(path)
  assert sorted(all_groups) == list(range(5, 13))
  groups = ch.read_file(path, max_n=8)
  assert sorted(groups) == [5, 6, 7, 8]
  for n, group in groups.items():
    assert group.points.shape[1:] == (n, 2)
    np.testing.assert_array_equal(group.points, all_groups[n].points)
    assert len(group.hulls) == len(group.points)
  assert sum(len(g.hulls) for g in all_groups.values()) == 200


@pytest.mark.parametrize('bad_line,reason', [
    ('0.1 0.2 0.3 0.4 0.5 0.6 1 2 3 1 \n', 'exactly one "output"'),
    ('0.1 0.2 0.3 0.4 0.5 output 1 2 1 \n', 'positive even number'),
    ('0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 3 \n', 'must be closed'),
    ('0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 4 1 \n', 'in 1..3'),
    ('0.1 0.2 0.3 0.4 0.5 x output 1 2 3 1 \n', 'could not convert'),
    ('0.1 0.2 0.3 0.4 0.5 0.6 output 1 2 2 1 \n', 'repeated hull vertex'),
])
def test_malformed_line_names_file_and_line_number(tmp_path, bad_line, reason):
  path = tmp_path / 'bad.txt'
  path.write_text(ORIGINAL_LINES[0] + '\n' + bad_line + ORIGINAL_LINES[1])
  with pytest.raises(ValueError) as error:
    ch.read_file(str(path))
  message = str(error.value)
  assert f'{path}:3:' in message
  assert reason in message


# -- files on disk -------------------------------------------------------------


def test_missing_files_raise_file_not_found_with_instructions(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    ch.find_files(str(tmp_path))
  message = str(error.value)
  assert ch.GENERATE_COMMAND in message
  assert str(tmp_path) in message
  for name in ('convex_hull_5-50_train.txt', 'all_lengths_data_shuffled.txt',
               'convex_hull_5_test.txt', 'convex_hull_10_test.txt',
               'convex_hull_5-50_train.txt.zip', 'Google Drive'):
    assert name in message
  # Only the missing file is listed as missing.
  ch.generate_file(str(tmp_path / 'all_lengths_data_shuffled.txt'), 20,
                   (5, 6), seed=0)
  ch.generate_file(str(tmp_path / 'convex_hull_5_test.txt'), 20, 5, seed=1)
  with pytest.raises(FileNotFoundError,
                     match=r'Missing Convex Hull data file\(s\) '
                     r'convex_hull_10_test\.txt in directory'):
    ch.load_dataset(str(tmp_path))
  ch.generate_file(str(tmp_path / 'convex_hull_10_test.txt'), 30, 10, seed=2)
  files = ch.find_files(str(tmp_path))
  assert os.path.basename(files.train) == 'all_lengths_data_shuffled.txt'
  dataset = ch.load_dataset(str(tmp_path), max_n=20)
  assert sorted(dataset.train) == [5, 6]
  assert dataset.test[5].points.shape == (20, 5, 2)
  assert dataset.test[10].points.shape == (30, 10, 2)


def test_generate_dataset_writes_the_three_files(tmp_path):
  data_dir = str(tmp_path / 'data')
  files = ch.generate_dataset(data_dir, num_train=300, train_min_n=5,
                              train_max_n=9, num_test=40, seed=3)
  assert files == ch.find_files(data_dir)
  assert os.path.basename(files.train) == 'convex_hull_5-50_train.txt'
  dataset = ch.load_dataset(data_dir, max_n=20)
  assert sorted(dataset.train) == [5, 6, 7, 8, 9]
  assert sum(len(g.hulls) for g in dataset.train.values()) == 300
  assert sorted(dataset.test) == [5, 10]
  assert [len(dataset.test[n].hulls) for n in (5, 10)] == [40, 40]
  with open(files.test[5]) as f:
    first = f.read()
  kept = ch.generate_dataset(data_dir, num_train=10, num_test=10, seed=3)
  assert kept.written == [] and len(kept.kept) == 3  # nothing overwritten
  ch.generate_dataset(data_dir, num_train=10, num_test=40, seed=3,
                      overwrite=True)
  with open(files.test[5]) as f:  # test files do not depend on num_train
    assert f.read() == first


def test_generator_argument_validation():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match='min_n'):
    ch.generate_examples(3, 9, 8, rng)
  with pytest.raises(ValueError, match='min_n'):
    ch.generate_examples(3, 2, 8, rng)
  with pytest.raises(ValueError, match='num_examples'):
    ch.generate_examples(-1, 5, 8, rng)
  with pytest.raises(ValueError, match='train_min_n'):
    ch.generate_dataset('unused_dir_never_created', train_min_n=9,
                        train_max_n=8)
  assert not os.path.exists('unused_dir_never_created')


# -- point distributions of the generator --------------------------------------

# Hull-size law (3, 4, 5 vertices) of 'drop_interior' at n = 5: that of 6
# uniform points with sizes 5 and 6 merged (600,000 Monte Carlo sets; standard
# errors < 0.0007). The Pointer Networks convex_hull_5_test.txt has
# 0.0404 / 0.3608 / 0.5988. For 5 i.i.d. uniform points: P(3) ~0.1044 (Monte
# Carlo, 600,000 sets) and P(5) = (C(8, 4) / 5!)^2 = 0.3403 exactly (Valtr
# 1995, points in convex position in a square).
DROP_INTERIOR_HULL_LAW = np.array([0.0383, 0.3646, 0.5970])
UNIFORM_HULL_LAW = np.array([0.1044, 1 - 0.1044 - (70 / 120) ** 2,
                             (70 / 120) ** 2])


def _hull_size_chi2(points_list, law, monotone_chain):
  counts = np.bincount([len(monotone_chain(p)) for p in points_list],
                       minlength=6)[3:]
  expected = len(points_list) * law
  return float(np.sum((counts - expected) ** 2 / expected)), counts


def test_drop_interior_reproduces_the_six_point_hull_size_law(
    monotone_chain):
  # 3,000 examples: chi-square with 2 degrees of freedom; 13.8 is its 0.999
  # quantile. The share of 5-vertex hulls has standard error ~0.009 here.
  points_list, _ = ch.generate_examples(3000, 5, 5, np.random.default_rng(5),
                                        distribution='drop_interior')
  chi2, counts = _hull_size_chi2(points_list, DROP_INTERIOR_HULL_LAW,
                                 monotone_chain)
  assert chi2 < 13.8, counts
  assert abs(counts[2] / 3000 - 0.597) < 0.04, counts
  chi2_uniform, _ = _hull_size_chi2(points_list, UNIFORM_HULL_LAW,
                                    monotone_chain)
  assert chi2_uniform > 500  # clearly not i.i.d. uniform
  for points in points_list:
    assert points.shape == (5, 2)
    assert points.min() >= 0. and points.max() <= 1.
    np.testing.assert_array_equal(points, np.round(points, 8))


def test_drop_interior_follows_its_definition(monotone_chain):
  points_list, hulls = ch.generate_examples(60, 3, 9,
                                            np.random.default_rng(11),
                                            distribution='drop_interior')
  # Re-derive every example from the documented recipe, draw by draw.
  rng = np.random.default_rng(11)
  for points, hull in zip(points_list, hulls):
    n = int(rng.integers(3, 10))
    raw = rng.random((n + 1, 2))
    vertices = set(monotone_chain(raw))
    inside = [i for i in range(n + 1) if i not in vertices]
    if inside:
      drop = inside[rng.integers(len(inside))]
    else:
      drop = int(np.argmin(np.minimum(raw, 1 - raw).min(axis=1)))
    expected = np.round(np.delete(raw, drop, axis=0), 8)
    np.testing.assert_array_equal(points, expected)
    assert list(hull) == monotone_chain(points)


def test_drop_one_point_deletes_a_non_hull_point_else_the_outermost(
    monotone_chain):
  square = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
  one_inside = np.array(square[:2] + [[0.5, 0.5]] + square[2:])
  assert ch.drop_one_point(one_inside, np.random.default_rng(0)) == 2
  two_inside = np.array(square + [[0.4, 0.5], [0.6, 0.45]])
  dropped = {ch.drop_one_point(two_inside, np.random.default_rng(s))
             for s in range(40)}
  assert dropped == {4, 5}
  # All six on the hull: the point nearest the border of the unit square
  # (index 2, 0.02 from x = 1) goes, whatever the rng.
  hexagon = np.array([[0.5, 0.1], [0.85, 0.3], [0.98, 0.6], [0.6, 0.9],
                      [0.2, 0.75], [0.15, 0.35]])
  assert len(monotone_chain(hexagon)) == 6
  assert ch.drop_one_point(hexagon, np.random.default_rng(1)) == 2
  with pytest.raises(ValueError, match='Degenerate'):
    ch.drop_one_point([[0, 0], [0.5, 0.5], [1, 1], [0.2, 0.2]],
                      np.random.default_rng(0))


def test_uniform_distribution_is_the_default_and_keeps_the_old_stream(
    monotone_chain):
  points_list, hulls = ch.generate_examples(80, 5, 9,
                                            np.random.default_rng(7),
                                            distribution='uniform')
  default, _ = ch.generate_examples(80, 5, 9, np.random.default_rng(7))
  for a, b in zip(points_list, default):
    np.testing.assert_array_equal(a, b)
  rng = np.random.default_rng(7)
  for points, hull in zip(points_list, hulls):
    n = int(rng.integers(5, 10))
    np.testing.assert_array_equal(points, np.round(rng.random((n, 2)), 8))
    assert list(hull) == monotone_chain(points)
  many, _ = ch.generate_examples(3000, 5, 5, np.random.default_rng(5),
                                 distribution='uniform')
  chi2, counts = _hull_size_chi2(many, UNIFORM_HULL_LAW, monotone_chain)
  assert chi2 < 13.8, counts


@pytest.mark.parametrize('bad', ['gaussian', 'Uniform', '', None, 3])
def test_distribution_validation_is_clear(tmp_path, bad):
  message = 'distribution must be one of uniform, drop_interior'
  with pytest.raises(ValueError, match=message):
    ch.generate_examples(2, 5, 5, np.random.default_rng(0), distribution=bad)
  path = tmp_path / 'never.txt'
  with pytest.raises(ValueError, match=message):
    ch.generate_file(str(path), 2, 5, seed=0, distribution=bad)
  assert not path.exists()
  data_dir = tmp_path / 'never_created'
  with pytest.raises(ValueError, match=message):
    ch.generate_dataset(str(data_dir), num_train=5, num_test=5,
                        distribution=bad)
  assert not data_dir.exists()
  assert ch.check_distribution('uniform') == 'uniform'
  assert ch.DEFAULT_DISTRIBUTION == 'uniform'


def test_generate_dataset_writes_only_the_missing_files(tmp_path):
  data_dir = tmp_path / 'data'
  data_dir.mkdir()
  real = data_dir / 'convex_hull_5_test.txt'
  real.write_bytes(''.join(ORIGINAL_LINES).encode('ascii'))
  before = real.read_bytes()
  files = ch.generate_dataset(str(data_dir), num_train=50, train_max_n=9,
                              num_test=30, seed=4)
  assert real.read_bytes() == before  # byte-identical
  assert files.kept == [str(real)]
  assert files.written == [str(data_dir / 'convex_hull_5-50_train.txt'),
                           str(data_dir / 'convex_hull_10_test.txt')]
  assert sorted(os.listdir(data_dir)) == [
      'convex_hull_10_test.txt', 'convex_hull_5-50_train.txt',
      'convex_hull_5_test.txt']  # no .tmp left behind
  assert files == ch.find_files(str(data_dir))
  # A file's content does not depend on which other files were written.
  full = ch.generate_dataset(str(tmp_path / 'full'), num_train=50,
                             train_max_n=9, num_test=30, seed=4)
  assert len(full.written) == 3 and full.kept == []
  for name in ('convex_hull_5-50_train.txt', 'convex_hull_10_test.txt'):
    assert ((data_dir / name).read_bytes() ==
            (tmp_path / 'full' / name).read_bytes())
  # Nothing missing: nothing written, everything kept.
  again = ch.generate_dataset(str(data_dir), num_train=50, train_max_n=9,
                              num_test=30, seed=9)
  assert again.written == [] and len(again.kept) == 3
  assert real.read_bytes() == before
  # The training file under its other accepted name counts as present.
  other = tmp_path / 'other'
  other.mkdir()
  (other / 'all_lengths_data_shuffled.txt').write_bytes(before)
  result = ch.generate_dataset(str(other), num_train=50, train_max_n=9,
                               num_test=30, seed=4)
  assert result.train == str(other / 'all_lengths_data_shuffled.txt')
  assert result.kept == [result.train]
  assert not (other / 'convex_hull_5-50_train.txt').exists()
  # overwrite=True regenerates all three.
  replaced = ch.generate_dataset(str(data_dir), num_train=50, train_max_n=9,
                                 num_test=30, seed=4, overwrite=True)
  assert len(replaced.written) == 3 and replaced.kept == []
  assert real.read_bytes() == (tmp_path / 'full' /
                               'convex_hull_5_test.txt').read_bytes()
