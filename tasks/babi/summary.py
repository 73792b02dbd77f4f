"""Per-task counts of a preprocessed bAbI set, as a table."""

import collections

# summary_table: rows of (task, name, train stories, train questions,
# dropped, test stories, test questions), their column totals, lexicon size.
Summary = collections.namedtuple('Summary',
                                 ('rows', 'totals', 'lexicon_size'))


def summary_table(data):
  """Per-task counts of a `BabiData`.

  Returns:
    `Summary`(rows: list of (task, name, train stories, train questions,
    dropped, test stories, test questions) in task order, totals: the
    column sums (the same 5 counts), lexicon_size).
  """
  rows = []
  for task in sorted(data.counts):
    c = data.counts[task]
    rows.append((task, data.task_names[task], c.train_stories,
                 c.train_questions, c.dropped, c.test_stories,
                 c.test_questions))
  totals = tuple(sum(r[i] for r in rows) for i in range(2, 7))
  return Summary(rows, totals, data.vocab_size)


def format_summary(data):
  """`summary_table` as text lines (for a closing note / the log)."""
  table = summary_table(data)
  lines = [f'{"task":>4}  {"name":<24}{"train st.":>10}{"train q.":>10}'
           f'{"dropped":>9}{"test st.":>10}{"test q.":>9}']
  for task, name, *counts in table.rows:
    lines.append(f'{task:>4}  {name:<24}' + ''.join(
        f'{v:>{w}}' for v, w in zip(counts, (10, 10, 9, 10, 9))))
  lines.append(f'{"all":>4}  {"":<24}' + ''.join(
      f'{v:>{w}}' for v, w in zip(table.totals, (10, 10, 9, 10, 9))))
  lines.append(f'lexicon: {table.lexicon_size} words; missing files: '
               f'{", ".join(data.missing_files) or "none"}')
  return '\n'.join(lines)
