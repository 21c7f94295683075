"""The API clients (cromshell, cromwell-tools, wes-client), each in a virtualenv of its own (`make clients` builds them too)."""
import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = Path(__file__).resolve().parent


def client_venv(name: str) -> Path:
    """Return the bin/ folder of .venv-<name>, installing tests/api/clients/<name>.txt first if needed."""
    requirements = CLIENTS / f"{name}.txt"
    venv = ROOT / f".venv-{name}"
    marker = venv / ".requirements"  # the Makefile's target: newer than the pins means installed
    (ROOT / "var").mkdir(exist_ok=True)
    with open(ROOT / "var" / f".venv-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers wait for the one that installs
        if not marker.exists() or marker.stat().st_mtime < requirements.stat().st_mtime:
            if not (venv / "bin" / "python").exists():
                python = Path(sys.base_prefix, "bin", "python3")
                subprocess.run([str(python if python.exists() else shutil.which("python3")), "-m", "venv",
                                str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-r", str(requirements)], check=True)
            marker.touch()
    return venv / "bin"
