"""The project store: SQLite (sqlite-utils) + content-addressed files. All SQL lives here."""

from debias_core.store.artifacts import Artifact
from debias_core.store.project import DB_NAME, NewerProject, NotAProject, Store
from debias_core.store.records import GeneratedImage, Job, Recipe, Run, Sample
from debias_core.store.samples import SampleFilter

__all__ = [
    "Artifact",
    "DB_NAME",
    "GeneratedImage",
    "Job",
    "NewerProject",
    "NotAProject",
    "Recipe",
    "Run",
    "Sample",
    "SampleFilter",
    "Store",
]
