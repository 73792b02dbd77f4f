"""The claims' comparisons of a suite's report: steps to 99 % of two models.

The paper's claims are that one variant learns faster than another: the
DAM than the DNC, with the MRL than without, and (the 2 x 2 of memory and
loss) each memory at equal loss and the MRL's effect on the DNC. `compare`
turns the per-(experiment, model) rows of `experiments.report.aggregate`
into one comparison per pair of `COMPARISONS` (ratio of mean steps, whether
the seeds are separated, Welch's t-test); `comparison_line` writes one as
a line of the report's table.md, `two_by_two` the 2 x 2 of memory and loss
as the report's two_by_two.md.
"""

import statistics

from experiments import suites

# The comparisons the paper's claims make: (model, against), model faster.
COMPARISONS = (('dam', 'dnc', 'the DAM learns faster than the DNC'),
               ('dam', 'dam_nomrl', 'the MRL speeds up the DAM\'s learning'),
               # The 2 x 2 of memory and loss: each memory at equal loss,
               # and the MRL's effect on the DNC.
               ('dam', 'dnc_mrl', 'the DAM learns faster than the DNC, both '
                'with the MRL'),
               ('dam_nomrl', 'dnc', 'the DAM learns faster than the DNC, '
                'both without the MRL'),
               ('dnc_mrl', 'dnc', 'the MRL speeds up the DNC\'s learning'))


def compare(rows, budgets=None):
  """The claims' comparisons of steps to 99 % between two variants.

  For every experiment with rows of both variants of a pair in
  `COMPARISONS`, over their finished seeds: the ratio of the mean steps to
  99 % (against / model: > 1 means the model learned faster), whether
  every seed of the model got there before every seed of the other
  ('separated'; a seed that never got there counts as later than any that
  did), and Welch's t-test p value (two-sided; None with fewer than 2
  seeds a side, no spread, or a seed that never got there). A seed of the
  other variant that never got there enters the ratio at the experiment's
  step budget (`budgets`: {experiment: steps}), which makes the ratio a
  lower bound ('ratio_is_lower_bound'); with a seed of the model that
  never got there the ratio is None.
  """
  from scipy import stats  # pylint: disable=g-import-not-at-top
  budgets = budgets or {}
  by_key = {(r['experiment'], r['model']): r for r in rows}
  out = []
  for experiment in dict.fromkeys(r['experiment'] for r in rows):
    for model, against, claim in COMPARISONS:
      a, b = by_key.get((experiment, model)), by_key.get((experiment,
                                                          against))
      if not a or not b or not a['finished'] or not b['finished']:
        continue
      if a['steps_to_99_mean'] is None and b['steps_to_99_mean'] is None:
        continue
      xs = [v for v in a['steps_to_99'] if v is not None]
      ys = [v for v in b['steps_to_99'] if v is not None]
      never = dict(model=len(a['steps_to_99']) - len(xs),
                   against=len(b['steps_to_99']) - len(ys))
      ratio, lower_bound = None, False
      if xs and not never['model']:
        if never['against'] and experiment in budgets:
          ratio = statistics.mean(
              ys + [budgets[experiment]] * never['against']) / \
              statistics.mean(xs)
          lower_bound = True
        elif ys and not never['against']:
          ratio = statistics.mean(ys) / statistics.mean(xs)
      p_value = None
      if (not never['model'] and not never['against'] and len(xs) > 1 and
          len(ys) > 1 and
          (statistics.pstdev(xs) > 0 or statistics.pstdev(ys) > 0)):
        p_value = float(stats.ttest_ind(xs, ys, equal_var=False).pvalue)
      out.append(dict(
          experiment=experiment, model=model, against=against, claim=claim,
          model_steps=a['steps_to_99'], against_steps=b['steps_to_99'],
          ratio=ratio, ratio_is_lower_bound=lower_bound,
          separated=bool(xs and not never['model'] and
                         all(y > max(xs) for y in ys)),
          never=never, welch_p=p_value))
  return out


def step_budgets(experiments):
  """{experiment: its step budget} (the `budgets` of `compare`)."""
  return {e.name: e.steps for e in experiments if e.steps}


def seeds_text(steps):
  """Per-seed steps to 99 % as text: '1,300, never'."""
  return ', '.join('never' if s is None else f'{s:,}' for s in steps)


