"""Sample sheets: a CSV or TSV whose rows each become one run, checked in full before any is submitted.

Columns name workflow inputs (hello.name, or name); each cell is read as the launch form reads that
input's field, then the whole row's inputs go through the same check as a single run (run_inputs_check).
"""
import csv
import io
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError

from teams.selectors import team_limits
from workflows.forms import base_type, input_field
from workflows.models import WorkflowVersion
from workflows.services.batches import BatchRow, batch_admit
from workflows.services.limits import labels_problems
from workflows.services.runs import run_inputs_check

MAX_SHEET_BYTES = 1024 * 1024
MAX_COLUMNS = 200
SAMPLE_LABEL = "sample"  # each run's label key for its row's sample id
MAX_PROBLEMS = 50  # problems listed; a sheet with more says how many more
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}


@dataclass
class Column:
    name: str
    input: str | None  # the WDL input it fills; None for a sample-id column that fills none
    type: str = ""


@dataclass
class Row:
    number: int  # 1 is the first row under the header
    cells: list[str]
    sample: str = ""
    inputs: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class Sheet:
    name: str
    delimiter: str
    columns: list[Column]
    rows: list[Row]
    sample_column: str
    missing: list[str]  # required inputs no column fills

    @property
    def problems(self) -> list[str]:
        found = [f"required input {name} has no column" for name in self.missing]
        found += [problem for row in self.rows for problem in row.problems]
        if len(found) > MAX_PROBLEMS:
            return found[:MAX_PROBLEMS] + [f"... and {len(found) - MAX_PROBLEMS:,} more problems"]
        return found

    @property
    def delimiter_name(self) -> str:
        return {"\t": "tab", ",": "comma", ";": "semicolon"}.get(self.delimiter, repr(self.delimiter))

    def batch_rows(self) -> list[BatchRow]:
        return [BatchRow(inputs=row.inputs, labels={SAMPLE_LABEL: row.sample}, name=f"row {row.number}")
                for row in self.rows]


def _problem(message: str) -> ValidationError:
    return ValidationError(message, code="sheet")


def sheet_decode(data: bytes) -> str:
    """Return a sheet's bytes as text: UTF-8 (a byte-order mark is dropped); anything else says where it breaks."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _problem(f"the sample sheet is not UTF-8 text: byte {exc.start + 1:,} (line {line}) is "
                       f"0x{data[exc.start]:02x}; save it as CSV UTF-8") from None


def _delimiter(text: str, name: str) -> str:
    for suffix, delimiter in DELIMITERS.items():
        if name.lower().endswith(suffix):
            return delimiter
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",\t;").delimiter
    except csv.Error:  # one column: any delimiter reads it the same
        return ","


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):  # blank lines (and lines of empty cells) are skipped
                records.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        detail = str(exc)
        if "field larger than field limit" in detail:
            detail = f"a cell is longer than {csv.field_size_limit():,} characters"
        raise _problem(f"line {reader.line_num + 1}: the sample sheet cannot be read as "
                       f"{'TSV' if delimiter == chr(9) else 'CSV'}: {detail}") from None
    return records


def _columns(header: list[str], spec: dict[str, dict], sample_column: str) -> list[Column]:
    if len(header) > MAX_COLUMNS:
        raise _problem(f"the sample sheet has {len(header):,} columns; at most {MAX_COLUMNS} are allowed")
    prefix = next(iter(spec)).split(".", 1)[0] + "." if spec else ""
    columns, seen, unknown = [], set(), []
    for index, name in enumerate(header, start=1):
        if not name:
            raise _problem(f"column {index} of the header has no name")
        if name in seen:
            raise _problem(f"column {name!r} appears twice in the header")
        seen.add(name)
        wdl_name = name if name in spec else prefix + name if prefix + name in spec else None
        if wdl_name is None and name != sample_column:
            unknown.append(name)
        columns.append(Column(name=name, input=wdl_name, type=spec[wdl_name]["type"] if wdl_name else ""))
    if unknown:
        inputs = ", ".join(n.removeprefix(prefix) for n in spec) or "none"
        raise _problem(f"column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown[:10]))} "
                       f"name{'' if len(unknown) > 1 else 's'} no input of this workflow (its inputs: {inputs[:2000]}); "
                       "rename or remove "
                       f"{'them' if len(unknown) > 1 else 'it'}")
    filled = {inputs for inputs in (c.input for c in columns) if inputs}
    if len(filled) < len([c for c in columns if c.input]):
        raise _problem("two columns fill the same input (one by its full name, one by its short name)")
    return columns


def sheet_read(text: str, *, name: str, version: WorkflowVersion, sample_column: str, max_rows: int) -> Sheet:
    """Parse a sample sheet and map its columns to the version's inputs; raise ValidationError if it is unreadable."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SHEET_BYTES:
        raise _problem(f"the sample sheet is {size:,} bytes; at most {MAX_SHEET_BYTES:,} are allowed")
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise _problem(f"line {line} of the sample sheet contains a NUL character, which no sheet holds; "
                       "is it a spreadsheet file rather than CSV?")
    delimiter = _delimiter(text, name)
    records = _records(text, delimiter)
    if not records:
        raise _problem("the sample sheet is empty: it needs a header line naming inputs, then one line per run")
    (_, header), data = records[0], records[1:]
    if not data:
        raise _problem("the sample sheet has a header but no rows")
    if len(data) > max_rows:
        raise _problem(f"the sample sheet has {len(data):,} rows; at most {max_rows:,} runs are allowed per batch")
    sample_column = sample_column or header[0]
    if sample_column not in header:
        raise _problem(f"the sample id column {sample_column!r} is not in the header ({', '.join(header)[:500]})")
    spec = {s["name"]: s for s in version.inputs_spec}
    columns = _columns(header, spec, sample_column)
    rows = []
    for number, (line, cells) in enumerate(data, start=1):
        if len(cells) != len(header):
            raise _problem(f"row {number} (line {line}) has {len(cells)} cells; the header has {len(header)}")
        rows.append(Row(number=number, cells=cells, sample=cells[header.index(sample_column)]))
    filled = {c.input for c in columns}
    missing = [n for n, s in spec.items() if s["required"] and n not in filled]
    return Sheet(name=name, delimiter=delimiter, columns=columns, rows=rows, sample_column=sample_column,
                 missing=missing)


