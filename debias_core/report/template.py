# ruff: noqa: E501  (HTML template lines: long by nature)
"""The report's jinja2 template and stylesheet (kept in a module: no package-data files)."""

STYLE = """
:root { --ink:#1d2433; --muted:#5b6475; --line:#e3e7ee; --bg:#f6f8fb; --accent:#2f5d9b;
  --ok:#2e7d4f; --bad:#b23b3b; --warn:#a86b00; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
header.top { background: linear-gradient(120deg, #1f3a64, #2f5d9b); color: #fff;
  padding: 28px 40px 22px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; }
header.top .sub { opacity: .85; }
nav.toc { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid
  var(--line); padding: 8px 40px; display: flex; gap: 18px; flex-wrap: wrap; }
nav.toc a { color: var(--accent); text-decoration: none; font-weight: 600; }
main { max-width: 1180px; margin: 0 auto; padding: 10px 28px 60px; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 24px; margin: 18px 0; }
h2 { font-size: 20px; margin: 0 0 6px; color: #15294a; }
h3 { font-size: 15px; margin: 18px 0 6px; color: #15294a; }
p.lead { color: var(--muted); margin-top: 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px;
  margin: 14px 0 4px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.kpi .v { font-size: 22px; font-weight: 700; }
.kpi .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.kpi .s { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
  vertical-align: top; }
th { background: #f0f3f8; font-weight: 600; }
table.kv th { width: 130px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.conflicting td:first-child { border-left: 3px solid #f58518; }
.tag { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11px;
  font-weight: 600; }
.tag.aligned { background: #e4ecf7; color: #2f5d9b; }
.tag.conflicting { background: #fdebd9; color: #a04f00; }
.tag.yes { background: #e1f2e7; color: var(--ok); }
.tag.no { background: #f8e3e3; color: var(--bad); }
.tag.meh { background: #f6eedc; color: var(--warn); }
.note { color: var(--muted); font-size: 12.5px; }
.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.group { border: 1px solid var(--line); border-radius: 8px; padding: 6px 8px; }
.group .name { font-size: 12px; font-weight: 600; margin-bottom: 4px; }
img.px.test { outline: 2px dashed #a04f00; outline-offset: 1px; }
img.px { image-rendering: pixelated; width: 44px; height: 44px; border-radius: 4px;
  background: #000; margin-right: 3px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
figure.sample { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px;
  background: #fcfdff; }
figure.sample.accepted { border-top: 3px solid var(--ok); }
figure.sample.rejected { border-top: 3px solid var(--bad); }
figure.sample img { image-rendering: pixelated; width: 96px; height: 96px; display: block;
  margin: 0 auto 6px; background: #000; border-radius: 4px; }
figcaption { font-size: 12px; }
figcaption .reason { font-style: italic; }
details { margin-top: 4px; font-size: 12px; }
details summary { cursor: pointer; color: var(--accent); }
pre, code { font: 11.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f3f5f9; padding: 8px; border-radius: 6px; white-space: pre-wrap;
  word-break: break-all; margin: 4px 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.lift { padding: 10px 14px; border-radius: 8px; margin: 8px 0; border-left: 4px solid; }
.lift.sig { background: #eef8f1; border-color: var(--ok); }
.lift.nosig { background: #fbf6ea; border-color: var(--warn); }
ul.card { margin: 4px 0 8px 18px; padding: 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin: 30px 0; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { background: #fff; font-size: 11px; }
  nav.toc { display: none; }
  header.top { background: #fff !important; color: var(--ink); padding: 0 0 8px;
    border-bottom: 2px solid var(--ink); }
  main { max-width: none; padding: 0; }
  section.card { border: none; padding: 0; margin: 14px 0; break-before: auto; }
  section.card h2 { break-after: avoid; }
  figure.sample, .group, .kpi, table tr, .lift, .plot { break-inside: avoid; }
  .grid { grid-template-columns: repeat(5, 1fr); }
  details summary { display: none; }
  a { color: inherit; text-decoration: none; }
}
"""

TEMPLATE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fairness report · {{ r.project.name }}</title>
<style>"""
    + STYLE
    + """</style>
<script>{{ plotly_js }}</script>
</head><body>
{% set res = r.results %}
{% set ds = r.dataset %}
{% set gen = r.generated %}
<header class="top">
  <h1>Fairness report · {{ r.project.name }}</h1>
  <div class="sub">{{ r.project.dataset }} · {{ r.project.class_names|length }} classes ×
  {{ r.project.attr_names|length }} contexts · built {{ r.project.generated_at }} by Debias Studio
  {{ r.project.software_version }}</div>
