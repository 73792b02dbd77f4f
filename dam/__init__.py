"""DAM + MRL, DNC: memory-augmented recurrent cores for TensorFlow 2 / Sonnet 2.

Reference implementation of the Distributed Associative Memory network with
Memory Refreshing Loss (Park, Choi & Lee, Neural Networks 144, 2021) and of
its DNC baseline (Graves et al., Nature 2016).
"""

from dam import access
from dam import addressing
from dam.core import CoreState
from dam.core import MemoryCore
from dam.dam import DAM
from dam.dnc import DNC
from dam.unroll import build
from dam.unroll import compile_unroll
from dam.unroll import parameters_read_once
from dam.unroll import unroll

__all__ = ['DAM', 'DNC', 'MemoryCore', 'CoreState', 'access', 'addressing',
           'unroll', 'compile_unroll', 'build', 'parameters_read_once']
