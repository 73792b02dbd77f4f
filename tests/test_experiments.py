"""The experiment suites (experiments/): declarations, the resumable runner
and the report's numbers, on hand-written files and stand-in scripts."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import report
from experiments import suites

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cpu_suite_declares_the_comparisons():
  runs = suites.runs('cpu')
  names = [run.name for run in runs]
  assert len(names) == len(set(names)) == 3 * 4 * 2 + 2 * 2 + 2 + 1
  by_name = {run.name: run for run in runs}
  dam = by_name['copy_dam_s1'].phases[0][1]
  dnc = by_name['copy_dnc_s1'].phases[0][1]
  ablation = by_name['copy_dam_nomrl_s1'].phases[0][1]
  dnc_mrl = by_name['associative_recall_dnc_mrl_s2'].phases[0][1]
  # The authors' Copy command, changed only where the comparison needs it.
  assert dam['p_re'] == 0.1 and dam['dam'] is True and dam['seed'] == 1
  assert dnc['dam'] is False and dnc['p_re'] == 0.
  assert ablation['dam'] is True and ablation['p_re'] == 0.
  # The DNC with the authors' MRL (their Associative Recall p_re).
  assert dnc_mrl['dam'] is False and dnc_mrl['p_re'] == 0.1
  assert 'representation_recall_dnc_mrl_s0' not in by_name
  for flags in (dam, dnc, ablation, dnc_mrl):
    assert flags['learning_rate'] == 1e-4 and flags['batch_size'] == 16
    assert flags['training_iteration'] == 10000
    assert flags['eval_batches'] == 10 and flags['report_interval'] == 100
  rr = by_name['representation_recall_dam_s0'].phases[0][1]
  assert rr['num_memory_blocks'] == 8 and rr['training_iteration'] == 20000
  assert 'p_re' not in rr  # the authors' command has no MRL
  # The KV-MemNN reference's commands; its seed flag is --random_state.
  assert by_name['kvmemnn_joint_kvmemnn_s0'].phases == [(
      'run_kvmemnn.py', dict(name='kvmemnn_joint_kvmemnn_s0',
                             random_state=0))]
  mixed = by_name['kvmemnn_joint_kvmemnn_mixed_s0'].phases[0][1]
  assert mixed['reproduce_quirks'] is False
  single = by_name['kvmemnn_task20_kvmemnn_s0'].phases[0][1]
  assert (single['task_id'], single['learning_rate'], single['feature_size'],
          single['epochs']) == (20, 0.005, 40, 200)
  with pytest.raises(KeyError, match='choose one of cpu, babi_cpu, gpu'):
    suites.runs('tpu')


def test_gpu_suite_babi_runs_train_finetune_and_evaluate_one_directory():
  run = {r.name: r for r in suites.runs('gpu')}['babi_dnc_s0']
  scripts = [script for script, _ in run.phases]
  assert scripts == ['train.py', 'train.py', 'eval.py']
  (_, train), (_, tune), (_, evaluate) = run.phases
  assert train['learning_rate'] == 3e-5 and train['epoch'] == 50
  assert tune['learning_rate'] == 1e-5 and tune['epoch'] == 5
  assert train['dam'] is tune['dam'] is evaluate['dam'] is False
  assert {train['name'], tune['name'], evaluate['name']} == {'babi_dnc_s0'}
  assert 'seed' not in evaluate and 'p_re' not in evaluate


_PARSE = '''
import json, runpy, sys
from absl import flags
script, argv = sys.argv[1], json.loads(sys.argv[2])
runpy.run_path(script, run_name='flags_only')
flags.FLAGS([script] + argv)
print('parsed')
'''


def test_every_cpu_command_line_parses_with_its_script():
  seen = set()
  for run in suites.runs('cpu'):
    for script, flags in run.phases:
      argv = suites.command_line(script, flags, 'info/suite')
      key = (script, tuple(a for a in argv if not a.startswith(
          ('--seed', '--name'))))
      if key in seen:
        continue
      seen.add(key)
      result = subprocess.run(
          [sys.executable, '-c', _PARSE, argv[0], json.dumps(argv[1:])],
          capture_output=True, text=True, cwd=ROOT, timeout=120)
      assert result.stdout.strip() == 'parsed', result.stderr[-2000:]
  # 4 models x 2 tasks, 2 for Representation Recall, 3 KV-MemNN.
  assert len(seen) == 13


def _write_metrics(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  header = sorted({key for row in rows for key in row}, key=lambda k: (
      k != 'step', k))
  with open(path, 'w') as f:
    f.write(','.join(header) + '\n')
    for row in rows:
      f.write(','.join(str(row.get(k, '')) for k in header) + '\n')


def test_run_numbers_known_answers(tmp_path):
  run = suites.Run('copy', 'dam', 0, 'copy_dam_s0', [('train.py', {})], 400)
  _write_metrics(str(tmp_path / run.name / 'metrics.csv'), [
      dict(step=100, steps_per_sec=10., eval_bit_accuracy=0.5),
      dict(step=200, steps_per_sec=20., eval_bit_accuracy=0.995),
      dict(step=300, steps_per_sec=25., eval_bit_accuracy=0.98),
      # A re-evaluation of a finished run is not a report.
      dict(step=300, evaluation_only=1, eval_bit_accuracy=0.2),
      dict(step=400, steps_per_sec=50., eval_bit_accuracy=0.999),
  ])
  numbers = report.run_numbers(run, str(tmp_path), 'eval_bit_accuracy')
  assert numbers['finished'] is False  # no phase recorded as done
  assert numbers['steps_to_99'] == 200  # the first report at or above
  assert numbers['below_after'] == 0.5  # 0.98 and 0.999 after it
  assert numbers['final'] == 0.999 and numbers['steps'] == 400
  # 100 / 10 + 100 / 20 + 100 / 25 + 100 / 50 = 21 s.
  assert numbers['train_time_s'] == 21.0
  suites.mark_done(str(tmp_path), run, 0)
  assert report.run_numbers(run, str(tmp_path),
                            'eval_bit_accuracy')['finished'] is True
  missing = report.run_numbers(run._replace(name='nothing'), str(tmp_path),
                               'eval_bit_accuracy')
  assert missing['steps_to_99'] is None and missing['final'] is None
  assert missing['below_after'] is None


def test_aggregate_means_and_spreads():
  rows = [dict(experiment='copy', model='dam', finished=True,
               steps_to_99=s, final=f, train_time_s=60., below_after=b)
          for s, f, b in ((1000, 1.0, 0.1), (2000, 0.99, 0.3),
                          (None, 0.9, None))]
  rows.append(dict(experiment='copy', model='dam', finished=False,
                   steps_to_99=100, final=1.0, train_time_s=1.))
  (row,) = report.aggregate(rows)
  assert row['seeds'] == 4 and row['finished'] == 3 and row['reached_99'] == 2
  assert row['steps_to_99_mean'] == 1500
  assert row['steps_to_99_std'] == pytest.approx(np.std([1000, 2000],
                                                        ddof=1))
  assert row['final_mean'] == pytest.approx(np.mean([1.0, 0.99, 0.9]))
  assert row['final_std'] == pytest.approx(np.std([1.0, 0.99, 0.9], ddof=1))
  assert row['below_after_mean'] == pytest.approx(0.2)
  assert row['below_after_std'] == pytest.approx(np.std([0.1, 0.3], ddof=1))
  text = report.table([row], suites.SUITES['cpu'])
  assert '| 1,000, 2,000, never | 0.9633 ± 0.0551 | 20 ± 14 % | 1.0 |' in text


# A stand-in for a training script: appends its argv to calls.txt in its
# --info_dir and exits with the code in its fail file (0 if none).
_FAKE = '''
import os, sys
args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)
os.makedirs(os.path.join(args['info_dir'], args['name']), exist_ok=True)
with open(os.path.join(args['info_dir'], 'calls.txt'), 'a') as f:
  f.write(args['name'] + ' ' + args['phase'] + '\\n')
fail = os.path.join(args['info_dir'], 'fail_' + args['name'])
sys.exit(int(open(fail).read()) if os.path.exists(fail) else 0)
'''


def _gid_lines(ax, prefix):
  return {line.get_gid(): line for line in ax.get_lines()
          if (line.get_gid() or '').startswith(prefix)}


def test_report_pictures_mean_band_threshold_and_published_line(tmp_path):
  # A synthetic suite: Copy, two models of three seeds at known values,
  # and the KV-MemNN's joint run.
  from damrun import plots  # pylint: disable=g-import-not-at-top
  copy = [e for e in suites.SUITES['cpu'] if e.name == 'copy'][0]
  runs = [r for r in suites.runs('cpu') if r.experiment == 'copy' and
          r.model in ('dam', 'dnc')]
  steps = [100, 200, 300]
  accuracy = {}
  for run in runs:
    level = 0.9 if run.model == 'dam' else 0.6
    accuracy[run.name] = [0.5, level + 0.01 * run.seed, 0.99 + 0.004 *
                          run.seed]
    _write_metrics(str(tmp_path / run.name / 'metrics.csv'), [
        dict(step=step, steps_per_sec=10., eval_bit_accuracy=a,
             train_bit_accuracy=a, eval_reported_loss=1. - a,
             train_reported_loss=1. - a)
        for step, a in zip(steps, accuracy[run.name])])
  figure = report.experiment_figure(copy, runs, str(tmp_path))
  axes = plots.axes_by_gid(figure)
  dam = np.array([accuracy[f'copy_dam_s{s}'] for s in (0, 1, 2)])
  mean = _gid_lines(axes['bit_accuracy'], 'DAM (mean of 3 seeds)/')[
      'DAM (mean of 3 seeds)/eval_bit_accuracy']
  np.testing.assert_allclose(mean.get_ydata(), dam.mean(axis=0))
  # The band: from the lowest to the highest seed at each report.
  (band,) = [c for c in axes['bit_accuracy'].collections
             if c.get_gid() == 'DAM (mean of 3 seeds)/eval_bit_accuracy/band']
  y = band.get_paths()[0].vertices[:, 1]
  np.testing.assert_allclose(np.unique(y), np.unique(np.r_[
      dam.min(axis=0), dam.max(axis=0)]))
  assert any(c.get_gid() == 'DNC (mean of 3 seeds)/eval_reported_loss/band'
             for c in axes['reported_loss'].collections)
  # The table's threshold, on the accuracy panel.
  (threshold,) = _gid_lines(axes['bit_accuracy'], 'reference/').values()
  np.testing.assert_array_equal(threshold.get_ydata(),
                                [report.THRESHOLD] * 2)
  legend = ' '.join(t.get_text() for t in figure.legends[0].get_texts())
  assert 'min-max over the seeds' in legend
  assert "0.99: the held-out threshold of the table's" in legend
  assert 'cross-entropy on the answer steps only' in axes[
      'reported_loss'].get_ylabel()
  # The KV-MemNN: a real title and the published mean accuracy, labelled
  # with its source.
  joint = [e for e in suites.SUITES['cpu'] if e.name == 'kvmemnn_joint'][0]
  kv_runs = [r for r in suites.runs('cpu') if r.experiment == joint.name]
  for run in kv_runs:
    _write_metrics(str(tmp_path / run.name / 'metrics.csv'), [
        dict(step=10 * e, epoch=e, wall_time_s=e, train_mean=0.5 + 0.1 * e,
             val_mean=0.45 + 0.1 * e, test_mean=0.4 + 0.1 * e)
        for e in (1, 2, 3)])
  figure = report.experiment_figure(joint, kv_runs, str(tmp_path))
  title = figure.get_suptitle().replace('\n', ' ')
  assert title.startswith('kvmemnn_joint: the KV-MemNN on bAbI 1k, 20 tasks')
  (published,) = _gid_lines(figure.axes[0], 'reference/').values()
  np.testing.assert_array_equal(published.get_ydata(), [0.796, 0.796])
  legend = ' '.join(t.get_text() for t in figure.legends[0].get_texts())
  assert 'published 0.796' in legend
  assert 'siyuanzhao/key-value-memory-networks' in legend
  assert report.experiment_figure(joint, kv_runs, str(tmp_path / 'none')) \
      is None
  # The report writes them.
  written = report.write('cpu', runs + kv_runs, str(tmp_path),
                         str(tmp_path / 'out'))
  for name in ('copy.png', 'kvmemnn_joint.png'):
    assert str(tmp_path / 'out' / name) in written
    assert (tmp_path / 'out' / name).read_bytes()[:4] == b'\x89PNG'


def test_runner_skips_finished_phases_and_reruns_failed_ones(tmp_path):
  fake = str(tmp_path / 'fake.py')
  (tmp_path / 'fake.py').write_text(_FAKE)
  info = tmp_path / 'info'
  info.mkdir()
  runs = [suites.Run('x', 'dam', 0, 'a', [(fake, dict(phase=1, name='a')),
                                          (fake, dict(phase=2, name='a'))], 1),
          suites.Run('x', 'dnc', 0, 'b', [(fake, dict(phase=1, name='b'))], 1)]
  (info / 'fail_b').write_text('3')
  child = f'''
import json, sys
sys.argv = ['run_suite', '--parallel=2']
from absl import flags
from experiments import run_suite, suites
flags.FLAGS(sys.argv)
runs = [suites.Run(*run) for run in json.loads({json.dumps(runs)!r})]
failed = run_suite.train(runs, {str(info)!r})
print(json.dumps([[run.name, phase, code] for run, phase, code in failed]))
'''

  def run_suite_once():
    out = subprocess.run([sys.executable, '-c', child], capture_output=True,
                         text=True, cwd=ROOT, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])

  assert run_suite_once() == [['b', 0, 3]]
  calls = list(filter(None, (info / 'calls.txt').read_text().split('\n')))
  assert sorted(calls) == ['a 1', 'a 2', 'b 1']
  assert calls.index('a 1') < calls.index('a 2')  # phases in order
  assert suites.done_phases(str(info), runs[0]) == {0, 1}
  assert suites.done_phases(str(info), runs[1]) == set()
  # Again: a's phases are done and not rerun; b runs again and now passes.
  (info / 'fail_b').unlink()
  assert run_suite_once() == []
  calls = list(filter(None, (info / 'calls.txt').read_text().split('\n')))
  assert calls[3:] == ['b 1']
  assert suites.done_phases(str(info), runs[1]) == {0}


def test_kvmemnn_numbers_and_table(tmp_path):
  run = suites.Run('kvmemnn_task20', 'kvmemnn', 0, 'kv', [
      ('run_kvmemnn.py', {})], None)
  _write_metrics(str(tmp_path / 'kv' / 'metrics.csv'), [
      dict(step=10, epoch=1, wall_time_s=5., test_task1=0.5, test_task2=0.7,
           test_mean=0.6),
      dict(step=20, epoch=2, wall_time_s=9., test_task1=1.0, test_task2=0.99,
           test_mean=0.995),
  ])
  suites.mark_done(str(tmp_path), run, 0)
  numbers = report.run_numbers(run, str(tmp_path), 'test_mean')
  # Accuracies are reported as they are; steps to 99 % are for bit
  # accuracies only.
  assert numbers['final'] == 0.995 and numbers['steps_to_99'] is None
  assert numbers['final_per_task'] == {1: 1.0, 2: 0.99}
  assert numbers['train_time_s'] == 9.
  text = report.table(report.aggregate([numbers]), suites.SUITES['cpu'])
  assert '| kvmemnn_task20 | KV-MemNN | 1 / 1 | test_mean | 0.995 ± 0.000 |' \
      ' 0.995 | 0.1 |' in text
  # Only the experiments with rows get their claim; no suite, no command.
  claims = text.split('Claims tested and how to run each row again:')[1]
  assert claims.count('\n* ') == 1 and 'run_suite.py' not in claims
  assert '* kvmemnn_task20: bAbI 1k task 20 test accuracy' in claims
  text = report.table(report.aggregate([numbers]), suites.SUITES['cpu'],
                      'cpu')
  # A bAbI row's command fetches the data a fresh clone lacks.
  assert text.rstrip().endswith(
      '`python experiments/run_suite.py --suite=cpu --only=kvmemnn_task20 '
      '--download`')
  assert [suites.rerun_flags(e) for e in suites.SUITES['cpu']] == [
      '', '', '', ' --download', ' --download']


# A stand-in for a training script in a trial: writes metrics.csv with two
# reports (the second at 50 steps/s), prints the bAbI steps-per-epoch line
# when it has --epoch, and counts its calls.
_FAKE_TRIAL = '''
import os, sys
args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)
run = os.path.join(args['info_dir'], args['name'])
os.makedirs(run)
with open(os.path.join(run, 'metrics.csv'), 'w') as f:
  f.write('step,steps_per_sec\\n1,1.0\\n2,50.0\\n')
with open(os.path.join(os.path.dirname(sys.argv[0]), 'calls.txt'), 'a') as f:
  f.write(args['name'] + '\\n')
if 'epoch' in args:
  print('bAbI en-10k: 64,000 stories, 1,000 steps per epoch of 64.')
'''


def test_estimate_times_each_configuration_once(tmp_path):
  fake = str(tmp_path / 'fake.py')
  (tmp_path / 'fake.py').write_text(_FAKE_TRIAL)
  runs = [suites.Run('copy', 'dam', seed, f'copy_s{seed}', [
      (fake, dict(name=f'copy_s{seed}', seed=seed, training_iteration=9000))],
                     9000) for seed in (0, 1)]
  runs.append(suites.Run('babi', 'dam', 0, 'babi_s0', [
      (fake, dict(name='babi_s0', babi=True, epoch=2, learning_rate=3e-5)),
      (fake, dict(name='babi_s0', babi=True, epoch=1, learning_rate=1e-5)),
      ('eval.py', dict(name='babi_s0'))], None))

  def argv_of(script, flags, info_dir):
    return suites.command_line(script, flags, info_dir)

  path = report.estimate(runs, 2, str(tmp_path / 'out'), argv_of,
                         dict(os.environ), ROOT)
  with open(path) as f:
    estimate = json.load(f)
  hours = {r['name']: r['hours'] for r in estimate['runs']}
  # 9,000 steps at 50 steps/s; bAbI: (2 + 1) epochs of 1,000 steps.
  assert hours == {'copy_s0': round(9000 / 50 / 3600, 2),
                   'copy_s1': round(9000 / 50 / 3600, 2),
                   'babi_s0': round(3000 / 50 / 3600, 2)}
  # One trial per configuration: seeds, learning rates and lengths do not
  # count.
  calls = (tmp_path / 'calls.txt').read_text().split()
  assert calls == ['trial0', 'trial1']
  assert estimate['total_hours'] == round(sum(hours.values()), 1)
  assert estimate['unknown'] == []


def test_report_of_only_some_experiments_still_covers_the_suite(tmp_path):
  out = subprocess.run(
      [sys.executable, 'experiments/run_suite.py', '--suite=cpu',
       '--only=copy', '--report_only', f'--info_dir={tmp_path / "info"}',
       f'--results_dir={tmp_path / "results"}'],
      capture_output=True, text=True, cwd=ROOT, timeout=300,
      env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3'))
  assert out.returncode == 0, out.stderr[-2000:]
  # TensorFlow's load-time lines are hidden, as in the scripts (--tf_logs).
  assert 'oneDNN' not in out.stderr and 'I0000' not in out.stderr, out.stderr
  text = (tmp_path / 'results' / 'cpu' / 'table.md').read_text()
  for experiment in suites.SUITES['cpu']:
    assert f'| {experiment.name}' in text, experiment.name
  # Nothing has run: no seed done anywhere.
  assert '| copy (10,000 steps) | DAM | 0 / 3 | 0 / 0 | -- |' in text


def test_missing_data_stops_the_suite_before_any_run(tmp_path):
  """No bAbI and no Convex Hull data: one message naming the flags that
  supply them and what their folders must hold, exit code 2, and no run
  started (no run folder, no report)."""
  info = tmp_path / 'info'
  out = subprocess.run(
      [sys.executable, 'experiments/run_suite.py', '--suite=gpu',
       '--only=convex_hull,babi', f'--babi_dir={tmp_path / "no_babi"}',
       f'--convex_hull_dir={tmp_path / "no_hull"}', f'--info_dir={info}',
       f'--results_dir={tmp_path / "results"}'],
      capture_output=True, text=True, cwd=ROOT, timeout=300,
      env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='3'))
  assert out.returncode == 2, out.stderr[-3000:]
  assert 'Traceback' not in out.stderr, out.stderr[-3000:]
  assert 'no run was started' in out.stderr
  assert '--babi_dir=<folder holding tasks_1-20_v1-2/' in out.stderr
  assert '--download' in out.stderr  # run_suite.py has it
  assert 'convex_hull_5_test.txt' in out.stderr
  assert '--convex_hull_dir=<folder holding' in out.stderr
  assert 'started' not in out.stdout
  assert not any(info.glob('*_s0')) and not (tmp_path / 'results').exists()


def test_suite_data_check_names_the_runs_and_completes_en_10k(tmp_path,
                                                             babi_files):
  """The check of the cpu suite's KV-MemNN runs (set en, every training
  file) and the babi_cpu suite's runs (en-10k, completed from en)."""
  from experiments import suite_data  # pylint: disable=import-outside-toplevel
  from tasks import babi  # pylint: disable=import-outside-toplevel

  def check(suite, babi_dir):
    return suite_data.check(json.loads(json.dumps(dict(
        needs=suites.data_needs(suites.runs(suite)), babi_dir=str(babi_dir),
        convex_hull_dir=str(tmp_path / 'hull'), download=False,
        babi_10k_out=str(tmp_path / 'completed')))))

  result, problems = check('cpu', tmp_path / 'none')
  assert result == {'babi_10k_dir': None} and len(problems) == 2
  assert "bAbI set 'en' (read by kvmemnn_joint, kvmemnn_task20)" in (
      problems[0])
  assert suite_data.babi_flag() in problems[1] and '--download' in problems[1]
  data = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      skip={(3, 'train')}), set_name='en')
  _, problems = check('cpu', data)
  assert 'lacks the training file(s) qa3_three' in problems[0]
  babi_files.write_set(data / babi.ROOT_NAME / 'en', babi_files.all_tasks())
  babi_files.write_set(data / babi.ROOT_NAME / 'en-10k',
                       babi_files.all_tasks(skip={(3, 'train')}))
  assert check('cpu', data) == ({'babi_10k_dir': None}, [])
  result, problems = check('babi_cpu', data)
  assert problems == [] and result == {'babi_10k_dir': str(
      tmp_path / 'completed')}


