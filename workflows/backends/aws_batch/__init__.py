"""The AWS Batch backend (backend.py), its job logs (logs.py) and housekeeping (housekeeping.py)."""
from .backend import AwsBatchBackend
from .jobs import job_failure

__all__ = ["AwsBatchBackend", "job_failure"]
