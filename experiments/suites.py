"""The paper's experiments, declared once: which script, flags, seeds, steps.

Park et al. 2021 compare the DAM with the DNC (Graves et al. 2016) on the
algorithmic tasks, bAbI, Nth Farthest and Convex Hull, and the DAM with and
without the Memory Refreshing Loss. Every run here starts from one of the
authors' commands (`damrun.presets.COMMANDS`) and changes only what the
comparison needs:

  dam        the authors' command as written (the DAM, with its p_re)
  dnc        --dam=False --p_re=0: the DNC baseline, no MRL
  dam_nomrl  --p_re=0: the MRL ablation
  dnc_mrl    --dam=False: the DNC with the authors' MRL (the fourth cell of
             memory x loss: DAM against DNC at equal loss)

plus --seed, a held-out evaluation at every report (--eval_batches fresh
batches of another seed, no dropout, no clipping) and the run's name.

Suites (`SUITES`): 'cpu', what two CPU cores do in a few hours; 'gpu', the
authors' full runs. `experiments/run_suite.py` runs a suite and writes its
report.
"""

import collections
import json
import os

from damrun import presets

# A model variant: flags over the authors' command.
MODELS = {
    'dam': {},
    'dnc': {'dam': False, 'p_re': 0.},
    'dam_nomrl': {'p_re': 0.},
    'dnc_mrl': {'dam': False},
    # The KV-MemNN baseline (run_kvmemnn.py): the reference's task-ordered
    # batches (default) or mixed batches.
    'kvmemnn': {},
    'kvmemnn_mixed': {'reproduce_quirks': False},
}
MODEL_LABELS = {'dam': 'DAM', 'dnc': 'DNC', 'dam_nomrl': 'DAM, no MRL',
                'dnc_mrl': 'DNC, MRL',
                'kvmemnn': 'KV-MemNN', 'kvmemnn_mixed':
                    'KV-MemNN, mixed batches'}

# The KV-MemNN reference's commands (its README): joint.py and
# single.py --task_id 20 ... (`run_kvmemnn.py` runs both).
KVMEMNN_JOINT = ('run_kvmemnn.py', {})
KVMEMNN_TASK20 = ('run_kvmemnn.py', dict(task_id=20, learning_rate=0.005,
                                         feature_size=40, epochs=200))
# The mean test accuracy over the 20 tasks published in the README of the
# reference implementation (siyuanzhao/key-value-memory-networks; bag of
# words, joint model, bAbI 1k; docs/kvmemnn.md has its table).
KVMEMNN_PUBLISHED = (0.796, 'published 0.796: mean test accuracy,\nbAbI 1k '
                            'joint (README of the reference,\n'
                            'siyuanzhao/key-value-memory-networks)')

Experiment = collections.namedtuple(
    'Experiment', ('name', 'commands', 'models', 'seeds', 'steps', 'extra',
                   'metric', 'paper', 'title', 'reference'),
    defaults=(None, None))
Experiment.__doc__ = """One comparison.

Fields:
  name: e.g. 'copy'.
  commands: the commands it runs, in order, on one run directory: names
    of the authors' commands (`damrun.presets.COMMANDS`; bAbI: training,
    fine-tuning, evaluation) or (script, flags) pairs (the KV-MemNN
    reference's).
  models: model variants (`MODELS` keys).
  seeds: the --seed values.
  steps: --training_iteration (the authors' unless stated); None: the
    command's own length (bAbI's epochs).
  extra: more flags for every run (reports, held-out evaluation).
  metric: the metrics.csv column the report reads ('eval_bit_accuracy'
    for the algorithmic tasks, 'test_mean' for the KV-MemNN); the report
    counts the steps to 99 % of the bit accuracies. A metric with a report
    of its own (`experiments.report.OWN_REPORTS`: 'test_mean_error', the
    bAbI test error per epoch) gets that report.
  paper: what Park et al. 2021 claim for it (one line).
  title: what its picture in the report shows (None: the report's own
    words).
  reference: (value, label): a published value of `metric` its picture
    marks with a dashed line, labelled with its source (None: none).
"""

Run = collections.namedtuple('Run', ('experiment', 'model', 'seed', 'name',
                                     'phases', 'steps'))
Run.__doc__ = """One run directory and the commands that fill it.

Fields:
  experiment, model, seed: what it is.
  name: its --name (<experiment>_<model>_s<seed>).
  phases: list of (script, flags dict), run in order (bAbI: training,
    fine-tuning, evaluation; one phase otherwise).
  steps: its --training_iteration (None for bAbI, which counts epochs).
"""

# Held-out bit accuracy every 100 steps on 10 fresh batches (160 sequences);
# no TensorBoard memory pictures (they cost ~1 % and the suite has no use
# for them).
_ALGORITHMIC_EXTRA = dict(report_interval=100, eval_batches=10,
                          memory_pictures=False)

