"""The bAbI suite's report (experiments/babi_report.py) on hand-made run
folders: known answers worked out by hand, a run not tested yet, the
dispatch from experiments/report.py and run_suite.py --report_only."""

import json
import os
import subprocess
import sys

import pytest

from damrun import reporting
from experiments import babi_report
from experiments import report
from experiments import suites
from tasks import babi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {run.model: run for run in suites.runs('babi_cpu')}
EXPERIMENT = suites.SUITES['babi_cpu'][0]


def _test_row(errors):
  """The test cells of a metrics.csv row from 20 per-task errors (%)."""
  row = {'test_mean_error': sum(errors) / 20.,
         'test_failed_tasks': sum(e > 5. for e in errors)}
  row.update({f'test_error_qa{k}': e for k, e in zip(babi.TASKS, errors)})
  return row


# The DAM at epoch 3: tasks 1-10 right but task 3 (20 %); tasks 11-20 at
# 65 % but task 13 (45 %). Sum 20 + 9 * 65 + 45 = 650: mean 32.5 %; failed:
# task 3 and tasks 11-20, 11.
DAM_EPOCH3 = [0.] * 2 + [20.] + [0.] * 7 + [65.] * 2 + [45.] + [65.] * 7
# Epoch 2: 5 x 0.5 + 5 x 2 + 10 x 58.75 = 600: mean 30 %, 10 failed.
DAM_EPOCH2 = [0.5] * 5 + [2.] * 5 + [58.75] * 10


def _write_run(info, run, rows, phases=(), evaluation=None):
  """A run folder: metrics.csv rows, suite_phases.json, eval-<step>.json."""
  folder = info / run.name
  folder.mkdir(parents=True)
  for row in rows:
    reporting.append_csv_row(str(folder / 'metrics.csv'), row)
  for phase in phases:
    suites.mark_done(str(info), run, phase)
  if evaluation:
    step, errors = evaluation
    tasks = [dict(task=k, name=babi.TASK_NAMES[k], questions=1000,
                  right=round(1000 - 10 * e), error_percent=e)
             for k, e in zip(babi.TASKS, errors)]
    with open(folder / f'eval-{step}.json', 'w') as f:
      json.dump(dict(step=step, tasks=tasks, mean_error_percent=sum(errors) /
                     20., failed_tasks=sum(e > 5. for e in errors)), f)


def _substitution(info):
  """babi_data/SUBSTITUTED.json as `babi_data.complete` records task 3."""
  (info / 'babi_data').mkdir(parents=True)
  (info / 'babi_data' / 'SUBSTITUTED.json').write_text(json.dumps([dict(
      file='qa3_three-supporting-facts_train.txt', task=3,
      **{'from': 'en/qa3_three-supporting-facts_train.txt'})]))


@pytest.fixture(name='info')
def _info(tmp_path):
  """The DAM: first phase done, tested at epochs 1-3 (best 2, latest 3),
  5,400 s of training; the DNC: every phase done, tested at epochs 1-2 and
  by eval.py at step 400."""
  info = tmp_path / 'info'
  _substitution(info)
  # Hours: 100 / 0.05 + 100 / 0.1 + 100 / 0.1 + 100 / 0.25 + 200 / 0.2
  # = 2,000 + 1,000 + 1,000 + 400 + 1,000 = 5,400 s = 1.5 h.
  _write_run(info, RUNS['dam'], [
      dict(step=100, epoch=0.5, steps_per_sec=0.05, train_loss=1.),
      dict(step=200, epoch=1., steps_per_sec=0.1, train_loss=.9,
           **_test_row([40.] * 20)),
      dict(step=300, epoch=1.5, steps_per_sec=0.1, train_loss=.8),
      dict(step=400, epoch=2., steps_per_sec=0.25, train_loss=.7,
           **_test_row(DAM_EPOCH2)),
      dict(step=600, epoch=3., steps_per_sec=0.2, train_loss=.6,
           **_test_row(DAM_EPOCH3)),
  ], phases=[0])
  _write_run(info, RUNS['dnc'], [
      dict(step=200, epoch=1., steps_per_sec=1., **_test_row([50.] * 20)),
      dict(step=400, epoch=2., steps_per_sec=1., **_test_row([45.] * 20)),
  ], phases=[0, 1, 2, 3], evaluation=(400, [44.] * 19 + [4.]))
  return info


def test_phase_ends_count_fine_tuning_after_the_fifty_epochs():
  # 10 epochs, continued to 50 at the same rate, then 5 at a lower one.
  assert babi_report.phase_ends(RUNS['dam']) == [50, 55]
  gpu = {r.name: r for r in suites.runs('gpu')}['babi_dam_s0']
  assert babi_report.phase_ends(gpu) == [50, 55]


