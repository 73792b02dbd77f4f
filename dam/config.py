"""The model's settings in one place (`ModelConfig`) and the cores by name
(`CORES`).

Runs are configured with the authors' flag names (Park et al. 2021 code:
hidden_size, memory_address_size, ..., and the switch `dam`).
`ModelConfig.from_settings` is the one place that reads them into model
settings; `to_run_config` gives back the model keys of a run's
config.json; `build_core` makes the core from its `CORES` entry.

Adding a memory variant: its module (an `snt.RNNCore`; `dam.contract`
says what it needs to unroll fast) and one `CORES` entry naming its class
and the settings its constructor takes. The scripts' --memory flag lists
the names of `CORES`; a run of the new variant records `memory: <name>` in
its config.json.

Importing this module does not import TensorFlow (the scripts' --help
reads `CORES`): a core's module is imported when a core is built.
"""

import dataclasses
import importlib
from typing import Callable, Optional, Tuple, Union


@dataclasses.dataclass(frozen=True)
class Core:
  """An entry of `CORES`: how to make a memory core from a `ModelConfig`.

  Fields:
    factory: 'module:Class', imported when a core is built, or a callable;
      called as factory(output_size, **{name: getattr(config, name) for
      name in takes}).
    takes: the `ModelConfig` fields its constructor takes (as keyword
      arguments of the same names). Settings it does not take are ignored
      (e.g. the DNC has one memory: its config.json records K = 1).
    label: its name in logs and picture titles.
  """
  factory: Union[str, Callable]
  takes: Tuple[str, ...]
  label: str

  def make(self, config, output_size):
    """The core of `config` (a `ModelConfig`) with output width O."""
    factory = self.factory
    if isinstance(factory, str):
      module, name = factory.split(':')
      factory = getattr(importlib.import_module(module), name)
    return factory(output_size,
                   **{name: getattr(config, name) for name in self.takes})


# The settings of every core: H, N, W, R and the write heads.
_SIZES = ('hidden_size', 'memory_size', 'word_size', 'num_reads',
          'num_writes')

# Memory name (--memory, config.json's `memory`) -> core.
CORES = {
    # Distributed Associative Memory (Park et al. 2021): K blocks, bypass
    # dropout.
    'dam': Core('dam.dam:DAM', _SIZES + (
        'num_blocks', 'keep_prob', 'clip_value', 'mlp_sizes', 'seed'), 'DAM'),
    # The DNC baseline (Graves et al. 2016, Methods): one memory.
    'dnc': Core('dam.dnc:DNC', _SIZES + ('clip_value', 'mlp_sizes'), 'DNC'),
}

# The names of the authors' switch --dam=True / --dam=False.
_SWITCH = {True: 'dam', False: 'dnc'}

# ModelConfig field -> the authors' flag name (config.json, flags.json).
FLAG_NAMES = {
    'hidden_size': 'hidden_size',
    'memory_size': 'memory_address_size',
    'word_size': 'memory_length_size',
    'num_reads': 'num_read_heads',
    'num_writes': 'num_write_heads',
    'num_blocks': 'num_memory_blocks',
    'keep_prob': 'keep_prob',
    'clip_value': 'clip_value',
    'mlp_sizes': 'mlp_sizes',
    'seed': 'seed',
}

# Fields a mapping may lack (training-only settings that config.json does
# not hold, and the MLP of runs older than --mlp_sizes): the defaults.
OPTIONAL = ('keep_prob', 'clip_value', 'mlp_sizes', 'seed')


def memory_name(dam):
  """The memory of the authors' switch: 'dam' (--dam=True) or 'dnc'."""
  return _SWITCH[bool(dam)]


def memory_of(settings):
  """The memory name of a mapping with the authors' flag names: its
  'memory' (when not None), else 'dam' or 'dnc' from its 'dam'.

  Raises:
    KeyError: neither key.
  """
  memory = settings.get('memory')
  if memory is not None:
    return memory
  if 'dam' not in settings:
    raise KeyError('The model settings name no memory (neither "memory" nor '
                   '"dam").')
  return memory_name(settings['dam'])


def label(settings, blocks=False):
  """The core's label ('DAM', 'DNC') of a mapping with the authors' flag
  names (only 'memory' or 'dam' are read); with `blocks`, 'DAM K=<K>' for
  a core with blocks. An unregistered memory is labelled by its name."""
  memory = memory_of(settings)
  core = CORES.get(memory)
  if core is None:
    return memory
  if blocks and 'num_blocks' in core.takes:
    return f'{core.label} K={settings.get("num_memory_blocks")}'
  return core.label