</header>
<nav class="toc"><a href="#summary">Summary</a><a href="#dataset">1 Dataset bias</a>
<a href="#generated">2 What was generated</a><a href="#results">3 Result</a>
<a href="#card">4 Model card</a><a href="#provenance">5 Provenance</a></nav>
<main>
<section class="card" id="summary"><h2>Summary</h2>
<div class="kpis">
  <div class="kpi"><div class="l">Train images in majority context</div>
    <div class="v">{{ ds.aligned_fraction|pct }}</div>
    <div class="s">of {{ ds.train_total }} real train images</div></div>
  <div class="kpi"><div class="l">Rarest group (train)</div>
    <div class="v">{{ ds.biased[0].train if ds.biased else '–' }}</div>
    <div class="s">{{ ds.biased[0].label if ds.biased else 'no conflicting group' }}</div></div>
  <div class="kpi"><div class="l">Generated · accepted</div>
    <div class="v">{{ gen.methods|sum(attribute='total') }} · {{ gen.methods|sum(attribute='accepted') }}</div>
    <div class="s">{{ gen.methods|map(attribute='method')|join(', ') or 'nothing generated yet' }}</div></div>
  {% for run in res.runs %}
  <div class="kpi"><div class="l">Worst-group acc. · run {{ run.run_id }}</div>
    <div class="v">{{ run.intervals.worst_group.value|pct }}</div>
    <div class="s">{{ run.method }} · 95% [{{ '%.1f'|format(100 * run.intervals.worst_group.low) }},
    {{ '%.1f'|format(100 * run.intervals.worst_group.high) }}]</div></div>
  {% endfor %}
</div>
{% for lift in res.lifts %}
<div class="lift {{ 'sig' if lift.significant else 'nosig' }}"><b>Run {{ lift.run_id }} vs
baseline run {{ lift.baseline_id }}:</b> {{ lift.text }}</div>
{% endfor %}
</section>

<section class="card" id="dataset"><h2>1 · Dataset bias</h2>
<p class="lead">Real images per (class, context) group and split. A group is <i>aligned</i> when
its context is its class's majority context in train; the others are bias-conflicting: rare in
train, so a classifier can get them wrong and still score well on average.</p>
{% set long = ds.groups|length > LONG %}
{% if long %}<p>{{ ds.groups|length }} groups: {{ ds.groups|selectattr('aligned')|list|length }} aligned,
{{ ds.biased|length }} bias-conflicting.</p><details><summary>Show the table of all {{ ds.groups|length }} groups</summary>{% endif %}
<table><tr><th>group</th><th>kind</th><th class="n">train</th><th class="n">share of class</th>
<th class="n">val</th><th class="n">test</th><th class="n">gen. accepted</th>
<th class="n">gen. pending</th><th class="n">gen. rejected</th></tr>
{% for g in ds.groups %}
{% set class_train = ds.groups|selectattr('y', 'equalto', g.y)|sum(attribute='train') %}
<tr class="{{ 'aligned' if g.aligned else 'conflicting' }}"><td>{{ g.label }}</td>
<td><span class="tag {{ 'aligned' if g.aligned else 'conflicting' }}">{{ 'aligned' if g.aligned else 'conflicting' }}</span></td>
<td class="n">{{ g.train }}</td><td class="n">{{ (g.train / class_train)|pct if class_train else '–' }}</td>
<td class="n">{{ g.val }}</td><td class="n">{{ g.test }}</td>
<td class="n">{{ g.generated_accepted }}</td><td class="n">{{ g.generated_pending }}</td>
<td class="n">{{ g.generated_rejected }}</td></tr>
{% endfor %}
</table>
{% if long %}</details>{% endif %}
<h3>The biased (rare) groups</h3>
{% if ds.biased %}
<p>{% for g in ds.biased[:12] %}<b>{{ g.label }}</b> ({{ g.train }} train){{ ', ' if not loop.last }}{% endfor %}{% if ds.biased|length > 12 %} and {{ ds.biased|length - 12 }} more{% endif %}.</p>
{% else %}<p class="note">Every group is its class's majority context: no conflicting group.</p>{% endif %}
<h3>Example real images per group (train)</h3>
{% if ds.examples_note %}<p class="note">{{ ds.examples_note }}</p>{% endif %}
<div class="groups">
{% for label, thumbs in ds.examples.items() %}
<div class="group"><div class="name">{{ label }}</div>
{% if thumbs and thumbs[0].split == 'test' %}<div class="note">no train image; from test:</div>{% endif %}
{% for t in thumbs %}<img class="px {{ t.split }}" src="{{ t.uri }}" alt="sample {{ t.sample_id }}" title="sample {{ t.sample_id }} ({{ t.split }})">{% endfor %}
{% if not thumbs %}<span class="note">no image</span>{% endif %}</div>
{% endfor %}
</div>
</section>

