"""Usage error codes of ``gongji batch`` that test_batch_local.py does not reach (engine/core/codes.py names
this file for them)."""

from __future__ import annotations

from pathlib import Path


def test_a_url_needs_spark(batch_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = batch_cli("batch", "https://example.invalid/pop.jsonl", "--out", tmp_path / "o.jsonl")
    assert code == 2 and ": remote_input: only --engine spark reads a URL" in err


def test_parquet_cannot_go_to_standard_output(batch_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n", encoding="utf-8")
    code, out, err = batch_cli("batch", source, "--out", "-", "--output-format", "parquet")
    assert (code, out) == (2, "")
    assert "-: unsupported_output: Parquet cannot be written to standard output" in err


def test_options_of_the_other_engine(batch_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n", encoding="utf-8")
    code, _, err = batch_cli("batch", source, "--out", tmp_path / "o.jsonl", "--engine", "spark", "--workers", 2)
    assert code == 2 and ": invalid_option: --workers is for the local engine" in err
