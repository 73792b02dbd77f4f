"""Pictures of what a trained DAM or DNC writes, reads and attends to, and
learning curves of runs: `python visualize.py --help`. The code:
damrun/scripts/visualize.py (installed: the console script
`dam-visualize`)."""

from damrun.scripts import visualize

if __name__ == '__main__':
  visualize.run()
