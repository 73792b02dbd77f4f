"""Runs a suite of the paper's experiments (experiments/suites.py), resumably,
then writes its report.

    python experiments/run_suite.py --suite=cpu --download
    python experiments/run_suite.py --suite=cpu --report_only
    python experiments/run_suite.py --suite=gpu --estimate=20 \
        --babi_dir=<folder holding tasks_1-20_v1-2> \
        --convex_hull_dir=<folder holding the Convex Hull files>

Data: the bAbI runs (train.py --babi=True, eval.py, run_kvmemnn.py) read
--babi_dir, by default bAbI_data/, the folder train.py reads (holding
tasks_1-20_v1-2.tar.gz or the extracted tasks_1-20_v1-2/); --download
fetches the official archive there when it is missing. The Convex Hull
runs read --convex_hull_dir (default Convexhull_data/, run_convexhull.py's).
Before the first run starts, every selected run's data are checked (in a
child process, `experiments/suite_data.py`); if some are missing, the
suite stops at once with one message naming the flag that supplies them
and what the folder must hold.

Each run trains in <info_dir>/<run name>/ through its script (train.py,
run_nfar.py, ...), its output appended to <info_dir>/<run name>/suite.log.
A phase that ended with exit code 0 is recorded in
<info_dir>/<run name>/suite_phases.json and never run again; an
interrupted one (Ctrl-C, a kill, the end of a session) runs again and the
script resumes from its latest checkpoint. So the same command, rerun, goes
on where the last one stopped. Ctrl-C stops every run after its current
step (each saves a checkpoint).

--parallel runs that many runs at once, each with --threads TensorFlow
threads: on 2 CPU cores two one-thread runs of the Copy model train ~1.6 x
more steps per second together than one two-thread run (measured in
docs/results.md).

When every run of the suite has finished (or with --report_only), the
report goes to results/<suite>/ (`experiments/report.py`).

--estimate=N runs each distinct configuration of the suite for N steps
into a scratch folder and writes the expected hours of the whole suite on
this machine (results/<suite>/estimate.json) instead of training.
"""

import json
import os
import signal
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `python experiments/run_suite.py` from a checkout

from damrun import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from damrun import presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from damrun import usage  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments import report as report_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments import suites  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_enum('suite', 'cpu', list(suites.SUITES), 'The suite to run.')
flags.DEFINE_string('info_dir', os.path.join('info', 'suite'), 'Where the '
                    'runs go (one folder per run; checkpoints are kept).')
flags.DEFINE_string('results_dir', 'results', 'Where the report goes '
                    '(<results_dir>/<suite>/).')
flags.DEFINE_integer('parallel', 2, 'Runs at once.')
flags.DEFINE_integer('threads', 1, 'TensorFlow threads per run '
                     '(TF_NUM_INTRAOP_THREADS).')
flags.DEFINE_string('babi_dir', presets.TRAIN['data_dir'], 'bAbI data folder '
                    '(holding tasks_1-20_v1-2.tar.gz or the extracted '
                    'tasks_1-20_v1-2/), passed as --data_dir to the bAbI '
                    'runs (train.py, eval.py) and the KV-MemNN runs; the '
                    'default is train.py\'s.')
flags.DEFINE_boolean('download', False, 'Download the official bAbI archive '
                     'into --babi_dir before the first run if no data is '
                     'there (as train.py --download).')
flags.DEFINE_string('convex_hull_dir', presets.CONVEX_HULL['data_dir'],
                    'Convex Hull data folder (the Pointer Networks files, or '
                    'run_convexhull.py --generate_data\'s), passed as '
                    '--data_dir to run_convexhull.py; the default is its.')
flags.DEFINE_list('only', None, 'Run only these experiments (names in '
                  'experiments/suites.py) or runs (e.g. babi_dnc_s0); the '
                  'report still covers the whole suite.')
flags.DEFINE_boolean('report_only', False, 'Write the report from the runs '
                     'there are; train nothing.')
flags.DEFINE_integer('estimate', 0, 'Time this many steps of each '
                     'configuration and write the expected hours instead '
                     'of training (0: train).')
FLAGS = flags.FLAGS

