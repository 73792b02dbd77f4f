"""Shared test setup: quiet TensorFlow logs; tests never touch the network."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
