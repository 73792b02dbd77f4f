"""Downloads the official bAbI archive (`fetch`), where no data is found
(`find_or_fetch`: what `load(..., download=True)` and run_kvmemnn.py's
--download do).
"""

import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib

from tasks.babi.data import ARCHIVE_NAME
from tasks.babi.data import DEFAULT_SET
from tasks.babi.data import DOWNLOAD_URL
from tasks.babi.data import PROBE_FILE
from tasks.babi.data import ROOT_NAME
from tasks.babi.data import BabiDataError
from tasks.babi.data import check_set_name
from tasks.babi.source import find_source


def _format_bytes(n):
  return f'{n / 1e6:.1f} MB'


def fetch(data_dir, set_name=DEFAULT_SET, url=DOWNLOAD_URL, timeout=60,
          progress=None, log=print):
  """Downloads the official archive to `<data_dir>/tasks_1-20_v1-2.tar.gz`.

  The bytes go to a temporary file in data_dir, shown by a carriage-return
  progress line on `progress` (default sys.stderr); the file is renamed into
  place only after checking it is a gzip tar holding
  `tasks_1-20_v1-2/<set>/qa1_single-supporting-fact_test.txt`.

  Returns:
    the archive's path.

  Raises:
    BabiDataError: network or HTTP error, incomplete or invalid archive, or
      data_dir not writable; the partial file is removed and the message
      says what failed and which file to put where by hand.
  """
  check_set_name(set_name)
  progress = progress or sys.stderr
  log = log or (lambda *_: None)
  data_dir = os.fspath(data_dir)
  target = os.path.join(data_dir, ARCHIVE_NAME)
  manual = (f'Download {ARCHIVE_NAME} by hand from {url} and put it in '
            f'{os.path.abspath(data_dir)} (or its extracted {ROOT_NAME}/ '
            f'folder).')
  try:
    os.makedirs(data_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix='.' + ARCHIVE_NAME,
                               suffix='.part')
  except OSError as e:
    raise BabiDataError(f'Cannot write the bAbI download into {data_dir}: '
                        f'{e}. {manual}') from e
  log(f'Downloading {url} -> {target}')
  try:
    try:
      with os.fdopen(fd, 'wb') as out, \
          urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.headers.get('Content-Length')
        total = int(total) if total and total.isdigit() else None
        done = 0
        while True:
          chunk = response.read(1 << 16)
          if not chunk:
            break
          out.write(chunk)
          done += len(chunk)
          _progress(progress, done, total)
        progress.write('\n')
        progress.flush()
        if total is not None and done != total:
          raise BabiDataError(f'incomplete download: got {done} of {total} '
                              f'bytes')
    except urllib.error.HTTPError as e:
      raise BabiDataError(f'HTTP error {e.code} ({e.reason})') from e
    except urllib.error.URLError as e:
      raise BabiDataError(f'network error: {e.reason}') from e
    except OSError as e:
      if isinstance(e, BabiDataError):
        raise
      raise BabiDataError(f'{type(e).__name__}: {e}') from e
    member = f'{ROOT_NAME}/{set_name}/{PROBE_FILE}'
    try:
      with tarfile.open(tmp, 'r:gz') as tar:
        names = {m.name[2:] if m.name.startswith('./') else m.name
                 for m in tar}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
      raise BabiDataError(f'not a valid gzip tar archive '
                          f'({type(e).__name__}: {e})') from e
    if member not in names:
      raise BabiDataError(f'the archive does not contain {member}')
    os.replace(tmp, target)
  except BabiDataError as e:
    _remove(tmp)
    raise BabiDataError(f'Downloading the bAbI data from {url} failed: {e}. '
                        f'{manual}') from e
  except BaseException:
    _remove(tmp)
    raise
  log(f'bAbI archive saved: {target} ({_format_bytes(os.path.getsize(target))})')
  return target


def find_or_fetch(data_dir, set_name=DEFAULT_SET, download=False,
                  url=DOWNLOAD_URL, log=print):
  """The set's `BabiSource` in data_dir (`find_source`); when none is there
  and `download`, the official archive is fetched into data_dir first
  (`fetch`).

  Raises:
    BabiDataError: no data (without `download`: `find_source`'s message) or
      the download failed (`fetch`'s).
  """
  data_dir = os.fspath(data_dir)
  try:
    return find_source(data_dir, set_name)
  except BabiDataError:
    if not download:
      raise
  fetch(data_dir, set_name, url=url, log=log)
  return find_source(data_dir, set_name)


def _remove(path):
  try:
    os.remove(path)
  except OSError:
    pass


def _progress(stream, done, total):
  if total:
    line = (f'\rDownloading {ARCHIVE_NAME}: {_format_bytes(done)} / '
            f'{_format_bytes(total)} ({100. * done / total:5.1f}%)')
  else:
    line = f'\rDownloading {ARCHIVE_NAME}: {_format_bytes(done)}'
  stream.write(line)
  stream.flush()
