"""Wrong input is refused with one clear message naming the problem and the
fix, never accepted nor a traceback: bAbI line ids in non-ASCII digits and
statements cut before their '.' (both readers), a tampered bAbI cache,
degenerate Convex Hull lines, eval.py pointed at another task's run, and
bad values of --eval_batches, --seed and run_suite.py --only.

Data tests run in-process on small files of their own; script tests run
only what exits before a model is built (flag validation, the run check).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tasks import babi
from tasks import babi_kv
from tasks import convex_hull as ch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd):
  return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True,
                        text=True, timeout=300, check=False)


def _test_file(line):
  """A task file whose 3rd line is `line`."""
  return f'1 Mary saw the wate.\n2 John took it.\n{line}\n'


# -- bAbI lines ----------------------------------------------------------------

# Line ids that str.isdigit() (or int()) accepts but are not ASCII digits:
# superscript two (int() fails), Arabic-Indic one and fullwidth three (int()
# reads them as 1 and 3), and ids int() reads with a sign or underscores.
BAD_IDS = ['\u00b2', '\u0661', '\uff13', '+3', '0_3']


def _refused_by_both_readers(babi_files, tmp_path, split, line, says,
                             kv_says):
  """train.py's reader and the KV-MemNN's refuse `line` (line 3 of task 1's
  `split` file) naming file:line and `says`."""
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks(
      extra={(1, split): _test_file(line)}))
  with pytest.raises(babi.BabiDataError) as error:
    babi.load(data_dir, log=None, cache=False)
  message = str(error.value)
  assert f'{babi_files.task_file(1, split)}:3' in message
  for part in says:
    assert part in message, message
  with pytest.raises(babi.BabiDataError, match=r'x\.txt line 3: ' + kv_says):
    babi_kv.parse_stories(_test_file(line), 'x.txt')


@pytest.mark.parametrize('line_id', BAD_IDS)
def test_line_id_must_be_ascii_digits(babi_files, tmp_path, line_id):
  _refused_by_both_readers(babi_files, tmp_path, 'test',
                           f'{line_id} John went home.',
                           ['ASCII digits', repr(line_id)], '.*ASCII')


@pytest.mark.parametrize('line', ['3 Where is', '3 John went home',
                                  '3 Where is the milk'])
def test_statement_cut_before_its_full_stop_is_refused(babi_files, tmp_path,
                                                       line):
  _refused_by_both_readers(babi_files, tmp_path, 'train', line,
                           ['neither a statement ending in "."'], 'neither')


def test_statements_and_questions_as_in_the_official_files_still_read():
  text = ('1 Mary moved to the bathroom. \n2 Where is Mary?\tbathroom\t1\n'
          '3 The kitchen is north of the hallway.\n'
          '4 How do you go from the hallway to the kitchen?\tn,s\t3\n')
  lexicon = babi.build_lexicon([text])
  (story,), _ = babi.encode_file(text, lexicon, 1)
  assert babi.num_questions(story) == 2
  assert len(babi_kv.parse_stories(text, 'x.txt')) == 2


# -- the bAbI cache ------------------------------------------------------------


def _cached(babi_files, tmp_path):
  """A data folder, its cache written, and the cache's paths."""
  data_dir = babi_files.write_tree(tmp_path, babi_files.all_tasks())
  first = babi.load(data_dir, log=None)
  assert first.cache.startswith('written')
  return data_dir, first, babi.cache_paths(data_dir, 'en-10k',
                                           babi.LENGTH_LIMIT)


def _rewrite_npz(npz_path, change):
  with np.load(npz_path, allow_pickle=False) as npz:
    arrays = {k: npz[k] for k in npz.files}
  change(arrays)
  with open(npz_path, 'wb') as f:
    np.savez(f, **arrays)


def _cut_lexicon(npz_path, json_path):
  del npz_path
  with open(json_path) as f:
    meta = json.load(f)
  meta['lexicon'] = meta['lexicon'][:5]  # the key stays intact
  with open(json_path, 'w') as f:
    json.dump(meta, f)


TAMPERINGS = {
    'lexicon_cut': _cut_lexicon,
    'token_out_of_range': lambda npz, _: _rewrite_npz(
        npz, lambda a: a['train_inputs'].__setitem__(0, 10 ** 6)),
    'offsets_past_end': lambda npz, _: _rewrite_npz(
        npz, lambda a: a['test_offsets'].__setitem__(-1, 10 ** 6)),
    'answers_short': lambda npz, _: _rewrite_npz(
        npz, lambda a: a.__setitem__('train_answers', a['train_answers'][1:])),
    'float_inputs': lambda npz, _: _rewrite_npz(
        npz, lambda a: a.__setitem__('test_inputs',
                                     a['test_inputs'].astype(np.float32))),
}


