"""gongji batch on the local pool: order, error rows in place, formats, progress, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest

from .support import BAD_ROWS, RULESETS, with_bad_rows
from engine.batch import formats, rows

SUMMARY = rows.SUMMARY_COLUMNS


def _read(path: Path) -> list[dict]:
    return formats.normalized(formats.read_output(str(path)), SUMMARY)


def test_order_kept_and_error_rows_in_place(batch_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean, dirty = population_dir / "pop.jsonl", tmp_path / "dirty.jsonl"
    lines = with_bad_rows(clean, dirty, BAD_ROWS)
    code, out, err = batch_cli("batch", dirty, "--out", tmp_path / "dirty-out.jsonl", "--workers", 2,
                               "--chunk-size", 97, "--progress", "none")
    assert code == 1, err  # error rows make the exit status 1; the output is complete
    got = _read(tmp_path / "dirty-out.jsonl")
    assert [r["row"] for r in got] == list(range(len(lines)))
    errors = {r["row"]: r for r in got if r["status"] == "error"}
    assert sorted(errors) == sorted(BAD_ROWS)
    assert errors[5]["error_codes"] == ["invalid_json"] and errors[5]["error_pointers"] == ["/"]
    assert errors[250]["error_codes"] == ["empty_line"]
    assert errors[731]["error_codes"] == ["invalid_region_code"]
    assert errors[731]["error_pointers"] == ["/authorizer/region"]
    assert "341***********1234" in errors[731]["error_messages"][0]
    text = (tmp_path / "dirty-out.jsonl").read_text(encoding="utf-8")
    assert "341102198001011234" not in text  # the id card number, also where it was misplaced, is masked or hashed
    assert errors[731]["authorizer_id"].startswith("h:")
    assert errors[1400]["error_codes"] == ["missing_field", "missing_field", "invalid_value", "invalid_value"]
    assert errors[1400]["error_pointers"] == ["/", "/", "/bound_members", "/relationship"]
    assert "4 error row(s)" in out and "invalid_json: 1" in out and "empty_line: 1" in out

    # A bad row in the middle changes nothing around it: the other rows equal a run on the clean file.
    code, _, err = batch_cli("batch", clean, "--out", tmp_path / "clean-out.jsonl", "--workers", 1,
                             "--progress", "none")
    assert code == 0, err
    expected = _read(tmp_path / "clean-out.jsonl")
    decided = [dict(r, row=None) for r in got if r["status"] == "decided"]
    assert decided == [dict(r, row=None) for r in expected]
    assert len(expected) == 2000 and {r["city"] for r in expected} == {"130600", "140100", "341100", "360900"}


def test_csv_and_parquet_round_trip(batch_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = population_dir / "small.jsonl"
    results = {}
    for source, target in [(small, "jsonl-to.jsonl"), (small, "jsonl-to.csv"), (small, "jsonl-to.parquet"),
                           (population_dir / "small.csv", "csv-to.jsonl"),
                           (population_dir / "small.parquet", "parquet-to.jsonl")]:
        code, _, err = batch_cli("batch", source, "--out", tmp_path / target, "--workers", 1, "--progress", "none")
        assert code == 0, err
        results[target] = _read(tmp_path / target)
    reference = results["jsonl-to.jsonl"]
    assert len(reference) == 300 and any(r["request"] == "payment" and r["authorizer_account"] for r in reference)
    for key, got in results.items():
        assert got == reference, key
    # Parquet keeps money exact and typed.
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "jsonl-to.parquet")
    assert str(schema.field("cash").type) == "decimal128(18, 2)" and str(schema.field("as_of").type) == "date32[day]"


def test_full_fields_carry_the_whole_decision(batch_cli, population_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               plain_engine) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "full.jsonl"
    code, _, err = batch_cli("batch", population_dir / "small.jsonl", "--out", target, "--fields", "full",
                             "--workers", 2, "--chunk-size", 64, "--progress", "none")
    assert code == 0, err
    documents = [json.loads(line) for line in (population_dir / "small.jsonl").read_text().splitlines()]
    for line, document in zip(target.read_text(encoding="utf-8").splitlines()[:40], documents):
        assert json.loads(line)["decision"] == plain_engine.decide(document).to_dict()


def test_csv_mapping_types_and_blank_cells() -> None:
    from engine.batch.records import document_of, flatten

    record = {"request": "payment", "bound_members": "2", "authorizer.retired": "false", "authorizer.id": "A",
              "expense.hospital_level": "3", "expense.amount": "12.30", "authorization.end": "",
              "expense.pooling_ytd.reimbursed": "0.00", "beneficiary.retired": "yes"}
    document = document_of(record)
    assert document == {"request": "payment", "bound_members": 2, "authorizer": {"retired": False, "id": "A"},
                        "expense": {"hospital_level": 3, "amount": "12.30", "pooling_ytd": {"reimbursed": "0.00"}},
                        "beneficiary": {"retired": "yes"}}  # left for the normalizer to report with its pointer
    assert document_of(flatten(document)) == document
    # Parquet/Spark rows: nulls are absent, struct columns taken as they are, typed values kept exact.
    import datetime
    from decimal import Decimal

    assert document_of({"authorizer": {"id": "A", "retired": "true", "region": None}, "as_of": datetime.date(2025, 3, 1),
                        "expense.amount": Decimal("12.30"), "city": None}) == {
        "authorizer": {"id": "A", "retired": True}, "as_of": "2025-03-01", "expense": {"amount": "12.30"}}


def test_a_failing_spark_partition_names_the_row() -> None:
    from engine.batch.runner import Job
    from engine.batch.spark import _partition, _spark_message

    def work(state, items, first, mark):  # type: ignore[no-untyped-def]
        for offset, item in enumerate(items):
            mark(first + offset)
            if item == "boom":
                raise ZeroDivisionError("a bug")
        return list(items)

    job = Job(lambda: "state", (), work)
    chunks = _partition(iter([(10, "a"), (11, "b"), (12, "boom")]), job, (), 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("engine.batch.spark._executor_state", lambda job, archives: "state")
        assert next(chunks) == ["a", "b"]
        with pytest.raises(RuntimeError, match="gongji: failed on row 12: ZeroDivisionError: a bug"):
            next(chunks)
    java = ("py4j.protocol.Py4JJavaError: An error occurred\n  File x\n"
            "RuntimeError: gongji: failed on row 12: ZeroDivisionError: a bug\n\tat org.apache.spark...")
    assert _spark_message(Exception(java)) == "gongji: failed on row 12: ZeroDivisionError: a bug"


def test_progress_never_corrupts_the_output(population_dir: Path, tmp_path: Path) -> None:
    from engine.cli import main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    source = population_dir / "small.jsonl"
    quiet = tmp_path / "quiet.jsonl"
    assert main(["batch", str(source), "--out", str(quiet), "--progress", "none", "--workers", "1"],
                io.StringIO(), io.StringIO()) == 0
    terminal, stdout = Terminal(), io.StringIO()
    assert main(["batch", str(source), "--out", "-", "--workers", "2", "--chunk-size", "50"], stdout, terminal) == 0
    assert "rows" in terminal.getvalue() and "300/300" in terminal.getvalue()  # the tqdm bar went to the terminal
    assert stdout.getvalue() == quiet.read_text(encoding="utf-8")  # and nothing of it into the output
    lines, stdout = io.StringIO(), io.StringIO()
    assert main(["batch", str(source), "--out", "-", "--workers", "1", "--progress-every", "0"], stdout, lines) == 0
    assert stdout.getvalue() == quiet.read_text(encoding="utf-8")
    assert "gongji batch: 300 rows of 300 (100.0%)" in lines.getvalue() and "rows/s" in lines.getvalue()


def _crash_at(row: int, how: str):  # type: ignore[no-untyped-def]
    original = rows.decide_row

    def decide_row(engine, index, *args, **kwargs):  # type: ignore[no-untyped-def]
        if index == row:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise ZeroDivisionError("a bug")
        return original(engine, index, *args, **kwargs)

    return decide_row


@pytest.mark.parametrize(("how", "workers"), [("kill", "2"), ("bug", "2"), ("bug", "1")])
def test_a_worker_crash_fails_loudly_naming_the_row(batch_cli, population_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch, how: str, workers: str) -> None:
    monkeypatch.setattr(rows, "decide_row", _crash_at(777, how))  # the forked workers inherit it
    target = tmp_path / "out.jsonl"
    target.write_text("an older result\n")
    code, out, err = batch_cli("batch", population_dir / "pop.jsonl", "--out", target, "--workers", workers,
                               "--chunk-size", 100, "--progress", "none")
    assert code == 3
    assert "row 777" in err and "chunk 7, rows 700-799" in err
    assert ("SIGKILL" in err) if how == "kill" else ("ZeroDivisionError: a bug" in err)
    assert f"{target} was not written" in err and "Traceback" not in err and out == ""
    assert target.read_text() == "an older result\n"  # untouched, and no partial file left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.jsonl.salt"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_usage_errors(batch_cli, population_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = batch_cli("batch", tmp_path / "missing.jsonl", "--out", tmp_path / "o.jsonl")
    assert code == 1 and "file_not_found" in err
    code, _, err = batch_cli("batch", population_dir / "small.jsonl", "--out", tmp_path / "o.txt")
    assert code == 2 and "unknown_format" in err
    code, _, err = batch_cli("batch", population_dir / "small.jsonl", "--out", tmp_path / "o.jsonl",
                             "--master", "local[2]")
    assert code == 2 and "--master needs --engine spark" in err
    code, _, err = batch_cli("batch", population_dir / "small.jsonl", "--out", tmp_path / "o.jsonl",
                             "--as-of", "2025-13-01")
    assert code == 2 and "invalid_date" in err
    code, _, err = batch_cli("batch", population_dir / "small.jsonl", "--out", tmp_path / "no" / "o.jsonl")
    assert code == 2 and "output_unwritable" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_diff_replay_and_replay_on_the_pool_equal_one_by_one(run_cli, population_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            plain_engine) -> None:  # type: ignore[no-untyped-def]
    from engine.tools.replay import replay

    root = RULESETS
    corpus = tmp_path / "corpus.jsonl"
    with_bad_rows(population_dir / "small.jsonl", corpus, {7: "{not json", 100: ""})
    reports = [run_cli("diff", root, root, "--replay", corpus, "--format", "json", "--workers", workers,
                       "--chunk-size", 40) for workers in ("1", "2")]
    assert reports[0][0] == reports[1][0] == 0
    assert json.loads(reports[0][1]) == json.loads(reports[1][1])
    assert json.loads(reports[1][1])["replay"]["unreadable"] == 1
    log = tmp_path / "decisions.log"
    assert run_cli("decide", population_dir / "small.jsonl", "--log", log, "--rulesets", root)[0] == 0
    code, out, err = run_cli("replay", log, "--rulesets", root, "--workers", "2", "--chunk-size", 40)
    assert code == 0, err
    sequential = replay(log, plain_engine)
    assert f"{sequential.lines} line(s): {sequential.replayed} replayed, {sequential.matched} identical" in out
    assert sequential.matched == 300


def test_an_incomplete_plan_is_flagged_in_every_format(tmp_path: Path) -> None:
    from types import SimpleNamespace

    payment = {"plan": [{"source": "pooling_fund", "amount": "0.00"}, {"source": "beneficiary_account", "amount": "5.00"},
                        {"source": "authorizer_account", "amount": "0.00"}, {"source": "cash", "amount": "0.00"}],
               "total": "5.00", "complete": False, "incomplete": ["employee_pooling_not_computed"]}
    decision = SimpleNamespace(city="140100", request="payment", as_of=20250301, eligible=False, payment=payment,
                               sha256="f" * 64, reason_parts=lambda: [])
    record = rows.decision_row(3, decision, {"authorizer": {"id": "A"}}, "summary", b"salt")
    assert (record["plan_complete"], record["plan_incomplete"]) == (False, ["employee_pooling_not_computed"])
    for fmt in formats.FORMATS:
        writer = formats.Writer(str(tmp_path / f"o.{fmt}"), fmt, SUMMARY)
        writer.write([record])
        writer.commit()
        assert _read(tmp_path / f"o.{fmt}") == formats.normalized([record], SUMMARY), fmt


def test_a_csv_saved_with_a_byte_order_mark_reads_like_one_without(batch_cli, population_dir: Path,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (population_dir / "small.csv").read_bytes())
    for source, target in ((population_dir / "small.csv", "plain.jsonl"), (bom, "bom.jsonl")):
        code, _, err = batch_cli("batch", source, "--out", tmp_path / target, "--workers", 1, "--progress", "none")
        assert code == 0, err
    assert _read(tmp_path / "bom.jsonl") == _read(tmp_path / "plain.jsonl")


def test_spark_reads_a_csv_with_quotes_as_multiline(tmp_path: Path) -> None:
    """The driver's scan that picks Spark's CSV reader: any quote -> multiLine (a cell may span lines)."""
    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    plain.write_text("request,city\n" + "binding,341100\n" * 5000)
    quoted.write_text("request,city\n" + "binding,341100\n" * 5000 + 'payment,"3411\n00"\n')
    assert formats.Source(str(plain), "csv")._has_quote(None, str(plain)) is False
    assert formats.Source(str(quoted), "csv")._has_quote(None, str(quoted)) is True


def test_the_progress_total_counts_csv_records_not_lines(tmp_path: Path) -> None:
    """The bar's total (and its ETA) is the number of rows the reader will yield: a quoted cell
    that spans lines is one row, as the CSV reader reads it; without quotes, lines are rows."""
    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    plain.write_text("request,city\n" + "binding,341100\n" * 300)
    quoted.write_text("request,note\n" + 'binding,"one\ntwo\nthree"\n' * 300 + "payment,x")  # no final newline
    assert formats.Source(str(plain), "csv").count() == 300
    assert formats.Source(str(quoted), "csv").count() == 301
    assert sum(len(items) for _, items in formats.Source(str(quoted), "csv").chunks(64)) == 301


def test_the_unfinished_output_of_a_killed_run_is_removed_by_the_next(batch_cli, population_dir: Path,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    """A ``kill -9`` leaves the hidden temporary output behind (nothing can run in the killed
    process); the next run writing the same file removes it, and says so.  A temporary file of
    a live process (another run in progress) or of another host (a shared directory) stays."""
    import subprocess
    import sys

    target = tmp_path / "out.jsonl"
    code = ("import os, signal, sys; from engine.batch import formats; "
            "fd, temp = formats._reserve(sys.argv[1]); os.write(fd, b'half a row'); print(temp, flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    orphan = Path(killed.stdout.strip())
    assert orphan.exists() and orphan.parent == tmp_path
    live = tmp_path / (formats._partial_prefix(target, os.getppid()) + "x.partial")  # pytest's parent is alive
    elsewhere = tmp_path / ".out.jsonl.other-host.999999.x.partial"
    for path in (live, elsewhere):
        path.write_text("in progress")
    code, _out, err = batch_cli("batch", population_dir / "pop.jsonl", "--out", target, "--workers", "1",
                                "--progress", "none")
    assert code == 0
    assert not orphan.exists() and f"removed 1 unfinished output(s) of killed runs beside {target}" in err
    assert orphan.name in err and live.exists() and elsewhere.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial") and p not in (live, elsewhere)]
