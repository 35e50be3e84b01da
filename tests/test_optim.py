"""rnnfast.optim against torch.optim: several steps of every optimizer and option on the same
parameters and gradients (float32 and float64, param groups, skipped params), state_dict round
trips, argument checks, a hand-worked update, and scheduler lr sequences."""

import math

import numpy as np
import pytest

import rnnfast
from rnnfast import nn, optim
from rnnfast.optim import lr_scheduler

from _problems import tol

SHAPES = [(3, 4), (5,), (2, 2, 3)]
STEPS = 6

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, maximize=True, eps=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return init, grads


def _run_pair(name, kwargs, dtype, groups=None, seed=0):
    """Run rnnfast's and torch's optimizer side by side; parameter 2 has no grad on step 1."""
    torch = pytest.importorskip("torch")
    init, grads = _problem(dtype, seed)
    ps = [nn.Parameter(a.copy()) for a in init]
    ts = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]

    def param_arg(params):
        if groups is None:
            return params
        return [dict(g, params=[params[i] for i in idx]) for idx, g in groups]

    opt = getattr(optim, name)(param_arg(ps), **kwargs)
    topt = getattr(torch.optim, name)(param_arg(ts), **kwargs)
    for step in range(STEPS):
        for i, (p, t) in enumerate(zip(ps, ts)):
            if step == 1 and i == 2:
                p.grad, t.grad = None, None
            else:
                p.grad = grads[step][i].copy()
                t.grad = torch.from_numpy(grads[step][i].copy())
        opt.step()
        topt.step()
        for p, t in zip(ps, ts):
            assert p.data.dtype == np.dtype(dtype)
            np.testing.assert_allclose(p.data, t.detach().numpy(), **tol(dtype))
    return opt, topt, ps, ts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case, dtype):
    name, kwargs = case
    opt, topt, ps, ts = _run_pair(name, kwargs, dtype)
    # The state is torch's too (names, values).
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for k, st in sd["state"].items():
        assert st.keys() == tsd["state"][k].keys()
        for key, v in st.items():
            np.testing.assert_allclose(v, tsd["state"][k][key].numpy(), **tol(dtype))


