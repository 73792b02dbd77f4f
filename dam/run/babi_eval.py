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


def report(results):
  """The authors' table: task, error %, mean error, failed tasks."""
  errors = [r[3] for r in results.values()]
  mean = sum(errors) / len(errors)
  failed = sum(e > 5. for e in errors)
  lines = [f'{"Task":<27}Result', '-' * 35]
  lines += [f'{name.replace("-", " "):<27}{error:.2f}%'
            for name, _, _, error in results.values()]
  lines += ['-' * 35, f'{"Mean Err.":<27}{mean:.2f}%',
            f'{"Failed (err. > 5%)":<27}{failed}']
  return '\n'.join(lines), mean, failed


def write_results(run_root, step, results, mean, failed, checkpoint):
  """info/<name>/eval-<step>.json and .csv."""
  base = os.path.join(run_root, f'eval-{step}')
  rows = [dict(task=task, name=name, questions=q, right=r,
               error_percent=round(e, 4))
          for task, (name, q, r, e) in results.items()]
  with open(base + '.json', 'w') as f:
    json.dump(dict(checkpoint=checkpoint, step=step, tasks=rows,
                   mean_error_percent=mean, failed_tasks=failed), f, indent=2)
  with open(base + '.csv', 'w', newline='') as f:
    out = csv.DictWriter(f, fieldnames=list(rows[0]))
    out.writeheader()
    out.writerows(rows)
  return base + '.json', base + '.csv'
