import json
import re

from django import forms
from django.core.exceptions import ValidationError

from teams.selectors import team_limits
from teams.services import OPTION_PREFIX, OPTION_ROLE
from workflows.models import Run
from workflows.services.limits import INT_MAX, INT_MIN, json_load, json_problem, labels_problems
from workflows.services.versions import MAX_IMPORTS_BYTES, MAX_SOURCE_BYTES

WDL_HELP = ("A WDL document (.wdl): version 1.0 or 1.1, or draft-2 (a file without a version line); "
            "1.2 and development as far as miniwdl 1.16 reads them.")
FILES_HELP = ("Optional: the files the WDL imports, chosen together; each sits beside the WDL file, "
              "as cromwell run and miniwdl run find them.")
IMPORTS_HELP = "Optional: a zip of the files the WDL imports, as Cromwell's workflowDependencies."


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files at once and cleans to a list of them."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".wdl"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class VersionUploadForm(forms.Form):
    source = forms.FileField(label="WDL file", help_text=WDL_HELP)
    files = MultipleFileField(label="Imported files", required=False, help_text=FILES_HELP)
    imports = forms.FileField(label="Imports zip", required=False, help_text=IMPORTS_HELP)

    def _bounded(self, name: str, most: int):
        upload = self.cleaned_data.get(name)
        if upload and upload.size > most:  # refused before it is read
            raise ValidationError(f"the file is {upload.size:,} bytes; at most {most:,} are allowed")
        return upload

    def clean_source(self):
        return self._bounded("source", MAX_SOURCE_BYTES)

    def clean_imports(self):
        return self._bounded("imports", MAX_IMPORTS_BYTES)

    def read(self) -> tuple[bytes, str, bytes | None, dict[str, bytes]]:
        """Return the uploaded source bytes, its file name, the imports zip bytes and the imported files by name."""
        source = self.cleaned_data["source"]
        imports = self.cleaned_data.get("imports")
        files = {upload.name: upload.read() for upload in self.cleaned_data.get("files") or []}
        return source.read(), source.name, (imports.read() if imports else None), files


class WorkflowCreateForm(VersionUploadForm):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10_000)
    field_order = ["name", "description", "source", "files", "imports"]


# ---- launching a run --------------------------------------------------------------------

_FILE_RE = re.compile(r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+|/.*)$")
_INTERPOLATION = re.compile(r"[~$]\{")


def base_type(wdl_type: str) -> str:
    """Return a WDL type without its optional (?) and nonempty (+) quantifiers."""
    return wdl_type.removesuffix("?").removesuffix("+")


class WdlJsonField(forms.CharField):
    """A compound WDL value (Array, Map, Pair, struct) written as JSON."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"})

    def __init__(self, *, shape: type, **kwargs):
        self.shape = shape
        super().__init__(strip=False, **kwargs)  # unstripped, so a JSON error's column is the user's column

    def to_python(self, value):
        value = super().to_python(value)
        if not value.strip():
            return None
        try:
            parsed = json_load(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if parsed is not None and not isinstance(parsed, self.shape):
            wanted = "a JSON array [...]" if self.shape is list else "a JSON object {...}"
            raise ValidationError(f"must be {wanted}, not {type(parsed).__name__}")
        problem = json_problem(parsed)
        if problem:
            raise ValidationError(problem)
        return parsed

    def prepare_value(self, value):
        return value if isinstance(value, str) or value is None else json.dumps(value)


def _file_value(value: str) -> None:
    if not _FILE_RE.match(value):
        raise ValidationError("a File is an s3://bucket/key URI or an absolute local path (/data/x.bam)")


def _literal_default(spec: dict):
    """Return the input's default as a value to pre-fill, when it is a literal; None for an expression."""
    text = spec["default"]
    if text is None or _INTERPOLATION.search(text):
        return None
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1] and "\\" not in text:
        return text[1:-1]
    try:
        return json_load(text)
    except ValueError:
        return None


def input_field(spec: dict) -> forms.Field:
    """Return the form field for one WDL input: its type decides the widget and the parsing."""
    base = base_type(spec["type"])
    field = _typed_field(spec, base)
    field.wdl = spec  # the template shows the type and whether it is required
    return field