def test_babi_data_completes_a_missing_10k_training_file(tmp_path,
                                                         babi_files):
  """en-10k without qa3's training file: the 1k file of the same release
  takes its place in a copy, recorded in SUBSTITUTED.json; a complete set
  is used as it is; a file missing from both sets is refused."""
  from experiments import babi_data  # pylint: disable=import-outside-toplevel
  from tasks import babi  # pylint: disable=import-outside-toplevel
  data = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      skip={(3, 'train')}))
  small = babi_files.all_tasks(extra={(3, 'train'): babi_files.tiny_task(
      3, 'train') * 3})
  babi_files.write_set(data / babi.ROOT_NAME / 'en', small)
  out = tmp_path / 'completed'
  folder, records = babi_data.complete(str(data), str(out), log=lambda _: 0)
  assert folder == str(out)
  assert [(r['task'], r['file']) for r in records] == [
      (3, babi_files.task_file(3, 'train'))]
  assert babi_data.substitutions(folder) == records
  loaded = babi.preprocess(folder, 'en-10k')
  assert loaded.missing_files == []
  assert loaded.counts[3].train_stories == 6  # the 1k file's 3 x 2 stories
  assert loaded.counts[1].train_stories == 2  # the 10k files as they are
  # Again: nothing changes (the cache key, the folder's contents, holds).
  before = {p.name: p.stat().st_mtime_ns for p in out.rglob('*.txt')}
  babi_data.complete(str(data), str(out), log=lambda _: 0)
  assert before == {p.name: p.stat().st_mtime_ns
                    for p in out.rglob('*.txt')}
  # A complete set: used as it is.
  complete = babi_files.write_tree(tmp_path, babi_files.all_tasks(),
                                   name='full')
  assert babi_data.complete(str(complete), str(tmp_path / 'x')) == (
      str(complete), [])
  assert not (tmp_path / 'x').exists()
  # Missing from both sets: refused, naming the file.
  (data / babi.ROOT_NAME / 'en' / babi_files.task_file(3, 'train')).unlink()
  with pytest.raises(babi.BabiDataError, match='qa3_three-supporting-facts'):
    babi_data.complete(str(data), str(tmp_path / 'y'))


def test_only_selects_experiments_or_single_runs():
  every = suites.runs('babi_cpu')
  assert [r.name for r in every] == ['babi_dam_s0', 'babi_dnc_s0']
  assert [r.name for r in suites.select(every, ['babi_dnc_s0'])] == [
      'babi_dnc_s0']
  assert suites.select(every, ['babi']) == every
  cpu = suites.runs('cpu')
  chosen = suites.select(cpu, ['copy_dnc_mrl_s1', 'associative_recall'])
  assert [r.name for r in chosen][0] == 'copy_dnc_mrl_s1'
  assert {r.experiment for r in chosen} == {'copy', 'associative_recall'}
  assert len(chosen) == 1 + 4 * 3
  with pytest.raises(ValueError, match=r"unknown experiments or runs "
                     r"\['bogus'\].*the runs babi_dam_s0, babi_dnc_s0"):
    suites.select(every, ['bogus'])
