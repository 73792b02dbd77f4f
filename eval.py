"""Evaluates a bAbI checkpoint on the 20 test tasks: `python eval.py
--help`. The code: damrun/scripts/eval.py (installed: the console script
`dam-eval`)."""

from damrun.scripts import eval as script  # pylint: disable=redefined-builtin

if __name__ == '__main__':
  script.run()
