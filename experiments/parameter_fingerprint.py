"""Fingerprints of the parameters after a few fixed-seed training steps.

A refactoring must not change the numbers. This script runs every training
script (train.py for Copy, Associative Recall, Representation Recall and
bAbI; run_nfar.py; run_convexhull.py; run_kvmemnn.py) for a few steps at a
fixed seed, for the DAM and the DNC, with the memory refreshing loss on, at
reduced sizes, through the scripts' own command lines, then hashes every
variable of the final checkpoint (weights, optimizer slots, step, data
state).

    python experiments/parameter_fingerprint.py --out=/tmp/before.json
    ... change the code ...
    python experiments/parameter_fingerprint.py --out=/tmp/after.json \
        --compare=/tmp/before.json

`--compare` exits 1 unless every variable is bit-identical. Variables are
matched by checkpoint key; when keys were renamed they are matched by
(shape, dtype, hash) and the renames are listed. Bit-identity is a
same-machine property (XLA:CPU code generation depends on the CPU), so both
fingerprints must come from one machine.

Data: bAbI and Convex Hull use the real files in --data_root (bAbI v1.2 `en`,
and a convex-hull training file generated into the work directory).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STEPS = 30
SMALL = ['--hidden_size=32', '--memory_address_size=16',
         '--memory_length_size=12', '--num_read_heads=2',
         '--batch_size=8', f'--training_iteration={STEPS}',
         '--report_interval=10', '--checkpoint_interval=1000']


def runs(data_root, work):
  """name -> argv of every fingerprinted run."""
  babi_dir = os.path.join(data_root, 'babi')
  hull_dir = os.path.join(work, 'hull_data')
  out = {}
  for model, dam_flags in (('dam', ['--dam=True', '--num_memory_blocks=3']),
                           ('dnc', ['--dam=False'])):
    for mode in ('Copy', 'AssociativeRecall', 'RepresentationRecall'):
      # Representation Recall has no MRL (the authors' command has no p_re).
      p_re = '0' if mode == 'RepresentationRecall' else '0.3'
      sizes = (['--bit_w=16', '--num_bit=4'] if mode == 'RepresentationRecall'
               else [])
      out[f'{mode}_{model}'] = ['train.py', f'--mode={mode}', f'--p_re={p_re}',
                                '--min_length=2', '--max_length=6',
                                '--eval_batches=1'] + sizes + dam_flags + SMALL
    out[f'bAbI_{model}'] = ['train.py', '--mode=bAbI', '--p_re=0.3',
                            f'--data_dir={babi_dir}', '--babi_set=en',
                            '--embedding_size=16'] + dam_flags + SMALL
    out[f'NthFarthest_{model}'] = [
        'run_nfar.py', '--mlp_sizes=16,16', '--test_examples=16',
        '--eval_batch_size=8', '--num_vectors=4', '--vector_size=4'
    ] + dam_flags + SMALL
    out[f'ConvexHull_{model}'] = [
        'run_convexhull.py', f'--data_dir={hull_dir}', '--mlp_sizes=16',
        '--test_examples=16', '--eval_batch_size=8'] + dam_flags + SMALL
  out['Copy_dam_function'] = out['Copy_dam'] + ['--nojit_compile']
  out['bAbI_dam_noquirks'] = out['bAbI_dam'] + ['--noreproduce_quirks']
  out['NthFarthest_dam_noquirks'] = (out['NthFarthest_dam'] +
                                     ['--noreproduce_quirks'])
  out['KVMemNN_task1'] = [
      'run_kvmemnn.py', '--task_id=1', '--epochs=2', '--evaluation_interval=1',
      '--random_state=3',
      f'--data_dir={os.path.join(babi_dir, "tasks_1-20_v1-2", "en")}',
      '--output_file=' + os.path.join(work, 'kv_single.csv')]
  return out


def hull_data(data_root, work, env):
  """A small convex-hull data folder: real N=5 test file, generated rest."""
  hull_dir = os.path.join(work, 'hull_data')
  os.makedirs(hull_dir, exist_ok=True)
  real = os.path.join(data_root, 'convex_hull', 'convex_hull_5_test.txt')
  target = os.path.join(hull_dir, 'convex_hull_5_test.txt')
  if os.path.exists(real) and not os.path.exists(target):
    with open(real) as src, open(target, 'w') as dst:
      dst.write(src.read())
  subprocess.run([sys.executable, 'run_convexhull.py', '--generate_data',
                  f'--data_dir={hull_dir}', '--num_train_examples=400',
                  '--num_test_examples=50', '--seed=7'],
                 cwd=ROOT, env=env, check=False, capture_output=True)


def fingerprint(checkpoint_dir):
  """{checkpoint key: [shape, dtype, sha256 of the bytes]} of the latest."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = tf.train.latest_checkpoint(checkpoint_dir)
  if path is None:
    raise RuntimeError(f'no checkpoint in {checkpoint_dir}')
  reader = tf.train.load_checkpoint(path)
  out = {}
  for key in sorted(reader.get_variable_to_shape_map()):
    if key.startswith('_CHECKPOINTABLE_OBJECT_GRAPH'):
      continue
    value = reader.get_tensor(key)
    if isinstance(value, bytes):
      data, shape, dtype = value, [], 'string'
    else:
      data, shape, dtype = value.tobytes(), list(value.shape), str(value.dtype)
    out[key] = [shape, dtype, hashlib.sha256(data).hexdigest()]
  return out


