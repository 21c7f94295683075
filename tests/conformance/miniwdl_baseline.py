"""Run the specification's examples with `miniwdl run` (bare backend) and print which pass.

    BATCHSITE_WDL_SPEC=... python -m tests.conformance.miniwdl_baseline WORKDIR

Prints one line per runnable example, "PASS name" or "FAIL name: what happened", for comparing
Batchsite's known failures with miniwdl's own results on the same examples.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conformance.extract import data_dir, load_examples, runnable, spec_path
from tests.conformance.outputs import mismatches


def main(workdir: Path) -> None:
    """Run every runnable example in workdir (all examples side by side, with the data files)."""
    examples = load_examples()
    workdir.mkdir(parents=True, exist_ok=True)
    for example in examples:
        (workdir / f"{example.name}.wdl").write_text(example.wdl)
    for path in data_dir(spec_path()).iterdir():
        shutil.copy(path, workdir / path.name)
    env = dict(os.environ, MINIWDL__SCHEDULER__CONTAINER_BACKEND="bare")
    for example in filter(runnable, examples):
        (workdir / f"{example.name}.inputs.json").write_text(json.dumps(example.inputs))
        args = [sys.executable, "-m", "WDL", "run", f"{example.name}.wdl", "-i", f"{example.name}.inputs.json",
                "--dir", f"runs/{example.name}/.", "--error-json"]
        if example.config.get("target"):
            args += ["--task", example.config["target"]]
        done = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            passed, detail = example.expects_failure, done.stdout[-300:].replace("\n", " ")
        elif example.expects_failure:
            passed, detail = False, "succeeded, but the example must fail"
        else:
            outputs = json.loads(done.stdout)["outputs"]
            problems = mismatches(example.outputs, outputs, example.config)
            passed, detail = not problems, "; ".join(problems)
        print(("PASS " if passed else "FAIL ") + example.name + ("" if passed else f": {detail}"), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
