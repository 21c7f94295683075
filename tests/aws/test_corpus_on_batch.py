"""The WDL corpus that runs on the local backend, run on AWS Batch (emulated) through `manage.py run_wdl`.

Local File and Directory inputs are uploaded to S3 first (a job on Batch can read only s3://);
File outputs come back as s3:// URIs and are compared by basename and content.
"""
import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.engine.test_corpus import CASES, CORPUS, zip_folder
from workflows import engine

INPUTS = "s3://batchsite-runs/inputs"


def upload_inputs(aws, folder: Path, tmp_path: Path) -> Path | None:
    """Write the case's inputs with every local file uploaded to S3; return the new inputs file."""
    if not (folder / "inputs.json").is_file():
        return None
    imports = zip_folder(folder / "imports") if (folder / "imports").is_dir() else None
    doc = engine.load((folder / "main.wdl").read_text(), imports=imports)

    def to_s3(path: str) -> str:
        if "://" in path:
            return path
        local = folder / path
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for file in files:
            aws.s3.upload_file(str(file), "batchsite-runs", f"inputs/{folder.name}/{file.relative_to(folder)}")
        return f"{INPUTS}/{folder.name}/{path}"

    inputs = doc.map_input_files(json.loads((folder / "inputs.json").read_text()), to_s3)
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(inputs))
    return path


def normalise(aws, value):
    """Replace each s3:// URI of an existing object by {"basename", "content"}, as the local corpus test does."""
    if isinstance(value, dict):
        return {key: normalise(aws, item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(aws, item) for item in value]
    if isinstance(value, str) and value.startswith("s3://"):
        try:
            return {"basename": os.path.basename(value), "content": aws.read(value)}
        except aws.s3.exceptions.NoSuchKey:
            return value
    return value


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", CASES)
def test_corpus_case_on_batch(case, aws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so a stray local write under an "s3:" folder would show below
    folder = CORPUS / case
    expected = json.loads((folder / "expected.json").read_text())
    argv = [str(folder / "main.wdl"), "--poll", "0.1"]
    inputs = upload_inputs(aws, folder, tmp_path)
    if inputs:
        argv += ["--inputs", str(inputs)]
    if (folder / "imports").is_dir():
        (tmp_path / "imports.zip").write_bytes(zip_folder(folder / "imports"))
        argv += ["--imports", str(tmp_path / "imports.zip")]
    out, err = io.StringIO(), io.StringIO()

    try:
        call_command("run_wdl", *argv, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code

    if expected["status"] == "Succeeded":
        assert code == 0, err.getvalue()
        assert normalise(aws, json.loads(out.getvalue())) == expected["outputs"]
    else:
        assert code == 1, out.getvalue()
        assert f"Failed call: {expected['failed_call']}" in err.getvalue()
        if expected.get("rc") is not None:
            assert f"return code {expected['rc']}" in err.getvalue()
    assert not (tmp_path / "s3:").exists(), "a path under the s3:// root was written as a local folder"
