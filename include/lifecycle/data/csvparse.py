"""Parsing a received batch: CSV bytes (optionally gzip) to a frame of strings, then typed columns.

A file that cannot become a table (empty, corrupt gzip, not UTF-8, broken quoting) raises
:class:`CsvUnreadableError` with a reason and the best estimate of the rows in it; values that do not
parse as their configured kind are reported per column, for the row-level decision.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from include.lifecycle.config import UseCase

NA_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
# A field longer than this is quarantined with its row (a runaway cell), never a reason to reject the batch;
# the csv module's own limit is raised well above it so that such a row can still be read and reported.
MAX_FIELD_CHARS = 10_000
csv.field_size_limit(64 * 1024 * 1024)
DELIMITERS = (";", "\t", "|", ":")
_TRUE = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n", "f"})


class CsvUnreadableError(ValueError):
    """Bytes that cannot become a table; ``received`` is the best estimate of the data lines in them."""

    def __init__(self, reason: str, received: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.received = received



@dataclass
class ParsedCsv:
    """A CSV read as strings: well-formed records, malformed ones, and what we learned on the way."""

    header: list[str]
    frame: pd.DataFrame  # well-formed records as strings (NaN for NA tokens), RangeIndex
    lines: list[int]  # CSV line number of each frame row (a range when every record is one line)
    malformed: list[tuple[int, list[str]]] = field(default_factory=list)  # (line, fields) of wrong width
    truncated_line: int | None = None  # last record cut short and no final line break
    compressed: bool = False
    trimmed: int = 0  # values that carried stray whitespace (trimmed: it is never meaningful in the contract)
    oversized: dict[int, str] = field(default_factory=dict)  # frame position -> reason (a field too long)
    delimiter_hint: str | None = None  # the separator the header seems to use instead of ","

    @property
    def received(self) -> int:
        return len(self.frame) + len(self.malformed)


def _data_lines(raw: bytes) -> int:
    """Best-effort count of data lines in bytes we could not parse: non-blank lines minus the header."""
    return max(0, sum(1 for line in raw.split(b"\n") if line.strip()) - 1)


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        partial = b""
        try:
            partial = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        except zlib.error:
            pass
        reason = f"unreadable: gzip stream is truncated or corrupt ({exc})"
        raise CsvUnreadableError(reason, _data_lines(partial)) from exc


def parse_csv_bytes(data: bytes, line_offset: int = 0) -> ParsedCsv:
    """Parse CSV bytes (optionally gzip) into strings; raise :class:`CsvUnreadableError` if impossible.

    ``line_offset`` is added to every line number (in the result and in the errors): the bytes are one
    record-aligned chunk of a larger file, its header line first (see :mod:`include.lifecycle.data.chunks`).
    """
    if not data:
        raise CsvUnreadableError("empty file: 0 bytes received, no header and no rows", 0)
    compressed = data[:2] == b"\x1f\x8b"
    raw = _gunzip(data) if compressed else data
    fast = _parse_plain(raw, line_offset)
    if fast is not None:  # an ASCII file of plain records: no decoded copy of it is ever made
        fast.compressed = compressed
        return fast
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1 + line_offset
        hint = ""
        try:
            raw.decode("cp1252")
            hint = " (it reads as Windows-1252 / Latin-1 text: the source should export UTF-8)"
        except UnicodeDecodeError:
            pass
        raise CsvUnreadableError(
            f"unreadable: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}){hint or '; the source must send UTF-8'}",
            _data_lines(raw),
        ) from exc
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise CsvUnreadableError("unreadable: binary content (NUL bytes), not a CSV file", _data_lines(raw))
    if not text or text.isspace():  # not text.strip(): that would copy the whole file
        raise CsvUnreadableError("empty file: only whitespace, no header and no rows", 0)

    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if record:  # [] is a blank line
                records.append((reader.line_num + line_offset, record))
    except csv.Error as exc:
        raise CsvUnreadableError(
            f"unreadable: malformed CSV near line {reader.line_num + line_offset} ({exc})", _data_lines(raw)
        ) from exc

    header = [name.strip() for name in records[0][1]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise CsvUnreadableError(f"unreadable: duplicate column names {dupes} in the header", len(records) - 1)
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    malformed: list[tuple[int, list[str]]] = []
    for line, record in records[1:]:
        if len(record) == width:
            rows.append(record)
            lines.append(line)
        else:
            malformed.append((line, record))
    truncated = None
    if malformed and malformed[-1][0] == records[-1][0] and not text.endswith(("\n", "\r")):
        truncated = malformed[-1][0]
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    trimmed = 0
    oversized: dict[int, str] = {}
    for col in frame.columns:
        values = frame[col]
        stripped = values.str.strip()
        trimmed += int((stripped != values).sum())
        lengths = stripped.str.len()
        for pos in np.flatnonzero((lengths > MAX_FIELD_CHARS).to_numpy()):
            oversized[int(pos)] = (f"{col}: field of {int(lengths.iat[pos])} characters exceeds "
                                   f"the {MAX_FIELD_CHARS}-character limit")
        frame[col] = stripped
    frame = frame.mask(frame.isin(NA_TOKENS))
    return ParsedCsv(header, frame, lines, malformed, truncated, compressed, trimmed, oversized,
                     _delimiter_hint(header))


_PY_ONLY_SPACE = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")  # whitespace to str.strip() but not to Arrow's trim


_QUOTING_BLOCK = 1 << 24  # bytes per block of the quoting check: bounded temporaries at any file size


@dataclass
class PlainScan:
    """What one pass over the bytes learned: quoting plain (see :func:`_plain_quoting`), the longest line in
    bytes, and whether any value may carry stray whitespace (a space, tab, VT or FF next to a field boundary)."""

    plain: bool
    longest_line: int = 0
    padded: bool = False


def _plain_quoting(body: bytes, block: int = _QUOTING_BLOCK) -> bool:
    """Every quote opens a field (after , or a line break) or closes one (before , CR or LF), alternately,
    and no quoted value spans a line break.

    Then no value holds a quote, no closing quote is followed by text (``"a"b``: an error to strict csv,
    ``ab`` to pyarrow) and every record is one line, so pyarrow may split the file at line breaks.
    """
    return _plain_scan(body, block).plain


def _plain_scan(body: bytes, block: int = _QUOTING_BLOCK) -> PlainScan:
    """:func:`_plain_quoting`, the longest line and padding, in blocks that end at a line break (a quoted
    value may not span one, so each block must hold whole pairs): bounded temporaries at any file size."""
    arr = np.frombuffer(body, dtype=np.uint8)
    scan = PlainScan(True)
    start = 0
    while start < len(arr):
        end = len(arr) if start + block >= len(arr) else body.find(b"\n", start + block - 1) + 1 or len(arr)
        if not _plain_block(arr, start, end, scan):
            return PlainScan(False)
        start = end
    return scan


_BOUNDARY = np.zeros(256, bool)
_BOUNDARY[[44, 34, 10, 13]] = True  # , " LF CR: a field starts or ends next to one of these
_PAD = np.zeros(256, bool)
_PAD[[32, 9, 11, 12]] = True  # what str.strip() removes besides line breaks (CR/LF never sit inside a value here)


def _plain_block(arr: np.ndarray, start: int, end: int, scan: PlainScan) -> bool:
    """:func:`_plain_scan` on ``arr[start:end]``; ``start`` is 0 or just after a line break."""
    part = arr[start:end]
    breaks = np.flatnonzero(part == 10)
    edges = np.concatenate(([-1], breaks, [len(part) - 1] if not len(breaks) or breaks[-1] != len(part) - 1 else []))
    scan.longest_line = max(scan.longest_line, int(np.diff(edges).max(initial=0)))
    if not scan.padded:
        ws = np.flatnonzero(_PAD[part]) + start
        if len(ws):
            prev = _BOUNDARY[arr[ws - 1]] | (ws == 0)
            nxt = _BOUNDARY[arr[np.minimum(ws + 1, len(arr) - 1)]] | (ws == len(arr) - 1)
            scan.padded = bool((prev | nxt).any())
    pos = np.flatnonzero(part == 34)
    if not len(pos):
        return True
    if len(pos) % 2:
        return False
    at = pos + start
    prev = arr[at - 1]  # at - 1 == -1 only for a quote at byte 0: fixed below
    nxt = arr[np.minimum(at + 1, len(arr) - 1)]
    if at[0] == 0:
        prev[0] = 10
    if at[-1] == len(arr) - 1:
        nxt[-1] = 10
    opens = (prev == 44) | (prev == 10)
    closes = (nxt == 44) | (nxt == 13) | (nxt == 10)
    if not (opens[0::2] & ~closes[0::2]).all() or not (closes[1::2] & ~opens[1::2]).all():
        return False
    # A line break inside a quoted value has an odd number of quotes before it.
    return not (np.searchsorted(pos, breaks) % 2).any()


def _parse_plain(raw: bytes, line_offset: int = 0) -> ParsedCsv | None:
    """pyarrow's reader for the common file (ASCII, one record a line, plain quoting); None: "use csv.reader".

    Every guard below is a case where pyarrow and the strict csv module could disagree (blank lines, quoted
    line breaks, odd quotes, bare CR, a wrong-width record, a BOM or non-ASCII text, NUL bytes, whitespace
    str.strip() knows and Arrow does not): such a file takes the exact slow path, which also words the errors.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    body = raw
    if not body.isascii() or b"\x00" in body or body.count(b"\r") != body.count(b"\r\n"):
        return None
    if any(c in body for c in _PY_ONLY_SPACE) or not body.endswith(b"\n"):
        return None  # a truncated last record is reported by the slow path
    scan = _plain_scan(body)
    if not scan.plain:
        return None
    first = body[: body.find(b"\n")].decode("ascii").rstrip("\r")
    try:
        header = [name.strip() for name in next(csv.reader([first], strict=True))]
    except (csv.Error, StopIteration):
        return None
    if not first.strip() or len(set(header)) != len(header):
        return None  # a blank first line, duplicate names: the slow path words it
    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),  # _plain_quoting: no quoted line break
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()),
                                                 strings_can_be_null=True,
                                                 null_values=sorted(NA_TOKENS), quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    n = table.num_rows
    if body.count(b"\n") != n + 1:
        return None  # blank lines or line breaks inside values: line numbers need the slow path
    trimmed = 0
    oversized: dict[int, str] = {}
    na = pa.array(sorted(NA_TOKENS), pa.large_string())
    columns = []
    for name, col in zip(header, table.columns, strict=True):
        stripped = col
        if scan.padded:  # else no value starts or ends with whitespace: trimming would change nothing
            stripped = pc.ascii_trim_whitespace(col)  # ASCII only: the same characters as str.strip()
            padded = int(pc.sum(pc.not_equal(stripped, col)).as_py() or 0)
            if padded:  # " NA " is a token once trimmed: the reader only nulled the exact ones
                trimmed += padded
                stripped = pc.if_else(pc.is_in(stripped, value_set=na), pa.scalar(None, pa.large_string()),
                                      stripped)
        # a line no longer than the limit holds no field longer than it (bytes >= characters)
        if scan.longest_line > MAX_FIELD_CHARS and (pc.max(pc.binary_length(stripped)).as_py() or 0) > MAX_FIELD_CHARS:
            lengths = pc.utf8_length(stripped)
            for pos in np.flatnonzero(pc.greater(lengths, MAX_FIELD_CHARS).to_numpy(zero_copy_only=False)):
                oversized[int(pos)] = (f"{name}: field of {lengths[int(pos)].as_py()} characters exceeds "
                                       f"the {MAX_FIELD_CHARS}-character limit")
        columns.append(stripped)
    frame = pd.DataFrame({name: pd.Series(pd.arrays.ArrowStringArray(col))
                          for name, col in zip(header, columns, strict=True)})
    lines = range(2 + line_offset, n + 2 + line_offset)
    return ParsedCsv(header, frame, lines, [], None, False, trimmed, oversized,  # type: ignore[arg-type]
                     _delimiter_hint(header))


