"""A script's argument errors as one line, not its whole --help.

absl's `app.run` answers an `app.UsageError` raised by `main` with the
script's complete help (some 60 lines) and the reason at the end, where it
is missed. Every script of the project (train.py and the other training
scripts through `damrun.cli.run_main`, experiments/run_suite.py and the
experiments' tools through `run`) prints instead

    <script>: <reason>
    Pass --help to see the flags.

and exits with the error's exit code (`app.UsageError(..., exitcode=2)`
for refused input, as the scripts' other refusals). Importing this module
imports neither TensorFlow nor the model: the runner of experiments stays
light.
"""

import functools
import sys

from absl import app


def one_line_errors(main):
  """`main` with an `app.UsageError` printed as one line on stderr and its
  exit code returned (see the module doc)."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except app.UsageError as e:
      print(f'{sys.argv[0]}: {e}\nPass --help to see the flags.',
            file=sys.stderr)
      return e.exitcode

  return wrapped


def run(main):
  """`absl.app.run(main)` with argument errors as one line."""
  app.run(one_line_errors(main))