flags.register_validator('parallel', lambda v: v >= 1,
                         message='--parallel must be >= 1.')
flags.register_validator('threads', lambda v: v >= 1,
                         message='--threads must be >= 1.')
flags.register_validator('estimate', lambda v: v == 0 or v >= 2,
                         message='--estimate must be 0 (train) or >= 2 '
                         '(trial steps: two reports, the second one timed).')

# The en-10k folder the DAM / DNC bAbI runs read (`babi_data.complete`:
# --babi_dir, or its copy with the missing 10k training files replaced by
# the 1k ones); set by check_data.
_babi_10k_dir = []


def _argv(script, phase_flags, info_dir):
  phase_flags = dict(phase_flags)
  data = suites.data_read(script, phase_flags)
  if data is not None and data[0] == 'babi':
    folder = os.path.abspath(FLAGS.babi_dir)
    if script != 'run_kvmemnn.py':  # en-10k, completed
      folder = (_babi_10k_dir or [folder])[0]
    phase_flags['data_dir'] = folder
  elif data is not None and data[0] == 'convex_hull':
    phase_flags['data_dir'] = os.path.abspath(FLAGS.convex_hull_dir)
  return suites.command_line(script, phase_flags, info_dir)


def check_data(runs, info_dir):
  """Checks the data every run reads before the first starts (fetching
  the bAbI archive first with --download), in a child process
  (`experiments.suite_data`: the runner imports no TensorFlow). Sets
  `_babi_10k_dir`. Returns False (the child has printed why) when data are
  missing."""
  needs = suites.data_needs(runs)
  if not needs:
    return True
  request = dict(needs=needs, babi_dir=os.path.abspath(FLAGS.babi_dir),
                 convex_hull_dir=os.path.abspath(FLAGS.convex_hull_dir),
                 download=FLAGS.download,
                 babi_10k_out=os.path.join(info_dir, 'babi_data'))
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.suite_data', json.dumps(request)],
      cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
  if result.returncode != 0:
    if result.returncode != 2:
      print(f'run_suite.py: the data check failed (exit code '
            f'{result.returncode}); no run was started.', file=sys.stderr)
    return False
  folder = json.loads(result.stdout.strip().splitlines()[-1])['babi_10k_dir']
  _babi_10k_dir[:] = [folder] if folder else []
  return True


def _env(info_dir=None):
  """The runs' environment: --threads threads each, quiet logs, memory given
  back after peaks, and (with `info_dir`) XLA's persistent compilation
  cache in <info_dir>/xla_cache, so a resumed run loads its compiled steps
  instead of compiling them again (bAbI: a minute or more per padded
  length)."""
  threads = str(FLAGS.threads)
  # Logs: the scripts quiet TensorFlow themselves (--tf_logs shows them).
  env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads,
             TF_NUM_INTEROP_THREADS='1')
  # glibc: large blocks are mapped and unmapped, not kept in the heap, so
  # a run's memory falls back after the peak of a long step or a
  # compilation (two bAbI runs side by side kept ~13 GB each without it).
  env.setdefault('MALLOC_MMAP_THRESHOLD_', '131072')
  env.setdefault('MALLOC_TRIM_THRESHOLD_', '131072')
  if info_dir:
    cache = os.path.join(info_dir, 'xla_cache')
    env['TF_XLA_FLAGS'] = ' '.join(filter(None, (
        env.get('TF_XLA_FLAGS'),
        f'--tf_xla_persistent_cache_directory={cache}')))
  return env


class _Job:
  """One run: its remaining phases, one process at a time."""

  def __init__(self, run, info_dir):
    self.run, self.info_dir = run, info_dir
    done = suites.done_phases(info_dir, run)
    self.todo = [i for i in range(len(run.phases)) if i not in done]
    self.process = None
    self.phase = None
    self.failed = None

  def start_next(self):
    self.phase = self.todo.pop(0)
    script, phase_flags = self.run.phases[self.phase]
    argv = _argv(script, phase_flags, self.info_dir)
    os.makedirs(os.path.join(self.info_dir, self.run.name), exist_ok=True)
    log = open(os.path.join(self.info_dir, self.run.name, 'suite.log'), 'a')
    log.write(f'\n$ python {" ".join(argv)}\n')
    log.flush()
    self.process = subprocess.Popen([sys.executable] + argv, cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    env=_env(self.info_dir))
    log.close()

  def poll(self):
    """None while running; True when the run is complete; False if a phase
    failed."""
    code = self.process.poll()
    if code is None:
      return None
    if code != 0:
      self.failed = (self.phase, code)
      return False
    suites.mark_done(self.info_dir, self.run, self.phase)
    if self.todo:
      self.start_next()
      return None
    return True