def _input_help(spec: dict, base: str) -> str:
    parts = []
    if spec["default"] is not None:
        parts.append(f"Default {spec['default']}; leave empty to use it.")
    elif not spec["required"]:
        parts.append("Leave empty to leave it unset.")
    if base.startswith("Array["):
        parts.append("As a JSON array, e.g. [1, 2].")
    elif base not in ("Int", "Float", "Boolean", "String", "File", "Directory"):
        parts.append('As a JSON object, e.g. {"key": "value"}.')
    return " ".join(parts)


def _typed_field(spec: dict, base: str) -> forms.Field:
    common = {"required": False, "label": spec["name"].split(".", 1)[1], "initial": _literal_default(spec),
              "help_text": _input_help(spec, base)}
    if base == "Int":
        return forms.IntegerField(error_messages={"invalid": "an Int is a whole number, like 3"},
                                  min_value=INT_MIN, max_value=INT_MAX, **common)
    if base == "Float":
        return forms.FloatField(error_messages={"invalid": "a Float is a number, like 0.5"}, **common)
    if base == "Boolean":
        unset = "(choose)" if spec["required"] else "(not set)" if spec["default"] is None else "(the default)"
        choices = [("", unset), ("true", "true"), ("false", "false")]
        initial = {True: "true", False: "false"}.get(common.pop("initial"), "")
        return forms.TypedChoiceField(choices=choices, coerce=lambda v: v == "true", empty_value=None,
                                      initial=initial, **common)
    if base == "String":
        return forms.CharField(strip=False, **common)
    if base in ("File", "Directory"):
        return forms.CharField(validators=[_file_value], widget=forms.TextInput(
            attrs={"placeholder": "s3://bucket/key or /path", "class": "mono"}), **common)
    # A compound value is JSON: an Array a list; a Map, Pair or struct an object.
    return WdlJsonField(shape=list if base.startswith("Array[") else dict, **common)


def labels_parse(text: str) -> dict:
    """Read labels written one a line as key=value; raise ValidationError naming a line that is not."""
    labels = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise ValidationError(f"line {number}: {line.strip()[:60]!r} is not key=value")
        if key.strip() in labels:
            raise ValidationError(f"line {number}: label {key.strip()[:60]!r} is given twice")
        labels[key.strip()] = value.strip()
    return labels


def labels_text(labels: dict) -> str:
    """Write labels as labels_parse reads them."""
    return "\n".join(f"{key}={value}" for key, value in labels.items())


class LabelsForm(forms.Form):
    """A run's labels after launch, one key=value a line; the service checks them by launch's rules."""

    labels = forms.CharField(
        required=False, max_length=1_000_000, widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        help_text="One label a line, as key=value. A label left out is removed.")

    def clean_labels(self) -> dict:
        return labels_parse(self.cleaned_data["labels"])


