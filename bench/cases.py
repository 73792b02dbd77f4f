"""The timed configurations and how our model is built and compiled for
each: shared by `bench/suite.py` (every configuration, model and execution
mode) and `bench/peer.py` (ours against a peer)."""

import os
import resource
import statistics
import time

from damrun import presets


def _config(command, task, **extra):
  """A timed configuration from the authors' command `command`
  (`damrun.presets`): their model sizes, batch size and optimizer."""
  s = presets.settings(command)
  return dict(task=task, batch=s['batch_size'], hidden_size=s['hidden_size'],
              memory_size=s['memory_address_size'],
              word_size=s['memory_length_size'],
              num_reads=s['num_read_heads'], num_blocks=s['num_memory_blocks'],
              mlp_sizes=tuple(int(w) for w in s['mlp_sizes'].split(',') if w),
              optimizer=s['optimizer'], learning_rate=s['learning_rate'],
              **extra)


def _longest(command, *names):
  """The task flags `names` of a command, at its longest sequences."""
  s = presets.settings(command)
  return dict({name: s[name] for name in names}, min_length=s['max_length'],
              max_length=s['max_length'])


# The authors' configurations (their commands, `damrun.presets.COMMANDS`):
# `task` a `tasks.registry` name, `task_args` its constructor arguments
# (`tasks.base.Task.synthetic`; bAbI: `time`, the story length timed, and
# the lexicon of en-10k, 160 words). `batch` is the authors' batch size.
_BABI_LEXICON = 160
CONFIGS = {
    'copy': _config('copy', 'Copy', task_args=_longest('copy', 'bit_w',
                                                       'p_re')),
    'ar': _config('associative_recall', 'AssociativeRecall',
                  task_args=_longest('associative_recall', 'bit_w',
                                     'item_bit', 'p_re')),
    'rr': _config('representation_recall', 'RepresentationRecall',
                  task_args=_longest('representation_recall', 'N', 'bit_w',
                                     'num_bit')),
    'babi200': _config('babi', 'bAbI', scalable=True,
                       embedding_size=presets.TRAIN['embedding_size'],
                       task_args=dict(p_re=presets.settings('babi')['p_re'],
                                      time=200, vocab_size=_BABI_LEXICON)),
    'babi800': _config('babi', 'bAbI', scalable=True,
                       embedding_size=presets.TRAIN['embedding_size'],
                       task_args=dict(p_re=presets.settings('babi')['p_re'],
                                      time=800, vocab_size=_BABI_LEXICON)),
    'nfar': _config('nth_farthest', 'NthFarthest', scalable=True,
                    task_args=dict(
                        p_re=presets.settings('nth_farthest')['p_re'])),
    'convexhull': _config('convex_hull', 'ConvexHull', scalable=True,
                          task_args=dict(
                              max_n=presets.CONVEX_HULL['max_n'],
                              p_re=presets.settings('convex_hull')['p_re'])),
}
# The configurations `bench/peer.py` builds the peer (the PyTorch DNC) for:
# those whose output is as wide as the input (the peer's output layer), and
# bAbI (with an embedding and a projection to the lexicon). Not
# Representation Recall (66 in, 32 out), Nth Farthest or Convex Hull.
PEER_CONFIGS = ('copy', 'ar', 'babi200', 'babi800')
MODELS = ('dam', 'dnc')
MODES = ('eager', 'function', 'xla')


def rss_mb():
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def batch_size_of(config, scale):
  if config.get('scalable'):
    return max(1, int(round(config['batch'] * scale)))
  return config['batch']


def make_task(config, batch_size, seed=0):
  """The task of a configuration (`tasks.base.Task`, its registered class's
  `synthetic`: no data files) and one batch of it."""
  from tasks import registry  # pylint: disable=g-import-not-at-top
  task = registry.get(config['task']).synthetic(
      batch_size, seed=seed, **config.get('task_args', {}))
  return task, task.next_batch()


def build_case(name, model_name, mode, scale):
  """Our model `model_name` (a `dam.config.CORES` name) of a configuration
  and its compiled steps.

  Returns:
    dict: train_step / eval_step (callables of `tensors`, the batch as
    tensors), tensors, task, core, batch_size, time_steps, variables,
    traces, flops {'train', 'eval'} (analytic, `dam.flops`), rss_built_mb.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from dam import config as config_lib  # pylint: disable=g-import-not-at-top
  from dam import model as model_lib  # pylint: disable=g-import-not-at-top
  from dam import optimizers  # pylint: disable=g-import-not-at-top
  from damrun import steps  # pylint: disable=g-import-not-at-top

  config = CONFIGS[name]
  batch_size = batch_size_of(config, scale)
  task, batch = make_task(config, batch_size)
  time_steps = int(batch.inputs.shape[1])
  tf.random.set_seed(0)
  core = config_lib.ModelConfig(
      memory=model_name, hidden_size=config['hidden_size'],
      memory_size=config['memory_size'], word_size=config['word_size'],
      num_reads=config['num_reads'], num_blocks=config['num_blocks'],
      mlp_sizes=config['mlp_sizes'], seed=0).build_core(task.output_size)
  model = model_lib.SequenceModel(core, task.vocab_size,
                                  config.get('embedding_size'))
  optimizer = optimizers.make_optimizer(config['optimizer'],
                                        config['learning_rate'])
  variables = steps.build(model, optimizer, task.batch_specs(batch_size))
  rss_built = rss_mb()
  traces = {}
  train_step = steps.make_train_step(
      model, optimizer, task.loss, task.batch_specs(batch_size), 50., mode,
      traces, variables)
  eval_step = steps.make_eval_step(model, task.loss, task.batch_specs(None),
                                   mode, traces)
  return dict(
      train_step=train_step, eval_step=eval_step,
      tensors=steps.to_tensors(batch), batch=batch, task=task, core=core,
      batch_size=batch_size, time_steps=time_steps, variables=variables,
      traces=traces, rss_built_mb=rss_built,
      flops=step_flops(config, task, batch_size, time_steps,
                       model_name == 'dam', core.access.interface_size))


def step_flops(config, task, batch_size, time_steps, use_dam,
               interface_size=None):
  """Analytic FLOPs (`dam.flops`) of a training step and of an evaluation
  pass of a configuration: {'train', 'eval'} (interface_size None: from the
  model's layout, without building it)."""
  from dam import flops  # pylint: disable=g-import-not-at-top
  flop_config = dict(
      input_size=(config['embedding_size'] if task.vocab_size
                  else task.input_size), output_size=task.output_size,
      hidden_size=config['hidden_size'], memory_size=config['memory_size'],
      word_size=config['word_size'], num_reads=config['num_reads'],
      num_blocks=config['num_blocks'], mlp_sizes=config['mlp_sizes'],
      interface_size=interface_size, use_dam=use_dam)
  return dict(train=flops.train_step_flops(batch_size, time_steps,
                                           **flop_config),
              eval=flops.eval_flops(batch_size, time_steps, **flop_config))


def matmul_throughput(size=4096, repeats=7):
  """Measured float32 matmul FLOP/s: median over `repeats` of a size^3 matmul."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])
  matmul = tf.function(tf.matmul)
  matmul(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).numpy()
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  return dict(size=size, median_s=seconds, flops_per_s=2. * size**3 / seconds)
