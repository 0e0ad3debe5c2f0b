"""The jobs panel (progress bar, jobs table, cancel / resume) shared by Generate and Train.

The panel polls job rows with a gr.Timer that runs only while a job of its kind is active, so
closing the browser tab loses nothing: the executor keeps working and the rows keep the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from debias_core.jobs.executor import EXECUTORS
from debias_core.jobs.lanes import queue_places
from debias_core.store.jobs import ACTIVE
from ui.common import JOB_HEADERS, friendly, job_row, parse_optional_int, progress_html
from ui.state import AppContext

POLL_SECONDS = 1.0
# Every event that writes a jobs panel shows no progress or error badge on it: a refused request
# is one message (Gradio's toast) and leaves the progress bar and the jobs table as they were.
PANEL_EVENT = {"show_progress": "hidden"}


@dataclass
class JobsPanel:
    kind: str
    progress: gr.HTML
    table: gr.Dataframe
    timer: gr.Timer
    note: gr.Markdown
    job_id: gr.Textbox | None = None  # the picked job (a clicked row or a typed id)
    polled: object = None  # the timer's tick event: chain `.then(...)` to run after each poll

    @property
    def outputs(self) -> list:
        return [self.progress, self.table, self.timer]


def jobs_of(ctx: AppContext, kind: str, limit: int = 20):
    return [j for j in ctx.store.list_jobs(limit=200) if j.kind == kind][:limit]


def poll(ctx: AppContext, kind: str) -> tuple:
    """(progress bar of the newest job, jobs table, timer kept on while a job is active).

    A queued job says where it stands: its place in its resource queue and the job it waits for.
    """
    jobs = jobs_of(ctx, kind)
    places = queue_places(ctx.store)
    waiting = {i: place.describe() for i, place in places.items()}
    active = any(j.status in ACTIVE for j in jobs)
    lost = [j.id for j in jobs if j.status == "interrupted"]
    hint = (
        f"<p class='ds-job'>Interrupted when the app last stopped: job(s) {lost}. "
        "Pick one and press Resume.</p>"
        if lost
        else ""
    )
    return (
        progress_html(jobs[0] if jobs else None, waiting.get(jobs[0].id, "") if jobs else "")
        + hint,
        [job_row(j, waiting.get(j.id, "")) for j in jobs],
        gr.Timer(active=active),
    )


def _job_id(ctx: AppContext, value, kind: str) -> int:
    job_id = parse_optional_int(value, "job id")
    if job_id is None:
        raise ValueError("pick a job first (click its row, or type its id)")
    if ctx.store.get_job(job_id).kind != kind:  # KeyError for an unknown id
        raise ValueError(f"job {job_id} is not a {kind} job")
    return job_id


def cancel(ctx: AppContext, kind: str, value) -> tuple:
    job_id = _job_id(ctx, value, kind)
    job = ctx.store.get_job(job_id)
    if job.status not in ACTIVE:
        raise ValueError(f"job {job_id} is {job.status}; only queued or running jobs can cancel")
    ctx.executor.cancel(job_id)
    return (f"Cancel requested for job {job_id}; it stops after the current unit.",) + poll(
        ctx, kind
    )


def resume(ctx: AppContext, kind: str, value) -> tuple:
    job_id = ctx.executor.resume(_job_id(ctx, value, kind))
    return (f"Job {job_id} queued again; finished units are skipped.",) + poll(ctx, kind)


def choose_executor(ctx: AppContext, name, address) -> str:
    """Where new jobs' units run from now on (all tabs); one line when Ray is missing."""
    executor = ctx.choose_executor(str(name or "local"), str(address or "") or None)
    if executor.label == "local":
        return "New jobs run their units in this app's process."
    return (
        f"New generation and personalization jobs draw their units on **{executor.label}** "
        "(other kinds run here); the jobs tables show each job's executor."
    )


def render_executor_choice(ctx: AppContext) -> None:
    """One executor choice for the whole app (built once, above the tabs)."""
    current = ctx.executor.label
    name, _, address = current.partition("@")
    with gr.Row(equal_height=True):
        executor = gr.Dropdown(
            list(EXECUTORS),
            value=name,
            label="Run job units on",
            info="ray: Ray actors, each loading the backbone once (pip install ray==2.60.0)",
            elem_id="executor-choice",
            scale=1,
        )
        ray_address = gr.Textbox(
            value=address,
            label="Ray address",
            placeholder="empty: a local Ray cluster on this machine (loopback only)",
            elem_id="ray-address",
            scale=2,
        )
    note = gr.Markdown()

    @friendly
    def do_choose(name, address):
        return choose_executor(ctx, name, address)

    inputs = [executor, ray_address]
    executor.change(do_choose, inputs, note, api_name="choose_executor", **PANEL_EVENT)
    ray_address.submit(do_choose, inputs, note, api_name="choose_ray_address", **PANEL_EVENT)


def render_jobs(ctx: AppContext, kind: str) -> JobsPanel:
    """The widgets and their wiring; api names are prefixed with the job kind."""
    with gr.Group():
        progress = gr.HTML(progress_html(None), elem_id=f"{kind}-progress")
        table = gr.Dataframe(
            headers=JOB_HEADERS, value=[], interactive=False, label=f"{kind} jobs", max_height=260
        )
    with gr.Row(equal_height=True):
        job_id = gr.Textbox(label="Job id", scale=1, elem_id=f"{kind}-job-id")
        cancel_btn = gr.Button("Cancel job", elem_id=f"{kind}-cancel", scale=1)
        resume_btn = gr.Button("Resume job", elem_id=f"{kind}-resume", scale=1)
        refresh_btn = gr.Button("Refresh", elem_id=f"{kind}-jobs-refresh", scale=1)
    note = gr.Markdown()
    timer = gr.Timer(POLL_SECONDS, active=False)
    panel = JobsPanel(kind, progress, table, timer, note, job_id)

    def do_poll():
        return poll(ctx, kind)

    def pick(evt: gr.SelectData):
        row = getattr(evt, "row_value", None) or []
        return str(row[0]) if row else ""

    panel.polled = timer.tick(
        do_poll, None, panel.outputs, api_name=f"{kind}_jobs_poll", show_progress="hidden"
    )
    refresh_btn.click(do_poll, None, panel.outputs, api_name=f"{kind}_jobs_refresh", **PANEL_EVENT)
    table.select(  # browser-only event data, so private; clients pass the job id directly
        pick,
        None,
        job_id,
        api_name=f"{kind}_jobs_pick",
        show_progress="hidden",
        api_visibility="private",
    )

    @friendly
    def do_cancel(job_id):
        return cancel(ctx, kind, job_id)

    @friendly
    def do_resume(job_id):
        return resume(ctx, kind, job_id)

    cancel_btn.click(
        do_cancel,
        job_id,
        [note, *panel.outputs],
        api_name=f"{kind}_job_cancel",
        **PANEL_EVENT,
    )
    resume_btn.click(
        do_resume,
        job_id,
        [note, *panel.outputs],
        api_name=f"{kind}_job_resume",
        **PANEL_EVENT,
    )
    return panel
