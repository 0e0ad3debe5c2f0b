"""The project store: SQLite (sqlite-utils) + content-addressed files. All SQL lives here."""

from debias_core.store.artifacts import Artifact
from debias_core.store.labels import LabelName, semantic_siblings
from debias_core.store.project import DB_NAME, NewerProject, NotAProject, Store
from debias_core.store.records import GeneratedImage, Job, Recipe, Run, Sample
from debias_core.store.samples import SampleFilter

__all__ = [
    "Artifact",
    "DB_NAME",
    "GeneratedImage",
    "Job",
    "LabelName",
    "NewerProject",
    "NotAProject",
    "Recipe",
    "Run",
    "Sample",
    "SampleFilter",
    "Store",
    "semantic_siblings",
]
