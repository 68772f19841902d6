"""Reading inputs and writing outputs: JSON Lines, CSV and Parquet, streamed in chunks.

Row indexes are 0-based: a JSON Lines line (blank lines included: they become error rows), a
CSV data record after the header, a Parquet row.  Outputs are written to a temporary file
beside the target and renamed into place only when the whole job succeeded: a failed job never
leaves a partial output that looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import re
import socket
import stat
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Iterator, Mapping, Sequence

from ..core.errors import InputError, Issue, SourceLocation, UsageError
from .records import BOOL_FIELDS, COLUMNS, INT_FIELDS, flatten
from .rows import BOOL_COLUMNS, LIST_COLUMNS, MONEY_COLUMNS

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
               ".pq": "parquet"}
_LIST_SEPARATOR = {"error_messages": " | "}
_BLOCK = 1 << 20


def guess_format(path: str, given: str | None, what: str) -> str:
    """The format named by ``--…-format`` or by the file's extension."""
    if given:
        return given
    suffix = Path(path.split("?")[0]).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    raise UsageError([Issue("unknown_format", f"cannot tell the {what} format from {path!r}", SourceLocation(path),
                            expected="a .jsonl, .csv or .parquet file (or --input-format/--output-format)",
                            found=suffix or "no extension")])


def _unreadable(path: str, exc: OSError) -> InputError:
    code = "file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable"
    return InputError([Issue(code, f"cannot read the input: {exc.strerror or exc}", SourceLocation(path))],
                      "input unreadable")


def _is_remote(path: str) -> bool:
    return "://" in path


