"""What a run reports: progress lines, metrics.csv, TensorBoard, summary.json.

`Reporter` writes each report's row (a flat dict of numbers) to
<run>/metrics.csv (and, optionally, as TensorBoard scalars in <run>/log) and
keeps the rows; `write_summary` writes <run>/summary.json. The formatting
helpers build the progress lines.
"""

import csv
import datetime
import io
import os
import socket
import time

from dam import fileio


class RecordWriteError(OSError):
  """A run record could not be written (full disk, unwritable folder); the
  file is as it was before the write. Its text is the message alone."""

  def __str__(self):
    return str(self.strerror)


def _record_error(path, error):
  """The `RecordWriteError` of a failed write of the run record `path`."""
  return RecordWriteError(
      error.errno,
      f'Cannot write {path}: {error.strerror or error}. The file is as it '
      f'was before this write. Free some space (or fix the folder), then run '
      f'the same command to resume from the last checkpoint.')


def _csv_line(header, row):
  """`row` as one CSV line in the columns `header` (csv's \\r\\n end)."""
  buffer = io.StringIO()
  csv.DictWriter(buffer, fieldnames=header).writerow(row)
  return buffer.getvalue()


def append_csv_row(path, row):
  """Appends a dict as a CSV row; new columns rewrite the file with them.

  Rows of earlier runs (a resumed run appends to the same file) keep their
  values; columns a row lacks stay empty. A partial last line (a kill
  during an append) is cut off first. The rewrite that adds columns
  writes the row too, atomically (`dam.fileio.write_atomic`): a kill or a
  full disk leaves the old file, never an empty or half one.

  Raises:
    RecordWriteError: the file cannot be written (it is unchanged).
  """
  try:
    _append_csv_row(path, row)
  except RecordWriteError:
    raise
  except OSError as e:
    raise _record_error(path, e) from e


def _append_csv_row(path, row):
  fileio.repair_tail(path)
  header, rows = [], []
  if os.path.exists(path):
    with open(path, newline='', encoding='utf-8') as f:
      reader = csv.DictReader(f)
      header = list(reader.fieldnames or [])
      if any(key not in header for key in row):
        rows = list(reader)
  new_keys = [key for key in row if key not in header]
  if new_keys or not header:
    header += new_keys
    def write(f):
      out = csv.DictWriter(f, fieldnames=header)
      out.writeheader()
      out.writerows(rows + [row])
    fileio.write_atomic(path, write, newline='')
  else:
    fileio.append_line(path, _csv_line(header, row))


