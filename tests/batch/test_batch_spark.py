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


def _with_multiline_cells(source: Path, target: Path, bom: bool = False) -> None:
    """``source`` (CSV) with quoted cells spanning lines in records 100 and 150 (and a quoted
    comma in 200): record 100's relationship becomes invalid, the others stay decidable."""
    lines = source.read_text(encoding="utf-8").splitlines()
    records = [line.split(",") for line in lines]
    records[101][3] = '"spouse\nor parent"'  # line 0 is the header: record i is line i + 1
    records[151][5] = '"A-1\r\nsecond line, ""quoted"""'
    records[201][5] = '"A,2"'
    text = "\n".join(",".join(cells) for cells in records) + "\n"
    target.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def test_csv_cells_spanning_lines_read_alike_on_both_engines(spark, batch_cli, population_dir: Path,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    reference = tmp_path / "reference.jsonl"
    assert batch_cli("batch", population_dir / "small.csv", "--out", reference, "--workers", 1,
                     "--progress", "none")[0] == 0
    expected = reference.read_text(encoding="utf-8").splitlines()
    source = tmp_path / "multiline.csv"
    _with_multiline_cells(population_dir / "small.csv", source, bom=True)  # as Excel saves it
    local, remote = tmp_path / "local.jsonl", tmp_path / "spark.jsonl"
    code, _, err = batch_cli("batch", source, "--out", local, "--workers", 2, "--chunk-size", 40,
                             "--progress", "none")
    assert code == 1, err
    rows = [json.loads(line) for line in local.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in rows] == list(range(300))  # one row per record, not per line
    assert rows[100]["status"] == "error" and rows[150]["status"] == rows[200]["status"] == "decided"
    changed = [i for i, line in enumerate(local.read_text(encoding="utf-8").splitlines()) if line != expected[i]]
    assert changed == [100, 150, 200]  # the ids are hashed, so 150 and 200 differ by their ids only
    # As a URL, as on a cluster: Spark itself looks for quotes (a local path is scanned by the driver).
    code, _, err = batch_cli("batch", source.as_uri(), "--out", remote, "--engine", "spark", "--chunk-size", 40,
                             "--progress", "none")
    assert code == 1, err
    assert remote.read_bytes() == local.read_bytes()
