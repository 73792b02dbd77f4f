"""What a run reports: progress lines, metrics.csv, TensorBoard, summary.json.

`Reporter` writes each report's row (a flat dict of numbers) to
<run>/metrics.csv (and, optionally, as TensorBoard scalars in <run>/log) and
keeps the rows; `write_summary` writes <run>/summary.json. The formatting
helpers build the progress lines.
"""

import csv
import datetime
import json
import os


def append_csv_row(path, row):
  """Appends a dict as a CSV row; new columns rewrite the file with them.

  Rows of earlier runs (a resumed run appends to the same file) keep their
  values; columns a row lacks stay empty.
  """
  header, rows = [], []
  if os.path.exists(path):
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      header = list(reader.fieldnames or [])
      if any(key not in header for key in row):
        rows = list(reader)
  new_keys = [key for key in row if key not in header]
  if new_keys or not header:
    header += new_keys
    with open(path, 'w', newline='') as f:
      out = csv.DictWriter(f, fieldnames=header)
      out.writeheader()
      out.writerows(rows)
  with open(path, 'a', newline='') as f:
    csv.DictWriter(f, fieldnames=header).writerow(row)


def format_duration(seconds):
  """'0:02:47' for 167 s (negative: 0)."""
  return str(datetime.timedelta(seconds=int(max(seconds, 0))))


def format_metrics(metrics, keys):
  """'acc 0.9402 bit_acc 0.9807' for keys (('accuracy', 'acc'), ...)."""
  return ' '.join(f'{label} {metrics.get(key, float("nan")):.4f}'
                  for key, label in keys)


def write_summary(path, summary):
  """Writes summary.json (sorted keys, indented)."""
  with open(path, 'w') as f:
    json.dump(summary, f, indent=2, sort_keys=True)


class Reporter:
  """The rows of a run: metrics.csv, TensorBoard scalars, the history."""

  def __init__(self, run_dir, tensorboard=True):
    """Opens the TensorBoard writer (with `tensorboard`) in `run_dir.log`."""
    self.run_dir = run_dir
    self.history = []
    self._writer = None
    if tensorboard:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      os.makedirs(run_dir.log, exist_ok=True)
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

  @property
  def last(self):
    """The last row written, or None."""
    return self.history[-1] if self.history else None

  def flush(self):
    if self._writer is not None:
      self._writer.flush()