# bAbI on two CPU cores: the authors' command, first for 10 epochs (so both
# models get there before either goes on), then their 50 epochs, the
# 5-epoch fine-tuning and eval.py. The test set is evaluated every epoch
# (metrics.csv), a checkpoint is saved at least every 10 minutes, and the
# training loop drops the rows of stories that have ended (--row_levels).
_BABI_10_EPOCHS = ('train.py', dict(presets.COMMANDS['babi'][1], epoch=10))
_BABI_EXTRA = dict(test_interval=1, report_interval=100,
                   checkpoint_minutes=10, memory_pictures=False,
                   row_levels=3)

_CLAIM_ALGORITHMIC = ('the DAM learns faster than the DNC, and the MRL '
                      'speeds up learning (Park et al. 2021, Sec. 5, '
                      'algorithmic tasks)')

SUITES = {
    'cpu': (
        Experiment('copy', ('copy',), ('dam', 'dnc', 'dam_nomrl', 'dnc_mrl'),
                   (0, 1, 2), 10000, _ALGORITHMIC_EXTRA, 'eval_bit_accuracy',
                   _CLAIM_ALGORITHMIC),
        Experiment('associative_recall', ('associative_recall',),
                   ('dam', 'dnc', 'dam_nomrl', 'dnc_mrl'), (0, 1, 2), 10000,
                   _ALGORITHMIC_EXTRA, 'eval_bit_accuracy',
                   _CLAIM_ALGORITHMIC),
        # The authors' command has no --p_re: no MRL, so no ablation.
        Experiment('representation_recall', ('representation_recall',),
                   ('dam', 'dnc'), (0, 1), 20000, _ALGORITHMIC_EXTRA,
                   'eval_bit_accuracy',
                   'the DAM (K = 8) beats the DNC on Representation Recall '
                   '(Park et al. 2021, Sec. 5)'),
        Experiment('kvmemnn_joint', (KVMEMNN_JOINT,),
                   ('kvmemnn', 'kvmemnn_mixed'), (0,), None, {}, 'test_mean',
                   'bAbI 1k joint mean test accuracy 0.796 (the KV-MemNN '
                   'reference README)',
                   'the KV-MemNN on bAbI 1k, 20 tasks trained jointly: '
                   'accuracy (mean over the 20 tasks) at each evaluation',
                   KVMEMNN_PUBLISHED),
        Experiment('kvmemnn_task20', (KVMEMNN_TASK20,), ('kvmemnn',), (0,),
                   None, {}, 'test_mean',
                   'bAbI 1k task 20 test accuracy (the reference README\'s '
                   'single-task example)',
                   'the KV-MemNN on bAbI 1k task 20 alone: accuracy at each '
                   'evaluation'),
    ),
    'babi_cpu': (
        Experiment('babi', (_BABI_10_EPOCHS, 'babi', 'babi_finetune',
                            'babi_eval'), ('dam', 'dnc'), (0,), None,
                   _BABI_EXTRA, 'test_mean_error',
                   'bAbI en-10k joint: mean error and failed tasks (Park et '
                   'al. 2021, Sec. 5); the DNC 16.7 +- 7.6 % mean error, '
                   '11.2 +- 5.4 failed tasks (Graves et al. 2016)'),
    ),
    'gpu': (
        Experiment('copy', ('copy',), ('dam', 'dnc', 'dam_nomrl'),
                   (0, 1, 2, 3, 4), 10000, _ALGORITHMIC_EXTRA,
                   'eval_bit_accuracy', _CLAIM_ALGORITHMIC),
        Experiment('associative_recall', ('associative_recall',),
                   ('dam', 'dnc', 'dam_nomrl'), (0, 1, 2, 3, 4), 10000,
                   _ALGORITHMIC_EXTRA, 'eval_bit_accuracy',
                   _CLAIM_ALGORITHMIC),
        Experiment('representation_recall', ('representation_recall',),
                   ('dam', 'dnc'), (0, 1, 2, 3, 4), 20000, _ALGORITHMIC_EXTRA,
                   'eval_bit_accuracy',
                   'the DAM (K = 8) beats the DNC on Representation Recall '
                   '(Park et al. 2021, Sec. 5)'),
        Experiment('nth_farthest', ('nth_farthest',),
                   ('dam', 'dnc', 'dam_nomrl'),
                   (0,), 300000, {}, 'test_answer_accuracy',
                   'Nth Farthest test accuracy (Park et al. 2021, Sec. 5)'),
        Experiment('convex_hull', ('convex_hull',), ('dam', 'dnc', 'dam_nomrl'),
                   (0,), 300000, {}, 'test5_sequence_accuracy',
                   'Convex Hull exact-sequence accuracy, N = 5 and 10 (Park '
                   'et al. 2021, Sec. 5)'),
        Experiment('babi', ('babi', 'babi_finetune', 'babi_eval'),
                   ('dam', 'dnc', 'dam_nomrl'), (0,), None, {},
                   'mean_error',
                   'bAbI en-10k joint: mean error and failed tasks (Park et '
                   'al. 2021, Sec. 5); the DNC 16.7 +- 7.6 % (Graves et al. '
                   '2016)'),
    ),
}


