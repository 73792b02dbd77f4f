"""The machine a benchmark ran on (written into every benchmark's JSON: a
speed claim names its CPU and the vector instructions it has)."""

import os
import platform

# The instruction-set extensions that decide which kernels oneDNN, Eigen,
# XLA:CPU and PyTorch pick (from the /proc/cpuinfo flags).
ISA_FLAGS = ('sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512dq',
             'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16',
             'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8')


def cpu_info(path='/proc/cpuinfo'):
  """{cpu_model, cpu_vendor, cpu_family, cpu_model_number, isa} of the first
  CPU in /proc/cpuinfo ({} where there is none)."""
  info = {}
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return info
  keys = {'model name': 'cpu_model', 'vendor_id': 'cpu_vendor',
          'cpu family': 'cpu_family', 'model': 'cpu_model_number'}
  for line in text.split('\n\n')[0].splitlines():
    key, _, value = line.partition(':')
    key, value = key.strip(), value.strip()
    if key in keys:
      info[keys[key]] = value
    elif key == 'flags':
      present = set(value.split())
      info['isa'] = [f for f in ISA_FLAGS if f in present]
  return info


def machine():
  """{platform, python, cpus, cpu_model, cpu_vendor, cpu_family,
  cpu_model_number, isa, tensorflow, onednn, gpus}."""
  info = dict(platform=platform.platform(), python=platform.python_version(),
              cpus=os.cpu_count(), **cpu_info())
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  info['tensorflow'] = tf.__version__
  # TensorFlow's oneDNN (MKL) kernels: on by default on x86 Linux builds
  # unless TF_ENABLE_ONEDNN_OPTS=0.
  info['onednn'] = os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')
  info['gpus'] = [d.name for d in tf.config.list_physical_devices('GPU')]
  return info


def describe(info):
  """One line naming a machine from `machine()`'s dict (or a benchmark
  JSON's 'machine'): CPU model, vendor, family and model numbers, vector
  extensions, CPU count, TensorFlow version. Fields an older JSON lacks
  read '?'."""
  isa = ' '.join(info.get('isa', [])) or '?'
  return (f'{info.get("cpu_model", "?")} ({info.get("cpu_vendor", "?")} '
          f'family {info.get("cpu_family", "?")} model '
          f'{info.get("cpu_model_number", "?")}; {isa}), '
          f'{info.get("cpus", "?")} CPUs, TensorFlow '
          f'{info.get("tensorflow", "?")}')
