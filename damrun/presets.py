"""The authors' settings, in one place: every script's defaults and commands.

Two kinds of presets, both plain data (no TensorFlow), read by the scripts
(their flag defaults), by `bench/suite.py` (the timed configurations) and by
the tests:

* Script defaults (`TRAIN`, `NTH_FARTHEST`, `CONVEX_HULL`, `EVAL`,
  `KVMEMNN`): the defaults of the authors' scripts (taewonpark/DAM
  `train.py`, `run_nfar.py`, `run_convexhull.py`, `eval.py`; the KV-MemNN
  reference's `joint.py` and `single.py`, siyuanzhao/key-value-memory-
  networks), flag name -> value. A script run without flags runs them.
* The authors' command lines (`COMMANDS`): the runs of their README for the
  experiments of Park et al. 2021 (Copy, Associative Recall, Representation
  Recall, Nth Farthest, Convex Hull, bAbI with its fine-tuning and
  evaluation), as (script, flags). They run as written here.

Symbols: H `hidden_size`, N `memory_address_size`, W `memory_length_size`,
R `num_read_heads`, Wh `num_write_heads`, K `num_memory_blocks`.
"""

# -- script defaults ---------------------------------------------------------

# The shared flags (`damrun.cli` groups) at the authors' train.py defaults
# (Copy at their sizes); the other scripts change some.
_SHARED = dict(
    # model
    hidden_size=128, memory_address_size=64, memory_length_size=24,
    num_write_heads=1, num_read_heads=1, keep_prob=0.9, num_memory_blocks=2,
    dam=True, clip_value=20., mlp_sizes='',
    # optimisation
    optimizer='rmsprop', learning_rate=1e-4, max_grad_norm=50., momentum=0.9,
    optimizer_epsilon=1e-10, p_re=0.0,
    # loop and run
    batch_size=16, training_iteration=10000, report_interval=500,
    checkpoint_interval=1000, name='model', jit_compile=True)

# The authors' train.py (Copy; bAbI flags for --mode=bAbI).
# checkpoint_interval None: 1 epoch for bAbI, 1,000 steps otherwise.
TRAIN = dict(
    _SHARED, checkpoint_interval=None, embedding_size=64,
    mode='Copy', N=4, bit_w=8, num_bit=8, item_bit=3, min_length=8,
    max_length=32, epoch=50, data_dir='bAbI_data', babi_set='en-10k')

# The authors' run_nfar.py: 8 vectors of 16 dims, MLP 4 x 256, Adam.
NTH_FARTHEST = dict(
    _SHARED, num_memory_blocks=6, p_re=0.3, batch_size=1600, learning_rate=1e-4,
    hidden_size=1024, memory_address_size=16, memory_length_size=128,
    num_read_heads=4, training_iteration=100000, report_interval=1000,
    checkpoint_interval=1000, name='nfar', optimizer='adam',
    mlp_sizes='256,256,256,256', num_vectors=8, vector_size=16,
    test_examples=3200, eval_batch_size=800)

# The authors' run_convexhull.py: at most 20 points, MLP 2 x 256, RMSProp.
CONVEX_HULL = dict(
    _SHARED, num_memory_blocks=6, p_re=0.3, batch_size=128, learning_rate=1e-4,
    hidden_size=256, memory_address_size=20, memory_length_size=64,
    num_read_heads=4, training_iteration=100000, report_interval=1000,
    checkpoint_interval=10000, name='convexhull', mlp_sizes='256,256',
    data_dir='Convexhull_data', max_n=20, eval_batch_size=500)

# The authors' eval.py (bAbI; batch_size = stories per evaluation batch).
EVAL = dict(
    embedding_size=64, hidden_size=256, memory_address_size=128,
    memory_length_size=48, num_write_heads=1, num_read_heads=4,
    keep_prob=1.0, num_memory_blocks=2, dam=True, batch_size=200,
    name='model', data_dir='bAbI_data')

