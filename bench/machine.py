"""The machine a benchmark ran on (written into every benchmark's JSON: a
speed claim names its CPU)."""

import os
import platform


def machine():
  """{platform, python, cpus, cpu_model, tensorflow, gpus}."""
  info = dict(platform=platform.platform(), python=platform.python_version(),
              cpus=os.cpu_count())
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          info['cpu_model'] = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  info['tensorflow'] = tf.__version__
  info['gpus'] = [d.name for d in tf.config.list_physical_devices('GPU')]
  return info
