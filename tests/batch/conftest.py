"""Fixtures for the population-scale tests: one synthetic population, written once per session
in every input format, and one local Spark session shared by every Spark test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine
from engine.batch import formats
from engine.batch.synth import population

from .support import RULESETS
SALT = "batch-tests"


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGJI_LOG_SALT", SALT)


@pytest.fixture(scope="session")
def plain_engine() -> Engine:
    return Engine.load(RULESETS)


@pytest.fixture(scope="session")
def population_dir(tmp_path_factory: pytest.TempPathFactory, plain_engine: Engine) -> Path:
    """pop.jsonl (2000 rows) and small.{jsonl,csv,parquet} (300 rows, the same documents)."""
    directory = tmp_path_factory.mktemp("population")
    documents = list(population(plain_engine, 2000, seed=7))
    formats.write_documents(str(directory / "pop.jsonl"), "jsonl", iter(documents))
    for fmt in formats.FORMATS:
        formats.write_documents(str(directory / f"small.{fmt}"), fmt, iter(documents[:300]))
    return directory


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session (2 cores) for every Spark test; run_spark reuses the active one."""
    if shutil.which("java") is None:
        pytest.fail("Java is needed for the Spark tests: run `make java` (installs openjdk-17-jre-headless)")
    from engine.batch.spark import session

    spark, _ = session("local[2]")
    yield spark
    spark.stop()


@pytest.fixture()
def batch_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``gongji ARGS...`` in-process with the shipped rulesets; (exit code, stdout, stderr)."""
    from engine.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        code = main([str(a) for a in args] + ["--rulesets", str(RULESETS)] if args[0] in ("batch", "synth") else
                    [str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
