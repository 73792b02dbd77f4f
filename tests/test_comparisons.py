"""The suite report's comparisons (experiments/comparisons.py): the claims'
ratios and Welch tests, and the 2 x 2 of memory (DAM / DNC) and loss (with /
without the MRL), on numbers worked out by hand."""

import pytest

from experiments import comparisons
from experiments import report
from experiments import suites


def test_claims_comparisons_known_answers():
  def row(model, steps):
    return dict(experiment='copy', model=model, seeds=len(steps),
                finished=len(steps),
                reached_99=sum(s is not None for s in steps),
                steps_to_99=steps,
                steps_to_99_mean=(sum(s for s in steps if s is not None) /
                                  max(1, sum(s is not None for s in steps))),
                steps_to_99_std=0., final=[1.] * len(steps), final_mean=1.,
                final_std=0., train_time_s_mean=60.)
  rows = [row('dam', [100, 200]), row('dnc', [300, 500]),
          row('dam_nomrl', [150, None])]
  # No dnc_mrl rows: DAM / DNC, DAM / DAM no MRL, DAM no MRL / DNC.
  dnc, nomrl, _ = comparisons.compare(rows)
  assert (dnc['against'], nomrl['against']) == ('dnc', 'dam_nomrl')
  assert dnc['ratio'] == pytest.approx(400. / 150.)
  assert dnc['separated'] and dnc['never'] == dict(model=0, against=0)
  # Welch: means 150 and 400, variances 5,000 and 20,000, 2 seeds each:
  # t = -250 / sqrt(2,500 + 10,000), df = 12,500^2 / (2,500^2 + 10,000^2).
  from scipy import stats  # pylint: disable=g-import-not-at-top
  t = -250. / 12500. ** 0.5
  df = 12500. ** 2 / (2500. ** 2 + 10000. ** 2)
  assert dnc['welch_p'] == pytest.approx(2 * stats.t.sf(abs(t), df))
  # A seed that never reached 99 %: no test, and without the budget no
  # ratio.
  assert nomrl['ratio'] is None
  assert not nomrl['separated'] and nomrl['welch_p'] is None
  assert nomrl['never'] == dict(model=0, against=1)
  text = report.table(rows, suites.SUITES['cpu'])
  assert ('* copy, the DAM learns faster than the DNC: steps to 99 %, '
          'DNC / DAM = 2.67 x (DAM: 100, 200; DNC: 300, 500); every DAM seed '
          'got there before every DNC seed; Welch t-test p = ') in text
  # With the budget, "never" enters the ratio at 10,000: a lower bound.
  assert ('DAM, no MRL / DAM = >= 33.83 x (DAM: 100, 200; DAM, no MRL: 150, '
          'never; "never" counted as 10,000, the budget); the seeds '
          'overlap.') in text
  # A variant that never got there is later than every seed that did.
  rows[1] = row('dnc', [None, None])
  dnc = comparisons.compare(rows, {'copy': 1000})[0]
  assert dnc['separated'] and dnc['welch_p'] is None
  assert dnc['ratio'] == pytest.approx(1000. / 150.)
  assert dnc['ratio_is_lower_bound']
  rows[0] = row('dam', [100, None])
  assert comparisons.compare(rows, {'copy': 1000})[0]['ratio'] is None


def test_the_two_by_two_of_memory_and_loss():
  """With all four variants, the report compares each memory at equal loss
  and the MRL's effect on each memory (known ratios of mean steps)."""
  def row(model, steps):
    return dict(experiment='associative_recall', model=model,
                seeds=len(steps), finished=len(steps),
                reached_99=len(steps), steps_to_99=steps,
                steps_to_99_mean=sum(steps) / len(steps))
  rows = [row('dam', [1000, 1200]), row('dnc', [4000, 6000]),
          row('dam_nomrl', [1500, 1700]), row('dnc_mrl', [2000, 2400])]
  pairs = {(c['model'], c['against']): c['ratio']
           for c in comparisons.compare(rows)}
  assert pairs == pytest.approx({
      ('dam', 'dnc'): 5000 / 1100, ('dam', 'dam_nomrl'): 1600 / 1100,
      ('dam', 'dnc_mrl'): 2200 / 1100, ('dam_nomrl', 'dnc'): 5000 / 1600,
      ('dnc_mrl', 'dnc'): 5000 / 2200})


def test_two_by_two_table_known_answers():
  """The report's 2 x 2 (two_by_two.md): mean steps per memory and loss,
  the MRL's effect per memory and the memory's effect per loss, with a
  variant that never got there counted at the budget."""
  from scipy import stats  # pylint: disable=g-import-not-at-top

  def row(model, steps):
    got = [s for s in steps if s is not None]
    return dict(experiment='associative_recall', model=model,
                seeds=len(steps), finished=len(steps), reached_99=len(got),
                steps_to_99=steps,
                steps_to_99_mean=sum(got) / len(got) if got else None)

  rows = [row('dam', [1000, 1200]), row('dam_nomrl', [1500, 1700]),
          row('dnc_mrl', [2000, 2400]), row('dnc', [None, None])]
  # Welch by hand: DAM against DAM no MRL, variances 20,000 each:
  # t = -500 / sqrt(10,000 + 10,000), df = 2; DAM against DNC with the
  # MRL, variances 20,000 and 80,000: t = -1,100 / sqrt(50,000),
  # df = 50,000^2 / (10,000^2 + 40,000^2).
  p_mrl = 2 * stats.t.sf(500. / 20000. ** .5, 2)
  p_memory = 2 * stats.t.sf(1100. / 50000. ** .5,
                            50000. ** 2 / (10000. ** 2 + 40000. ** 2))
  text = comparisons.two_by_two(rows, {'associative_recall': 10000})
  lines = text.splitlines()
  assert lines[2:5] == [
      f'| associative_recall | DAM | 1,100 | 1,600 | 1.45 x, separated, '
      f'p = {p_mrl:.2g} |',
      '| associative_recall | DNC | 2,200 | never (0 / 2 seeds) | '
      '>= 4.55 x, separated |',
      f'| associative_recall | DNC / DAM | 2.00 x, separated, '
      f'p = {p_memory:.2g} | >= 6.25 x, separated | |']
  assert lines[0].startswith('| experiment | memory |') and lines[5] == ''
  # Without one of the four variants (or none of its seeds finished) there
  # is no 2 x 2.
  assert comparisons.two_by_two(rows[:3]) == ''
  rows[3]['finished'] = 0
  assert comparisons.two_by_two(rows) == ''
