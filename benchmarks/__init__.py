"""dropout-lab's benchmarks: scripts that print figures (never timed unit tests).

``python -m benchmarks`` (or ``make bench``) runs them all and writes a Markdown table; ``--quick`` runs
a short version. Each measured program runs in its own child process (``python -m benchmarks._worker``),
so that its peak resident set can be read from the operating system, its thread settings are fixed
before NumPy or PyTorch is imported, and one program's memory cannot slow the next. Competing programs
are alternated (A B B A ...) within one run and summarised by medians and ratios of medians.

Benchmarks:

* ``experiment`` (:mod:`benchmarks.experiment`): the cs231n dropout experiment (5 keep probabilities x
  25 epochs x 500 CIFAR-shaped images, hidden 500, batch 100, Adam 5e-4, accuracies on 500 + 1,000
  images after each epoch, float32) through dropout-lab's API against the same program in PyTorch.
* ``dropout`` (:mod:`benchmarks.dropout`): dropout forward and backward on 4096 x 4096 arrays against
  ``torch.nn.functional.dropout`` and against ``np.copyto``.
* ``epoch`` (:mod:`benchmarks.epoch`): one epoch of 49,000 images through the same net.
* ``limit`` (:mod:`benchmarks.experiment`): the experiment's floating-point operations divided by its time,
  against NumPy's own matrix-product rate on the same shapes.

PyTorch is optional (``pip install 'dropout-lab[bench]'``): without it the PyTorch columns are left
out with a note.
"""
