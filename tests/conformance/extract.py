"""Extract the example tests of the WDL 1.1 specification (openwdl/wdl SPEC.md) from a pinned copy.

Each example is a <details> block whose summary names a file (`Example: hello.wdl`) and holds
its WDL; the block may give example inputs, outputs and a test config (`fail`, `target`,
`return_code`, `exclude_output`, `dependencies`, `tags`), as the WDL Markdown test format says.
The specification is not stored in this repository: put a copy of SPEC.md at the pinned commit
in ../shared/wdl-spec/SPEC.md next to the checkout (or name it in BATCHSITE_WDL_SPEC), with the
spec repository's tests/data/ files beside it in data/ (the examples' input files).

    git -C wdl show 6107740c9f71b5f5af73448a17e41f4b1e1e1800:SPEC.md > ../shared/wdl-spec/SPEC.md

`python -m tests.conformance.extract DIR` writes each example to DIR/<name>/ (main.wdl as
<name>.wdl, inputs.json, outputs.json, config.json), to run them with another engine.
"""
import dataclasses
import json
import os
import re
import sys
import textwrap
from pathlib import Path

# The wdl-1.1 branch of openwdl/wdl: WDL 1.1.1's specification, whose examples are tests.
PINNED_COMMIT = "6107740c9f71b5f5af73448a17e41f4b1e1e1800"
CHECKOUT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Example:
    name: str  # the example's file name without .wdl, e.g. "hello"
    wdl: str
    inputs: dict
    outputs: dict
    config: dict

    @property
    def expects_failure(self) -> bool:
        """Tell whether the example must be refused or fail when run: marked so, or named *_fail."""
        return bool(self.config.get("fail")) or bool(re.search(r"_fail(_task)?$", self.name))


def runnable(example: Example) -> bool:
    """Tell whether this host can run the example: it has a task or workflow and needs no GPU."""
    needs = example.config.get("dependencies") or []
    needs = [needs] if isinstance(needs, str) else needs
    return "gpu" not in needs and bool(re.search(r"^\s*(workflow|task)\s+\w+", example.wdl, re.M))


def spec_path() -> Path:
    """Return where the pinned SPEC.md is expected: BATCHSITE_WDL_SPEC, else ../shared/wdl-spec/."""
    configured = os.environ.get("BATCHSITE_WDL_SPEC")
    return Path(configured) if configured else CHECKOUT.parent / "shared" / "wdl-spec" / "SPEC.md"


def data_dir(spec: Path) -> Path:
    """Return the folder of the examples' input files, data/ beside SPEC.md."""
    return spec.parent / "data"


_DETAILS = re.compile(r"<details>(.*?)</details>", re.S)
_NAME = re.compile(r"Example:\s*([\w.-]+)\.wdl")
_FENCE = re.compile(r"^([ \t]*)```(\w*)[ \t]*\n(.*?)^[ \t]*```", re.S | re.M)


def examples(text: str) -> list[Example]:
    """Return every example of the specification's text, in order."""
    found = []
    for block in _DETAILS.findall(text):
        name = _NAME.search(block)
        if name is None:
            continue
        sections = _sections(block)
        if "wdl" not in sections:
            continue
        found.append(Example(name=name.group(1), wdl=sections["wdl"],
                             inputs=sections.get("input") or {}, outputs=sections.get("output") or {},
                             config=sections.get("config") or {}))
    return found


def _sections(block: str) -> dict:
    """Return the fenced blocks of a <details> block by role: wdl, input, output, config."""
    sections: dict = {}
    for match in _FENCE.finditer(block):
        indent, language, body = match.groups()
        body = textwrap.dedent(body) if not indent else "\n".join(
            line[len(indent):] if line.startswith(indent) else line.lstrip() for line in body.splitlines()) + "\n"
        before = block[:match.start()].rsplit("```", 1)[-1].lower()
        if language == "wdl" and "wdl" not in sections:
            sections["wdl"] = body
        elif language == "json":
            role = "config" if "test config" in before else "output" if "output" in before else "input"
            sections[role] = json.loads(body) if body.strip() else {}
    return sections


def load_examples(spec: Path | None = None) -> list[Example]:
    """Read the pinned specification and return its examples."""
    return examples((spec or spec_path()).read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    """Write every example to a folder of its own under argv[0]."""
    target = Path(argv[0])
    for example in load_examples():
        folder = target / example.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{example.name}.wdl").write_text(example.wdl)
        for part in ("inputs", "outputs", "config"):
            (folder / f"{part}.json").write_text(json.dumps(getattr(example, part), indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
