"""`make module name=orders`: a working module modelled on items, registered.

Writes modules/<name>/ (router, models, schemas, errors, service, container, module, public),
its migration branch migrations/<name>/ with a first migration, and tests/<name>/; adds the
module to MODULES in main.py and its branch to alembic.ini. The templates are the `.tmpl`
files beside this one (`module/`, `tests/`, `migration.py.tmpl`). Run in the project's
root (manage.py does).
"""

import keyword
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from shared.data.provisioning import alembic_config

TEMPLATES = Path(__file__).resolve().parent
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED = {"kernel", "shared", "modules", "tests", "main", "public", "migrations"}
_MODULES_LINE = re.compile(r"^(MODULES: tuple\[Module, \.\.\.\] = \()(.*)(\))$", re.MULTILINE)


class GeneratorError(Exception):
    """The module cannot be generated as asked (the message says why)."""


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def placeholders(root: Path, name: str, entity: str | None = None) -> dict[str, str]:
    if not _NAME.fullmatch(name) or keyword.iskeyword(name) or name in _RESERVED:
        raise GeneratorError(f"{name!r}: use a lower-case plural noun such as 'orders'")
    if (root / "modules" / name).exists() or (root / "migrations" / name).exists():
        raise GeneratorError(f"modules/{name} or migrations/{name} exists already")
    entity = entity or (name[:-1] if name.endswith("s") and len(name) > 1 else name)
    if not _NAME.fullmatch(entity) or entity == name or keyword.iskeyword(entity):
        raise GeneratorError(f"entity {entity!r}: give the singular, e.g. entity=order")
    script = ScriptDirectory.from_config(alembic_config(URL.create("postgresql+asyncpg")))
    users_head = script.get_revision("users@head")
    if users_head is None:
        raise GeneratorError("the users branch has no revision to depend on")
    return {
        "module": name,
        "Module": _camel(name),
        "MODULE": name.upper(),
        "entity": entity,
        "Entity": _camel(entity),
        "ENTITY": entity.upper(),
        "a": "an" if entity[0] in "aeiou" else "a",
        "revision": uuid.uuid4().hex[:12],
        "created": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
        "users_head": users_head.revision,
    }


def _render(template: Path, values: dict[str, str], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(Template(template.read_text()).substitute(values))
    return target


def _register(root: Path, name: str) -> list[Path]:
    main = root / "main.py"
    text = main.read_text()
    found = _MODULES_LINE.search(text)
    if found is None:
        raise GeneratorError("main.py: no `MODULES: tuple[Module, ...] = (...)` line to extend")
    text = _MODULES_LINE.sub(rf"\g<1>\g<2>, {name}\g<3>", text, count=1)
    anchor = "from shared."  # the module imports come before the kernel's
    text = text.replace(anchor, f"from modules.{name}.module import module as {name}\n{anchor}", 1)
    main.write_text(text)

    ini = root / "alembic.ini"
    lines = ini.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if "%(here)s/migrations/" in line)
    lines.insert(last + 1, f"    %(here)s/migrations/{name}\n")
    ini.write_text("".join(lines))
    return [main, ini]


def generate(root: Path, name: str, entity: str | None = None) -> list[Path]:
    """Writes and registers the module; returns every file written or changed."""
    values = placeholders(root, name, entity)
    written = [
        _render(template, values, root / "modules" / name / template.name.removesuffix(".tmpl"))
        for template in sorted((TEMPLATES / "module").glob("*.tmpl"))
    ]
    written += [
        _render(template, values, root / "tests" / name / template.name.removesuffix(".tmpl"))
        for template in sorted((TEMPLATES / "tests").glob("*.tmpl"))
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    migration = root / "migrations" / name / f"{stamp}_{values['revision']}_{name}_table.py"
    written.append(_render(TEMPLATES / "migration.py.tmpl", values, migration))
    return written + _register(root, name)
