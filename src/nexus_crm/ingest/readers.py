"""History files for import: JSONL or CSV, gzip-compressed or not, read record by record.

Every record carries the number of the line it starts on, so that each rejected line can be
reported as ``FILE:LINE``. Problems found while reading (bad JSON, not an object, a CSV cell
that is not an integer) travel with the record; the importer validates the rest.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nexus_crm.kit import strictjson

Format = Literal["auto", "jsonl", "csv"]
GZIP_MAGIC = b"\x1f\x8b"
READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
INTEGER = re.compile(r"[+-]?[0-9]+")
Problem = tuple[str, str]  # (field, reason)


class ImportFileError(Exception):
    """A file that cannot be imported at all: missing, corrupt, unknown format, bad header."""


@dataclass(slots=True)
class Record:
    """One line (one CSV record) of a history file: its fields, or why it cannot be read."""

    line: int
    fields: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        """Whether the line was empty (skipped and counted, never an error)."""
        return self.fields is None and not self.problems


@dataclass(frozen=True)
class CsvSpec:
    """What a CSV file of one kind may hold: its columns, and which are integers or JSON."""

    columns: frozenset[str]
    required: frozenset[str]
    integers: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()


class Source:
    """An open history file; :attr:`position` is how far into the file (compressed) we are."""

    def __init__(self, path: Path, raw: io.BufferedReader) -> None:
        self.path = path
        self._raw = raw
        self.size = path.stat().st_size
        compressed = raw.peek(2)[:2] == GZIP_MAGIC
        if path.suffix.lower() == ".gz" and not compressed:
            raise ImportFileError(f"{path}: named .gz but not gzip-compressed")
        self.stream: gzip.GzipFile | io.BufferedReader = (
            gzip.GzipFile(fileobj=raw) if compressed else raw
        )

    @property
    def position(self) -> int:
        """Bytes of the file read so far (of the compressed file for gzip)."""
        return self._raw.tell()

    def detect_format(self, requested: Format) -> Literal["jsonl", "csv"]:
        """``requested``, or by suffix (.jsonl/.ndjson/.json, .csv), or by the first byte."""
        if requested != "auto":
            return requested
        name = self.path.name.lower().removesuffix(".gz")
        if name.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if name.endswith(".csv"):
            return "csv"
        try:
            head = self.stream.peek(64)
        except READ_ERRORS as exc:
            raise ImportFileError(f"{self.path}: cannot read the file: {exc}") from None
        return "jsonl" if head.removeprefix(codecs.BOM_UTF8).lstrip()[:1] == b"{" else "csv"

    def lines(self) -> Iterator[bytes]:
        """The file's lines as bytes; a corrupt compressed stream is an ImportFileError."""
        count = 0
        try:
            for line in self.stream:
                count += 1
                yield line
        except READ_ERRORS as exc:
            raise ImportFileError(
                f"{self.path}: cannot read the file after line {count}: {exc}; the lines "
                "before were imported, and running the import again is safe"
            ) from None


@contextmanager
def open_source(path: Path) -> Iterator[Source]:
    """Open a history file for reading; a missing or unreadable file is an ImportFileError."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    with raw:
        yield Source(path, raw)


def parse_json_line(number: int, raw: bytes) -> Record:
    """One JSONL line: a JSON object, a blank line, or a rejected line saying why."""
    if not raw.strip():
        return Record(number, None)
    try:
        value = strictjson.loads(raw)
    except strictjson.JsonRefused as exc:
        return Record(number, None, [(exc.field, str(exc))])
    except RecursionError:
        return Record(number, None, [("line", "JSON nested too deeply")])
    except ValueError as exc:  # bad JSON, bad UTF-8, integers of more than 4,300 digits
        return Record(number, None, [("line", f"not valid JSON: {exc}")])
    if not isinstance(value, dict):
        return Record(number, None, [("line", f"not a JSON object but {type(value).__name__}")])
    return Record(number, value)


def jsonl_records(lines: Iterable[bytes]) -> Iterator[Record]:
    """Records of a JSONL file, numbered from line 1."""
    for number, raw in enumerate(lines, start=1):
        yield parse_json_line(number, raw)


def _header(row: list[str], spec: CsvSpec, path: Path) -> list[str]:
    columns = [c.strip() for c in row]
    unknown = [c for c in columns if c not in spec.columns]
    missing = sorted(spec.required - set(columns))
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    for what, names in (("unknown", unknown), ("missing", missing), ("repeated", dupes)):
        if names:
            raise ImportFileError(
                f"{path}:1: CSV header: {what} column(s) {', '.join(names)}; the columns are "
                f"{', '.join(sorted(spec.columns))} (required: {', '.join(sorted(spec.required))})"
            )
    return columns


def _cell(name: str, text: str, spec: CsvSpec) -> tuple[Any, str | None]:
    """A CSV cell as the contract's type: (value, None) or (None, reason)."""
    if name in spec.integers:
        if not INTEGER.fullmatch(text.strip()):
            return None, f"not an integer: {text[:40]!r}"
        return int(text), None
    if name in spec.objects:
        try:
            value = strictjson.loads(text)
        except strictjson.JsonRefused as exc:
            return None, str(exc)
        except (ValueError, RecursionError):
            return None, f"not a JSON object: {text[:40]!r}"
        return (value, None) if isinstance(value, dict) else (None, "not a JSON object")
    return text, None


def csv_record(number: int, row: list[str], columns: list[str], spec: CsvSpec) -> Record:
    """One CSV record: empty cells are absent fields; integers and JSON converted strictly."""
    if not row:
        return Record(number, None)
    if len(row) != len(columns):
        return Record(number, None, [("line", f"{len(row)} cells; the header has {len(columns)}")])
    try:
        "".join(row).encode()
    except UnicodeEncodeError:
        return Record(number, None, [("line", "not valid UTF-8")])
    fields: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, text in zip(columns, row, strict=True):
        if text == "":
            continue
        value, reason = _cell(name, text, spec)
        if reason:
            problems.append((name, reason))
        fields[name] = value
    return Record(number, fields, problems)


def _decoded(lines: Iterable[bytes]) -> Iterator[str]:
    # Bad UTF-8 is kept as surrogates so that only its record is rejected, not the file.
    for i, raw in enumerate(lines):
        text = raw.decode("utf-8", "surrogateescape")
        yield text.removeprefix("\ufeff") if i == 0 else text


def csv_records(lines: Iterable[bytes], spec: CsvSpec, path: Path) -> Iterator[Record]:
    """Records of a CSV file with a header row; each numbered by the line it starts on."""
    reader = csv.reader(_decoded(lines), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"{path}:1: CSV header not readable: {exc}") from None
    if header is None:
        return
    columns = _header(header, spec, path)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:  # the reader starts afresh on the next line
            yield Record(start, None, [("line", f"not readable as CSV: {exc}")])
            continue
        if row is None:
            return
        yield csv_record(start, row, columns, spec)


def records(source: Source, fmt: Format, spec: CsvSpec) -> Iterator[Record]:
    """The records of ``source`` in the format asked for (or detected)."""
    if source.detect_format(fmt) == "jsonl":
        return jsonl_records(source.lines())
    return csv_records(source.lines(), spec, source.path)


def spec_of(model_fields: Mapping[str, Any], *, integers: set[str], objects: set[str]) -> CsvSpec:
    """The CSV columns of a pydantic model's fields."""
    required = {name for name, f in model_fields.items() if f.is_required()}
    return CsvSpec(
        frozenset(model_fields), frozenset(required), frozenset(integers), frozenset(objects)
    )
