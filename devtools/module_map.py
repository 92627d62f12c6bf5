"""`make docs`: docs/modules.md, the map of the modules, written from the code.

A development tool outside the kernel: it imports each module's public surface by name,
which the kernel (`shared/`) must never do.

For each module: its routes, tables (from its models), the events it publishes (Event
classes in its public surface; those it handles itself are its inbox, published by others)
and consumes (its handlers), the jobs it handles, the settings it reads (`settings.<name>`
or `settings().<name>` in its source) and its public names; then a Mermaid graph of the
dependencies between modules (imports of another module's public surface, and events).
"""

import ast
import importlib
import re
from collections.abc import Iterable
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from shared.jobs.messages import Event, Job, Message
from shared.module import Module, tables_by_module
from shared.settings import Settings

HEADER = """# Modules

Written by `make docs` from the code (`devtools/module_map.py`); CI fails when it is stale.
Do not edit by hand.
"""


def kernel_parts(root: Path) -> str:
    """The kernel's parts: each package of `shared/`, what it is for (its docstring) and its
    files, so the map shows where a new piece of the kernel goes."""
    lines = ["## The kernel (`shared/`)\n", "Every module builds on it; it imports no module.\n"]
    shared = root / "shared"
    for package in sorted(p for p in shared.iterdir() if (p / "__init__.py").is_file()):
        names = sorted(f.stem for f in package.glob("*.py") if f.name != "__init__.py")
        purpose = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        lines.append(f"**`{package.name}/`** {' '.join(purpose.split())}\n")
        lines.append(_line("Files", names))
    top = sorted(f.stem for f in shared.glob("*.py") if f.name != "__init__.py")
    lines.append(_line("At the top", top))
    return "\n".join(lines)


_SETTING = re.compile(r"\bsettings(?:\(\))?\.([a-z_][a-z0-9_]*)")


def _package_files(module: Module, root: Path) -> list[Path]:
    return sorted((root / "modules" / module.name).rglob("*.py"))


def imported_modules(module: Module, root: Path, names: set[str]) -> set[str]:
    """The other modules this one imports from (through their public.py, import-linter sees
    to that)."""
    found: set[str] = set()
    for path in _package_files(module, root):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for target in targets:
                parts = target.split(".")
                if len(parts) > 1 and parts[0] == "modules" and parts[1] in names:
                    found.add(parts[1])
    return found - {module.name}


def _settings_read(module: Module, root: Path) -> list[str]:
    fields = set(Settings.model_fields)
    used = {
        name
        for path in _package_files(module, root)
        for name in _SETTING.findall(path.read_text())
        if name in fields
    }
    return sorted(name.upper() for name in used)


def _public_surface(module: Module) -> dict[str, object]:
    """What `modules/<name>/public.py` exports (`__all__`), or nothing without one."""
    try:
        public = importlib.import_module(f"modules.{module.name}.public")
    except ModuleNotFoundError:
        return {}
    return {name: getattr(public, name) for name in getattr(public, "__all__", ())}


def _declared_events(module: Module) -> list[type[Event]]:
    """The events in the module's public surface: those it announces, and those it asks
    other modules to publish to it (it handles them itself: the audit trail's)."""
    events = {
        value
        for value in _public_surface(module).values()
        if isinstance(value, type) and issubclass(value, Event) and value.name
    }
    return sorted(events, key=lambda event: event.name)


def _routes(module: Module) -> list[tuple[str, str, str]]:
    """(method, path, summary) of the module's routes, where the app mounts them."""
    rows = [
        (method, module.prefix + (context.path_format or ""), route.summary or route.name)
        for context in iter_route_contexts(module.router.routes)  # included routers too
        if isinstance(route := context.original_route, APIRoute)
        for method in (route.methods or set()) - {"HEAD"}
    ]
    return sorted(rows, key=lambda row: (row[1], row[0]))


def _line(label: str, names: Iterable[str], empty: str = "none") -> str:
    """`**Label**: `a`, `b`` (each name in code), or `empty`."""
    items = ", ".join(f"`{name}`" for name in names)
    return f"**{label}**: {items or empty}\n"


def render(modules: Iterable[Module], root: Path) -> str:
    modules = list(modules)
    names = {module.name for module in modules}
    tables = tables_by_module(modules)
    declared = {module.name: _declared_events(module) for module in modules}
    published = {
        module.name: [e for e in declared[module.name] if e not in module.handlers]
        for module in modules
    }
    publisher: dict[type[Message], str] = {
        event: name for name, events in published.items() for event in events
    }
    out = [HEADER, kernel_parts(root)]
    edges: set[tuple[str, str, str]] = set()
    for module in modules:
        out.append(f"## {module.name}\n")
        routes = _routes(module)
        out.append("**Routes**" + ("" if routes else ": none") + "\n")
        if routes:
            out.append("| method | path | summary |\n|---|---|---|")
            out += [f"| {method} | `{path}` | {summary} |" for method, path, summary in routes]
            out.append("")
        out.append(_line("Tables", sorted(tables.get(module.name, ()))))
        out.append(_line("Loaded with (depends on)", module.depends_on, "the kernel only"))
        if module.permissions:
            out.append("**Permissions**\n")
            out.append("| permission | members hold it | description |\n|---|---|---|")
            out += [
                f"| `{p.name}` | {'yes' if p.members else 'no'} | {p.description} |"
                for p in sorted(module.permissions, key=lambda p: p.name)
            ]
            out.append("")
        out.append(_line("Publishes", [e.name for e in published[module.name]], "nothing"))
        inbox = [e.name for e in declared[module.name] if e in module.handlers]
        if inbox:
            out.append(_line("Accepts from other modules", inbox))
        consumed = sorted(
            f"`{message.name}` (`{getattr(handler, '__name__', 'handler')}`)"
            for message, handler in module.handlers.items()
            if issubclass(message, Event)
        )
        out.append(f"**Consumes**: {', '.join(consumed) or 'nothing'}\n")
        if module.personal_data is not None:
            export, erase = module.personal_data.export, module.personal_data.erase
            out.append(
                f"**Personal data**: its section of a person's export (`{export.__name__}`),"
                f" erased on `users.deleted` (`{erase.__name__}`)\n"
            )
        jobs = sorted(message.name for message in module.handlers if issubclass(message, Job))
        if jobs:
            out.append(_line("Handles jobs", jobs))
        if module.schedules:
            when = (f"`{schedule.name}` at `{schedule.cron}`" for schedule in module.schedules)
            out.append(f"**Schedules** (cron, UTC): {', '.join(when)}\n")
        out.append(_line("Settings read", _settings_read(module, root)))
        out.append(_line("Public names", sorted(_public_surface(module))))
        for other in sorted(imported_modules(module, root, names) | set(module.depends_on)):
            edges.add((module.name, other, "imports"))
        if module.personal_data is not None and module.name != "users":
            edges.add(("users", module.name, "users.deleted"))
        for message in module.handlers:
            source = publisher.get(message)
            if source is not None and source != module.name:
                edges.add((source, module.name, message.name))
    out.append("## Dependencies\n")
    out.append(
        "A solid arrow: the module depends on the other (imports its public surface, or is"
        " loaded with it). A dotted one: an event the first publishes and the second handles"
        " (every module holding personal data erases it on `users.deleted`).\n"
    )
    out.append("```mermaid\ngraph LR")
    out += [f"    {module.name}" for module in modules]
    for source, target, kind in sorted(edges):
        arrow = "-->" if kind == "imports" else f"-.->|{kind}|"
        out.append(f"    {source} {arrow} {target}")
    out.append("```\n")
    return "\n".join(out)