def compare(before, after):
  """Lines describing every difference; empty when bit-identical."""
  problems = []
  for run in sorted(set(before) | set(after)):
    if run not in after or run not in before:
      problems.append(f'{run}: only in {"before" if run in before else "after"}')
      continue
    b, a = before[run], after[run]
    if b == a:
      continue
    renamed = []
    unmatched_b = {k: v for k, v in b.items() if a.get(k) != v}
    unmatched_a = {k: v for k, v in a.items() if b.get(k) != v}
    by_value = {}
    for k, v in unmatched_a.items():
      by_value.setdefault(json.dumps(v), []).append(k)
    for k, v in sorted(unmatched_b.items()):
      candidates = by_value.get(json.dumps(v))
      if candidates:
        renamed.append(f'{k} -> {candidates.pop(0)}')
      else:
        problems.append(f'{run}: {k} differs or is missing after')
    left = [k for ks in by_value.values() for k in ks]
    problems += [f'{run}: {k} is new' for k in left]
    if renamed:
      print(f'{run}: identical values under renamed keys:\n  ' +
            '\n  '.join(renamed))
  return problems


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='JSON to write.')
  parser.add_argument('--compare', help='An earlier --out to compare with.')
  parser.add_argument('--data_root', default=os.path.join(
      ROOT, '..', 'shared', 'data'), help='Folder with babi/ and '
      'convex_hull/ (real data).')
  parser.add_argument('--work', default='/tmp/parameter_fingerprint',
                      help='Scratch folder (run directories).')
  parser.add_argument('--only', default='', help='Comma-separated run names.')
  args = parser.parse_args()
  env = dict(os.environ, PYTHONHASHSEED='0', TF_CPP_MIN_LOG_LEVEL='2')
  os.makedirs(args.work, exist_ok=True)
  hull_data(os.path.abspath(args.data_root), args.work, env)
  selected = set(filter(None, args.only.split(',')))
  results = {}
  for name, argv in runs(os.path.abspath(args.data_root), args.work).items():
    if selected and name not in selected:
      continue
    info = os.path.join(args.work, 'info')
    run_dir = os.path.join(info, name)
    subprocess.run(['rm', '-rf', run_dir], check=True)
    extra = ([f'--name={name}', f'--info_dir={info}'] +
             (['--seed=0'] if argv[0] != 'run_kvmemnn.py' else []))
    start = time.time()
    proc = subprocess.run([sys.executable] + argv + extra, cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
      print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
      raise SystemExit(f'{name} failed (rc {proc.returncode})')
    results[name] = fingerprint(os.path.join(run_dir, 'checkpoint'))
    print(f'{name}: {len(results[name])} variables, '
          f'{time.time() - start:.0f} s', flush=True)
  with open(args.out, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)
  if args.compare:
    with open(args.compare) as f:
      before = json.load(f)
    if selected:
      before = {k: v for k, v in before.items() if k in selected}
    problems = compare(before, results)
    if problems:
      print('NOT bit-identical:\n  ' + '\n  '.join(problems))
      raise SystemExit(1)
    print(f'Bit-identical: {len(results)} runs, '
          f'{sum(len(v) for v in results.values())} variables.')


if __name__ == '__main__':
  main()