class LaunchForm(forms.Form):
    """A run's inputs, one field per WDL input (or an inputs JSON file), its options and labels."""

    inputs_file = forms.FileField(
        label="Inputs JSON file", required=False,
        help_text="Cromwell's inputs JSON. When you choose a file, it replaces the fields above.")
    labels = forms.CharField(
        required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "placeholder": "sample=NA12878"}),
        help_text="One label a line, as key=value.")

    def __init__(self, *args, spec: list[dict], team, target, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = team_limits(team)
        self.spec = {s["name"]: s for s in spec}
        inputs = {name: input_field(s) for name, s in self.spec.items()}
        roles = [("", f"Default: {target.job_role_arn or 'none (the job definition’s role)'}")]
        roles += [(arn, arn) for arn in team.allowed_role_arns]
        root = team.prefix_root or "any prefix"
        options = {
            OPTION_ROLE: forms.ChoiceField(label="Job role", choices=roles, required=False,
                                           help_text="The IAM role the run's jobs assume: one of the team's."),
            OPTION_PREFIX: forms.CharField(
                label="Script prefix", required=False,
                widget=forms.TextInput(attrs={"placeholder": target.script_prefix, "class": "mono"}),
                help_text=f"Where the run's scripts are stored. Default {target.script_prefix}; it must lie under "
                          f"{root}."),
        }
        self.fields = {**inputs, "inputs_file": self.fields["inputs_file"], **options, "labels": self.fields["labels"]}

    def _bound(self, names):
        return [self[name] for name in names]

    def workflow_inputs(self):
        """The workflow's own inputs: required ones first."""
        names = [n for n, s in self.spec.items() if n.count(".") == 1]
        return self._bound(sorted(names, key=lambda n: not self.spec[n]["required"]))

    def call_inputs(self):
        """Inputs of calls that the workflow leaves open (optional, with defaults)."""
        return self._bound([n for n in self.spec if n.count(".") > 1])

    def option_fields(self):
        return self._bound([OPTION_ROLE, OPTION_PREFIX, "labels"])

    def clean_labels(self) -> dict:
        labels = labels_parse(self.cleaned_data["labels"])
        problems = labels_problems(labels, max_labels=self.limits["max_labels_per_run"])
        if problems:
            raise ValidationError(problems)
        return labels

    def clean_inputs_file(self):
        upload = self.cleaned_data.get("inputs_file")
        most = self.limits["max_input_bytes_per_run"]
        if upload and upload.size > most:
            raise ValidationError(f"the file is {upload.size:,} bytes; at most {most:,} are allowed")
        return upload

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("inputs_file") or "inputs_file" in self.errors:
            for name in self.spec:  # the file replaces the fields: what they hold does not matter
                self.errors.pop(name, None)
            return cleaned
        for name, spec in self.spec.items():
            if spec["required"] and name not in self.errors and cleaned.get(name) in (None, ""):
                self.add_error(name, "required input is missing")
        return cleaned

    def inputs(self) -> dict | bytes:
        """Return the inputs JSON: the uploaded file's bytes, or the filled-in fields."""
        upload = self.cleaned_data.get("inputs_file")
        if upload:
            return upload.read()
        return {name: self.cleaned_data[name] for name in self.spec if self.cleaned_data.get(name) not in (None, "")}

    def options(self) -> dict:
        return {key: self.cleaned_data[key] for key in (OPTION_ROLE, OPTION_PREFIX) if self.cleaned_data.get(key)}

    def add_submit_errors(self, exc: ValidationError) -> None:
        """Show run_submit's errors by their fields; an input's message starts with its name."""
        uploaded = bool(self.cleaned_data.get("inputs_file"))
        for key, messages in exc.message_dict.items():
            for message in messages:
                if key == "inputs":
                    name = message.split(": ", 1)[0]
                    # a value inside an input is named by its path: hello.samples[3], hello.sample.name
                    owner = max((n for n in self.spec if name == n or name.startswith((n + "[", n + "."))),
                                key=len, default=None)
                    field = "inputs_file" if uploaded else owner
                    if field in self.spec and name != owner:
                        message = f"{name[len(owner):]}: {message.split(': ', 1)[1]}"
                    elif field in self.spec:
                        message = message.split(": ", 1)[1]
                elif key in self.fields:
                    field = key
                else:
                    field = None
                self.add_error(field, message)


# ---- the run list's filters -------------------------------------------------------------

class RunFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Run id or workflow name"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Run.Status.choices])
    workflow = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    submitter = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    label = forms.CharField(required=False, max_length=600, widget=forms.TextInput(attrs={"placeholder": "key or key=value"}))
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[("", "Newest first"), ("oldest", "Oldest first")])

    def __init__(self, *args, workflows, submitters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "Any workflow"), *((w.pk, w.name) for w in workflows)]
        self.fields["submitter"].choices = [("", "Anyone"), *((u.pk, u.username) for u in submitters)]

    def filters(self) -> dict:
        """Return run_list's keyword arguments for the valid filters (an invalid one is ignored, and shown)."""
        self.is_valid()  # cleaned_data keeps the fields that are valid
        data = self.cleaned_data
        return {
            "search": data.get("q") or "", "status": data.get("status") or "", "workflow_id": data.get("workflow"),
            "submitted_by_id": data.get("submitter"), "label": data.get("label") or "",
            "since": data.get("since"), "until": data.get("until"), "oldest_first": data.get("sort") == "oldest",
        }
