"""Trains the DAM (or the DNC baseline) on an algorithmic task or bAbI:
`python train.py --help`. The code: damrun/scripts/train.py (installed:
the console script `dam-train`)."""

from damrun.scripts import train

if __name__ == '__main__':
  train.run()
