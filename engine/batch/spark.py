"""The runner on Apache Spark (pyspark): ``--engine spark [--master URL]``.

The rulesets directories are zipped and shipped with ``SparkContext.addFile``; each Python worker
of each executor unpacks them and loads the engine **once** (kept in a module global: Spark
reuses its Python workers across tasks), then decides its partitions with ``mapPartitions``,
chunk by chunk, with the very code the local pool runs.  Rows are numbered with
``zipWithIndex`` in input order; every partition is decided in parallel and kept on the
executors (memory, then disk), then streamed to the driver partition by partition
(``toLocalIterator``), so the output is identical, row for row, to the local engine's and the
driver holds one partition at a time.

The executors need gongji installed (``pip install``, or a packed virtualenv shipped with
``spark-submit --archives``; see the README).  Under ``spark-submit`` the session it configured is
used; otherwise ``--master`` (default ``local[*]``).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

from .runner import BatchFailure, Job, RunOptions, failure

_PYTHON_ERROR = re.compile(r"[A-Za-z_.]*(Error|Exception): ")
_EXECUTOR_STATE: dict[tuple[Any, ...], Any] = {}


def session(master: str | None) -> tuple[Any, bool]:
    """(SparkSession, created here): the active one, spark-submit's, or a new ``master`` one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a dependency
        raise failure(f"pyspark is not installed: {exc}") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = SparkSession.builder.appName("gongji")
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if master or not under_submit:
        builder = builder.master(master or "local[*]")
    if (master or "local").startswith("local") and not (under_submit and not master):
        # pyspark starts its Python workers with $PYSPARK_PYTHON (default python3): use this environment.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # A local master talks only to itself: keep its ports on the loopback interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        # In local mode the driver's JVM is the executor and keeps the decided partitions (spilling past this).
        builder = builder.config("spark.driver.memory", os.environ.get("GONGJI_SPARK_DRIVER_MEMORY", "2g"))
    builder = (builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.python.worker.reuse", "true"))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")  # failures reach the user as one message naming the row
    return spark, True


def _zip_dir(directory: str, target: Path) -> str:
    """Zip one rulesets directory; the name carries a hash of its content (distinct per version)."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    name = f"gongji-rulesets-{digest.hexdigest()[:16]}.zip"
    archive = target / name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, str(path.relative_to(root)))
    return str(archive)


def _executor_state(job: Job, archives: tuple[str, ...]) -> Any:
    """Unpack the shipped rulesets and load the job's state once per Python worker."""
    key = (archives, job.load, repr(sorted(job.load_options.items())))
    state = _EXECUTOR_STATE.get(key)
    if state is None:
        from pyspark import SparkFiles

        dirs = []
        for name in archives:
            target = tempfile.mkdtemp(prefix="gongji-rulesets-")
            with zipfile.ZipFile(SparkFiles.get(name)) as zf:
                zf.extractall(target)
            dirs.append(target)
        state = _EXECUTOR_STATE[key] = job.state(dirs)
    return state


def _partition(rows: Iterable[tuple[int, Any]], job: Job, archives: tuple[str, ...], chunk: int) -> Iterator[list[Any]]:
    state = None
    items: list[Any] = []
    first = -1
    current = [-1]

    def mark(row: int) -> None:
        current[0] = row

    def flush() -> list[Any]:
        try:
            return job.work(state, items, first, mark)
        except Exception as exc:
            row = getattr(exc, "row", current[0])
            raise RuntimeError(f"gongji: failed on row {row}: {type(exc).__name__}: {exc}") from exc

    for index, item in rows:
        if state is None:
            state = _executor_state(job, archives)
        if not items:
            first = index
        items.append(item)
        if len(items) >= chunk:
            yield flush()
            items = []
    if items:
        yield flush()


def run_spark(job: Job, source: Any, options: RunOptions) -> Iterator[list[Any]]:
    """Results of every chunk of ``source`` decided on Spark, in input order."""
    spark, created = session(options.master)
    try:
        context = spark.sparkContext
        staging, shipped = _staging(context)
        archives = []
        for directory in job.dirs:
            path = _zip_dir(directory, staging)
            name = os.path.basename(path)
            if name not in shipped:  # Spark refuses the same file name twice; the name carries the content hash
                context.addFile(path)
                shipped.add(name)
            archives.append(name)
        rdd = source.spark_rdd(spark)
        ship = tuple(archives)
        chunk = options.chunk
        results = rdd.mapPartitions(lambda rows: _partition(rows, job, ship, chunk))
        # toLocalIterator alone computes one partition at a time; decide them all in parallel
        # first (kept in executor memory, spilled to disk when large), then stream them in order.
        from pyspark import StorageLevel

        results.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            results.count()
            yield from results.toLocalIterator()
        except Exception as exc:
            if isinstance(exc, BatchFailure):
                raise
            raise failure(f"the Spark job failed: {_spark_message(exc)}") from exc
        finally:
            results.unpersist()
    finally:
        if created:
            spark.stop()


_STAGING: dict[int, tuple[Path, set[str]]] = {}


def _staging(context: Any) -> tuple[Path, set[str]]:
    """A directory for the archives, kept while the context lives (its file server serves them
    from there to executors that join later), and the names already added to the context."""
    found = _STAGING.get(id(context))
    if found is None:
        directory = Path(tempfile.mkdtemp(prefix="gongji-ship-"))
        atexit.register(shutil.rmtree, directory, True)
        found = _STAGING[id(context)] = (directory, set())
    return found


def _spark_message(exc: BaseException) -> str:
    """The useful line of a Py4J/Spark error (ours names the row), not the JVM stack."""
    text = str(exc)
    for line in text.splitlines():
        if "gongji: failed on row" in line:
            return line.strip().split("RuntimeError: ", 1)[-1]
    for line in text.splitlines():
        if _PYTHON_ERROR.match(line.strip()):
            return line.strip()[:500]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__