def comparison_line(c, budgets=None):
  """One comparison `c` of `compare` as a line of table.md ('* copy, the
  DAM learns faster than the DNC: steps to 99 %, DNC / DAM = 2.67 x ...')."""
  label = suites.MODEL_LABELS
  model, against = label[c['model']], label[c['against']]
  if c['ratio'] is None:
    ratio = '--'
  else:
    ratio = f'{">= " if c["ratio_is_lower_bound"] else ""}{c["ratio"]:.2f} x'
  line = (f'* {c["experiment"]}, {c["claim"]}: steps to 99 %, '
          f'{against} / {model} = {ratio} ({model}: '
          f'{seeds_text(c["model_steps"])}; {against}: '
          f'{seeds_text(c["against_steps"])}')
  if c['never']['against'] and budgets and c['experiment'] in budgets:
    line += (f'; "never" counted as {budgets[c["experiment"]]:,}, the '
             f'budget')
  line += '); '
  line += (f'every {model} seed got there before every {against} seed'
           if c['separated'] else 'the seeds overlap')
  if c['welch_p'] is not None:
    line += f'; Welch t-test p = {c["welch_p"]:.2g}'
  return line + '.'


# The 2 x 2 of memory and loss: the four variants of an experiment, as
# (memory, with the MRL, without it).
MEMORIES = (('DAM', 'dam', 'dam_nomrl'), ('DNC', 'dnc_mrl', 'dnc'))


def _steps_cell(row):
  """Mean steps to 99 % over the seeds that got there: '1,033' when all
  did, '1,500 (2 / 3 seeds)' when some did not, 'never (0 / 3 seeds)'."""
  reached, finished = row['reached_99'], row['finished']
  mean = ('never' if row['steps_to_99_mean'] is None else
          f'{row["steps_to_99_mean"]:,.0f}')
  return mean if reached == finished else (
      f'{mean} ({reached} / {finished} seeds)')


def _ratio_cell(c):
  """A comparison of `compare` as '2.14 x, separated, p = 0.012'."""
  if c is None or c['ratio'] is None:
    return '--'
  cell = f'{">= " if c["ratio_is_lower_bound"] else ""}{c["ratio"]:.2f} x'
  if c['separated']:
    cell += ', separated'
  if c['welch_p'] is not None:
    cell += f', p = {c["welch_p"]:.2g}'
  return cell


def two_by_two(rows, budgets=None):
  """The 2 x 2 of memory and loss as markdown (empty without one).

  For each experiment with finished seeds of all four variants of
  `MEMORIES`: per memory (DAM, DNC) the mean steps to 99 % with and
  without the MRL and the MRL's effect (without / with: > 1, the MRL
  speeds learning up); then the memory's effect at equal loss (DNC / DAM:
  > 1, the DAM learns faster). Ratios are those of `compare` (a variant
  that never got there enters at the budget: '>='); 'separated': every
  seed of the faster variant got there before every seed of the other;
  p: Welch's t-test.
  """
  by_key = {(r['experiment'], r['model']): r for r in rows}
  ratios = {(c['experiment'], c['model'], c['against']): c
            for c in compare(rows, budgets)}
  lines = []
  for experiment in dict.fromkeys(r['experiment'] for r in rows):
    cells = {m: by_key.get((experiment, m))
             for _, with_, without in MEMORIES for m in (with_, without)}
    if not all(r and r['finished'] for r in cells.values()):
      continue
    for memory, with_, without in MEMORIES:
      lines.append(
          f'| {experiment} | {memory} | {_steps_cell(cells[with_])} | '
          f'{_steps_cell(cells[without])} | '
          f'{_ratio_cell(ratios.get((experiment, with_, without)))} |')
    (_, dam, dam_nomrl), (_, dnc_mrl, dnc) = MEMORIES
    lines.append(
        f'| {experiment} | DNC / DAM | '
        f'{_ratio_cell(ratios.get((experiment, dam, dnc_mrl)))} | '
        f'{_ratio_cell(ratios.get((experiment, dam_nomrl, dnc)))} | |')
  if not lines:
    return ''
  return '\n'.join([
      '| experiment | memory | steps to 99 %, with the MRL | without the '
      'MRL | the MRL\'s effect: without / with |',
      '| --- | --- | --- | --- | --- |'] + lines + [
          '',
          'Steps to 99 % held-out bit accuracy: the mean over the seeds '
          'that got there. Ratios of mean steps (> 1: the MRL, or the DAM, '
          'learns faster; ">=": a variant that never got there counted at '
          'the step budget); separated: every seed of the faster variant '
          'got there before every seed of the other; p: Welch\'s t-test.'
      ]) + '\n'
