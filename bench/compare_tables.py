"""The comparison bench's tables, from its raw rows: one markdown table per (variant, bias), the
paired lifts, and the verdict line (`bench/compare_methods.py` runs the rows and prints these).

Pure functions of row dicts, so a reading can recompute any pair from the raw JSON.
"""

from __future__ import annotations

import statistics

from compare_pipelines import BASELINE, GROUP_LABEL_BASELINES, PIPELINES


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pair_key(row: dict) -> tuple[int, int]:
    """Runs pair across methods by (dataset seed, training seed)."""
    return (row.get("dataset_seed") or 0, row["seed"])


def mean_interval(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """'62.0 ± 8.1': the mean and the half-width of its 95% t interval over runs ('± ?' with one
    run, whose interval is unbounded)."""
    from debias_core.evaluate.uncertainty import seed_interval

    e = seed_interval(values)
    if len(values) < 2:
        return f"{scale * e.value:.{digits}f} ± ?"
    return f"{scale * e.value:.{digits}f} ± {scale * e.half_width:.{digits}f}"


def lift_over(done: list[dict], baseline: list[dict]):
    """The paired lift in WGA over `baseline`'s runs (a `Lift`), or None without common pairs."""
    from debias_core.evaluate.uncertainty import paired_lift

    base = {pair_key(r): r["wga"] for r in baseline}
    pairs = [(r["wga"], base[pair_key(r)]) for r in done if pair_key(r) in base]
    if not pairs:
        return None
    return paired_lift([m for m, _ in pairs], [b for _, b in pairs])


def lift_text(lift) -> str:
    if lift is None:
        return "-"
    e = lift.estimate
    if e.n is not None and e.n < 2:
        return f"{100 * e.value:+.1f} (1 pair)"
    mark = "**" if lift.significant else ""
    return f"{mark}{100 * e.value:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}]{mark}"


HEADER = (
    "| method | runs | test WGA | WGA lift over ERM (paired) | worst class | test avg "
    "| test balanced | accepted | Fréchet to real (floor) | images/s | wall s |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
)


def done_rows(rows: list[dict], method: str) -> list[dict]:
    return [
        r for r in rows if r["kind"] == "train" and r["method"] == method and r["status"] == "done"
    ]


def table(rows: list[dict], methods: list[str], variant: str, bias: float, n_runs: int) -> list:
    lines = [f"### Colored Digits `{variant}`, background bias {bias}", "", *HEADER]
    erm = done_rows(rows, BASELINE)
    for method in methods:
        mine = [r for r in rows if r["kind"] == "train" and r["method"] == method]
        label = PIPELINES[method].label if method in PIPELINES else method
        done = done_rows(rows, method)
        if not done:
            why = f"{mine[0]['status']}: {mine[0].get('note', '')}" if mine else "not run yet"
            lines.append(f"| {label} | {why} | | | | | | | | | |")
            continue
        source = PIPELINES[method].source
        made = [
            r
            for r in rows
            if r["kind"] == "generation" and r["method"] == source and r["status"] == "done"
        ]
        lift = None if method == BASELINE else lift_over(done, erm)
        lines.append(table_line(label, done, made, n_runs, lift))
    return lines + [
        "",
        "Mean ± the half-width of its 95% t interval over runs (dataset seed x training seed); "
        "a lift in **bold** is significant (its paired 95% interval excludes 0).",
        "",
    ]


def table_line(label: str, done: list[dict], made: list[dict], n_runs: int, lift) -> str:
    train_s = statistics.fmean(r["train_s"] for r in done)
    worst_class = [r["worst_class"] for r in done if r.get("worst_class") is not None]
    accuracy = (
        f"| {wga_text(done)} | {lift_text(lift)} "
        f"| {mean_interval(worst_class) if worst_class else '-'} "
        f"| {mean_interval([r['avg'] for r in done])} "
        f"| {mean_interval([r['balanced'] for r in done])} "
    )
    runs = f"{len(done)}" + ("" if len(done) == n_runs else f" of {n_runs}")
    if not made:
        return f"| {label} | {runs} {accuracy}| | | | {train_s:.0f} |"
    images = sum(r["images"] for r in made)
    accepted = sum(r["accepted"] for r in made)
    frechet = [r["frechet"] for r in made if r["frechet"] is not None]
    floor = [r["frechet_floor"] for r in made if r["frechet_floor"] is not None]
    rate = [r["images_per_s"] for r in made if r["images_per_s"] is not None]
    made_s = statistics.fmean(r["prepare_s"] + r["generate_s"] + r["verify_s"] for r in made)
    aside = max(r.get("set_aside", 0) for r in done)
    aside = f", {aside} set aside (judge: another group)" if aside else ""

    def mean(values: list[float]):
        return statistics.fmean(values) if values else None

    return (
        f"| {label} | {runs} {accuracy}| {100 * accepted / max(images, 1):.1f}% of {images}"
        f"{aside} "
        f"| {fmt(mean(frechet))} ({fmt(mean(floor))}) "
        f"| {fmt(mean(rate))} | {made_s + train_s:.0f} |"
    )


def wga_text(done: list[dict]) -> str:
    """Mean ± t half-width over runs; one run: its bootstrap interval over test images."""
    only = done[0]
    if len(done) == 1 and only.get("wga_low") is not None:
        low, high = 100 * only["wga_low"], 100 * only["wga_high"]
        return f"{100 * only['wga']:.1f} [{low:.1f}, {high:.1f}] (test, n={only['worst_n']})"
    return mean_interval([r["wga"] for r in done])


def verdict_lines(rows: list[dict]) -> list[str]:
    """Best generated-data row against ERM and GroupDRO (paired lifts), and who is closest to
    real."""
    done = {m: done_rows(rows, m) for m in {r["method"] for r in rows if r["kind"] == "train"}}
    wga = {m: statistics.fmean(r["wga"] for r in d) for m, d in done.items() if d}
    generated = [m for m in wga if m in PIPELINES and PIPELINES[m].source is not None]
    lines = []
    if generated and BASELINE in wga:
        best = max(generated, key=wga.get)
        line = (
            f"Best generated-data row: {PIPELINES[best].label}, WGA {100 * wga[best]:.1f} vs ERM "
            f"{100 * wga[BASELINE]:.1f}: lift {describe(lift_over(done[best], done[BASELINE]))}"
        )
        group_label = [m for m in GROUP_LABEL_BASELINES if m in wga]
        if group_label:
            rival = max(group_label, key=wga.get)
            vs = lift_over(done[best], done[rival])
            line += f"; vs {PIPELINES[rival].label} {100 * wga[rival]:.1f}: {describe(vs)}"
        lines.append(line + ".")
    sets = [r for r in rows if r["kind"] == "generation" and r["status"] == "done"]
    if sets:
        ranked = sorted(sets, key=lambda r: (r["frechet"] is None, r["frechet"] or 0.0))
        lines.append(
            "Fréchet to real, closest first: "
            + ", ".join(
                f"{r['method']}{' (personalized)' if r['personalized'] else ''} {fmt(r['frechet'])}"
                for r in ranked
            )
            + "."
        )
    return lines + ([""] if lines else [])


def describe(lift) -> str:
    return "-" if lift is None else lift.describe()
