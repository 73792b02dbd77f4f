"""Releases a bAbI run's weights: a small run directory eval.py can read.

    python experiments/release_weights.py \
      --run=../runs/babi_cpu/babi_dam_s0 \
      --out=results/babi_cpu/babi_dam_s0 [--num=<step>]

    python eval.py --info_dir=results/babi_cpu --name=babi_dam_s0 \
      --data_dir=<folder holding tasks_1-20_v1-2>

A training checkpoint (<run>/checkpoint/ckpt-<step>) holds the model, the
optimizer's slots (RMSProp: two per weight), the step counters and the data
streams' state: about three times the weights. The release holds the
model's weights only, in the layout of a run directory:

  <out>/config.json   the run's config.json (eval.py checks it and rebuilds
                      the model from it), plus the key 'release' naming the
                      source run, checkpoint and step;
  <out>/flags.json    the run's training flags, when it has them (as is);
  <out>/checkpoint/   ckpt-<step>.index / .data-*: tf.train.Checkpoint(
                      model=model), the object path training uses, so
                      eval.py (and visualize.py) restore it unchanged (with
                      the checkpoint's own save_counter, a scalar that
                      tf.train.Checkpoint.restore expects); and the
                      `checkpoint` state file naming it.

The step is --num's (default: the newest checkpoint that restores; a corrupt
newer one is skipped with a warning). The model is rebuilt from config.json
(damrun.saved), filled from the source checkpoint, written, and every
written variable is compared with the source's: the release is the same
weights, bit for bit. The source run is only read; the release is written
into a temporary folder beside --out and renamed, so a failure leaves no
half release at --out. An --out that already holds files (another release) is
refused: delete it first to replace it.
"""

import json
import os
import shutil
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from damrun import usage  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('run', None, 'The bAbI run directory to release '
                    '(<info_dir>/<name> of train.py --babi=True).')
flags.DEFINE_string('out', None, 'The release folder to write (absent or '
                    'empty); eval.py reads it as --info_dir=<its parent> '
                    '--name=<its name>.')
flags.DEFINE_integer('num', None, 'Checkpoint step to release (default: the '
                     'newest).')
flags.mark_flags_as_required(['run', 'out'])
FLAGS = flags.FLAGS

# Files copied from the run as they are (config.json gets the 'release' key).
COPIED = ('flags.json',)


class ReleaseError(Exception):
  """The release cannot be made (the message says why and what to do)."""


def _size(num_bytes):
  for unit in ('B', 'KB', 'MB'):
    if num_bytes < 1000 or unit == 'MB':
      return (f'{num_bytes} {unit}' if unit == 'B' else
              f'{num_bytes:.1f} {unit}')
    num_bytes /= 1000.


def _files(folder):
  """(path relative to `folder`, size) of every file under it, sorted."""
  out = []
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      out.append((os.path.relpath(path, folder), os.path.getsize(path)))
  return sorted(out)


def open_source(run):
  """The `damrun.saved.SavedRun` of the bAbI run directory `run`."""
  path = os.path.abspath(run)
  if not os.path.isdir(path):
    raise ReleaseError(f'No run directory at {run}: pass --run=<info_dir>/'
                       f'<name> of a bAbI run trained with train.py '
                       f'--babi=True (the folder holding config.json and '
                       f'checkpoint/).')
  if not os.path.isfile(os.path.join(path, 'config.json')):
    raise ReleaseError(f'{run} holds no config.json, so it is not a run '
                       f'directory: pass --run=<info_dir>/<name> of a bAbI '
                       f'run trained with train.py --babi=True.')
  from damrun import saved  # pylint: disable=g-import-not-at-top
  info_dir, name = os.path.split(path)
  try:
    source = saved.open_run(name, info_dir)
  except saved.SavedRunError as e:
    raise ReleaseError(str(e)) from None
  if source.config.get('mode') != 'bAbI':
    raise ReleaseError(f'{run} is a {source.config.get("task")!r} run, not '
                       f'bAbI: this script releases bAbI runs (for eval.py).')
  return source


def check_out(out, run_root):
  """Refuses an --out that holds files or lies inside the source run."""
  out, run_root = os.path.realpath(out), os.path.realpath(run_root)
  if os.path.commonpath([out, run_root]) == run_root:
    raise ReleaseError(f'--out={out} is inside the run {run_root}, which '
                       f'this script leaves untouched: choose a folder '
                       f'outside it.')
  if os.path.exists(out) and not os.path.isdir(out):
    raise ReleaseError(f'--out={out} is a file: pass a folder.')
  if os.path.isdir(out) and os.listdir(out):
    what = 'holds files'
    try:
      with open(os.path.join(out, 'config.json')) as f:
        release = json.load(f).get('release')
      if release:
        what = (f'already holds a release (of {release.get("run")}, step '
                f'{release.get("step")})')
    except (OSError, ValueError, AttributeError):
      pass
    raise ReleaseError(f'--out={out} {what}: pass another --out, or delete '
                       f'it first to replace it.')


