"""Where a bAbI set is read from (`find_source`, in this order), for a
`data_dir`:

  1. `data_dir` is the set folder itself (it holds `qa*_test.txt` files);
  2. `data_dir/<set>/`: `data_dir` is the extracted `tasks_1-20_v1-2` folder;
  3. `data_dir/tasks_1-20_v1-2/<set>/`: the extracted folder inside it;
  4. `data_dir/tasks_1-20_v1-2.tar.gz`: members are read straight from the
     archive with `tarfile` (no extraction), paths
     `tasks_1-20_v1-2/<set>/qa*_{train,test}.txt`.

No data: `BabiDataError` (a FileNotFoundError) saying what was looked for,
where to put which file, and `DOWNLOAD_HINT`.

A saved run read again without a data folder given (eval.py, visualize.py):
`run_data_dir` picks the run's recorded folder, else `DEFAULT_DIR`;
`no_run_data_message` says what to do when neither holds the set.
"""

import hashlib
import os
import re
import tarfile
import zlib

from tasks.babi.data import ARCHIVE_NAME
from tasks.babi.data import DEFAULT_DIR
from tasks.babi.data import DEFAULT_SET
from tasks.babi.data import DOWNLOAD_HINT
from tasks.babi.data import DOWNLOAD_URL
from tasks.babi.data import FILE_RE
from tasks.babi.data import ROOT_NAME
from tasks.babi.data import SETS
from tasks.babi.data import TASK_NAMES
from tasks.babi.data import BabiDataError
from tasks.babi.data import check_set_name
from tasks.babi.data import replace_hint


def _set_files_in_folder(folder):
  """Names of the qa*_{train,test}.txt files directly in `folder`."""
  try:
    names = os.listdir(folder)
  except OSError:
    return []
  return sorted(n for n in names if FILE_RE.match(n) and
                os.path.isfile(os.path.join(folder, n)))


class BabiSource:
  """Where one bAbI set is read from: a set folder or the archive.

  Attributes:
    kind: 'folder' or 'archive'.
    path: the set folder, or the archive file.
    set_name: 'en-10k' or 'en'.
    data_dir: the directory given (the cache goes under it).
  """

  def __init__(self, kind, path, set_name, data_dir):
    self.kind, self.path = kind, os.path.abspath(path)
    self.set_name, self.data_dir = set_name, data_dir
    self._files = None

  def __repr__(self):
    return f'BabiSource({self.kind!r}, {self.path!r}, {self.set_name!r})'

  @property
  def description(self):
    if self.kind == 'archive':
      return (f'archive {self.path} (members {ROOT_NAME}/{self.set_name}/'
              f'qa*.txt)')
    return f'folder {self.path}'

  def read_files(self):
    """dict file name -> bytes of the set's qa*_{train,test}.txt files.

    Raises:
      BabiDataError: the archive or a file cannot be read.
    """
    if self._files is None:
      if self.kind == 'folder':
        self._files = self._read_folder()
      else:
        self._files = self._read_archive()
    return self._files

  def _read_folder(self):
    files = {}
    for name in _set_files_in_folder(self.path):
      path = os.path.join(self.path, name)
      try:
        with open(path, 'rb') as f:
          files[name] = f.read()
      except OSError as e:
        raise BabiDataError(f'Cannot read the bAbI file {path}: {e}') from e
    return files

  def _read_archive(self):
    prefix = re.compile(r'^(?:\./)?' + re.escape(ROOT_NAME) + '/' +
                        re.escape(self.set_name) + r'/([^/]+)$')
    files = {}
    try:
      with tarfile.open(self.path, 'r:gz') as tar:
        for member in tar:
          match = prefix.match(member.name)
          if match and member.isfile() and FILE_RE.match(match.group(1)):
            files[match.group(1)] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
      raise BabiDataError(
          f'Cannot read the bAbI archive {self.path} ({type(e).__name__}: '
          f'{e}). It may be incomplete or corrupt: '
          f'{replace_hint(self.path)}.') from e
    if not files:
      raise BabiDataError(
          f'The bAbI archive {self.path} holds no '
          f'{ROOT_NAME}/{self.set_name}/qa*_{{train,test}}.txt member: '
          f'{replace_hint(self.path)}.')
    return files

  def fingerprint(self):
    """sha256 hex digest: of the archive bytes, or of the set folder's qa
    file names and contents (sorted by name)."""
    digest = hashlib.sha256()
    if self.kind == 'archive':
      try:
        with open(self.path, 'rb') as f:
          for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
      except OSError as e:
        raise BabiDataError(f'Cannot read the bAbI archive {self.path}: '
                            f'{e}') from e
      return 'archive:' + digest.hexdigest()
    for name, data in sorted(self.read_files().items()):
      for part in (name.encode(), data):
        digest.update(len(part).to_bytes(8, 'little'))
        digest.update(part)
    return 'folder:' + digest.hexdigest()


