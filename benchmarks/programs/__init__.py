"""The "programs, not kernels" benchmark: each example's training loop at a fixed size, written
for rnnfast and for plain PyTorch (its twin), timed interleaved by ``python -m rnnfast
--programs`` (rnnfast.bench.programs). _harness.py describes a program module's interface."""