def _cell_value(spec: dict, cell: str):
    """Return a cell's value as the launch form reads that input's field (a spreadsheet's TRUE is true)."""
    if base_type(spec["type"]) == "Boolean":
        cell = cell.lower()
    return input_field(spec).clean(cell)


def sheet_check(sheet: Sheet, *, version: WorkflowVersion, limits: dict) -> None:
    """Check every row as a single launch would (each cell, then the row's inputs); record problems on the rows."""
    spec = {s["name"]: s for s in version.inputs_spec}
    first_row = {}
    for row in sheet.rows:
        if not row.sample:
            row.problems.append(f"row {row.number}: the sample id (column {sheet.sample_column!r}) is empty")
        elif row.sample in first_row:
            row.problems.append(f"row {row.number}: sample id {row.sample!r} is also row {first_row[row.sample]}'s")
        else:
            first_row[row.sample] = row.number
            row.problems += [f"row {row.number}, column {sheet.sample_column!r}: {p}"
                             for p in labels_problems({SAMPLE_LABEL: row.sample})]
        for column, cell in zip(sheet.columns, row.cells):
            if column.input is None:
                continue
            if cell == "":
                if spec[column.input]["required"]:
                    row.problems.append(f"row {row.number}, column {column.name!r}: required input is missing")
                continue
            try:
                value = _cell_value(spec[column.input], cell)
            except ValidationError as exc:
                row.problems += [f"row {row.number}, column {column.name!r}: {m}" for m in exc.messages]
                continue
            if value not in (None, ""):
                row.inputs[column.input] = value
        if row.problems or sheet.missing:
            continue
        try:
            row.inputs = run_inputs_check(version=version, inputs=row.inputs, limits=limits)
        except ValidationError as exc:
            row.problems += [f"row {row.number}: {m}" for m in exc.messages]


class SampleSheetForm(forms.Form):
    """A sample sheet, uploaded or pasted, and which column holds each row's sample id."""

    sheet_file = forms.FileField(label="Sample sheet file", required=False,
                                 widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.tab,.txt"}),
                                 help_text="A CSV or TSV file, UTF-8, with a header line naming the workflow's inputs.")
    sheet_text = forms.CharField(
        label="Or paste it", required=False, strip=False, max_length=MAX_SHEET_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false",
                                     "placeholder": "sample,name\nNA12878,alice\nNA12891,bob"}))
    sheet_name = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)
    sample_column = forms.CharField(
        label="Sample id column", required=False, max_length=255,
        help_text=f"Each run gets the label {SAMPLE_LABEL}=<this column's value>. Empty: the first column.")

    def __init__(self, *args, version: WorkflowVersion, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.version, self.team, self.limits = version, team, team_limits(team)
        self.sheet: Sheet | None = None

    def clean_sheet_file(self):
        upload = self.cleaned_data.get("sheet_file")
        if upload and upload.size > MAX_SHEET_BYTES:  # refused before it is read
            raise ValidationError(f"the file is {upload.size:,} bytes; at most {MAX_SHEET_BYTES:,} are allowed")
        return upload

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        upload, text = cleaned.get("sheet_file"), cleaned.get("sheet_text") or ""
        if upload:
            text, name = sheet_decode(upload.read()), upload.name
        elif text.strip():
            name = cleaned.get("sheet_name") or ""
        else:
            raise ValidationError("choose a sample sheet file or paste one")
        self.sheet = sheet_read(text, name=name, version=self.version, sample_column=cleaned.get("sample_column"),
                                max_rows=self.limits["max_runs_per_batch"])
        batch_admit(team=self.team, count=len(self.sheet.rows), limits=self.limits)
        sheet_check(self.sheet, version=self.version, limits=self.limits)
        cleaned["sheet_text"], cleaned["sheet_name"] = text, name
        return cleaned

    def confirm_data(self) -> dict:
        """Return what the preview's launch button posts again: the sheet as text, its name and sample column."""
        return {"sheet_text": self.cleaned_data["sheet_text"], "sheet_name": self.cleaned_data["sheet_name"],
                "sample_column": self.sheet.sample_column}