# The KV-MemNN reference: joint.py (all 20 tasks) and single.py (--task_id).
KVMEMNN = {
    'joint': dict(learning_rate=0.001, epsilon=0.1, l2_lambda=0.1,
                  keep_prob=1.0, max_grad_norm=20.0, evaluation_interval=20,
                  batch_size=50, hops=3, epochs=200, embedding_size=40,
                  memory_size=50, feature_size=50, decay_steps=90000,
                  output_file='logs/scores_{timestamp}.csv'),
    'single': dict(learning_rate=0.001, epsilon=0.1, l2_lambda=0.2,
                   keep_prob=1.0, max_grad_norm=20.0, evaluation_interval=50,
                   batch_size=32, hops=3, epochs=100, embedding_size=30,
                   memory_size=20, feature_size=40, decay_steps=20000,
                   output_file='single_scores.csv'),
}

# -- the authors' command lines ------------------------------------------------

# name -> (script, flags in the authors' order). The authors' README passed
# a stand-in path (path/to/checkpoint_dir) as --name; ours names the run
# directory.
COMMANDS = {
    'copy': ('train.py', dict(
        mode='Copy', babi=False, dam=True, num_memory_blocks=2, p_re=0.1,
        batch_size=16, learning_rate=1e-4, hidden_size=128,
        memory_address_size=64, memory_length_size=36, num_read_heads=1,
        bit_w=8, min_length=8, max_length=32, training_iteration=10000,
        name='copy_dam')),
    'associative_recall': ('train.py', dict(
        mode='AssociativeRecall', babi=False, dam=True, num_memory_blocks=2,
        p_re=0.1, batch_size=16, learning_rate=1e-4, hidden_size=128,
        memory_address_size=32, memory_length_size=36, num_read_heads=1,
        bit_w=8, min_length=2, max_length=8, item_bit=3,
        training_iteration=10000, name='ar_dam')),
    # No MRL for this task (no --p_re in the authors' command).
    'representation_recall': ('train.py', dict(
        mode='RepresentationRecall', babi=False, dam=True,
        num_memory_blocks=8, batch_size=16, learning_rate=1e-4,
        hidden_size=128, memory_address_size=32, memory_length_size=32,
        num_read_heads=1, N=8, bit_w=64, num_bit=8, min_length=8,
        max_length=16, training_iteration=20000, name='rr_dam')),
    'nth_farthest': ('run_nfar.py', dict(
        dam=True, num_memory_blocks=6, p_re=0.3, batch_size=1600,
        learning_rate=1e-4, hidden_size=1024, memory_address_size=16,
        memory_length_size=128, num_read_heads=4, training_iteration=300000,
        name='nfar_dam')),
    'convex_hull': ('run_convexhull.py', dict(
        dam=True, num_memory_blocks=6, p_re=0.3, batch_size=128,
        learning_rate=1e-4, hidden_size=256, memory_address_size=20,
        memory_length_size=64, num_read_heads=4, training_iteration=300000,
        name='convexhull_dam')),
    # 50 epochs at 3e-5, then 5 epochs of fine-tuning at 1e-5.
    'babi': ('train.py', dict(
        babi=True, dam=True, num_memory_blocks=2, p_re=0.1, batch_size=32,
        learning_rate=3e-5, hidden_size=256, memory_address_size=128,
        memory_length_size=48, num_read_heads=4, epoch=50, name='babi_dam')),
    'babi_finetune': ('train.py', dict(
        babi=True, dam=True, num_memory_blocks=2, p_re=0.1, batch_size=32,
        learning_rate=1e-5, hidden_size=256, memory_address_size=128,
        memory_length_size=48, num_read_heads=4, epoch=5, name='babi_dam')),
    'babi_eval': ('eval.py', dict(
        dam=True, num_memory_blocks=2, hidden_size=256,
        memory_address_size=128, memory_length_size=48, num_read_heads=4,
        name='babi_dam')),
}


def settings(name):
  """The full settings of command `name`: its script's defaults + its flags.

  Returns:
    dict flag -> value, as the script sees its flags when run with the
    command (every flag the script has a preset for).
  """
  script, flags = COMMANDS[name]
  defaults = {'train.py': TRAIN, 'run_nfar.py': NTH_FARTHEST,
              'run_convexhull.py': CONVEX_HULL, 'eval.py': EVAL}[script]
  return dict(defaults, **flags)
