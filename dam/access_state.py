"""The memory access's state and the named results of its step.

An access step (`dam.access`) is a write, then a read, each with a named
result; the state after the step is made of the two:

  written = access.write(interface, prev_state)          -> `WriteResult`
  read = access.read(interface, written, prev_state.read_weights)
                                                          -> `ReadResult`
  state = access.state(written, read)
                                  -> `DAMAccessState` or `DNCAccessState`

Symbols: B batch, K blocks, N slots, W word size, Wh write heads per block,
R read heads.
"""

import collections

DAMAccessState = collections.namedtuple(
    'DAMAccessState',
    ('memory', 'read_weights', 'write_weights', 'usage', 'attentive_gate'))
DAMAccessState.__doc__ = """State of `dam.access.DAMAccess` after step t.

Fields:
  memory: M_k for every block, [B, K, N, W].
  read_weights: GATED read weights g[k, r] c_k[r], [B, K, R, N].
  write_weights: [B, K, Wh, N].
  usage: [B, K, N].
  attentive_gate: g, [B, K, R] (sums to 1 over K); kept for inspection.
"""

DNCAccessState = collections.namedtuple(
    'DNCAccessState',
    ('memory', 'read_weights', 'write_weights', 'linkage', 'usage'))
DNCAccessState.__doc__ = """State of `dam.access.DNCAccess` (K = 1) after t.

Fields:
  memory: [B, 1, N, W].
  read_weights: [B, 1, R, N].
  write_weights: [B, 1, Wh, N].
  linkage: `dam.addressing.TemporalLinkageState` with link
    [B, 1, Wh, N, N] and precedence_weights [B, 1, Wh, N].
  usage: [B, 1, N].
"""

WriteResult = collections.namedtuple(
    'WriteResult', ('memory', 'write_weights', 'usage', 'linkage'))
WriteResult.__doc__ = """What the write of step t computed (`write`).

Fields:
  memory: M_t after erase and write, [B, K, N, W].
  write_weights: ww_t, [B, K, Wh, N].
  usage: u_t, [B, K, N].
  linkage: the DNC's `dam.addressing.TemporalLinkageState` (L_t, p_t)
    updated with ww_t; () for the DAM, which has no links.
"""

ReadResult = collections.namedtuple(
    'ReadResult', ('words', 'weights', 'attentive_gate'))
ReadResult.__doc__ = """What the read of step t computed (`read`).

Fields:
  words: r_t, the read words summed over blocks, [B, R, W].
  weights: wr_t, [B, K, R, N] (for the DAM the gated weights g c).
  attentive_gate: the DAM's g_t, [B, K, R]; () for the DNC.
"""