@pytest.mark.parametrize('kind', sorted(TAMPERINGS))
def test_tampered_cache_is_rebuilt_with_a_note(babi_files, tmp_path, kind):
  data_dir, first, (npz_path, json_path) = _cached(babi_files, tmp_path)
  TAMPERINGS[kind](npz_path, json_path)
  lines = []
  data = babi.load(data_dir, log=lines.append)
  assert data.cache == 'written ' + npz_path  # rebuilt from the text files
  notes = [line for line in lines if 'invalid' in line]
  assert len(notes) == 1 and npz_path in notes[0] and 'rebuilding' in notes[0]
  assert data.lexicon == first.lexicon
  for story in data.train:
    assert story.inputs.max() < data.vocab_size
  # The rebuilt cache loads again, silently.
  assert babi.load(data_dir, log=None).cache == 'loaded ' + npz_path


# -- Convex Hull lines ---------------------------------------------------------

_POINTS = ('0.10000000 0.10000000 0.90000000 0.20000000 0.50000000 '
           '0.90000000 0.40000000 0.40000000 0.50000000 0.30000000')


@pytest.mark.parametrize('tour', ['1 1', '2 2', '1 2 1', '3 1 3'])
def test_hull_of_fewer_than_three_vertices_is_refused(tmp_path, tour):
  path = tmp_path / 'hull.txt'
  path.write_text(f'{_POINTS} output 1 2 3 1 \n{_POINTS} output {tour} \n')
  with pytest.raises(ValueError, match=r'hull\.txt:2: .*at least 3 distinct '
                     r'vertices'):
    ch.read_file(str(path))
  with pytest.raises(ValueError, match='at least 3'):
    ch.format_line(np.zeros([5, 2]), np.array([0, 1]))


# -- eval.py on another task's run ---------------------------------------------


@pytest.mark.parametrize('config, kind', [
    (dict(task='NthFarthest', num_vectors=8),
     "a run of the task 'NthFarthest' (run_nfar.py)"),
    (dict(task='ConvexHull'), "a run of the task 'ConvexHull' "
     '(run_convexhull.py)'),
    (dict(mode='copy'), "a run of the task 'Copy' (train.py)"),
    (dict(model='KV-MemNN', mode='joint'), 'a KV-MemNN run (run_kvmemnn.py)'),
    (dict(task='Toy'), "a run of the task 'Toy', which tasks/registry.py "
     'does not list'),
    (dict(hidden_size=8), 'a run that names no task in its config.json'),
])
def test_a_run_is_named_by_its_task(config, kind):
  from damrun import saved  # pylint: disable=import-outside-toplevel
  assert saved.run_kind(config) == kind


def test_eval_names_the_task_of_a_run_that_is_not_babi(tmp_path):
  run = tmp_path / 'info' / 'nfar'
  os.makedirs(run / 'checkpoint')
  (run / 'config.json').write_text(json.dumps(dict(task='NthFarthest')))
  result = _run([os.path.join(ROOT, 'eval.py'), '--name=nfar'], tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert ("is a run of the task 'NthFarthest' (run_nfar.py), not a bAbI run"
          in result.stderr)
  assert 'None' not in result.stderr and 'Traceback' not in result.stderr


# -- flags ---------------------------------------------------------------------


@pytest.mark.parametrize('flag, message', [
    ('--eval_batches=-1', '--eval_batches must be >= 0'),
    ('--seed=-1', '--seed must be an integer in [0, 4294967295]'),
    ('--seed=4294967296', '--seed must be an integer in [0, 4294967295]'),
])
def test_bad_flag_value_names_the_flag(tmp_path, flag, message):
  result = _run([os.path.join(ROOT, 'train.py'), flag,
                 '--training_iteration=1', '--nojit_compile'], tmp_path)
  assert result.returncode == 1, result.stderr[-2000:]
  assert message in result.stderr and 'Traceback' not in result.stderr
  assert os.listdir(tmp_path) == []  # refused before the run directory


def test_suite_unknown_name_is_one_line_without_help(tmp_path):
  result = _run([os.path.join(ROOT, 'experiments', 'run_suite.py'),
                 '--suite=babi_cpu', '--only=bogus,babi',
                 f'--info_dir={tmp_path / "info"}'], tmp_path)
  assert result.returncode == 2
  lines = (result.stdout + result.stderr).strip().splitlines()
  assert len(lines) <= 2, lines
  assert ("--only: unknown experiments or runs ['bogus']; the suite has the "
          'experiments babi and the runs babi_dam_s0, babi_dnc_s0') in lines[0]
  assert 'flags:' not in result.stdout + result.stderr
  assert os.listdir(tmp_path) == []
