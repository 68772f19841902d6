"""The Spark engine (local mode, one session for all these tests) gives the local engine's rows."""

from __future__ import annotations

import json
from pathlib import Path

from .support import BAD_ROWS, RULESETS, with_bad_rows


def test_spark_equals_local_row_for_row(spark, batch_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dirty = tmp_path / "dirty.jsonl"
    lines = with_bad_rows(population_dir / "pop.jsonl", dirty, BAD_ROWS)
    local, remote = tmp_path / "local.jsonl", tmp_path / "spark.jsonl"
    assert batch_cli("batch", dirty, "--out", local, "--workers", 2, "--progress", "none")[0] == 1
    code, out, err = batch_cli("batch", dirty, "--out", remote, "--engine", "spark", "--chunk-size", 300,
                               "--progress", "none")
    assert code == 1, err
    assert remote.read_bytes() == local.read_bytes()  # identical, byte for byte, error rows included
    assert len(remote.read_text().splitlines()) == len(lines) and "4 error row(s)" in out


def test_spark_reads_csv_and_parquet(spark, batch_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reference = tmp_path / "reference.jsonl"
    assert batch_cli("batch", population_dir / "small.jsonl", "--out", reference, "--workers", 1,
                     "--progress", "none")[0] == 0
    for fmt in ("csv", "parquet"):
        target = tmp_path / f"{fmt}.jsonl"
        code, _, err = batch_cli("batch", population_dir / f"small.{fmt}", "--out", target, "--engine", "spark",
                                 "--progress", "none")
        assert code == 0, err
        assert target.read_bytes() == reference.read_bytes(), fmt


def test_replay_and_diff_replay_on_spark(spark, run_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = RULESETS
    local = run_cli("diff", root, root, "--replay", population_dir / "small.jsonl", "--format", "json",
                    "--workers", 1)
    remote = run_cli("diff", root, root, "--replay", population_dir / "small.jsonl", "--format", "json",
                     "--engine", "spark")
    assert local[0] == remote[0] == 0, remote[2]
    assert json.loads(remote[1])["replay"] == json.loads(local[1])["replay"]
    assert json.loads(local[1])["replay"]["replayed"] == 300
