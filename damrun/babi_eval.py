"""bAbI evaluation of a trained model on the 20 test tasks (eval.py).

As the authors' eval.py (Park et al. 2021, bAbI experiment; Weston et al.
2015's error table): every test story of every task runs through the model
in evaluation mode (no dropout, no clipping) with a dynamic batch size; a
question is right only when all its answer tokens are; a task fails when
its error exceeds 5 %.
"""

import csv
import json
import os
import time

import tensorflow as tf

from dam import fileio
from tasks import babi


def evaluate(model, data, batch_size, log=print):
  """Per-task results: dict task -> (name, questions, right, error %).

  Args:
    model: called as model(token ids [B, T], seq_len [B], training=False)
      -> logits [B, T, V].
    data: `tasks.babi` data (its `test` dict task -> (name, stories)).
    batch_size: stories per batch (the last batch may be smaller).
    log: where the per-task lines go.
  """

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                tf.TensorSpec([None], tf.int32)])
  def predict(inputs, seq_len):  # Dynamic batch: ragged last batch, any T.
    return tf.argmax(model(inputs, seq_len, training=False), axis=-1,
                     output_type=tf.int32)

  results = {}
  for task in sorted(data.test):
    name, stories = data.test[task]
    start = time.time()
    questions = right = 0
    for batch in babi.test_batches(stories, batch_size):
      q, r = babi.grade_counts(predict(batch.inputs, batch.seq_len).numpy(),
                               batch)
      questions, right = questions + q, right + r
    error = babi.error_percent(questions, right)
    results[task] = (name, questions, right, error)
    log(f'  qa{task} {name}: {error:.2f} % error ({questions} questions, '
        f'{time.time() - start:.1f} s)')
  return results


def test_row(model, data, batch_size):
  """The test of a bAbI training run (`damrun.trainer.Evaluation.test`).

  Returns:
    (row, text): row = {test_mean_error, test_failed_tasks,
    test_error_qa<k> for every task k} in % and counts, for metrics.csv;
    text, e.g. 'test mean error 23.45 %, 12 failed', for the progress line.
  """
  results = evaluate(model, data, batch_size, log=lambda line: None)
  _, mean, failed = report(results)
  row = {'test_mean_error': mean, 'test_failed_tasks': failed}
  row.update({f'test_error_qa{task}': result[3]
              for task, result in results.items()})
  return row, f'test mean error {mean:.2f} %, {failed} failed'


def report(results):
  """The authors' table: task, error %, mean error, failed tasks."""
  errors = [r[3] for r in results.values()]
  mean = sum(errors) / len(errors)
  failed = sum(e > 5. for e in errors)
  lines = [f'{"Task":<27}error %', '-' * 35]
  lines += [f'{name.replace("-", " "):<27}{error:.2f}%'
            for name, _, _, error in results.values()]
  lines += ['-' * 35, f'{"Mean Err.":<27}{mean:.2f}%',
            f'{"Failed (err. > 5%)":<27}{failed}']
  return '\n'.join(lines), mean, failed


def _recorded_fingerprint(base):
  """The data fingerprint recorded in eval output `base`.json/.csv; None
  when neither exists; '' when one exists without a readable fingerprint
  (written by an older version, or damaged)."""
  if os.path.exists(base + '.json'):
    try:
      with open(base + '.json') as f:
        return str((json.load(f).get('data') or {}).get('fingerprint') or '')
    except (OSError, ValueError, AttributeError):
      return ''
  if os.path.exists(base + '.csv'):
    try:
      with open(base + '.csv', newline='') as f:
        row = next(csv.DictReader(f), None) or {}
      return row.get('data_fingerprint') or ''
    except (OSError, csv.Error):
      return ''
  return None


def write_results(run_root, step, results, mean, failed, checkpoint,
                  data_info, log=print):
  """info/<name>/eval-<step>.json and .csv, with the data they measured.

  `data_info` (dict; its 'fingerprint' identifies the test data, see
  `tasks.babi.BabiSource.fingerprint`) is saved in the .json (key 'data')
  and as the column data_fingerprint of the .csv. Results of the same step
  on other data (or of unknown data: written before fingerprints were
  recorded) are never overwritten: these go to
  eval-<step>-data<fingerprint[:8]>.json/.csv instead, with a note.

  Returns:
    (json path, csv path).
  """
  fingerprint = data_info['fingerprint']
  base = os.path.join(run_root, f'eval-{step}')
  recorded = _recorded_fingerprint(base)
  if recorded is not None and recorded != fingerprint:
    other = base
    base = f'{base}-data{fingerprint.split(":")[-1][:8]}'
    log(f'Note: {other}.json/.csv hold an evaluation of '
        f'{"other" if recorded else "unrecorded"} data; kept. These results '
        f'go to {base}.json/.csv.')
  rows = [dict(task=task, name=name, questions=q, right=r,
               error_percent=round(e, 4), data_fingerprint=fingerprint)
          for task, (name, q, r, e) in results.items()]
  # The run's history (flags accepted on resumes, with their steps).
  history = os.path.join(run_root, 'history.jsonl')
  fileio.write_atomic(base + '.json', lambda f: json.dump(
      dict(checkpoint=checkpoint, step=step, data=data_info, tasks=rows,
           mean_error_percent=mean, failed_tasks=failed,
           history=history if os.path.exists(history) else None),
      f, indent=2))

  def write_csv(f):
    out = csv.DictWriter(f, fieldnames=list(rows[0]))
    out.writeheader()
    out.writerows(rows)

  fileio.write_atomic(base + '.csv', write_csv, newline='')
  return base + '.json', base + '.csv'