def runs(suite):
  """The runs of suite `suite`, in order.

  Raises:
    KeyError: an unknown suite (naming the known ones).
  """
  if suite not in SUITES:
    raise KeyError(f'Unknown suite {suite!r}; choose one of '
                   f'{", ".join(SUITES)}.')
  out = []
  for experiment in SUITES[suite]:
    for seed in experiment.seeds:  # every model of a seed, then the next
      for model in experiment.models:
        name = f'{experiment.name}_{model}_s{seed}'
        phases = []
        for command in experiment.commands:
          script, flags = (presets.COMMANDS[command]
                           if isinstance(command, str) else command)
          flags = dict(flags, name=name)
          if script != 'eval.py':  # eval.py reads the model from the run
            seed_flag = ('random_state' if script == 'run_kvmemnn.py'
                         else 'seed')
            flags.update(MODELS[model], **experiment.extra,
                         **{seed_flag: seed})
            if experiment.steps is not None:
              flags['training_iteration'] = experiment.steps
          elif not MODELS[model].get('dam', True):
            flags['dam'] = False
          phases.append((script, flags))
        out.append(Run(experiment.name, model, seed, name, phases,
                       experiment.steps))
  return out


def select(runs, only):
  """The runs of `runs` named by `only`: experiment names or run names.

  Raises:
    ValueError: a name that is neither (listing the names there are).
  """
  experiments = sorted({run.experiment for run in runs})
  unknown = set(only) - set(experiments) - {run.name for run in runs}
  if unknown:
    raise ValueError(
        f'unknown experiments or runs {sorted(unknown)}; the suite has the '
        f'experiments {", ".join(experiments)} and the runs '
        f'{", ".join(run.name for run in runs)}.')
  return [run for run in runs if run.experiment in only or run.name in only]


# -- the data the runs read ---------------------------------------------------

# The bAbI set each script reads unless its flags say otherwise: train.py
# --babi=True and eval.py the authors' en-10k (eval.py: the run's), the
# KV-MemNN reference's en (run_kvmemnn.py's --babi_set default).
_BABI_SETS = {'train.py': presets.TRAIN['babi_set'], 'eval.py': 'en-10k',
              'run_kvmemnn.py': 'en'}


def data_read(script, flags):
  """The data one phase reads: ('babi', set name, every training file
  needed: the KV-MemNN's train/validation split) for train.py --babi=True,
  eval.py and run_kvmemnn.py; ('convex_hull', None, True) for
  run_convexhull.py; None for generated data."""
  if script == 'run_convexhull.py':
    return ('convex_hull', None, True)
  if script in ('eval.py', 'run_kvmemnn.py') or (
      script == 'train.py' and flags.get('babi')):
    return ('babi', flags.get('babi_set', _BABI_SETS[script]),
            script == 'run_kvmemnn.py')
  return None


def data_needs(runs):
  """The data the runs read, in order: [(`data_read` of a phase,
  [the names of the experiments whose runs read it])]."""
  needs = {}
  for run in runs:
    for script, flags in run.phases:
      need = data_read(script, flags)
      if need is not None and run.experiment not in needs.setdefault(need,
                                                                      []):
        needs[need].append(run.experiment)
  return list(needs.items())


def rerun_flags(experiment):
  """What an experiment's rerun command (`run_suite.py --only=<name>`, the
  report's) adds so that it runs on a fresh clone: --download for the
  experiments that read bAbI (fetched into --babi_dir's default folder
  when it is not there; nothing is fetched when it is)."""
  for command in experiment.commands:
    script, flags = (presets.COMMANDS[command] if isinstance(command, str)
                     else command)
    need = data_read(script, flags)
    if need is not None and need[0] == 'babi':
      return ' --download'
  return ''


def command_line(script, flags, info_dir):
  """argv of one phase of a run (after `python`)."""
  argv = [script]
  for key, value in dict(flags, info_dir=info_dir).items():
    if isinstance(value, bool):
      argv.append(f'--{key}' if value else f'--no{key}')
    else:
      argv.append(f'--{key}={value}')
  return argv


# Per run directory: the indices of the phases that ended with exit code 0.
PHASES_FILE = 'suite_phases.json'


def done_phases(info_dir, run):
  """Indices of the run's phases that finished (exit code 0)."""
  try:
    with open(os.path.join(info_dir, run.name, PHASES_FILE)) as f:
      return set(json.load(f))
  except (OSError, ValueError):
    return set()


def mark_done(info_dir, run, phase):
  """Records that phase `phase` of `run` finished (atomically)."""
  done = sorted(done_phases(info_dir, run) | {phase})
  path = os.path.join(info_dir, run.name, PHASES_FILE)
  with open(path + '.tmp', 'w') as f:
    json.dump(done, f)
  os.replace(path + '.tmp', path)