def read_metrics(path):
  """The columns of a metrics.csv: {name: float array [rows]}.

  Empty cells (a column a row lacks) and non-numbers are NaN.

  Raises:
    OSError: the file cannot be read.
    ValueError: it is not a CSV with a header, or has no 'step' column.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  with open(path, newline='') as f:
    reader = csv.DictReader(f)
    header = list(reader.fieldnames or [])
    rows = list(reader)
  if 'step' not in header:
    raise ValueError(f'{path} is not a metrics.csv of a run (no "step" '
                     f'column; header {header[:5]}).')

  def number(text):
    try:
      return float(text)
    except (TypeError, ValueError):
      return float('nan')

  return {name: np.array([number(row.get(name)) for row in rows], float)
          for name in header}


def format_duration(seconds):
  """'0:02:47' for 167 s (negative: 0)."""
  return str(datetime.timedelta(seconds=int(max(seconds, 0))))


def format_metrics(metrics, keys):
  """'acc 0.9402 bit_acc 0.9807' for keys (('accuracy', 'acc'), ...)."""
  return ' '.join(f'{label} {metrics.get(key, float("nan")):.4f}'
                  for key, label in keys)


def write_summary(path, summary):
  """Writes summary.json (sorted keys, indented), atomically: a kill or a
  full disk leaves the previous summary.json, never an empty one.

  Raises:
    RecordWriteError: it cannot be written (the old file is unchanged).
  """
  try:
    fileio.write_json_atomic(path, summary, indent=2, sort_keys=True)
  except OSError as e:
    raise _record_error(path, e) from e


def drop_rows_after(path, step):
  """Removes the rows of the CSV at `path` whose 'step' exceeds `step`.

  A process killed between a report and the next checkpoint leaves rows
  that the resumed run writes again; they go (atomically), and so does a
  partial last line (a kill during an append). Returns the number of
  (whole) rows removed.

  Raises:
    RecordWriteError: the file cannot be written (it is unchanged).
  """
  if not os.path.exists(path):
    return 0
  try:
    return _drop_rows_after(path, step)
  except OSError as e:
    raise _record_error(path, e) from e


def _drop_rows_after(path, step):
  fileio.repair_tail(path)
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    header = list(reader.fieldnames or [])
    rows = list(reader)
  def past(row):
    try:
      return float(row.get('step') or 0) > step
    except ValueError:
      return False
  kept = [row for row in rows if not past(row)]
  if len(kept) == len(rows):
    return 0
  def write(f):
    out = csv.DictWriter(f, fieldnames=header)
    out.writeheader()
    out.writerows(kept)

  fileio.write_atomic(path, write, newline='')
  return len(rows) - len(kept)


def write_purge_event(log_dir, step):
  """Tells TensorBoard to drop the events at and after `step` in `log_dir`.

  Writes an event file holding a file_version event ('brain.Event:2') and
  two SessionLog.START events at `step` (what TF1's
  `FileWriter.add_session_log` and PyTorch's `purge_step` write). TensorBoard
  (`plugin_event_accumulator`, purge_orphaned_data) purges on a START only
  once the file version is 2 and only on a START after the run's first one
  (the first is taken as the session's start): the TF2 writers of the
  earlier files wrote none, so a single START would be ignored; the second
  one purges the earlier files' events from `step` on (one more purges
  nothing). The file's name sorts after the earlier event files and before
  the writer opened next.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tensorflow.core.util import event_pb2
  now = time.time()
  events = [event_pb2.Event(wall_time=now, file_version='brain.Event:2')]
  for _ in range(2):
    event = event_pb2.Event(wall_time=now, step=int(step))
    event.session_log.status = event_pb2.SessionLog.START
    events.append(event)
  name = (f'events.out.tfevents.{int(now)}.{socket.gethostname()}.'
          f'{os.getpid()}.!purge')
  with tf.io.TFRecordWriter(os.path.join(log_dir, name)) as writer:
    for event in events:
      writer.write(event.SerializeToString())


class Reporter:
  """The rows of a run: metrics.csv, TensorBoard scalars, the history."""

  def __init__(self, run_dir, tensorboard=True, resume_step=None):
    """Opens the TensorBoard writer (with `tensorboard`) in `run_dir.log`.

    With `resume_step` (the step the run restarts from: the restored
    checkpoint's, 0 for a new run), rows of metrics.csv past it are dropped
    and TensorBoard is told to purge the events after it.
    """
    self.run_dir = run_dir
    self.history = []
    self._writer = None
    if resume_step is not None:
      drop_rows_after(run_dir.metrics, resume_step)
    if tensorboard:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      os.makedirs(run_dir.log, exist_ok=True)
      if resume_step is not None and any(
          name.startswith('events') for name in os.listdir(run_dir.log)):
        write_purge_event(run_dir.log, resume_step + 1)
      self._writer = tf.summary.create_file_writer(run_dir.log)

  def write(self, row, scalars=True):
    """Appends `row` to metrics.csv and the history; with `scalars`, also
    every entry but 'step' as a TensorBoard scalar at row['step']."""
    if scalars and self._writer is not None:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with self._writer.as_default(step=row['step']):
        for key, value in row.items():
          if key != 'step':
            tf.summary.scalar(key, value)
    self.history.append(row)
    append_csv_row(self.run_dir.metrics, row)

  def image(self, name, rgb, step):
    """Logs an RGB picture [1, H, W, 3] uint8 to TensorBoard at `step`."""
    if self._writer is None:
      return
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    with self._writer.as_default(step=step):
      tf.summary.image(name, rgb)

  @property
  def last(self):
    """The last row written, or None."""
    return self.history[-1] if self.history else None

  def flush(self):
    if self._writer is not None:
      self._writer.flush()