def release(source, out, step=None, log=print):
  """Writes the weights-only release of `source` (a SavedRun) to `out`.

  Returns:
    (source checkpoint prefix, its size in bytes, step, release checkpoint
    prefix).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from damrun import checkpoints  # pylint: disable=g-import-not-at-top
  from damrun import saved  # pylint: disable=g-import-not-at-top
  run_dir, config = source.run_dir, source.config
  if step is not None:  # an absent step: say so before any work
    try:
      checkpoints.checkpoint_path(run_dir.checkpoint, step)
    except checkpoints.CheckpointError as e:
      raise ReleaseError(f'{e} Pass one of them as --num, or leave --num '
                         f'out to release the newest.') from None
  model = saved.build_model(config, config['vocab_size'],
                            vocab_size=config['vocab_size'],
                            embedding_size=config['embedding_size'],
                            flags=source.flags)
  try:
    source_path = saved.restore(model, run_dir.checkpoint, step, log=log)
  except checkpoints.CheckpointError as e:
    raise ReleaseError(str(e)) from None
  step = int(source_path.rsplit('-', 1)[-1])
  folder, prefix = os.path.split(source_path)
  source_size = sum(os.path.getsize(os.path.join(folder, n))
                    for n in os.listdir(folder) if n.startswith(prefix + '.'))

  out = os.path.abspath(out)
  parent = os.path.dirname(out)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent,
                             prefix=f'.{os.path.basename(out)}.partial-')
  try:
    checkpoint_dir = os.path.join(staging, 'checkpoint')
    name = f'ckpt-{step}'
    # As training saves (tf.train.CheckpointManager): ckpt-<step> and the
    # `checkpoint` state file (relative paths: the folder can move). Its
    # save_counter comes along: tf.train.Checkpoint.restore (eval.py's)
    # creates one and asserts it is matched.
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                               checkpoint_dir, max_to_keep=1).save(
                                   checkpoint_number=step)
    _check_same_weights(os.path.join(checkpoint_dir, name), source_path)
    # Names only: a committed release carries no path of this machine.
    released = dict(config, release=dict(
        run=os.path.basename(os.path.normpath(run_dir.root)),
        checkpoint=os.path.basename(source_path), step=step,
        contents='model weights only (no optimizer slots, no data state)'))
    with open(os.path.join(staging, 'config.json'), 'w') as f:
      json.dump(released, f, indent=2, sort_keys=True)
    for copied in COPIED:
      if os.path.exists(os.path.join(run_dir.root, copied)):
        shutil.copyfile(os.path.join(run_dir.root, copied),
                        os.path.join(staging, copied))
    os.chmod(staging, 0o755)  # mkdtemp's 0o700 would hide it from others
    if os.path.isdir(out):
      os.rmdir(out)  # empty (check_out)
    os.rename(staging, out)
  finally:
    if os.path.isdir(staging):
      shutil.rmtree(staging)
  return source_path, source_size, step, os.path.join(out, 'checkpoint',
                                                      name)


def _check_same_weights(released, source_path):
  """The variables written are the source checkpoint's model/ variables,
  all of them, bit for bit (a model rebuilt by newer code with fewer
  variables would otherwise drop weights silently: restore is partial)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  mine = tf.train.load_checkpoint(released)
  try:
    theirs = tf.train.load_checkpoint(source_path)
  except tf.errors.OpError as e:  # e.g. rotated away by a live run
    raise ReleaseError(f'Cannot read {source_path} again to check the '
                       f'release ({type(e).__name__}): nothing was written; '
                       f'run the command again.') from None
  keys = {key for key, _ in tf.train.list_variables(released)} - {
      '_CHECKPOINTABLE_OBJECT_GRAPH', 'save_counter/.ATTRIBUTES/VARIABLE_VALUE'}
  foreign = sorted(key for key in keys if not key.startswith('model/'))
  if foreign:
    raise ReleaseError(f'The release would hold {", ".join(foreign)}, not '
                       f'weights of the model: nothing was written.')
  missing = sorted({key for key, _ in tf.train.list_variables(source_path)
                    if key.startswith('model/')} - keys)
  if missing:
    raise ReleaseError(f'The model rebuilt from config.json lacks '
                       f'{", ".join(missing)} of {source_path}: the code '
                       f'changed since the run was trained; release it with '
                       f'the code that trained it. Nothing was written.')
  for key in sorted(keys):
    if not np.array_equal(mine.get_tensor(key), theirs.get_tensor(key)):
      raise ReleaseError(f'{key} differs from {source_path} after the '
                         f'round trip: nothing was written.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    source = open_source(FLAGS.run)
    check_out(FLAGS.out, source.run_dir.root)
    source_path, source_size, step, path = release(
        source, FLAGS.out, FLAGS.num,
        log=lambda line: print(line, file=sys.stderr))
  except ReleaseError as e:
    print(f'release_weights.py: {e}', file=sys.stderr)
    return 2
  written = _files(FLAGS.out)
  print(f'Released {source_path} (step {step}, {_size(source_size)}) as '
        f'{path}: the model\'s weights only.')
  for name, size in written:
    print(f'  {os.path.join(FLAGS.out, name)}  {_size(size)}')
  print(f'Written {_size(sum(size for _, size in written))} in '
        f'{len(written)} files. Evaluate with: python eval.py '
        f'--info_dir={os.path.dirname(os.path.normpath(FLAGS.out)) or "."} '
        f'--name={os.path.basename(os.path.normpath(FLAGS.out))} '
        f'--data_dir=<bAbI folder>')
  return 0


if __name__ == '__main__':
  usage.run(main)
