"""Every Python example in README.md runs as written (in a temporary directory), and the Layout
section matches the tree."""

import os
import re
import subprocess

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
BLOCKS = re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_example_runs(i, tmp_path, monkeypatch):
    if re.search(r"^import torch$", BLOCKS[i], re.M):   # torch is an optional extra
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[i], f"README.md[python block {i}]", "exec"), {})


REPO = os.path.dirname(README)
# A name the Layout section gives in an entry's description: a directory (`nn/`) or a file with
# one of these extensions, looked up under the entry's directory.
_NAMED = re.compile(r"(?<![\w./])([\w.-]+/|[\w-]+\.(?:py|pyi|cc|h|md|sh|in|toml|txt))(?![\w/])")


def _layout():
    """README's Layout block as {first-column path: description}."""
    block = re.search(r"^## Layout\n\n```\n(.*?)```", open(README, encoding="utf-8").read(),
                      re.S | re.M)
    assert block, "README.md has no Layout code block"
    entries, current = {}, None
    for line in block.group(1).splitlines():
        if line and not line[0].isspace():
            current, _, desc = line.partition(" ")
            entries[current] = desc.strip()
        elif line.strip():
            entries[current] += " " + line.strip()
    return entries


def _found_under(base, name):
    for _, dirs, files in os.walk(os.path.join(REPO, base)):
        if name.rstrip("/") in (dirs if name.endswith("/") else files):
            return True
    return False


def test_layout_names_exist():
    for path, desc in _layout().items():
        assert os.path.exists(os.path.join(REPO, path)), f"Layout names {path}: not in the tree"
        base = path if path.endswith("/") else "."
        for name in _NAMED.findall(desc):
            assert _found_under(base, name), f"Layout's {path} entry names {name}: not found"


def test_layout_covers_the_tracked_tree():
    """Every directory of `git ls-files` (and every top-level file but README.md and dotfiles)
    is an entry of the Layout section, or is named in the entry of a directory above it."""
    if not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout (an sdist): no tracked tree to compare")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    entries = _layout()
    dirs = {os.path.dirname(f) for f in files if "/" in f}
    top_files = {f for f in files if "/" not in f and not f.startswith(".") and f != "README.md"}
    missing = sorted(f for f in top_files if f not in entries)
    for d in sorted(dirs):
        if d + "/" in entries:
            continue
        parents = [e for e in entries if e.endswith("/") and (d + "/").startswith(e)]
        if not parents:
            missing.append(d + "/")
            continue
        parent = max(parents, key=len)
        first = (d + "/")[len(parent):].split("/")[0] + "/"
        if first not in _NAMED.findall(entries[parent]):
            missing.append(d + "/")
    assert not missing, f"README's Layout section does not mention: {missing}"
