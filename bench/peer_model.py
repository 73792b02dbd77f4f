"""The PyTorch peer of `bench/peer.py`: ixaxaar/pytorch-dnc's DNC and its
training step, built in the peer's own process (`bench/peer_process.py`);
imports torch and `dnc`, never TensorFlow."""


def versions():
  """The peer's library versions (without importing them)."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  out = {}
  for name in ('torch', 'dnc'):
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = 'unknown'
  return out


def build_peer(config, task, batch):
  """The peer's training step on `batch` (a `tasks.base.Batch` of numpy
  arrays), at the sizes of `config`.

  Returns:
    (step, parameters): step() runs one training step and returns the loss
    (a float, so that the step has finished).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from dnc import DNC  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  vocab = task.vocab_size
  input_size = config['embedding_size'] if vocab else task.input_size
  core = DNC(input_size=input_size, hidden_size=config['hidden_size'],
             rnn_type='lstm', num_layers=1, num_hidden_layers=1,
             nr_cells=config['memory_size'], cell_size=config['word_size'],
             read_heads=config['num_reads'], gpu_id=-1,
             independent_linears=False, clip=20)
  modules = [core]
  mask = torch.from_numpy(np.asarray(batch.answer_mask, np.float32))
  if vocab:
    embed = torch.nn.Embedding(vocab, input_size)
    project = torch.nn.Linear(input_size, vocab)
    modules += [embed, project]
    inputs = torch.from_numpy(np.asarray(batch.inputs, np.int64))
    targets = torch.from_numpy(np.asarray(batch.targets, np.int64))

    def loss_fn():
      logits = project(core(embed(inputs))[0])
      ce = torch.nn.functional.cross_entropy(
          logits.reshape(-1, vocab), targets.reshape(-1), reduction='none')
      return (ce.reshape(mask.shape) * mask).sum() / mask.shape[0]
  else:
    if task.output_size != input_size:
      raise ValueError(f'the peer\'s outputs have the input size '
                       f'{input_size}, the task needs {task.output_size}')
    inputs = torch.from_numpy(np.asarray(batch.inputs, np.float32))
    targets = torch.from_numpy(np.asarray(batch.targets, np.float32))

    def loss_fn():
      logits = core(inputs)[0]
      bce = torch.nn.functional.binary_cross_entropy_with_logits(
          logits, targets, reduction='none').mean(-1)
      return (bce * mask).sum() / mask.shape[0]

  parameters = [p for m in modules for p in m.parameters()]
  optimizer = torch.optim.RMSprop(parameters, lr=config['learning_rate'],
                                  momentum=0.9, eps=1e-10)

  def step():
    optimizer.zero_grad()
    loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 50.)
    optimizer.step()
    return float(loss.detach())

  return step, sum(p.numel() for p in parameters)