def _missing_data_message(data_dir, set_name, looked):
  """One line: what is missing, what to put where, then where it looked."""
  return (f'No bAbI data (set {set_name!r}) found for data_dir={data_dir}: '
          f'put {ARCHIVE_NAME} (from {DOWNLOAD_URL}) in {data_dir}, or its '
          f'extracted {ROOT_NAME}/ folder (holding {set_name}/qa1_'
          f'{TASK_NAMES[1]}_test.txt ...), {DOWNLOAD_HINT} (looked for '
          f'{", ".join(looked)}).')


def find_source(data_dir, set_name=DEFAULT_SET):
  """Locates the set (see the module docstring for the order).

  Returns:
    a `BabiSource`.

  Raises:
    BabiDataError: nothing found (the message lists what was looked for
      where, the file to put there, and `DOWNLOAD_HINT`), or data_dir is the
      folder of the other set.
    ValueError: unknown set_name.
  """
  check_set_name(set_name)
  data_dir = os.fspath(data_dir)
  if any(FILE_RE.match(n) and n.endswith('_test.txt')
         for n in _set_files_in_folder(data_dir)):
    folder_set = os.path.basename(os.path.normpath(os.path.abspath(data_dir)))
    if folder_set in SETS and folder_set != set_name:
      raise BabiDataError(
          f'data_dir {data_dir} is the bAbI {folder_set!r} set folder, but '
          f'set {set_name!r} was asked: choose set {folder_set!r}, or point '
          f'data_dir at the folder holding {ROOT_NAME}/ or {ARCHIVE_NAME}.')
    return BabiSource('folder', data_dir, set_name, data_dir)
  candidates = [
      os.path.join(data_dir, set_name),
      os.path.join(data_dir, ROOT_NAME, set_name),
  ]
  for folder in candidates:
    if os.path.isdir(folder):
      return BabiSource('folder', folder, set_name, data_dir)
  archive = os.path.join(data_dir, ARCHIVE_NAME)
  if os.path.isfile(archive):
    return BabiSource('archive', archive, set_name, data_dir)
  looked = ([f'{os.path.join(data_dir, "qa*_test.txt")} (data_dir as the '
             f'set folder)'] + [f + os.sep for f in candidates] + [archive])
  raise BabiDataError(_missing_data_message(data_dir, set_name, looked))


def run_data_dir(recorded, set_name=DEFAULT_SET, default=DEFAULT_DIR):
  """The folder to read a saved run's set from when no data folder is
  given: the run's recorded --data_dir (its flags.json) if the set is
  there, else `default` (every script's default folder) if it is there;
  None if neither holds it (`no_run_data_message` says what to do). A
  released run records the folder of the machine it trained on, which
  another machine lacks: then `default` is read."""
  for folder in dict.fromkeys(f for f in (recorded, default) if f):
    try:
      find_source(folder, set_name)
    except BabiDataError:
      continue
    return folder
  return None


def no_run_data_message(recorded, set_name=DEFAULT_SET, default=DEFAULT_DIR):
  """Why a saved run's set cannot be read (neither `recorded` nor `default`
  holds it; see `run_data_dir`) and the flags that supply it (--data_dir,
  --download: eval.py and visualize.py have both)."""
  if recorded and os.path.abspath(recorded) != os.path.abspath(default):
    where = (f'neither the run\'s data folder {recorded} (recorded with the '
             f'run) nor {default}/ holds')
  else:
    where = f'{default}/ does not hold'
  return (f'No bAbI data (set {set_name!r}) for this run: {where} '
          f'{ROOT_NAME}/ or {ARCHIVE_NAME}. Pass --data_dir=<folder holding '
          f'{ROOT_NAME}/ or {ARCHIVE_NAME}>, or --download to fetch the '
          f'official archive ({DOWNLOAD_URL}) into {default}/.')