<section class="card" id="generated"><h2>2 · What was generated</h2>
{% if not gen.methods %}<p class="note">Nothing generated yet (Generate tab, or
<code>python -m debias_core generate DIR</code>).</p>{% else %}
<p class="lead">Counterfactual images per method and generation job. <i>Status</i> is what
training sees: a person's decision outranks a policy's. Acceptance by people and by policies
is shown separately.</p>
<table><tr><th>method</th><th>job</th><th class="n">images</th><th class="n">accepted</th>
<th class="n">rejected</th><th class="n">pending</th><th class="n">people: accept / reject</th>
<th class="n">policy: accept / reject / review</th></tr>
{% for row in gen.methods %}
<tr><td><b>{{ row.method }}</b></td><td>all</td><td class="n">{{ row.total }}</td>
<td class="n">{{ row.accepted }}</td><td class="n">{{ row.rejected }}</td><td class="n">{{ row.pending }}</td>
<td class="n">{{ row.person_accepted }} / {{ row.person_rejected }}</td>
<td class="n">{{ row.policy_accepted }} / {{ row.policy_rejected }} / {{ row.policy_review }}</td></tr>
{% for job in gen.jobs if job.method == row.method %}
<tr><td></td><td>job {{ job.job_id }}{% if job.job_params %}<details><summary>params</summary><pre>{{ job.job_params|pretty }}</pre></details>{% endif %}</td>
<td class="n">{{ job.total }}</td><td class="n">{{ job.accepted }}</td><td class="n">{{ job.rejected }}</td>
<td class="n">{{ job.pending }}</td><td class="n">{{ job.person_accepted }} / {{ job.person_rejected }}</td>
<td class="n">{{ job.policy_accepted }} / {{ job.policy_rejected }} / {{ job.policy_review }}</td></tr>
{% endfor %}
{% endfor %}
</table>
<h3>Policies vs people (Cohen's kappa)</h3>
{% if gen.agreements %}
<table><tr><th>policy</th><th class="n">decided by both</th><th class="n">firm policy calls</th>
<th class="n">agreement</th><th class="n">kappa</th><th>person \\ policy: accept / reject / review</th></tr>
{% for a in gen.agreements %}
<tr><td>{{ a.policy }}</td><td class="n">{{ a.n }}</td><td class="n">{{ a.n_firm }}</td>
<td class="n">{{ a.observed|pct }}</td><td class="n">{{ a.kappa|num(2) if a.kappa is not none else 'undefined' }}</td>
<td>accept: {{ a.confusion[0]|join(' / ') }}; reject: {{ a.confusion[1]|join(' / ') }}</td></tr>
{% endfor %}</table>
{% else %}<p class="note">No policy has decided anything yet (Verify tab, or
<code>python -m debias_core verify DIR</code>).</p>{% endif %}
<h3>Fréchet distance to real images, with its floor</h3>
{% if gen.distance %}
<p class="note">In {{ gen.distance.features }} space (weights {{ gen.distance.model_hash[:12] }}):
generated vs real {{ gen.distance.config.reference_split }} images of the same groups; the floor
is real {{ gen.distance.config.floor_split }} vs the same reference with as many images. A ratio
≤ 1 means as close to the test images as real training data is.</p>
<table><tr><th>scope</th><th>set</th><th class="n">n gen.</th><th class="n">distance</th>
<th class="n">floor</th><th class="n">ratio</th><th>note</th></tr>
{% for d in gen.distance.rows if d.scope != 'group' %}
<tr><td>{{ d.scope }}</td><td>{{ d.key }}</td><td class="n">{{ d.n_generated }}</td>
<td class="n">{{ d.distance|num(4) }}</td><td class="n">{{ d.floor|num(4) }}</td>
<td class="n">{{ d.ratio|num(2) }}</td><td class="note">{{ d.note }}</td></tr>
{% endfor %}</table>
{% else %}<p class="note">{{ gen.distance_note }}</p>{% endif %}
<h3>Accepted and rejected samples, with the reasons people gave</h3>
{% for grid in gen.grids %}
<h3>{{ grid.method }}</h3>
{% if grid.reasons %}<p class="note">Reasons typed by people:
{% for reason in grid.reasons %}<b>{{ reason.decision }}</b> “{{ reason.reason }}” ×{{ reason.n }}{{ '; ' if not loop.last }}{% endfor %}</p>{% endif %}
<div class="grid">
{% for card in grid.accepted + grid.rejected %}
<figure class="sample {{ card.status }}" id="sample-{{ card.thumb.sample_id }}">
<img src="{{ card.thumb.uri }}" alt="generated sample {{ card.thumb.sample_id }}">
<figcaption><b>#{{ card.thumb.sample_id }}</b> · {{ card.thumb.group }}<br>
<span class="tag {{ 'yes' if card.status == 'accepted' else 'no' }}">{{ card.status }}</span>
{% if card.person %}by {{ card.reviewer }}{% elif card.policy %}by policy{% endif %}
{% if card.reason %}<br><span class="reason">“{{ card.reason }}”</span>{% endif %}
{% if card.policy %}<br><span class="note">policy: {{ card.policy }}{% if card.policy_reason %} ({{ card.policy_reason }}){% endif %}</span>{% endif %}
<details><summary>recipe &amp; regenerate</summary>
<code>{{ card.recipe.method }}</code> · backbone {{ card.recipe.backbone_id }}
({{ (card.recipe.backbone_hash or 'unrecorded')[:12] }}) · seed {{ card.recipe.seed }}
{% if card.recipe.prompt %}<br>prompt: “{{ card.recipe.prompt }}”{% endif %}
{% for art in card.artifacts %}<br>artifact {{ art.id }} {{ art.kind }} {{ art.name }}: {{ (art.sha256 or '')[:16] }}{% endfor %}
<pre>{{ card.regenerate }}</pre></details>
</figcaption></figure>
{% endfor %}
</div>
{% if not grid.accepted and not grid.rejected %}<p class="note">No {{ grid.method }} image is
accepted or rejected yet.</p>{% endif %}
{% endfor %}
{% endif %}
</section>

<section class="card" id="results"><h2>3 · Result</h2>
{% if not res.runs %}<p class="note">{{ res.choice_note }}</p>{% else %}
<p class="lead">{{ res.choice_note }}. Every accuracy has a 95% interval: Wilson for one group or
the average, a per-group bootstrap for worst-group and balanced accuracy.</p>
<div class="plot">{{ figures.groups }}</div>
<div class="plot">{{ figures.summary }}</div>
<table><tr><th>run</th><th>method</th><th>data</th><th class="n">seed</th>
<th class="n">worst-group</th><th class="n">average</th><th class="n">balanced</th>
<th class="n">best val WGA</th><th>lift over baseline</th></tr>
{% for run in res.runs %}
<tr><td><a href="#run-{{ run.run_id }}">{{ run.run_id }}</a></td><td>{{ run.method }}</td><td>{{ run.data }}</td>
<td class="n">{{ run.seed }}</td><td class="n">{{ run.intervals.worst_group|est }}</td>
<td class="n">{{ run.intervals.average|est }}</td><td class="n">{{ run.balanced|est }}</td>
<td class="n">{{ run.best_val_wga|pct }}</td>
<td>{% if run.run_id == res.baseline_id %}baseline{% elif lifts[run.run_id] %}{% set l = lifts[run.run_id] %}
<span class="tag {{ 'yes' if l.significant else 'meh' }}">{{ '%+.1f'|format(100 * l.value) }} pts · {{ 'significant' if l.significant else 'not significant' }}</span>{% endif %}</td></tr>
{% endfor %}</table>
<h3>Per-group accuracy (test)</h3>
{% set long = res.runs[0].report.per_group|length > LONG %}
{% if long %}<details><summary>Show the table of all {{ res.runs[0].report.per_group|length }} groups</summary>{% endif %}
<table><tr><th>group</th><th>kind</th><th class="n">n</th>
{% for run in res.runs %}<th class="n">run {{ run.run_id }}</th>{% endfor %}</tr>
{% for row in res.runs[0].report.per_group %}
<tr class="{{ 'aligned' if row.aligned else 'conflicting' }}"><td>{{ row.label }}</td>
<td><span class="tag {{ 'aligned' if row.aligned else 'conflicting' }}">{{ 'aligned' if row.aligned else 'conflicting' }}</span></td>
<td class="n">{{ row.n }}</td>
{% for run in res.runs %}<td class="n">{{ run.intervals.per_group.get((row.y, row.a))|est }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if long %}</details>{% endif %}
{% for lift in res.lifts %}
<div class="lift {{ 'sig' if lift.significant else 'nosig' }}"><b>Lift of run {{ lift.run_id }}
over run {{ lift.baseline_id }}</b> ({{ lift.kind }}): {{ lift.text }}</div>
{% endfor %}
{% endif %}
</section>

<section class="card" id="card"><h2>4 · Model card</h2>
{% for item in r.card %}<h3>{{ item.title }}</h3><ul class="card">
{% for line in item.lines %}<li>{{ line }}</li>{% endfor %}</ul>{% endfor %}
</section>

<section class="card" id="provenance"><h2>5 · Provenance</h2>
<p class="lead">Where every number comes from. Group counts, curation counts and agreement are
read from <code>{{ r.project.root }}/project.db</code> (schema {{ r.project.schema }}, project
created {{ r.project.created_at|stamp }} UTC) when this report was built; accuracies from each run's
stored test report.</p>
{% for run in res.runs %}
<h3 id="run-{{ run.run_id }}">Run {{ run.run_id }} · {{ run.method }}</h3>
<table class="kv"><tr><th>data</th><td>{{ run.data }}</td></tr>
<tr><th>run folder</th><td><code>{{ run.run_dir }}</code> (model.safetensors, config.json, report.json)</td></tr>
<tr><th>job</th><td>{{ run.job_id if run.job_id is not none else 'run in the foreground' }}</td></tr>
<tr><th>time</th><td>{{ run.created_at|stamp }} → {{ run.finished_at|stamp }} UTC</td></tr>
<tr><th>config</th><td><pre>{{ run.config|compact }}</pre></td></tr></table>
{% endfor %}
{% if gen.backbones %}<h3>Generator backbones</h3><table><tr><th>backbone</th><th>weights hash</th><th class="n">images</th></tr>
{% for b in gen.backbones %}<tr><td>{{ b.backbone_id }}</td><td><code>{{ b.backbone_hash or 'unrecorded' }}</code></td><td class="n">{{ b.n }}</td></tr>{% endfor %}</table>{% endif %}
{% if shown %}<h3>Recipes of the generated images shown</h3>
<table><tr><th>sample</th><th>recipe</th><th>artifacts (sha256)</th><th>regenerate</th></tr>
{% for c in shown %}<tr><td><a href="#sample-{{ c.thumb.sample_id }}">#{{ c.thumb.sample_id }}</a><br>job {{ c.job_id if c.job_id is not none else '–' }}{% if c.parent_id %}<br>from #{{ c.parent_id }}{% endif %}</td>
<td>{{ c.recipe.method }} · {{ c.recipe.backbone_id }} <code>{{ (c.recipe.backbone_hash or 'unrecorded')[:16] }}</code><br>
seed {{ c.recipe.seed }} · {{ c.recipe.scheduler }} · {{ c.recipe.steps }} steps · guidance {{ c.recipe.guidance }}
{% if c.recipe.prompt %}<br>“{{ c.recipe.prompt }}”{% endif %}{% if c.recipe.negative_prompt %}<br>negative: “{{ c.recipe.negative_prompt }}”{% endif %}
{% if c.recipe.source_ids %}<br>sources: {{ c.recipe.source_ids|join(', ') }}{% endif %}</td>
<td>{% for art in c.artifacts %}{{ art.kind }} {{ art.name }} (#{{ art.id }})<br><code>{{ art.sha256 }}</code><br>{% else %}none{% endfor %}</td>
<td><code>{{ c.regenerate }}</code></td></tr>{% endfor %}</table>{% endif %}
</section>
<footer>Built from the project store in {{ '%.1f'|format(r.seconds) }} s · self-contained: no
network needed · print or “Save as PDF” from the browser for a paper copy.</footer>
</main>
<script>
window.addEventListener('beforeprint', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
});
</script>
</body></html>
"""
)