def _delimiter_hint(header: list[str]) -> str | None:
    """A one-column header holding another separator (``a;b;c``) means the file is not comma-separated."""
    if len(header) != 1:
        return None
    counts = {d: header[0].count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _strings(series: pd.Series) -> pd.Series:
    """Object column of str with None for missing (what GX and Parquet both read cleanly).

    Strings go through ``factorize``: one Python object per distinct value (a category column of 1M rows
    holds a handful), instead of a ``map(str)`` over every value.
    """
    if isinstance(series.dtype, pd.StringDtype) or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=object)
        lookup[: len(uniques)] = (uniques.to_numpy(dtype=object) if isinstance(series.dtype, pd.StringDtype)
                                  else [str(v) for v in uniques])
        lookup[-1] = None  # code -1: missing
        return pd.Series(lookup[codes], index=series.index, dtype=object)
    return series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))


def _as_objects(series: pd.Series) -> pd.Series:
    """Object values for ``pd.to_numeric``: the same parser whatever the frame's string dtype."""
    if isinstance(series.dtype, pd.StringDtype):
        return pd.Series(series.to_numpy(dtype=object, na_value=np.nan), index=series.index, dtype=object)
    return series


def _numbers(series: pd.Series) -> pd.Series:
    """float64 per value, NaN where it does not parse. Arrow's cast when every value parses (the usual
    column: same numbers as ``pd.to_numeric``), else ``pd.to_numeric`` decides value by value."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            values = pc.cast(series.array._pa_array, pa.float64()).to_numpy(zero_copy_only=False)
            return pd.Series(values, index=series.index, dtype="float64")
        except pa.ArrowInvalid:
            pass
    return pd.to_numeric(_as_objects(series), errors="coerce").astype("float64")


def _binary_values(series: pd.Series) -> pd.Series:
    """0/1 (or another number) per value, NaN where it does not parse: token sets first, numbers for the rest."""
    if isinstance(series.dtype, pd.StringDtype) or pd.api.types.infer_dtype(series, skipna=True) == "string":
        text = series.str.strip().str.lower()
    else:
        text = series.astype(object).map(lambda v: v if not isinstance(v, str) else v.strip().lower())
    num = pd.Series(np.nan, index=series.index, dtype="float64")
    is_true, is_false = text.isin(_TRUE).to_numpy(bool), text.isin(_FALSE).to_numpy(bool)
    rest = ~(is_true | is_false) & series.notna().to_numpy(bool)
    if rest.any():  # only values outside the token sets need the numeric parser
        num[rest] = pd.to_numeric(_as_objects(text[rest]), errors="coerce").astype("float64")
    num[is_true], num[is_false] = 1.0, 0.0
    return num


def type_columns(raw: pd.DataFrame, uc: UseCase) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Type the configured columns present in ``raw``; return the frame and per-column 'unparseable' masks.

    Extra columns stay as strings so the schema expectation sees them.
    """
    typed: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in raw.columns:
        kind = uc.columns.get(col, {}).get("kind")
        series = raw[col]
        if kind == "numeric":
            num = _numbers(series)
            num = num.where(np.isfinite(num))
            typed[col] = num
            bad[col] = series.notna() & num.isna()
        elif kind == "binary":
            num = _binary_values(series)
            values = num.to_numpy()
            ok = np.isfinite(values) & (values == np.round(values))
            # Int64 built from values and mask: astype("Int64") re-checks every float it was just given
            typed[col] = pd.Series(pd.arrays.IntegerArray(np.where(ok, values, 0).astype(np.int64), ~ok),
                                   index=series.index)
            bad[col] = series.notna() & ~ok
        else:  # id, categorical, extra columns
            typed[col] = _strings(series)
    # Built once, consolidated: a frame grown column by column copies itself, and an unconsolidated one
    # (copy=False) is consolidated later by the first deep copy, at the same cost (bench 6b).
    return pd.DataFrame(typed, index=raw.index), bad
