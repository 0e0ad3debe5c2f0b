"""A method's parameters as typed widgets, built from its frozen parameter dataclass.

The page holds a fixed pool of widget slots per kind (numbers, texts, checkboxes, dropdowns);
choosing a method relabels, fills, shows or hides them (`MethodForm`), and fields that find no
slot (nested JSON, or more fields than slots) go to one `key = value` box. So a newly registered
method shows its widgets with no UI edit, and the submit endpoint keeps a fixed signature.
Values go back through `debias_core.params` (the CLI's `--param` path), which coerces and checks.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from debias_core.params import FieldSpec, coerce, field_types, form_fields
from debias_core.store import Store
from ui.common import checked, run_data

# Slots per kind: enough for every method registered today (DiffInject: 5 numbers, 1 text,
# 1 dropdown); a method with more fields of one kind gets the rest in the `key = value` box.
POOLS = {"number": 8, "text": 3, "bool": 3, "choice": 4}
POOL_OF = {
    "integer": "number",
    "number": "number",
    "text": "text",
    "bool": "bool",
    "choice": "choice",
    "run": "choice",
}  # "json" fields go to the key = value box
NONE_CHOICE = ("none", "")
HIDDEN_LABEL = "method parameter"  # a hidden slot's label (and the name its errors use)


@dataclass
class SlotView:
    """What one widget slot shows; `name` None = hidden."""

    name: str | None = None
    value: Any = None
    info: str = ""
    choices: list = field(default_factory=list)

    @property
    def visible(self) -> bool:
        return self.name is not None


@dataclass
class MethodForm:
    """A method's parameter widgets: the slots per kind and the `key = value` overflow text."""

    method: str
    fields: list[FieldSpec]
    slots: dict[str, list[SlotView]]
    extra: str = ""  # key = value lines of the fields without a slot

    def shown(self) -> dict[str, str]:
        """Field name -> the kind of widget it is shown in ("extra" for the text box)."""
        out = {s.name: kind for kind, slots in self.slots.items() for s in slots if s.visible}
        return out | {line.partition("=")[0].strip(): "extra" for line in self.extra.splitlines()}

    def slot_fields(self) -> list[str | None]:
        """The field of every slot in `slot_order()` order (None for hidden slots)."""
        return [self.slots[kind][i].name for kind, i in slot_order()]


def slot_order() -> list[tuple[str, int]]:
    """(kind, index) of every slot, in the order the page sends their values."""
    return [(kind, i) for kind, n in POOLS.items() for i in range(n)]


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def run_choices_for(store: Store, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """Finished training runs (newest first) of the given methods (any when empty)."""
    out = []
    for run in reversed(store.list_runs("train")):
        if run.status == "done" and (not methods or run.method in methods):
            out.append((f"#{run.id} {run.method} ({run_data(store, run)})", str(run.id)))
    return out


def _slot(spec: FieldSpec, store: Store) -> SlotView:
    kind = POOL_OF[spec.widget]
    info = " ".join(filter(None, [spec.help, f"({spec.bounds})" if spec.bounds else ""]))
    if spec.widget == "run":
        runs = run_choices_for(store, spec.runs)
        need = f"a finished {' / '.join(spec.runs)} run" if spec.runs else "a finished run"
        info = f"{info} ({need})" if info else need
        if not runs:
            info += ": none yet, train one in Train & Evaluate"
        value = "" if spec.default is None else str(spec.default)
        return SlotView(spec.name, value, info, [NONE_CHOICE, *runs])
    if kind == "choice":
        choices = [NONE_CHOICE, *spec.choices] if spec.optional else list(spec.choices)
        return SlotView(spec.name, "" if spec.default is None else str(spec.default), info, choices)
    if kind == "text":
        return SlotView(spec.name, "" if spec.default is None else str(spec.default), info)
    return SlotView(spec.name, spec.default, info)


def method_form(store: Store, method: str, defaults: Any) -> MethodForm:
    """The widgets of a method whose parameter dataclass instance is `defaults`."""
    specs = form_fields(defaults)
    slots = {kind: [SlotView() for _ in range(n)] for kind, n in POOLS.items()}
    used = dict.fromkeys(POOLS, 0)
    extra = []
    for spec in specs:
        kind = POOL_OF.get(spec.widget)
        if kind is None or used[kind] >= POOLS[kind]:
            extra.append(f"{spec.name} = {_text(spec.default)}")
            continue
        slots[kind][used[kind]] = _slot(spec, store)
        used[kind] += 1
    return MethodForm(method, specs, slots, "\n".join(extra))


# -- values back to parameters ----------------------------------------------------------------
def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for line in (text or "").splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"a parameter line is `key = value`, got {line.strip()!r}")
        out.append((key.strip(), value.strip()))
    return out