@pytest.mark.parametrize("name,kwargs,groups", [
    ("SGD", dict(lr=0.1, momentum=0.9),
     [((0, 2), dict(lr=0.01, nesterov=True)), ((1,), dict(weight_decay=0.5))]),
    ("Adam", dict(lr=0.01),
     [((0,), dict(betas=(0.5, 0.9), amsgrad=True)), ((1, 2), dict(lr=0.1))]),
    ("RMSprop", dict(lr=0.01),
     [((0,), dict(centered=True, momentum=0.3)), ((1, 2), dict(alpha=0.5))]),
    ("Adagrad", dict(lr=0.1), [((2,), dict(lr_decay=0.1)), ((0, 1), dict())]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_param_groups_match_torch(name, kwargs, groups, dtype):
    opt, topt, _, _ = _run_pair(name, kwargs, dtype, groups=groups)
    for g, tg in zip(opt.state_dict()["param_groups"], topt.state_dict()["param_groups"]):
        assert g["params"] == tg["params"]
        for k, v in g.items():
            assert tg[k] == v, k


def test_sgd_momentum_by_hand():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.1)
    p.grad = np.array([0.5, 1.0])
    opt.step()      # g = grad + 0.1 p = [0.6, 0.8]; b = g; p -= 0.1 b
    np.testing.assert_allclose(p.data, [0.94, -2.08], rtol=0, atol=1e-15)
    p.grad = np.array([0.5, 1.0])
    opt.step()      # g = [0.594, 0.792]; b = 0.5 b + g = [0.894, 1.192]; p -= 0.1 b
    np.testing.assert_allclose(p.data, [0.8506, -2.1992], rtol=0, atol=1e-15)


def test_adam_first_step_by_hand():
    # After one step, m_hat = g and v_hat = g^2, so p moves by lr * g / (|g| + eps) ~ lr*sign(g).
    p = nn.Parameter(np.array([1.0, 1.0, 1.0]))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.array([3.0, -0.5, 0.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, 1.1, 1.0], rtol=0, atol=1e-7)


def test_params_without_grad_are_skipped_and_get_no_state():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert b not in opt.state and a in opt.state
    assert list(opt.state_dict()["state"]) == [0]


def test_updates_are_in_place_and_keep_dtype():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    buf = p.data
    opt = optim.RMSprop([p], momentum=0.9, centered=True)
    p.grad = np.ones(3, dtype=np.float64)       # cast to the parameter's dtype on assignment
    opt.step()
    assert p.data is buf and p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[p].items() if k != "step")


def _np_grad(p):
    """A parameter's gradient (rnnfast's NumPy array or torch's tensor) as a NumPy copy."""
    g = p.grad
    return None if g is None else np.array(g.numpy() if hasattr(g, "numpy") else g)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict()),
    ("AdamW", dict()), ("RMSprop", dict(centered=True)), ("Adagrad", dict()),
])
@pytest.mark.parametrize("layout", ["kernel", "numpy"])
def test_step_bumps_versions_so_a_stale_graph_raises_as_torch(name, kwargs, layout):
    """A graph recorded before step() that saved a parameter the step wrote refuses to run
    backward, in both libraries; parameters the step skipped (no grad) keep their version.
    ``numpy``: Fortran-ordered parameters, which take the NumPy update instead of the C++ one."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    init = [rng.standard_normal(s) for s in ((4, 3), (2, 4), (2, 4))]
    x = rng.standard_normal((5, 3))
    order = "F" if layout == "numpy" else "C"

    def forward(lib, w1, w2, w3, x):
        h = lib.tanh(x @ w1.T)
        return (h @ w2.T).sum(), (h @ w3.T).sum()      # w2 and w3 are saved for h's gradient

    ps = [nn.Parameter(np.array(a, order=order)) for a in init]
    ts = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    opt, topt = getattr(optim, name)(ps, **kwargs), getattr(torch.optim, name)(ts, **kwargs)
    for lib, params, o, xx in ((rnnfast, ps, opt, rnnfast.tensor(x)),
                               (torch, ts, topt, torch.tensor(x))):
        loss, other = forward(lib, *params, xx)
        loss.backward(retain_graph=True)
        params[2].grad = None                          # w3 is skipped by the step
        o.step()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
        # The other loss saved w3 (skipped) and x, not w1 (x needs no gradient): it runs.
        for p in params:
            p.grad = None
        other.backward()
        got = [[_np_grad(p) for p in params]]
        # A graph recorded after the step runs.
        for p in params:
            p.grad = None
        forward(lib, *params, xx)[0].backward()
        got.append([_np_grad(p) for p in params])
        if lib is rnnfast:
            ours = got
        else:
            theirs = got
    for a, b, want in zip(ours, theirs, ([False, True, False], [False, False, True])):
        assert [g is None for g in a] == [g is None for g in b] == want
        for ga, gb in zip(a, b):
            if ga is not None:
                np.testing.assert_allclose(ga, gb, **tol(np.float64))
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.data, t.detach().numpy(), **tol(np.float64))


def test_zero_grad():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_the_loss():
    p = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with rnnfast.no_grad():
        loss = opt.step(closure)        # the closure still records a graph
    assert float(loss.item()) == 4.0
    np.testing.assert_allclose(p.data, [1.0])   # p -= 0.25 * 2p


def test_named_parameters_and_model_parameters():
    rnnfast.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    opt2 = optim.Adam(model.parameters())
    assert len(opt2.param_groups[0]["params"]) == 2


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_state_dict_round_trip_continues_identically(name):
    kwargs = {"SGD": dict(lr=0.1, momentum=0.9), "RMSprop": dict(centered=True, momentum=0.5),
              "Adam": dict(amsgrad=True)}.get(name, {})
    rng = np.random.default_rng(3)
    init = rng.standard_normal((4, 3))
    grads = rng.standard_normal((6, 4, 3))
    a = nn.Parameter(init.copy())
    opt_a = getattr(optim, name)([a], **kwargs)
    for g in grads[:3]:
        a.grad = g.copy()
        opt_a.step()
    sd = opt_a.state_dict()
    b = nn.Parameter(a.data.copy())
    opt_b = getattr(optim, name)([b], **{k: v for k, v in kwargs.items()})
    opt_b.load_state_dict(sd)
    for v in sd["state"][0].values():
        v += 100                            # the optimizer holds copies, not the dict's arrays
    for g in grads[3:]:
        a.grad, b.grad = g.copy(), g.copy()
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_load_torch_state_dict_converted_to_numpy():
    torch = pytest.importorskip("torch")
    init = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.nn.Parameter(torch.from_numpy(init.copy()))
    topt = torch.optim.Adam([t], lr=0.01)
    for _ in range(2):
        t.grad = torch.ones(2, 3)
        topt.step()
    tsd = topt.state_dict()
    sd = {"state": {k: {n: v.numpy() for n, v in st.items()} for k, st in tsd["state"].items()},
          "param_groups": tsd["param_groups"]}
    p = nn.Parameter(t.detach().numpy().copy())
    opt = optim.Adam([p], lr=0.5)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.state[p]["step"] == 2
    t.grad, p.grad = torch.full((2, 3), -1.0), np.full((2, 3), -1.0, np.float32)
    topt.step()
    opt.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), **tol(np.float32))


def test_load_state_dict_checks_groups():
    p = nn.Parameter(np.ones(2))
    q = nn.Parameter(np.ones(2))
    sd = optim.SGD([p, q]).state_dict()
    with pytest.raises(ValueError, match="parameter group"):
        optim.SGD([p]).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [p]}, {"params": [q]}]).load_state_dict(sd)


@pytest.mark.parametrize("ctor,match", [
    (lambda ps: optim.SGD(ps, lr=-1), "lr"),
    (lambda ps: optim.SGD(ps, momentum=-0.1), "momentum"),
    (lambda ps: optim.SGD(ps, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.SGD(ps, nesterov=True), "nesterov"),
    (lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda ps: optim.Adam(ps, eps=-1), "eps"),
    (lambda ps: optim.AdamW(ps, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.RMSprop(ps, alpha=-1), "alpha"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "lr_decay"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -2}]), "lr"),
    (lambda ps: optim.SGD([]), "empty"),
    (lambda ps: optim.SGD([{"params": ps}, {"params": ps[:1]}]), "more than one"),
])
def test_argument_checks(ctor, match):
    ps = [nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))]
    with pytest.raises(ValueError, match=match):
        ctor(ps)


def test_type_checks():
    with pytest.raises(TypeError):
        optim.SGD(nn.Parameter(np.ones(2)))                   # a bare tensor, as torch
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([nn.Parameter(np.ones(2))], lr="fast")
    with pytest.raises(TypeError):
        optim.SGD([np.ones(2)])


# -- schedulers -----------------------------------------------------------------------------

SCHEDULERS = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=2, gamma=0.5)),
    ("StepLR", dict(step_size=2.0, gamma=0.5)),        # a float step_size, as torch takes
    ("StepLR", dict(step_size=2.5, gamma=0.5)),        # decays where t % 2.5 == 0: 5, 10
    ("StepLR", dict(step_size=0.5, gamma=0.9)),        # every epoch
    ("StepLR", dict(step_size=np.int64(3))),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=2.5, eta_min=0.01)),   # a float T_max, as torch takes
    ("CosineAnnealingLR", dict(T_max=np.int64(3))),
]


@pytest.mark.parametrize("T_max,error", [(0, ValueError), (-2.5, ValueError),
                                         (float("nan"), ValueError), (True, TypeError),
                                         ("4", TypeError)])
def test_cosine_annealing_rejects_a_bad_T_max(T_max, error):
    opt = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(error, match="T_max: expected"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=T_max)


def _lr_pair(opt_kwargs=None):
    torch = pytest.importorskip("torch")
    p = nn.Parameter(np.ones(2))
    q = nn.Parameter(np.ones(2))
    tp = torch.nn.Parameter(torch.ones(2))
    tq = torch.nn.Parameter(torch.ones(2))
    opt = optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.3}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [tp]}, {"params": [tq], "lr": 0.3}], lr=0.1,
                           momentum=0.9)
    return torch, opt, topt


@pytest.mark.parametrize("name,kwargs", SCHEDULERS)
def test_scheduler_lrs_match_torch(name, kwargs):
    torch, opt, topt = _lr_pair()
    s = getattr(lr_scheduler, name)(opt, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
    for _ in range(14):                  # past T_max: the cosine comes back up, as in torch
        opt.step()
        topt.step()
        s.step()
        ts.step()
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=1e-15)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in topt.param_groups], rel=1e-12, abs=1e-15)
    assert s.last_epoch == ts.last_epoch == 14


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(patience=1, factor=0.5),
    dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(patience=1, factor=0.5, min_lr=[0.02, 0.1], eps=1e-3),
])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch, opt, topt = _lr_pair()
    s = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.9, 0.89999, 0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8,
               0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1]
    for m in metrics:
        s.step(m)
        ts.step(m)
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        assert (s.best, s.num_bad_epochs, s.cooldown_counter) == \
            (ts.best, ts.num_bad_epochs, ts.cooldown_counter)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_step_lr_float_step_size_is_kept_and_bad_ones_raise():
    torch, opt, topt = _lr_pair()
    s = lr_scheduler.StepLR(opt, step_size=2.0)
    ts = torch.optim.lr_scheduler.StepLR(topt, step_size=2.0)
    assert s.step_size == ts.step_size and type(s.step_size) is type(ts.step_size) is float
    # torch fails at the first step for 0 (ZeroDivisionError) and for non-numbers
    # (TypeError); rnnfast raises at construction, naming the argument.
    for bad, err in [(0, ZeroDivisionError), (0.0, ZeroDivisionError), ("2", TypeError),
                     (None, TypeError)]:
        ts = torch.optim.lr_scheduler.StepLR(topt, step_size=bad)
        with pytest.raises(err):
            ts.step()
        with pytest.raises(ValueError if err is ZeroDivisionError else TypeError,
                           match="step_size"):
            lr_scheduler.StepLR(opt, step_size=bad)
    for bad in (-2, -1.5, math.nan):         # torch takes these silently
        with pytest.raises(ValueError, match=r"step_size: expected a value > 0"):
            lr_scheduler.StepLR(opt, step_size=bad)
    with pytest.raises(TypeError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=True)


def test_scheduler_state_dict_and_errors():
    p = nn.Parameter(np.ones(2))
    opt = optim.SGD([p], lr=1.0)
    s = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    opt2 = optim.SGD([nn.Parameter(np.ones(2))], lr=1.0)
    s2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    s2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    s.step()
    s2.step()
    assert s.get_last_lr() == s2.get_last_lr() == [0.25]
    with pytest.raises(ValueError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="optimizer"):
        lr_scheduler.ExponentialLR("sgd", gamma=0.5)


def test_cosine_by_hand():
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    s = optim.CosineAnnealingLR(opt, T_max=4)
    lrs = [s.get_last_lr()[0]]
    for _ in range(4):
        s.step()
        lrs.append(s.get_last_lr()[0])
    want = [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12, atol=1e-15)


# -- rnnfast.nn.utils: gradient clipping ------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ps = [nn.Parameter(np.zeros(s, dtype)) for s in SHAPES] + [nn.Parameter(np.zeros(2, dtype))]
    ts = [torch.nn.Parameter(torch.zeros(s, dtype=torch.from_numpy(g).dtype))
          for s, g in zip(SHAPES, grads)]
    for p, t, g in zip(ps, ts, grads):
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)   # last has no grad
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert isinstance(total, rnnfast.Tensor) and not total.requires_grad
    assert total.shape == tuple(ttotal.shape) == ()
    assert total.dtype == np.dtype(dtype) and ttotal.dtype == torch.from_numpy(grads[0]).dtype
    assert total.item() == pytest.approx(ttotal.item(), rel=tol(dtype)["rtol"])
    assert float(total) == pytest.approx(float(ttotal), rel=tol(dtype)["rtol"])
    for p, t in zip(ps, ts):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad, t.grad.numpy(), **tol(dtype))


def test_clip_grad_norm_returns_a_tensor_used_as_torchs():
    """The common uses of torch's 0-d result: item(), float(), comparisons, f-strings, str,
    accumulation; the dtype is the gradients' (promoted), float32 without gradients."""
    torch = pytest.importorskip("torch")
    for dts in [(np.float32,), (np.float64,), (np.float32, np.float64), ()]:
        g = [np.full(3, 2.0, dt) for dt in dts]
        ps = [nn.Parameter(np.zeros(3, dt)) for dt in dts] + [nn.Parameter(np.zeros(2))]
        ts = [torch.nn.Parameter(torch.zeros(3, dtype=torch.from_numpy(a).dtype)) for a in g]
        for p, t, a in zip(ps, ts, g):
            p.grad, t.grad = a.copy(), torch.from_numpy(a.copy())
        n = nn.utils.clip_grad_norm_(ps, 1.0)
        tn = torch.nn.utils.clip_grad_norm_(ts, 1.0)
        assert n.dtype == tn.numpy().dtype and n.shape == () == tuple(tn.shape)
        assert n.item() == pytest.approx(tn.item(), rel=1e-6)
        assert type(n.item()) is type(tn.item()) is float
        assert math.isclose(float(n), float(tn), rel_tol=1e-6)
        for thr in (0.5, 3.0, 100.0):
            assert bool(n > thr) == bool(tn > thr) and bool(n <= thr) == bool(tn <= thr)
        assert f"{n:.3f}" == f"{tn:.3f}"
        assert str(n).startswith("tensor(") and repr(n).startswith("tensor(")
        total, ttotal = 0.0, 0.0
        total += n
        ttotal += tn
        assert float(total) == pytest.approx(float(ttotal), rel=1e-6)
        assert np.isfinite(n) and math.isfinite(n)
        ga = nn.utils.get_total_norm(g)
        gt = torch.nn.utils.get_total_norm([torch.from_numpy(a) for a in g])
        assert ga.dtype == gt.numpy().dtype and ga.item() == pytest.approx(gt.item(), rel=1e-6)


def test_clip_grad_norm_edge_cases():
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0) == 0.0     # no grads
    p = nn.Parameter(np.ones(2))
    p.grad = np.array([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(p, 1.0) == 5.0                             # one tensor
    assert nn.utils.get_total_norm(p.grad).item() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([np.array([np.nan])], error_if_nonfinite=True)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-6)
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(6).standard_normal((4, 5)).astype(np.float32)
    p = nn.Parameter(np.zeros((4, 5), np.float32))
    t = torch.nn.Parameter(torch.zeros(4, 5))
    p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    nn.utils.clip_grad_value_([p, nn.Parameter(np.ones(1))], 0.3)
    torch.nn.utils.clip_grad_value_([t], 0.3)
    np.testing.assert_array_equal(p.grad, t.grad.numpy())
