"""Checkpoints: ``.npz`` archives of plain arrays, never pickles.

A checkpoint is written with ``np.savez`` through :func:`dropout_lab._io.atomic_writer` (a temporary
file beside the target, fsynced, then renamed), so a crash leaves the old file or the new one, never a
torn one; it is read with ``np.load(path, allow_pickle=False)``, so a file holding Python objects is
refused rather than executed.

Layout (format version 1). Every entry is an array; names use ``/`` as a separator:

* ``format_version``: 0-d int64. ``metadata``: 0-d unicode, a JSON object with ``kind`` ('model' or
  'training'), ``params`` and ``buffers`` (name -> shape and dtype, in the model's order) and, for a
  training checkpoint, everything scalar: the Solver's settings, epoch, iteration, best epoch and
  accuracy, the optimizer configs' scalars (learning rate after decay, t, betas...), whether the
  model and Solver shared one Generator, and ``mask_stream_version``
  (:data:`dropout_lab.layers.dropout.MASK_STREAM_VERSION`: which dropout masks a Generator state
  yields; a resume under another version is refused, and a file without it is read as version 2,
  see :class:`TrainingState`).
* ``param/<name>``, ``buffer/<name>``: the model's parameters and buffers (batchnorm statistics).
* Training checkpoints add ``best_param/<name>``, ``best_buffer/<name>``, ``optim/<param>/<key>`` (the
  optimizer's state arrays: m, v, velocity, cache), ``history/loss``, ``history/train_acc`` and
  ``history/val_acc`` (float64), ``history/acc_epochs`` (int64: the epoch of each accuracy), and
  ``rng/solver``, ``rng/model``, ``rng/global``: the random generators' states, each where that
  generator is used.
* Added within format version 1, as optional fields: the settings ``num_steps`` and ``eval_every``,
  the metadata's ``recorded_epochs`` (epoch ends recorded) and ``history/acc_epochs``. A file without
  them was written before they existed, when every epoch was measured: it reads as ``num_steps=None,
  eval_every=1``, ``acc_epochs = range(len(train_acc))`` and ``recorded_epochs = len(train_acc)``.
  Later still: the settings ``max_norm``, ``keep_schedule`` (kind, per, gamma, ramp and the target
  ``keep_probs`` and ``input_keep_prob`` it scales from) and ``patience``; a file without them means
  None for each (no max-norm, the model's own keep probabilities, no early stopping). Nothing else is
  stored for them: the keep probability in effect and the epoch early stopping ends at are functions of
  the step and epoch counts and the histories, which the file holds. Then ``momentum_schedule`` (kind,
  start, epochs and the final ``momentum``; absent: None, the config's momentum throughout): the
  momentum of a step is a function of the step count too.

Random generator states (``bit_generator.state``, a dict of big integers and small arrays, or
``np.random.get_state(legacy=False)``) are stored as JSON strings in 0-d unicode arrays; they are
restored into a bit generator of the same class, so a resumed run draws exactly the numbers the
uninterrupted one would have.

Reading is bounded: every entry's declared shape and dtype is read from its ``.npy`` header and
checked against the metadata, and against what the caller's run can have, before any array is read;
unknown entries are refused (see ``_bounds``).

Modules: ``_format`` (the file: writing, reading, checking its structure), ``_bounds`` (what a file
may hold, checked from its headers), ``_model`` (model checkpoints and a model's fit to one),
``_training`` (the Solver's training state and its generators), ``_resume`` (the rules for resuming
from it: the same model, the same run, a state that fits), ``_solver`` (a Solver's training
state taken and resumed).
"""

from ._format import FORMAT_VERSION, Checkpoint, read_checkpoint
from ._model import load_checkpoint, save_checkpoint
from ._training import TrainingState, read_training_state, write_training_state

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "TrainingState",
    "load_checkpoint",
    "read_checkpoint",
    "read_training_state",
    "save_checkpoint",
    "write_training_state",
]