def _differs(annotation: Any, name: str, value: Any, default: Any) -> bool:
    """Whether a widget's value is not the default (an uncoercible value counts as different, so
    the core's check names it)."""
    try:
        return coerce(name, annotation, value) != default
    except (TypeError, ValueError):
        return True


def form_params(form: MethodForm, defaults: Any, values: list, extra: str | None) -> dict:
    """The raw parameters the widgets set, only those that differ from the defaults (so the app
    and the CLI give equal jobs equal parameters); the core coerces and checks them.

    A slot value of None (a cleared box, or a client leaving a slot out) keeps the default.
    """
    names = form.slot_fields()
    if not isinstance(values, list | tuple) or len(values) != len(names):
        raise ValueError(f"expected {len(names)} parameter widget values, got {values!r}")
    if extra is not None and not isinstance(extra, str):
        raise ValueError(f"more parameters must be text (key = value lines), got {extra!r}")
    types_ = field_types(type(defaults))
    raw = {
        name: value
        for name, value in zip(names, values, strict=True)
        if name is not None and value is not None
    }
    raw |= dict(_pairs(extra or ""))
    return {
        name: value
        for name, value in raw.items()
        if name not in types_ or _differs(types_[name], name, value, getattr(defaults, name))
    }


# -- widgets ------------------------------------------------------------------------------------
def build_widgets(form: MethodForm, prefix: str) -> tuple[list, gr.Textbox]:
    """The slot widgets (in `slot_order()`) showing `form`, and the `key = value` box."""
    widgets = []
    with gr.Row(elem_id=f"{prefix}-params"):
        for kind, i in slot_order():
            widgets.append(_make(kind, form.slots[kind][i], f"{prefix}-{kind}-{i}"))
    extra = gr.Textbox(
        form.extra,
        lines=3,
        label="More parameters (key = value)",
        visible=bool(form.extra),
        elem_id=f"{prefix}-extra",
    )
    return widgets, extra


def _make(kind: str, slot: SlotView, elem_id: str):
    common = {
        "label": slot.name or HIDDEN_LABEL,
        "info": slot.info or None,
        "visible": slot.visible,
        "elem_id": elem_id,
        "min_width": 160,
    }
    if kind == "number":
        return checked(gr.Number(slot.value, **common))
    if kind == "text":
        return gr.Textbox(slot.value, **common)
    if kind == "bool":
        return gr.Checkbox(bool(slot.value), **common)
    # Choices change with the method and the project's runs; the core checks the value.
    return gr.Dropdown(slot.choices, value=slot.value, allow_custom_value=True, **common)


def widget_updates(form: MethodForm) -> list:
    """Updates that make the slot widgets and the box show `form` (in `slot_order()`, box last)."""
    out = []
    for kind, i in slot_order():
        slot = form.slots[kind][i]
        shown = {"label": slot.name or HIDDEN_LABEL, "info": slot.info or None}
        shown |= {
            "visible": slot.visible,
            "value": bool(slot.value) if kind == "bool" else slot.value,
        }
        if kind == "choice":
            out.append(gr.Dropdown(choices=slot.choices, **shown))
        else:
            widget = {"number": gr.Number, "text": gr.Textbox, "bool": gr.Checkbox}[kind]
            out.append(widget(**shown))
    out.append(gr.Textbox(value=form.extra, visible=bool(form.extra)))
    return out


def with_slot_parameters(fn, fixed: list[str]):
    """`fn(*fixed, *slots, more_parameters)` with named parameters, the slots and the box optional
    (None = the method's default), so an API client sends only what it sets."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(name, positional) for name in fixed]
    params += [
        inspect.Parameter(f"{kind}_{i + 1}", positional, default=None) for kind, i in slot_order()
    ]
    params.append(inspect.Parameter("more_parameters", positional, default=None))
    fn.__signature__ = inspect.Signature(params)
    return fn


def choice_updates(form: MethodForm) -> list:
    """New choices for the dropdown slots (runs trained since), keeping what is chosen."""
    return [gr.Dropdown(choices=slot.choices) for slot in form.slots["choice"]]


def choice_slots(widgets: list) -> list:
    """The dropdown widgets among the slot widgets (in `slot_order()`)."""
    return [w for (kind, _), w in zip(slot_order(), widgets, strict=True) if kind == "choice"]