def test_report_known_answers(info, tmp_path):
  out = tmp_path / 'out'
  written = report.write('babi_cpu', list(RUNS.values()), str(info), str(out))
  assert sorted(os.path.basename(p) for p in written) == [
      'curves.png', 'per_task.md', 'results.json', 'table.md']
  results = json.loads((out / 'results.json').read_text())
  assert results['tasks_trained_on_1k'] == [3]
  assert 'Task 3 (three-supporting-facts) trained on the 1k' in results[
      'note']
  assert results['substitutions'][0]['task'] == 3
  assert results['commit'] and results['machine']
  dnc_published = results['published'][0]
  assert (dnc_published['mean_error'], dnc_published['failed_tasks']) == (
      16.7, 11.2)
  dam, dnc = results['runs']
  assert (dam['model'], dam['seed'], dam['phases_finished']) == ('dam', 0, [0])
  assert dam['finished'] is False and dnc['finished'] is True
  assert dam['planned_epochs'] == 55 and dam['epoch_reached'] == 3.
  assert [r['epoch'] for r in dam['epochs']] == [1., 2., 3.]
  assert dam['latest']['epoch'] == 3. and dam['latest']['mean_error'] == 32.5
  assert dam['latest']['failed_tasks'] == 11
  assert dam['latest']['errors']['3'] == 20.
  assert dam['best']['epoch'] == 2. and dam['best']['mean_error'] == 30.
  assert dam['train_hours'] == 1.5 and dam['final_eval'] is None
  assert dnc['best'] == dnc['latest'] and dnc['latest']['mean_error'] == 45.
  assert dnc['final_eval']['step'] == 400
  assert dnc['final_eval']['mean_error'] == pytest.approx(42.0)  # 840 / 20
  assert dnc['final_eval']['failed_tasks'] == 19
  # 200 / 1 + 200 / 1 = 400 s.
  assert dnc['train_hours'] == round(400 / 3600, 2)

  table = (out / 'table.md').read_text()
  assert ('| DAM | 1 / 4 | 3 / 55 (at 3.00) | 32.50 | 11 | 30.00 (2) | -- | '
          '1.50 |') in table
  assert ('| DNC | 4 / 4 | 2 / 55 (at 2.00) | 45.00 | 20 | 45.00 (2) | '
          '42.00 (19) | 0.11 |') in table
  assert ('| DNC, Graves et al. 2016 (published) | -- | -- | 16.7 ± 7.6 | '
          '11.2 ± 5.4 |') in table
  assert '| rsDNC, Franke et al. 2018 (published) | -- | -- | 6.3 ± 2.7 |' \
      in table
  assert '| BrsDNC, Franke et al. 2018 (published) | -- | -- | 3.2 ± 0.5 |' \
      in table
  assert '| DAM, Park et al. 2021 (published) |' in table
  assert 'Task 3 (three-supporting-facts) trained on the 1k training file' \
      in table

  per_task = (out / 'per_task.md').read_text().splitlines()
  assert per_task[0] == ('| task | name | DAM (epoch 3, step 600) | DNC '
                         '(epoch 2, step 400) | DNC, eval.py (step 400) |')
  assert '| 3* | three-supporting-facts | 20.00 | 45.00 | 44.00 |' in per_task
  assert '| 13 | compound-coreference | 45.00 | 45.00 | 44.00 |' in per_task
  assert '| 20 | agents-motivations | 65.00 | 45.00 | 4.00 |' in per_task
  assert '| | **mean** | 32.50 | 45.00 | 42.00 |' in per_task
  assert '| | **failed (> 5 %)** | 11 | 20 | 19 |' in per_task
  assert per_task[-1].startswith('\\* Task 3 (three-supporting-facts) '
                                 'trained on the 1k')
  with open(out / 'curves.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_report_of_runs_not_tested_yet(tmp_path):
  info = tmp_path / 'info'
  _substitution(info)
  # The DAM has trained 0.68 epochs, with no test yet; the DNC has nothing.
  _write_run(info, RUNS['dam'], [
      dict(step=100, epoch=0.34, steps_per_sec=0.5, train_loss=1.),
      dict(step=200, epoch=0.68, steps_per_sec=0.25, train_loss=.9)])
  out = tmp_path / 'out'
  report.write('babi_cpu', list(RUNS.values()), str(info), str(out))
  dam, dnc = json.loads((out / 'results.json').read_text())['runs']
  assert dam['epochs'] == [] and dam['latest'] is dam['best'] is None
  assert dam['epoch_reached'] == 0.68 and dam['steps'] == 200
  assert dam['train_hours'] == round(600 / 3600, 2)  # 200 s + 400 s
  assert dnc['steps'] is None and dnc['train_hours'] is None
  table = (out / 'table.md').read_text()
  assert '| DAM | 0 / 4 | 0 / 55 (at 0.68) | -- | -- | -- | -- | 0.17 |' \
      in table
  assert '| DNC | 0 / 4 | 0 / 55 | -- | -- | -- | -- | -- |' in table
  per_task = (out / 'per_task.md').read_text()
  assert '| DAM (no tested epoch yet) | DNC (no tested epoch yet) |' in \
      per_task
  assert '| 3* | three-supporting-facts | -- | -- |' in per_task
  assert (out / 'curves.png').read_bytes()[:4] == b'\x89PNG'


def test_the_cpu_suite_keeps_its_own_report(tmp_path):
  out = tmp_path / 'out'
  written = report.write('cpu', suites.runs('cpu'), str(tmp_path / 'info'),
                         str(out))
  assert sorted(os.path.basename(p) for p in written) == [
      'results.json', 'table.md']
  assert '| copy (10,000 steps) | DAM | 0 / 3 | 0 / 0 | -- |' in (
      out / 'table.md').read_text()


def test_run_suite_report_only_writes_the_babi_report(info, tmp_path):
  out = subprocess.run(
      [sys.executable, 'experiments/run_suite.py', '--suite=babi_cpu',
       '--report_only', f'--info_dir={info}',
       f'--results_dir={tmp_path / "results"}'],
      capture_output=True, text=True, cwd=ROOT, timeout=600,
      env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3'))
  assert out.returncode == 0, out.stderr[-2000:]
  folder = tmp_path / 'results' / 'babi_cpu'
  assert sorted(os.listdir(folder)) == [
      'curves.png', 'per_task.md', 'results.json', 'table.md']
  assert f'Wrote {folder / "table.md"}' in out.stdout
  assert '| DAM | 1 / 4 | 3 / 55 (at 3.00) | 32.50 |' in (
      folder / 'table.md').read_text()
