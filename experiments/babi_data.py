"""A complete bAbI en-10k training set from a copy that lacks some files.

Some public copies of the bAbI v1.2 release lack a 10k training file (e.g.
`en-10k/qa3_three-supporting-facts_train.txt`); `train.py` then trains on
the other tasks only. For a joint run on all 20 tasks, `complete` builds a
set folder whose missing 10k training files are replaced by the 1k ones of
the same release (`en/`, which holds the first 1,000 questions of each 10k
file), and records each replacement in SUBSTITUTED.json next to the files,
so that the results can say which tasks were trained on 1k questions.
"""

import json
import os
import shutil

from tasks import babi

SUBSTITUTED = 'SUBSTITUTED.json'


def substitutions(folder):
  """The replacements recorded in a folder made by `complete`: list of
  {'file', 'task', 'from'}; [] for any other folder."""
  for path in (os.path.join(folder, SUBSTITUTED),
               os.path.join(folder, babi.ROOT_NAME, 'en-10k', SUBSTITUTED)):
    if os.path.isfile(path):
      with open(path) as f:
        return json.load(f)
  return []


def complete(data_dir, out_dir, log=print):
  """A data_dir for train.py / eval.py with every en-10k training file.

  Args:
    data_dir: a bAbI data folder (`tasks.babi.find_source` reads it) whose
      en-10k and en sets are folders (the extracted release).
    out_dir: where the completed copy goes (<out_dir>/tasks_1-20_v1-2/
      en-10k/), when one is needed.

  Returns:
    (data_dir to use, substitutions): `data_dir` itself and [] when its
    en-10k set has every training file; otherwise `out_dir` and the list
    recorded in its SUBSTITUTED.json.

  Raises:
    babi.BabiDataError: no en-10k set, or a missing 10k training file whose
      1k file is missing too.
  """
  source = babi.find_source(data_dir, 'en-10k')
  _, missing, _ = babi.task_files(source, babi.TASKS)
  if not missing:
    return data_dir, []
  small = babi.find_source(data_dir, 'en')
  small_files = small.read_files()
  absent = [name for name in missing if name not in small_files]
  if absent:
    raise babi.BabiDataError(
        f'bAbI en-10k in {data_dir} lacks {", ".join(absent)}, and its 1k set '
        f'({small.description}) lacks them too: put the complete '
        f'{babi.ARCHIVE_NAME} ({babi.DOWNLOAD_URL}) in {data_dir}.')
  folder = os.path.join(out_dir, babi.ROOT_NAME, 'en-10k')
  os.makedirs(folder, exist_ok=True)
  for name, data in source.read_files().items():
    _write_if_changed(os.path.join(folder, name), data)
  records = []
  for name in missing:
    _write_if_changed(os.path.join(folder, name), small_files[name])
    records.append(dict(file=name, task=int(babi.FILE_RE.match(name).group(1)),
                        **{'from': f'{small.description}/{name}'}))
    log(f'bAbI en-10k: {name} is missing; the 1k file of the same task is '
        f'used instead (task {records[-1]["task"]} trains on 1,000 '
        f'questions).')
  with open(os.path.join(folder, SUBSTITUTED), 'w') as f:
    json.dump(records, f, indent=2)
  return out_dir, records


def _write_if_changed(path, data):
  """Writes `data` to `path` unless it holds exactly that already (so the
  preprocessed cache, keyed on the folder's contents, stays valid)."""
  try:
    with open(path, 'rb') as f:
      if f.read() == data:
        return
  except OSError:
    pass
  with open(path + '.tmp', 'wb') as f:
    f.write(data)
  os.replace(path + '.tmp', path)

