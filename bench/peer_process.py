"""The PyTorch peer of `bench/peer.py`, timed in its own process.

In the process that runs TensorFlow, the two libraries' thread pools fight
over the cores: on a 2-vCPU machine the peer's Copy step took 13.7 s (IQR
6.7 s) there and 1.06 s in a process of its own. So the peer runs here, in
a child process that never imports TensorFlow, on the batch the parent
wrote (an .npz), and times itself; the parent (`PeerProcess`) asks for one
round at a time, alternating with its own contenders as before.

The protocol, one JSON object per line:

    child -> parent, once:  {"ready": {"parameters": P, "torch": ..,
                             "dnc": .., "threads": n}}  or  {"error": ".."}
    parent -> child:        {"calls": n}
    child -> parent:        {"seconds": s}   (n training steps, finished)

The parent closes the child's stdin to end it. Any command that speaks this
protocol can stand in for the peer (`PeerProcess(command=...)`; the tests
use a few lines of Python).

    python bench/peer_process.py <spec.json>   # what PeerProcess runs
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PeerError(RuntimeError):
  """The peer's process failed (its message, or its last stderr line)."""


class PeerProcess:
  """A contender timed in its own process: `time_calls(n)` -> seconds."""

  def __init__(self, command, env=None):
    # Its stderr (torch's warnings) to a file: a full pipe would block it.
    self._stderr = tempfile.TemporaryFile(mode='w+')
    self._process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=self._stderr, text=True, env=env)
    self.info = self._read().get('ready')
    if self.info is None:
      raise PeerError('the peer did not start')

  def _read(self):
    line = self._process.stdout.readline()
    if not line:
      self.close()
      self._stderr.seek(0)
      error = self._stderr.read().strip().splitlines()
      raise PeerError('the peer\'s process ended: ' +
                      (error[-1] if error else 'no output'))
    reply = json.loads(line)
    if 'error' in reply:
      self.close()
      raise PeerError(reply['error'])
    return reply

  def time_calls(self, calls):
    """Seconds that `calls` training steps took in the peer's process."""
    self._process.stdin.write(json.dumps({'calls': int(calls)}) + '\n')
    self._process.stdin.flush()
    return float(self._read()['seconds'])

  def close(self):
    if self._process.stdin and not self._process.stdin.closed:
      try:
        self._process.stdin.close()
      except OSError:
        pass
    try:
      self._process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
    return False


def start_peer(config, task, batch, threads=0, command=None):
  """The peer of `config` on `batch` (numpy arrays) in its own process.

  Args:
    config: the sizes (`bench.cases.CONFIGS` entry).
    task: its `tasks.base.Task` (input, output and vocabulary sizes).
    batch: the `tasks.base.Batch` both sides train on.
    threads: the peer's torch threads (0: its default).
    command: the process to run (default: this file); it gets the spec's
      path as its last argument.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  folder = tempfile.mkdtemp(prefix='peer-')
  arrays = os.path.join(folder, 'batch.npz')
  np.savez(arrays, inputs=batch.inputs, targets=batch.targets,
           answer_mask=batch.answer_mask)
  spec = os.path.join(folder, 'spec.json')
  with open(spec, 'w') as f:
    json.dump(dict(config=config, vocab_size=task.vocab_size,
                   input_size=task.input_size, output_size=task.output_size,
                   threads=threads, batch=arrays), f)
  command = list(command or [sys.executable, os.path.abspath(__file__)])
  return PeerProcess(command + [spec])


def _serve(spec_path):
  """The child: builds the peer from the spec, then times rounds."""
  with open(spec_path) as f:
    spec = json.load(f)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from bench import peer_model  # pylint: disable=g-import-not-at-top
  if spec['threads']:
    torch.set_num_threads(spec['threads'])
  with np.load(spec['batch']) as arrays:
    batch = types.SimpleNamespace(**{k: arrays[k] for k in arrays.files})
  task = types.SimpleNamespace(vocab_size=spec['vocab_size'],
                               input_size=spec['input_size'],
                               output_size=spec['output_size'])
  step, parameters = peer_model.build_peer(spec['config'], task, batch)
  print(json.dumps({'ready': dict(parameters=parameters,
                                  threads=torch.get_num_threads(),
                                  **peer_model.versions())}), flush=True)
  for line in sys.stdin:
    calls = json.loads(line)['calls']
    start = time.perf_counter()
    for _ in range(calls):
      step()  # returns a float: the step has finished
    print(json.dumps({'seconds': time.perf_counter() - start}), flush=True)


if __name__ == '__main__':
  sys.path.insert(0, ROOT)
  try:
    _serve(sys.argv[-1])
  except Exception as e:  # pylint: disable=broad-except
    print(json.dumps({'error': f'{type(e).__name__}: {e}'}), flush=True)
    sys.exit(1)