def _entry(memory):
  """The `CORES` entry of `memory`; ValueError naming the cores."""
  if memory not in CORES:
    raise ValueError(f'Unknown memory {memory!r}: the cores are '
                     f'{", ".join(sorted(CORES))} (dam/config.py CORES).')
  return CORES[memory]


def parse_sizes(text):
  """'256,256' -> (256, 256); '' -> (); None if malformed."""
  parts = [p.strip() for p in (text or '').split(',') if p.strip()]
  try:
    sizes = tuple(int(p) for p in parts)
  except ValueError:
    return None
  return sizes if all(s > 0 for s in sizes) else None


def _sizes(value):
  """mlp_sizes as a tuple of ints, from a flag's text or a list."""
  if isinstance(value, str):
    sizes = parse_sizes(value)
    if sizes is None:
      raise ValueError(f'mlp_sizes must be comma-separated positive integers, '
                       f'got {value!r}.')
    return sizes
  return tuple(int(size) for size in value or ())


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The settings of a model's memory core.

  Symbols of the papers (Park, Choi & Lee 2021, Sec. 3; Graves et al.
  2016, Methods), with the authors' flag names:

  Fields:
    memory: the core, a name of `CORES`: 'dam' (the DAM) or 'dnc' (the DNC
      baseline); flag --memory, or --dam=True / False.
    hidden_size: H, LSTM controller units (hidden_size).
    memory_size: N, slots per memory block (memory_address_size).
    word_size: W, width of a memory word (memory_length_size).
    num_reads: R, read heads (num_read_heads).
    num_writes: write heads, per block (num_write_heads).
    num_blocks: K, memory blocks (num_memory_blocks); the DAM's only: the
      DNC is one memory (K = 1 in its config.json).
    keep_prob: keep probability of the DAM's bypass dropout in training.
    clip_value: controller/output clipping in training (0: off).
    mlp_sizes: widths of the ReLU MLP before the output layer (() none).
    seed: seed of the DAM's dropout stream (None: non-deterministic).
  """
  memory: str = 'dam'
  hidden_size: int = 128
  memory_size: int = 64
  word_size: int = 36
  num_reads: int = 1
  num_writes: int = 1
  num_blocks: int = 2
  keep_prob: float = 0.9
  clip_value: float = 20.
  mlp_sizes: Tuple[int, ...] = ()
  seed: Optional[int] = None

  def __post_init__(self):
    _entry(self.memory)
    object.__setattr__(self, 'mlp_sizes', _sizes(self.mlp_sizes))

  @classmethod
  def from_settings(cls, settings):
    """The model of a mapping with the authors' flag names.

    Args:
      settings: the flag values of a training script (a dict), or a run's
        config.json merged with its flags.json. The memory is its 'memory'
        when not None, else `memory_name(settings['dam'])`; the sizes are
        hidden_size, memory_address_size, memory_length_size,
        num_read_heads, num_write_heads and num_memory_blocks (those the
        core takes are required); keep_prob, clip_value, mlp_sizes ('256,256'
        or a list) and seed default to 0.9, 20., () and None.

    Raises:
      KeyError: a required setting is missing.
      ValueError: an unknown memory or malformed mlp_sizes.
    """
    memory = memory_of(settings)
    takes = _entry(memory).takes
    missing = [key for name, key in FLAG_NAMES.items()
               if name in takes and name not in OPTIONAL
               and key not in settings]
    if missing:
      raise KeyError(f'The model settings lack {", ".join(missing)} (the '
                     f'{memory} core needs them).')
    return cls(memory=memory, **{name: settings[key]
                                 for name, key in FLAG_NAMES.items()
                                 if key in settings})

  @property
  def core(self):
    """Its `CORES` entry."""
    return CORES[self.memory]

  @property
  def label(self):
    """The core's label for logs and titles: 'DAM' or 'DNC'."""
    return self.core.label

  def to_run_config(self):
    """The model keys of a run's config.json (the authors' flag names):
    dam (True for the DAM only), hidden_size, memory_address_size,
    memory_length_size, num_write_heads, num_read_heads, num_memory_blocks
    (1 for a core without blocks) and mlp_sizes (a list); a memory other
    than the DAM and the DNC adds `memory`."""
    config = dict(
        dam=self.memory == 'dam', hidden_size=self.hidden_size,
        memory_address_size=self.memory_size,
        memory_length_size=self.word_size,
        num_write_heads=self.num_writes, num_read_heads=self.num_reads,
        num_memory_blocks=(self.num_blocks if 'num_blocks' in self.core.takes
                           else 1),
        mlp_sizes=list(self.mlp_sizes))
    if self.memory not in _SWITCH.values():
      config = dict(memory=self.memory, **config)
    return config

  def build_core(self, output_size):
    """The core (its `CORES` entry) with output width O; its variables are
    created on its first call."""
    return self.core.make(self, output_size)
