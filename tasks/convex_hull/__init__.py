"""The Convex Hull task (Park et al. 2021; the DAM authors'
`run_convexhull.py`), by concern:

* `geometry`: hulls in the Pointer Networks convention and the random point
  sets of generated data (`convex_hull_indices`, `generate_examples`, the
  point `DISTRIBUTIONS`);
* `files`: the Pointer Networks text files (Vinyals, Fortunato & Jaitly
  2015): `format_line`, `read_file`, `find_files`, `load_dataset`;
* `generate`: compatible files written from generated data
  (`generate_file`, `generate_dataset`);
* `task`: the encoding into steps (`encode_example`, `encode_test`), the
  training batches (`ConvexHullTask`, a `tasks.two_head.TwoHeadTask`, whose
  loss reports the authors' test accuracy as `sequence_accuracy`).

Every public name is re-exported here: `from tasks import convex_hull;
convex_hull.load_dataset(...)`.
"""

from tasks.convex_hull.files import DataFiles
from tasks.convex_hull.files import Dataset
from tasks.convex_hull.files import Examples
from tasks.convex_hull.files import GENERATE_COMMAND
from tasks.convex_hull.files import ORIGINALS_URL
from tasks.convex_hull.files import TEST_FILES
from tasks.convex_hull.files import TRAIN_FILE
from tasks.convex_hull.files import TRAIN_FILES
from tasks.convex_hull.files import find_files
from tasks.convex_hull.files import format_line
from tasks.convex_hull.files import load_dataset
from tasks.convex_hull.files import read_file
from tasks.convex_hull.generate import GeneratedFiles
from tasks.convex_hull.generate import generate_dataset
from tasks.convex_hull.generate import generate_file
from tasks.convex_hull.geometry import DECIMALS
from tasks.convex_hull.geometry import DEFAULT_DISTRIBUTION
from tasks.convex_hull.geometry import DISTRIBUTIONS
from tasks.convex_hull.geometry import check_distribution
from tasks.convex_hull.geometry import convex_hull_indices
from tasks.convex_hull.geometry import drop_one_point
from tasks.convex_hull.geometry import generate_examples
from tasks.convex_hull.task import END_TOKEN
from tasks.convex_hull.task import ConvexHullTask
from tasks.convex_hull.task import encode_example
from tasks.convex_hull.task import encode_test

__all__ = [
    'DataFiles', 'Dataset', 'Examples', 'GENERATE_COMMAND', 'ORIGINALS_URL',
    'TEST_FILES', 'TRAIN_FILE', 'TRAIN_FILES', 'find_files', 'format_line',
    'load_dataset', 'read_file',
    'GeneratedFiles', 'generate_dataset', 'generate_file', 'DECIMALS',
    'DEFAULT_DISTRIBUTION', 'DISTRIBUTIONS', 'check_distribution',
    'convex_hull_indices', 'drop_one_point', 'generate_examples', 'END_TOKEN',
    'ConvexHullTask', 'encode_example', 'encode_test',
]