class Source:
    """An input file: rows in chunks (local runner) or as an RDD of (row, item) (Spark)."""

    def __init__(self, path: str, fmt: str):
        self.path = path
        self.fmt = fmt

    def check(self) -> None:
        if _is_remote(self.path):
            raise UsageError([Issue("remote_input", "only --engine spark reads a URL", SourceLocation(self.path),
                                    expected="a local file", found=self.path)])
        try:
            with open(self.path, "rb"):
                pass
        except OSError as exc:
            raise _unreadable(self.path, exc) from exc

    def count(self) -> int | None:
        """Rows in the input (for the progress bar's ETA); None when it costs too much to know."""
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a pipe or device: counting would consume it
                return None
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self.path).metadata.num_rows)
            lines = 0
            last = b"\n"
            quoted = False
            with open(self.path, "rb") as handle:
                while block := handle.read(_BLOCK):
                    lines += block.count(b"\n")
                    quoted = quoted or b'"' in block
                    last = block[-1:]
            lines += last != b"\n"
            if self.fmt != "csv":
                return lines
            if quoted:  # a quoted cell may hold line breaks: count records as the reader reads them
                with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as text:
                    return sum(1 for row in csv.reader(text) if row) - 1
            return lines - 1
        except Exception:  # the count only feeds the ETA; the reader reports real problems
            return None

    def chunks(self, size: int) -> Iterator[tuple[int, list[Any]]]:
        """(first row index, raw items) for consecutive rows, ``size`` at a time."""
        if self.fmt == "parquet":
            yield from self._parquet_chunks(size)
            return
        try:
            handle = open(self.path, encoding="utf-8-sig", errors="replace",  # noqa: SIM115 - closed by the with below
                          newline=None if self.fmt == "jsonl" else "")
        except OSError as exc:
            raise _unreadable(self.path, exc) from exc
        with handle:
            try:
                if self.fmt == "jsonl":
                    yield from _batched((line[:-1] if line.endswith("\n") else line for line in handle), size)
                else:
                    reader = csv.DictReader(handle)
                    # Extra cells (restkey None) are dropped and missing ones are absent, as Spark's CSV reader does.
                    yield from _batched(({k: v for k, v in record.items() if k is not None} for record in reader),
                                        size)
            except (OSError, csv.Error) as exc:
                raise InputError([Issue("file_unreadable", f"reading the input failed: {exc}",
                                        SourceLocation(self.path))]) from exc

    def _parquet_chunks(self, size: int) -> Iterator[tuple[int, list[Any]]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise InputError([Issue("file_unreadable", f"not a readable Parquet file: {exc}",
                                    SourceLocation(self.path))]) from exc
        first = 0
        for batch in parquet.iter_batches(batch_size=size):
            items = batch.to_pylist()
            yield first, items
            first += len(items)

    def spark_rdd(self, spark: Any) -> Any:
        """The same rows as an RDD of (row index, raw item), in input order."""
        path = self.path if _is_remote(self.path) else Path(self.path).resolve().as_uri()
        parallelism = max(2, spark.sparkContext.defaultParallelism)
        if self.fmt == "jsonl":
            rdd = spark.sparkContext.textFile(path, minPartitions=2 * parallelism)
            return rdd.zipWithIndex().map(lambda pair: (pair[1], pair[0]))
        if not _is_remote(self.path):  # split even a small file into enough partitions for every core
            size = os.path.getsize(self.path)
            spark.conf.set("spark.sql.files.maxPartitionBytes",
                           str(min(128 << 20, max(1 << 20, size // (2 * parallelism)))))
        if self.fmt == "csv":
            return self._spark_csv(spark, path, parallelism)
        frame = spark.read.parquet(path)
        return frame.rdd.zipWithIndex().map(lambda pair: (pair[1], pair[0].asDict(recursive=True)))

    def _spark_csv(self, spark: Any, path: str, parallelism: int) -> Any:
        """CSV records as the local reader (Python's csv module) reads them, quoted cells spanning
        lines included.  Spark's line-split reader cuts such a cell into two rows, and its
        ``multiLine`` reader, which does not, reads a whole file in one partition; so a file with
        no quote character at all (no cell can span lines) is read split, any other multiLine,
        numbered and spread over ``2 x parallelism`` partitions by row range before deciding."""
        reader = spark.read.option("header", True).option("escape", '"').option("inferSchema", False)
        if not self._has_quote(spark, path):
            return reader.csv(path).rdd.zipWithIndex().map(lambda pair: (pair[1], pair[0].asDict(recursive=True)))
        frame = reader.option("multiLine", True).csv(path)
        if frame.rdd.getNumPartitions() != 1:  # several files: number them in order across partitions
            return frame.rdd.zipWithIndex().map(lambda pair: (pair[1], pair[0].asDict(recursive=True)))
        from pyspark.sql import functions as sf

        # One partition: monotonically_increasing_id is the record's index (0, 1, 2 …), computed
        # in the JVM; range-partitioned and sorted on it, partition order stays input order.
        key = "__gongji_row__"
        numbered = (frame.withColumn(key, sf.monotonically_increasing_id())
                    .repartitionByRange(2 * parallelism, key).sortWithinPartitions(key))

        def pair(row: Any) -> tuple[int, dict[str, Any]]:
            record = row.asDict(recursive=True)
            return record.pop(key), record

        return numbered.rdd.map(pair)

    def _has_quote(self, spark: Any, path: str) -> bool:
        """Whether the file holds a ``"`` anywhere (a local file is scanned here; a URL by Spark)."""
        if not _is_remote(self.path):
            with open(self.path, "rb") as handle:
                return any(b'"' in block for block in iter(lambda: handle.read(_BLOCK), b""))
        from pyspark.sql import functions as sf

        return not spark.read.text(path).filter(sf.instr("value", '"') > 0).isEmpty()


def _batched(items: Any, size: int) -> Iterator[tuple[int, list[Any]]]:
    chunk: list[Any] = []
    first = 0
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield first, chunk
            first += len(chunk)
            chunk = []
    if chunk:
        yield first, chunk


# ------------------------------------------------------------------------------ writers


class Writer:
    """Writes output rows; the file appears under its name only on :meth:`commit`."""

    def __init__(self, path: str, fmt: str, columns: Sequence[str], stdout: TextIO | None = None):
        self.path = path
        self.fmt = fmt
        self.columns = tuple(columns)
        self.rows = 0
        self._temp: str | None = None
        self._parquet: Any = None
        self._pending: list[Mapping[str, Any]] = []
        # Rows per Parquet row group: large for slim rows, small for full decisions (~14 KB each).
        self._group_rows = 4096 if "decision" in self.columns else 65536
        if path == "-":
            if fmt == "parquet":
                raise UsageError([Issue("unsupported_output", "Parquet cannot be written to standard output",
                                        SourceLocation("-"), expected="--out FILE.parquet", found="-")])
            self.handle: Any = stdout or sys.stdout
        else:
            fd, self._temp = _reserve(path)
            if fmt == "parquet":
                os.close(fd)
                self.handle = None
            else:
                self.handle = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in commit/abort
        if fmt == "csv":
            self._csv = csv.writer(self.handle, lineterminator="\n")
            self._csv.writerow(self.columns)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.rows += len(records)
        if self.fmt == "jsonl":
            self.handle.write("".join(jsonl_line(r) for r in records))
        elif self.fmt == "csv":
            self._csv.writerows([csv_cell(c, r.get(c)) for c in self.columns] for r in records)
        else:
            self._pending.extend(records)
            if len(self._pending) >= self._group_rows:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = output_schema(self.columns)
        table = pa.Table.from_pylist([parquet_row(r, self.columns) for r in self._pending], schema=schema)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._temp, schema)
        self._parquet.write_table(table)
        self._pending = []

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self.fmt == "parquet":
            if self._pending or self._parquet is None:
                self._flush_parquet()
            self._parquet.close()
        elif self._temp is None:
            self.handle.flush()
            return
        else:
            self.handle.close()
        assert self._temp is not None
        _publish(self._temp, self.path)
        self._temp = None

    def abort(self) -> None:
        """Drop what was written (the target is left as it was)."""
        if self._temp is None:
            return
        try:
            if self._parquet is not None:
                self._parquet.close()
            elif self.handle is not None:
                self.handle.close()
        finally:
            Path(self._temp).unlink(missing_ok=True)
            self._temp = None


class PendingFile:
    """A whole-text output (a report) written under a temporary name beside ``path`` and renamed
    into place by :meth:`publish`.  Reserved before the long computation, so an unwritable
    target fails at once; on any failure :meth:`discard` leaves ``path`` as it was."""

    def __init__(self, path: str):
        self.path = path
        fd, self._temp = _reserve(path)
        os.close(fd)

    def write(self, text: str) -> None:
        """Write the whole content to the temporary file (not yet under its name)."""
        try:
            with open(self._temp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise UsageError([Issue("output_unwritable", f"cannot write the output: {exc.strerror or exc}",
                                    SourceLocation(self.path))]) from exc

    def publish(self) -> None:
        _publish(self._temp, self.path)

    def discard(self) -> None:
        Path(self._temp).unlink(missing_ok=True)


def _partial_prefix(target: Path, pid: int | None = None) -> str:
    """``.NAME.HOST.PID.``: whose temporary file this is, so a later run can tell it is orphaned."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"
    return f".{target.name}.{host}.{os.getpid() if pid is None else pid}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's process
        return True
    return True


def remove_orphans(target: Path) -> list[Path]:
    """Delete the temporary outputs beside ``target`` left by runs on this host that were killed
    (``kill -9``, a crash): their process is gone, so nothing can finish them.  Files of another
    host (a shared directory) or of a live process are never touched."""
    folder = target.parent if str(target.parent) else Path(".")
    mine = _partial_prefix(target, 0)[: -len(".0.")]  # .NAME.HOST
    pattern = re.compile(re.escape(mine) + r"\.([0-9]+)\.[^/]*\.partial")
    removed = []
    with contextlib.suppress(OSError):
        for candidate in folder.iterdir():
            match = pattern.fullmatch(candidate.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


def _reserve(path: str) -> tuple[int, str]:
    """A temporary file beside ``path`` (same directory: the final rename is atomic), or
    ``output_unwritable`` now, before any work is done.  Orphans of killed runs go first."""
    target = Path(path)
    orphans = remove_orphans(target)
    if orphans:
        print(f"gongji: removed {len(orphans)} unfinished output(s) of killed runs beside {path}: "
              + ", ".join(p.name for p in orphans), file=sys.stderr)
    try:
        return tempfile.mkstemp(prefix=_partial_prefix(target), suffix=".partial",
                                dir=target.parent if str(target.parent) else ".")
    except OSError as exc:
        raise UsageError([Issue("output_unwritable", f"cannot write the output: {exc.strerror or exc}",
                                SourceLocation(path))]) from exc


def _publish(temp: str, path: str) -> None:
    """Give the finished temp file the mode a new file would have (mkstemp makes it 0600) and
    move it into place in one step."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, path)


def jsonl_line(record: Mapping[str, Any]) -> str:
    """A compact JSON line: null fields and empty lists left out, the decision embedded as is."""
    body = {k: v for k, v in record.items() if k != "decision" and v is not None and v != []}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    decision = record.get("decision")
    if decision is not None:
        text = text[:-1] + ',"decision":' + decision + "}"
    return text + "\n"


def csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _LIST_SEPARATOR.get(column, ";").join(value)
    return str(value)


def output_schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {"row": pa.int64(), "as_of": pa.date32(), **dict.fromkeys(BOOL_COLUMNS, pa.bool_())}
    fields = []
    for column in columns:
        if column in LIST_COLUMNS:
            fields.append(pa.field(column, pa.list_(pa.string())))
        elif column in MONEY_COLUMNS:
            fields.append(pa.field(column, pa.decimal128(18, 2)))
        else:
            fields.append(pa.field(column, types.get(column, pa.string())))
    return pa.schema(fields)


def parquet_row(record: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    out = {}
    for column in columns:
        value = record.get(column)
        if value is not None and column in MONEY_COLUMNS:
            value = Decimal(value)
        elif value is not None and column == "as_of":
            value = _dt.date.fromisoformat(value)
        out[column] = value
    return out


def read_output(path: str, fmt: str | None = None) -> list[dict[str, Any]]:
    """Output rows read back as the runner produced them (tests, and small files only)."""
    fmt = guess_format(path, fmt, "output")
    if fmt == "jsonl":
        rows = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            if "decision" in data:
                data["decision"] = json.dumps(data["decision"], ensure_ascii=False, separators=(",", ":"))
            rows.append(data)
        return rows
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            rows = []
            for record in csv.DictReader(handle):
                row: dict[str, Any] = {}
                for column, text in record.items():
                    if column in LIST_COLUMNS:
                        row[column] = text.split(_LIST_SEPARATOR.get(column, ";")) if text else []
                    elif text == "":
                        row[column] = None
                    elif column == "row":
                        row[column] = int(text)
                    elif column in BOOL_COLUMNS:
                        row[column] = text == "true"
                    else:
                        row[column] = text
                rows.append(row)
            return rows
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:
        for column, value in row.items():
            if isinstance(value, Decimal):
                row[column] = f"{value:.2f}"
            elif isinstance(value, _dt.date):
                row[column] = value.isoformat()
    return rows


def normalized(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with every column present (absent -> None, lists -> []) so formats compare equal."""
    return [{c: (row.get(c) if row.get(c) is not None else ([] if c in LIST_COLUMNS else None)) for c in columns}
            for row in rows]


# ------------------------------------------------------------------------------ documents (gongji synth)


def write_documents(path: str, fmt: str, documents: Iterator[dict[str, Any]]) -> int:
    """Write fact documents as JSON Lines, flat CSV or flat Parquet; temp file + rename."""
    fd, temp = _reserve(path)
    count = 0
    try:
        if fmt == "parquet":
            os.close(fd)
            count = _write_documents_parquet(temp, documents)
        else:
            with open(fd, "w", encoding="utf-8", newline="") as handle:
                if fmt == "jsonl":
                    for document in documents:
                        handle.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
                        count += 1
                else:
                    writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
                    writer.writeheader()
                    for document in documents:
                        writer.writerow(flatten(document))
                        count += 1
        _publish(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def _write_documents_parquet(path: str, documents: Iterator[dict[str, Any]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c, pa.bool_() if c in BOOL_FIELDS else pa.int64() if c in INT_FIELDS
                                 else pa.string()) for c in COLUMNS])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for document in documents:
            batch.append(_typed_flat(document))
            if len(batch) >= 65536:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        count += len(batch)
    return count


def _typed_flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping):
            out.update(_typed_flat(value, prefix + key + "."))
        else:
            out[prefix + key] = value
    return out
