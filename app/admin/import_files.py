"""Reading an import file (docs/cli.md): CSV with a header row, or JSON Lines, into rows, lazily.

Each row comes with the line it began on, so that the import can report it.
"""

import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import BinaryIO

from app.wire_format import go_json

INTEGER_COLUMNS = {"gender", "birth", "appmangerlevel", "globalrecvmsgopt", "createtime"}
INTEGER_TEXT = re.compile(r"-?[0-9]+")

Row = dict | str  # a row's fields, or why it could not be read


class _CountedLines:
    """Iterates over lines, remembering where the current record's first non-blank line was."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.number = 0
        self.record_start: int | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.number += 1
        # csv skips blank lines between records, so a record starts at the first other one.
        if self.record_start is None and line.strip("\r\n"):
            self.record_start = self.number
        return line


def read_csv(lines: Iterator[str]) -> Iterator[tuple[int, Row]]:
    """Rows of a CSV file with a header; numbers are the rows' first lines (header = 1).

    As csv.DictReader: blank lines are skipped, and a row shorter than the
    header has None (absent) in its missing cells.
    """
    counted = _CountedLines(lines)
    reader = csv.reader(counted)
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as exc:
        yield 1, f"header is not valid CSV: {exc}"
        return
    if header is None:
        return
    # Per column, once per file: its name and whether its text may be a JSON integer.
    columns = [(name, go_json.fold_key(name) in INTEGER_COLUMNS) for name in header]
    while True:
        counted.record_start = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader starts afresh on the next line, so the rest of the file is still read.
            yield counted.record_start or counted.number, f"not valid CSV: {exc}"
            continue
        if not cells:
            continue
        first_line = counted.record_start or counted.number
        if len(cells) > len(columns):
            yield first_line, "more cells than the header has names"
            continue
        yield (
            first_line,
            {
                name: _csv_value(value, is_integer)
                for (name, is_integer), value in itertools.zip_longest(columns, cells)
            },
        )


def _csv_value(value: str | None, is_integer: bool):
    if not value:
        return None  # absent, as null is in JSON
    if is_integer and INTEGER_TEXT.fullmatch(value):
        return int(value)
    return value


def read_json_lines(lines: Iterator[str]) -> Iterator[tuple[int, Row]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            # Back to the bytes as in the file, so that bad UTF-8 is reported on its line.
            row = go_json.loads(line.encode("utf-8", "surrogateescape"))
        except ValueError as exc:
            yield number, str(exc).replace("body", "line", 1)
            continue
        yield number, row if isinstance(row, dict) else "line is not a JSON object"


def read_rows(source: BinaryIO, file_format: str) -> Iterator[tuple[int, Row]]:
    """(line number, row) for every record of `source`, read lazily.

    Bytes that are not UTF-8 become lone surrogates, which the schema refuses
    for the field they are in, so a bad byte costs one row, not the rest of the file.
    """
    text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        first = text.readline()
        lines = itertools.chain([first], text)
        if file_format == "auto":
            file_format = "jsonl" if first.lstrip().startswith("{") else "csv"
        yield from read_json_lines(lines) if file_format == "jsonl" else read_csv(lines)
    finally:
        # Without this, the wrapper closes `source` when it is garbage collected.
        text.detach()
