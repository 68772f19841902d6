"""The default on-disk cache of analysed rulesets and a ``gongji decide`` that imports only what
it needs (tests/unit/test_prepared.py covers the cache's keying and private directories)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Engine
from engine.runtime import api
from tests.conftest import ROOT, RULESETS, binding


def test_the_default_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GONGJI_CACHE_DIR", str(tmp_path / "mine"))
    assert api.default_cache_dir() == tmp_path / "mine"
    for off in ("", "off", " "):
        monkeypatch.setenv("GONGJI_CACHE_DIR", off)
        assert api.default_cache_dir() is None
    monkeypatch.delenv("GONGJI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert api.default_cache_dir() == tmp_path / "xdg" / "gongji"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert api.default_cache_dir() == tmp_path / "home" / ".cache" / "gongji"


def test_engine_load_uses_the_default_cache_unless_told_not_to(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.delenv("GONGJI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = Engine.load(RULESETS).decide(binding()).to_json()
    (entry,) = (tmp_path / "gongji").glob("rulesets-*.pickle")
    assert entry.read_bytes().startswith(api.CACHE_MAGIC)
    assert Engine.load(RULESETS).decide(binding()).to_json() == expected  # from the entry
    entry.unlink()
    Engine.load(RULESETS, cache_dir=False)
    monkeypatch.setenv("GONGJI_CACHE_DIR", "off")
    Engine.load(RULESETS)
    assert list((tmp_path / "gongji").glob("rulesets-*.pickle")) == []


def _entry(cache: Path) -> Path:
    Engine.load(RULESETS, cache_dir=cache)
    (entry,) = cache.glob("rulesets-*.pickle")
    return entry


def test_a_damaged_entry_that_still_unpickles_is_ignored_and_rebuilt(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """One flipped byte inside a pickled string still unpickles, to different rules: the digest
    catches it before anything is unpickled."""
    cache = tmp_path / "cache"
    entry = _entry(cache)
    data = bytearray(entry.read_bytes())
    at = data.index(b"sharing_in_force", len(api.CACHE_MAGIC) + 32)
    data[at] ^= 0x01  # 'sharing' -> 'rharing'
    entry.write_bytes(bytes(data))
    unpickled = []
    real = api.pickle.loads
    monkeypatch.setattr(api.pickle, "loads", lambda raw: unpickled.append(1) or real(raw))
    engine = Engine.load(RULESETS, cache_dir=cache)
    assert unpickled == []  # the damaged entry was never unpickled
    assert any(r["rule"].endswith(".sharing_in_force") for r in engine.decide(binding()).to_dict()["reasons"])
    assert api._read_cache(entry) is not None  # rewritten whole
    for damage in (b"", api.CACHE_MAGIC, b"not a cache entry" * 10):
        entry.write_bytes(damage)
        assert api._read_cache(entry) is None
        Engine.load(RULESETS, cache_dir=cache)
        assert api._read_cache(entry) is not None


def test_an_entry_others_may_write_is_not_read(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry = _entry(cache)
    entry.chmod(0o622)
    assert api._read_cache(entry) is None
    Engine.load(RULESETS, cache_dir=cache)  # rebuilt, replaced by a private entry
    assert entry.stat().st_mode & 0o777 == 0o600 and api._read_cache(entry) is not None


def test_the_cache_keeps_the_most_recently_used_entries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    for n in range(api.CACHE_FILES + 3):  # entries of other ruleset versions, oldest first
        stale = cache / f"rulesets-{n:064d}.pickle"
        stale.write_bytes(b"x")
        os.utime(stale, (1_000_000 + n, 1_000_000 + n))
    Engine.load(RULESETS, cache_dir=cache)
    entry = cache / f"rulesets-{api.cache_key(RULESETS, None)}.pickle"
    kept = sorted(p.name for p in cache.glob("rulesets-*.pickle"))
    assert len(kept) == api.CACHE_FILES and entry.name in kept
    assert f"rulesets-{0:064d}.pickle" not in kept and f"rulesets-{api.CACHE_FILES + 2:064d}.pickle" in kept
    assert not list(cache.glob(".*.tmp"))


def test_the_same_content_elsewhere_is_its_own_entry(tmp_path: Path) -> None:
    """The analysis keeps file paths for its messages: a copy of the rulesets gets its own entry."""
    import shutil

    cache = tmp_path / "cache"
    copy = tmp_path / "copy"
    shutil.copytree(RULESETS, copy)
    Engine.load(RULESETS, cache_dir=cache)
    Engine.load(copy, cache_dir=cache)
    assert len(list(cache.glob("rulesets-*.pickle"))) == 2
    assert api.cache_key(RULESETS, None) != api.cache_key(copy, None)


def test_decide_imports_neither_the_extensions_nor_jsonschema(tmp_path: Path) -> None:
    """A ``gongji decide`` from a warm cache needs no JSON Schema (valid rulesets, valid facts)
    and none of the other subcommands' modules; ``gongji --help`` still lists them all."""
    code = ("import sys; from engine.cli import main; main(sys.argv[1:]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jsonschema', 'pytest', 'fastapi', "
            "'starlette', 'uvicorn') or m.startswith(('engine.service', 'engine.batch', 'engine.console', "
            "'engine.tools.testing', 'engine.tools.diff'))); print('IMPORTED', bad, file=sys.stderr)")
    env = dict(os.environ, GONGJI_CACHE_DIR=str(tmp_path / "cache"))
    args = [sys.executable, "-c", code, "decide", str(ROOT / "examples" / "chuzhou-payment.yaml"),
            "--rulesets", str(RULESETS)]
    first = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    second = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    assert "IMPORTED []" in second.stderr
    helped = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert helped.returncode == 0 and all(name in helped.stdout for name in ("decide", "serve", "batch", "replay"))


def test_a_child_forked_during_a_load_collects_garbage() -> None:
    """The collector is off while a load runs; a child forked meanwhile (from another thread, in
    a supervisor) must get it back, and the parent gets it back when the load ends."""
    import gc

    assert gc.isenabled()
    with api._collector_paused():
        assert not gc.isenabled()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, b"1" if gc.isenabled() else b"0")
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child = os.read(read, 1)
        os.close(read)
    assert child == b"1" and gc.isenabled()
