"""Persisted jobs with progress, cancel and resume; the local executor runs one at a time."""

from debias_core.jobs import kinds  # noqa: F401  (registers the job kinds)
from debias_core.jobs.base import JOB_KINDS, JobCancelled, JobContext, mark_interrupted
from debias_core.jobs.local import LocalExecutor, run_job

__all__ = [
    "JOB_KINDS",
    "JobCancelled",
    "JobContext",
    "LocalExecutor",
    "mark_interrupted",
    "run_job",
]
