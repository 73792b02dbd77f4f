"""Whether a training state is fit to checkpoint.

A model weight that is not finite or exceeds `EXPLODED` in magnitude, or an
optimizer slot that is not finite, would give a checkpoint that cannot
resume: such a state is never saved, and the error names the last good
checkpoint and how to go on from it (or says that there is none yet, and
how to start again). A non-finite loss stops the run the same way.
"""

import numpy as np

# A parameter larger than this in magnitude is taken as an exploded update
# (e.g. --learning_rate=1e8 moves weights to ~5e7 in one step): such a state
# is never checkpointed. The models' weights stay within a few tens.
EXPLODED = 1e6

def _how_to_go_on(latest):
  """What is true of the last good checkpoint, and how to go on."""
  if not latest:
    return ('The run has saved no checkpoint yet, so there is none to go '
            'back to: start it again with a lower --learning_rate (or '
            '--max_grad_norm), under a new --name.')
  return (f'The last good checkpoint is {latest}. Start a new --name with a '
          'lower --learning_rate or --max_grad_norm (bAbI: rerun with a '
          'lower --learning_rate to fine-tune from that checkpoint).')


def check_state(variables, optimizer, step, latest):
  """Raises FloatingPointError if the state is not fit to checkpoint.

  Args:
    variables: the model's variables.
    optimizer: its optimizer (its floating-point `variables`, the slots,
      are checked).
    step: the current step (for the message).
    latest: the last checkpoint saved, or None.
  """
  for var in variables:
    value = var.numpy()
    largest = float(np.max(np.abs(value))) if value.size else 0.
    if not np.isfinite(largest):
      _refuse_save(step, latest, f'the weight {var.name} became non-finite')
    if largest > EXPLODED:
      _refuse_save(step, latest, f'the weight {var.name} exploded (max |w| = '
                   f'{largest:.3g} > {EXPLODED:g})')
  for var in getattr(optimizer, 'variables', ()):
    if var.dtype.is_floating and not np.all(np.isfinite(var.numpy())):
      _refuse_save(step, latest, f'the optimizer slot {var.name} became '
                   'non-finite')


def _refuse_save(step, latest, what):
  raise FloatingPointError(
      f'At step {step} {what}; this state is not saved. ' +
      _how_to_go_on(latest))


def nonfinite_loss(loss, step, latest):
  """The FloatingPointError of a loss that became `loss` at `step`."""
  how = _how_to_go_on(latest)
  return FloatingPointError(
      f'The loss became {loss} at step {step}; {how[0].lower()}{how[1:]}')
