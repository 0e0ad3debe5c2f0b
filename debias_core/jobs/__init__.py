"""Persisted jobs with progress, cancel and resume; executors: local (threads per lane) and ray
(generation / personalization units on Ray actors), chosen per job."""

from debias_core.jobs import kinds  # noqa: F401  (registers the job kinds)
from debias_core.jobs.base import (
    JOB_KINDS,
    JobCancelled,
    JobContext,
    JobInterrupted,
    mark_interrupted,
    owner_of,
    owner_state,
    watch_progress,
)
from debias_core.jobs.executor import Executor, ExecutorChoice, make_executor
from debias_core.jobs.local import LocalExecutor, claim_for_resume, run_job
from debias_core.jobs.submit import JobBusy, Submission, submit_job

__all__ = [
    "JOB_KINDS",
    "Executor",
    "ExecutorChoice",
    "JobBusy",
    "JobCancelled",
    "JobContext",
    "JobInterrupted",
    "LocalExecutor",
    "Submission",
    "claim_for_resume",
    "make_executor",
    "mark_interrupted",
    "owner_of",
    "owner_state",
    "run_job",
    "submit_job",
    "watch_progress",
]
