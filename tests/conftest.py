"""Shared test setup: quiet TensorFlow logs; tests never touch the network."""

import io
import os
import tarfile

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def _monotone_chain(points):
  """An independent convex hull (Andrew's monotone chain): 0-based point
  indices counter-clockwise, starting at the lowest index, no closing
  repeat (the convention of tasks/convex_hull)."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  points = np.asarray(points, np.float64)
  order = sorted(range(len(points)), key=lambda i: tuple(points[i]))

  def cross(o, a, b):
    return ((points[a][0] - points[o][0]) * (points[b][1] - points[o][1]) -
            (points[a][1] - points[o][1]) * (points[b][0] - points[o][0]))

  def chain(indices):
    out = []
    for i in indices:
      while len(out) >= 2 and cross(out[-2], out[-1], i) <= 0:
        out.pop()
      out.append(i)
    return out

  lower, upper = chain(order), chain(order[::-1])
  tour = lower[:-1] + upper[:-1]  # counter-clockwise
  start = tour.index(min(tour))
  return tour[start:] + tour[:start]


@pytest.fixture
def monotone_chain():
  """The independent hull function `_monotone_chain` (Convex Hull tests)."""
  return _monotone_chain


class BabiFiles:
  """Writers of small bAbI-format files, folders and archives.

  Files are given as {(task n, 'train' | 'test'): text}. The `babi_files`
  fixture hands this class to the bAbI, training and KV-MemNN tests.
  """

  @staticmethod
  def task_file(n, split):
    """The official file name of task n's split."""
    from tasks import babi  # pylint: disable=import-outside-toplevel
    return f'qa{n}_{babi.TASK_NAMES[n]}_{split}.txt'

  @classmethod
  def write_set(cls, folder, files):
    """Writes {(task, split): text} as bAbI files into `folder`."""
    os.makedirs(folder, exist_ok=True)
    for (n, split), text in files.items():
      with open(os.path.join(folder, cls.task_file(n, split)), 'w') as f:
        f.write(text)
    return folder

  @staticmethod
  def tiny_task(n, split):
    """A tiny valid file for task n: a task-specific word per file."""
    word = 'w' + 'abcdefghijklmnopqrst'[n - 1] + ('tr' if split == 'train'
                                                  else 'te')
    story = (f'1 Mary saw the {word}.\n2 John took it.\n'
             f'3 What did Mary see? \t{word}\t1\n')
    return story * (2 if split == 'train' else 1)

  @classmethod
  def all_tasks(cls, skip=(), extra=None):
    """Tiny train and test files of all 20 tasks, minus `skip`, plus
    `extra`."""
    from tasks import babi  # pylint: disable=import-outside-toplevel
    files = {(n, s): cls.tiny_task(n, s) for n in babi.TASKS
             for s in ('train', 'test') if (n, s) not in skip}
    files.update(extra or {})
    return files

  @classmethod
  def write_tree(cls, tmp_path, files, set_name='en-10k', name='data'):
    """`<tmp>/<name>/tasks_1-20_v1-2/<set>/` holding `files`; returns
    `<tmp>/<name>`."""
    from tasks import babi  # pylint: disable=import-outside-toplevel
    data_dir = tmp_path / name
    cls.write_set(data_dir / babi.ROOT_NAME / set_name, files)
    return data_dir

  @classmethod
  def _tar(cls, fileobj, files, set_name, root):
    with tarfile.open(fileobj=fileobj, mode='w:gz') as tar:
      for (n, split), text in sorted(files.items()):
        data = text.encode()
        info = tarfile.TarInfo(
            f'{root}/{set_name}/{cls.task_file(n, split)}')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

  @classmethod
  def write_archive(cls, path, files, set_name='en-10k', root=None):
    """A gzip tar at `path` with members <root>/<set>/<file>."""
    from tasks import babi  # pylint: disable=import-outside-toplevel
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
      cls._tar(f, files, set_name, root or babi.ROOT_NAME)
    return path

  @classmethod
  def archive_bytes(cls, files, set_name='en-10k', root=None):
    """The bytes of the archive `write_archive` would write."""
    from tasks import babi  # pylint: disable=import-outside-toplevel
    buffer = io.BytesIO()
    cls._tar(buffer, files, set_name, root or babi.ROOT_NAME)
    return buffer.getvalue()


@pytest.fixture(scope='session')
def babi_files():
  """`BabiFiles`: writers of small bAbI files, folders and archives."""
  return BabiFiles


@pytest.fixture(params=('fast', 'paper'))
def kernel(request):
  """The addressing kernel module under test: every test that takes this
  fixture runs on both kernels ('fast', the default, and 'paper')."""
  from dam import access  # pylint: disable=import-outside-toplevel
  return access.addressing_kernel(request.param)


def _np_allocation(u, eps=1e-6):
  """Reference DNC allocation for one row of usage (Graves et al. 2016,
  Methods, "Dynamic memory allocation"), by a loop over the sorted slots."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  u = eps + (1. - eps) * np.asarray(u, dtype=np.float64)
  order = sorted(range(len(u)), key=lambda n: (u[n], n))  # ascending, stable
  a = np.zeros_like(u)
  prod = 1.
  for n in order:
    a[n] = (1. - u[n]) * prod
    prod *= u[n]
  return a


@pytest.fixture
def np_allocation():
  """`_np_allocation`: the DNC allocation of one usage row, in NumPy."""
  return _np_allocation


def _random_weights(rng, shape, total_max=1.):
  """Non-negative weights over the last axis with sum in [0, total_max]."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  w = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
  return w * rng.uniform(0., total_max, size=shape[:-1] + (1,))


@pytest.fixture
def random_weights():
  """`_random_weights`: random read/write weights (rng, shape)."""
  return _random_weights