def train(runs, info_dir):
  """Runs every unfinished run, --parallel at a time; returns the failed
  ones [(run, phase, exit code)]."""
  pending = [_Job(run, info_dir) for run in runs]
  pending = [job for job in pending if job.todo]
  total = len(pending)
  print(f'{len(runs) - total} of {len(runs)} runs finished already; '
        f'{total} to run, {FLAGS.parallel} at a time with {FLAGS.threads} '
        f'thread(s) each. Logs: {info_dir}/<run>/suite.log', flush=True)
  running, failed, finished = [], [], 0
  start = time.time()
  stopping = []

  def stop(signum, frame):
    del frame
    stopping.append(signum)
    for job in running:
      job.process.send_signal(signal.SIGTERM)  # each saves a checkpoint

  previous = {s: signal.signal(s, stop) for s in (signal.SIGINT,
                                                  signal.SIGTERM)}
  try:
    while (pending or running) and not (stopping and not running):
      while pending and len(running) < FLAGS.parallel and not stopping:
        job = pending.pop(0)
        job.start_next()
        running.append(job)
        print(f'[{time.strftime("%H:%M:%S")}] started {job.run.name} '
              f'(phase {job.phase + 1}/{len(job.run.phases)})', flush=True)
      time.sleep(2)
      for job in list(running):
        state = job.poll()
        if state is None:
          continue
        running.remove(job)
        if stopping:
          print(f'[{time.strftime("%H:%M:%S")}] stopped {job.run.name} '
                f'(checkpoint saved)', flush=True)
        elif state:
          finished += 1
          elapsed = time.time() - start
          print(f'[{time.strftime("%H:%M:%S")}] finished {job.run.name} '
                f'({finished}/{total}, {elapsed / 60:.1f} min)', flush=True)
        else:
          failed.append((job.run, *job.failed))
          print(f'[{time.strftime("%H:%M:%S")}] {job.run.name} phase '
                f'{job.failed[0] + 1} exited with code {job.failed[1]}: see '
                f'{info_dir}/{job.run.name}/suite.log', flush=True)
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  if stopping:
    print('Stopped: every run saved a checkpoint; the same command resumes.')
    raise KeyboardInterrupt
  return failed


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  runs = every_run = suites.runs(FLAGS.suite)
  if FLAGS.only:
    try:
      runs = suites.select(runs, FLAGS.only)
    except ValueError as e:
      raise app.UsageError(f'--only: {e}', exitcode=2) from None
  info_dir = os.path.abspath(FLAGS.info_dir)
  out_dir = os.path.join(FLAGS.results_dir, FLAGS.suite)
  if (FLAGS.estimate or not FLAGS.report_only) and not check_data(
      runs, info_dir):
    return 2
  if FLAGS.estimate:
    path = report_lib.estimate(runs, FLAGS.estimate, out_dir,
                               lambda script, phase_flags, scratch: _argv(
                                   script, phase_flags, scratch), _env(), ROOT)
    print(f'Wrote {path}')
    return 0
  if not FLAGS.report_only:
    try:
      failed = train(runs, info_dir)
    except KeyboardInterrupt:
      return 130
    if failed:
      print(f'{len(failed)} run(s) failed; no report. Fix and rerun the same '
            f'command (finished runs are kept).', file=sys.stderr)
      return 1
  # The report covers the whole suite (with --only too: the other rows are
  # what info_dir holds of them), so rerunning a few rows never shrinks it.
  cli.quiet_tensorflow()  # the report's readers import TensorFlow
  written = report_lib.write(FLAGS.suite, every_run, info_dir, out_dir)
  for path in written:
    print(f'Wrote {path}')
  return 0


if __name__ == '__main__':
  usage.run(main)
