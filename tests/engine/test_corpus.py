"""Run every case of tests/wdl_corpus/ through the test driver and compare with expected.json."""
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.engine.driver import run_workflow
from workflows import engine

CORPUS = Path(__file__).resolve().parent.parent / "wdl_corpus"
CASES = sorted(folder.name for folder in CORPUS.iterdir() if (folder / "main.wdl").is_file())


def zip_folder(folder: Path) -> bytes:
    """Zip a folder's files with paths relative to it, as a Cromwell imports zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def load_case(folder: Path) -> tuple[engine.Document, dict]:
    """Load a case's WDL and its inputs, with relative File paths resolved against the case folder."""
    imports = zip_folder(folder / "imports") if (folder / "imports").is_dir() else None
    doc = engine.load((folder / "main.wdl").read_text(), imports=imports)
    inputs_file = folder / "inputs.json"
    inputs = doc.check_inputs(json.loads(inputs_file.read_text()) if inputs_file.is_file() else {})
    inputs = doc.map_input_files(inputs, lambda path: path if os.path.isabs(path) or "://" in path
                                 else str(folder / path))
    return doc, inputs


def normalise(value):
    """Replace each absolute path of an existing file by {"basename", "content"}: paths differ per run."""
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value):
        return {"basename": os.path.basename(value), "content": Path(value).read_text()}
    return value


def test_the_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case, tmp_path):
    folder = CORPUS / case
    expected = json.loads((folder / "expected.json").read_text())
    doc, inputs = load_case(folder)

    status, result = run_workflow(doc, inputs, tmp_path)

    assert status == expected["status"], result
    if status == "Succeeded":
        assert normalise(result) == expected["outputs"]
    else:
        assert result["failed_call"] == expected["failed_call"], result
        if "rc" in expected:
            assert result["rc"] == expected["rc"], result
        if "error" in expected:
            assert expected["error"] in result["error"], result
