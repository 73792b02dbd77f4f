"""The code of the scripts train.py, eval.py and visualize.py, so that an
installed package runs them too (`pip install .`: the console scripts
`dam-train`, `dam-eval` and `dam-visualize`, pyproject's
[project.scripts]).

Each module here defines its script's flags when imported, and `run()`, the
console script's entry point; the script at the top of the checkout is a
shim that imports the module and calls the same `run()`, so
`python train.py ...` and `dam-train ...` take the same flags and print the
same help.
"""

import sys

from absl import flags

from damrun import cli


def run(module):
  """Runs `module.main` as the main program (`damrun.cli.run_main`).

  As if the module's code were the main program's own, as it was when it
  lived in train.py: absl's --help prints the module's docstring and lists
  the flags the module defines and the key flags it adopts, and --helpfull
  lists its flags first, under the program's name (sys.argv[0]). The flags
  stay defined once; only the module absl files them under changes.
  """
  program = sys.argv[0]
  for table in (flags.FLAGS.flags_by_module_dict(),
                flags.FLAGS.key_flags_by_module_dict()):
    if module.__name__ in table and program != module.__name__:
      moved = table.pop(module.__name__)
      table[program] = table.get(program, []) + moved
  sys.modules['__main__'].__doc__ = module.__doc__
  cli.run_main(module.main)
