"""The data of a suite's runs, checked (and with --download fetched) before
the first run starts.

`experiments/run_suite.py` runs this module in a child process, so that the
runner itself never imports TensorFlow (which `tasks` loads) and holds no
memory beside its runs:

    python -m experiments.suite_data '<request JSON>'

request: {"needs": `suites.data_needs` of the runs, "babi_dir": ...,
"convex_hull_dir": ..., "download": true|false, "babi_10k_out": where
`experiments.babi_data.complete` may build the en-10k set}. Exit code 0:
every run's data are there; stdout holds {"babi_10k_dir": the folder
train.py and eval.py read (None: no run reads en-10k)}. Exit code 2: some
are missing; stderr holds one message naming, for each kind of data, the
runs that read it, what is missing, the run_suite.py flag that supplies it
and what its folder must hold.
"""

import json
import os
import sys

from damrun import cli

# `tasks.babi` and `tasks.convex_hull`, imported in `main` (after
# `cli.run_main` has quietened TensorFlow's start-up lines) or on first use.
babi = convex_hull = None


def _import_tasks():
  global babi, convex_hull  # pylint: disable=global-statement
  if babi is None:
    from tasks import babi as babi_module  # pylint: disable=import-outside-toplevel
    from tasks import convex_hull as convex_hull_module  # pylint: disable=import-outside-toplevel
    babi, convex_hull = babi_module, convex_hull_module


def babi_flag():
  """The run_suite.py flag that supplies the bAbI data, and what its folder
  must hold."""
  _import_tasks()
  return (f'--babi_dir=<folder holding {babi.ROOT_NAME}/ (the extracted '
          f'release, with en/ and en-10k/) or {babi.ARCHIVE_NAME}>')


def convex_hull_flag():
  """The run_suite.py flag that supplies the Convex Hull data, and what its
  folder must hold."""
  _import_tasks()
  return (f'--convex_hull_dir=<folder holding '
          f'{" or ".join(convex_hull.TRAIN_FILES)}, '
          f'{convex_hull.TEST_FILES[5]} and {convex_hull.TEST_FILES[10]}>')


def _log(line):
  print(line, file=sys.stderr, flush=True)


def _readers(experiments):
  return f'read by {", ".join(experiments)}'


def babi_problem(babi_dir, set_name, experiments, needs_every_train_file):
  """Why the bAbI set is not usable in babi_dir (None if it is)."""
  what = f'bAbI set {set_name!r} ({_readers(experiments)})'
  try:
    source = babi.find_source(babi_dir, set_name)
  except babi.BabiDataError:
    if not os.path.isdir(babi_dir):
      return f'{what}: there is no folder {babi_dir}.'
    return (f'{what}: {babi_dir} holds neither {babi.ROOT_NAME}/{set_name}/ '
            f'nor {babi.ARCHIVE_NAME}.')
  try:
    _, missing, _ = babi.task_files(source, babi.TASKS)
  except babi.BabiDataError as e:
    return f'{what}: {e}'
  if missing and needs_every_train_file:
    return (f'{what}: {source.description} lacks the training file(s) '
            f'{", ".join(missing)}, which the KV-MemNN needs (each task\'s '
            f'train/validation split).')
  return None


def convex_hull_problem(folder, experiments):
  """Why the Convex Hull files are not usable in folder (None if they
  are)."""
  missing = []
  if not any(os.path.isfile(os.path.join(folder, name))
             for name in convex_hull.TRAIN_FILES):
    missing.append(' or '.join(convex_hull.TRAIN_FILES))
  missing += [name for name in convex_hull.TEST_FILES.values()
              if not os.path.isfile(os.path.join(folder, name))]
  if not missing:
    return None
  return (f'Convex Hull data ({_readers(experiments)}): {folder} lacks '
          f'{", ".join(missing)}.')


def check(request):
  """(result dict, problems [str]) of a request (see the module doc)."""
  _import_tasks()
  babi_dir, problems, result = request['babi_dir'], [], {'babi_10k_dir': None}
  babi_needs = [(need[1], need[2], experiments) for need, experiments in
                request['needs'] if need[0] == 'babi']
  hull_needs = [experiments for need, experiments in request['needs']
                if need[0] == 'convex_hull']
  if babi_needs and request['download']:
    try:
      babi.find_or_fetch(babi_dir, babi_needs[0][0], download=True, log=_log)
    except babi.BabiDataError as e:
      problems.append(f'bAbI: {e}')
  if not problems:
    for set_name, every_train_file, experiments in babi_needs:
      problem = babi_problem(babi_dir, set_name, experiments,
                             every_train_file)
      if problem:
        problems.append(problem)
      elif set_name == 'en-10k':
        try:
          result['babi_10k_dir'] = _complete(babi_dir,
                                             request['babi_10k_out'])
        except babi.BabiDataError as e:
          problems.append(f'bAbI set \'en-10k\' ({_readers(experiments)}): '
                          f'{e}')
  if problems and babi_needs:
    problems.append(
        f'  Pass {babi_flag()} (the official archive: {babi.DOWNLOAD_URL}), '
        f'or add --download to fetch the archive into {babi_dir}.')
  for experiments in hull_needs:
    problem = convex_hull_problem(request['convex_hull_dir'], experiments)
    if problem:
      problems += [problem, (
          f'  Pass {convex_hull_flag()}: the Pointer Networks files '
          f'({convex_hull.ORIGINALS_URL}), or generated ones: '
          f'{convex_hull.GENERATE_COMMAND} (docs/tasks.md).')]
  return result, problems


def _complete(babi_dir, out_dir):
  from experiments import babi_data  # pylint: disable=import-outside-toplevel
  return babi_data.complete(babi_dir, out_dir, log=_log)[0]


def main(argv):
  cli.check_no_arguments(argv[1:])  # one argument: the request
  request = json.loads(argv[1])
  result, problems = check(request)
  if problems:
    print('run_suite.py: data missing, so no run was started.\n' +
          '\n'.join(problems), file=sys.stderr)
    return 2
  print(json.dumps(result))
  return 0


if __name__ == '__main__':
  cli.run_main(main)
