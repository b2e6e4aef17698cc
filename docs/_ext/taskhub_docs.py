"""Directives that read taskhub's code, so the reference cannot drift from it.

Each writes reStructuredText from the code at build time (nothing is written to disk):

- ``taskhub-settings``: every ``TASKHUB_*`` setting of ``taskhub/conf.py``'s ``DEFAULTS``,
  its default and the comment above it. A setting without a comment is a warning.
- ``taskhub-check <id>``: one system check id, with every message and hint the code
  gives under it (read from the ``checks.Error(...)`` calls themselves), then the page's
  own text. An id the code has and no page documents, or the reverse, is a warning.
- ``taskhub-endpoint <url name>``: one of ``taskhub.urls``' URLs, its route, methods and
  view; the methods a page states are compared with those the view accepts. A URL no
  page documents, or the reverse, is a warning.
- ``taskhub-commands``, ``taskhub-models``, ``taskhub-tasks``, ``taskhub-schedule``,
  ``taskhub-receivers``, ``taskhub-django-tasks <module>``: the management commands,
  models, tasks, periodic jobs, the signals ``apps.py`` connects, and a module's Django
  tasks.

Every ``TASKHUB_<NAME>`` and ``taskhub.<id>`` written in a page or a docstring must name
a setting or a check that exists; anything else is a warning. ``make docs`` turns
warnings into errors.

Docstrings are read as taskhub writes them: a code example is an indented block after
its paragraph (``code_blocks`` makes it one for rST).
"""

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

logger = logging.getLogger(__name__)

SETTING = re.compile(r"\bTASKHUB_([A-Z][A-Z0-9_]*)")
CHECK_ID = re.compile(r"\btaskhub\.([EWICD]\d{3})\b")
CHECK_LEVELS = {"Debug", "Info", "Warning", "Error", "Critical"}


def taskhub_root() -> Path:
    import taskhub

    return Path(taskhub.__file__).resolve().parent


def module_name(path: Path) -> str:
    relative = path.relative_to(taskhub_root().parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def python_files() -> Iterator[Path]:
    for path in sorted(taskhub_root().rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


# Settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    value: Any
    description: str


def settings_from_conf() -> list[Setting]:
    """``DEFAULTS`` of ``taskhub/conf.py``, in its order: each key, the source of its
    value, the value itself, and the comment lines right above the key."""
    from taskhub import conf

    source = Path(conf.__file__).read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    found = [
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and any(
            isinstance(target, ast.Name) and target.id == "DEFAULTS"
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    if len(found) != 1 or not isinstance(found[0], ast.Dict):
        raise RuntimeError("taskhub/conf.py: no DEFAULTS = {...} dict literal to read")
    entries = []
    for key, value in zip(found[0].keys, found[0].values, strict=True):
        if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
            raise RuntimeError(f"taskhub/conf.py:{value.lineno}: a DEFAULTS key that is not a str")
        comment: list[str] = []
        line = key.lineno - 2
        while line >= 0 and lines[line].strip().startswith("#"):
            comment.insert(0, lines[line].strip().removeprefix("#").strip())
            line -= 1
        entries.append(
            Setting(
                name=key.value,
                default=source_of(source, value),
                value=conf.DEFAULTS[key.value],
                description=" ".join(comment),
            )
        )
    parsed = {entry.name for entry in entries}
    if parsed != set(conf.DEFAULTS):
        raise RuntimeError(
            f"taskhub/conf.py: DEFAULTS at run time ({sorted(conf.DEFAULTS)}) is not the "
            f"dict literal read ({sorted(parsed)})"
        )
    return entries


def source_of(source: str, node: ast.expr) -> str:
    """The source of ``node``, its lines after the first dedented as the line it starts on."""
    start = source.splitlines()[node.lineno - 1]
    indent = len(start) - len(start.lstrip())
    first, *rest = (ast.get_source_segment(source, node) or "").splitlines()
    return "\n".join([first, *(line[indent:] for line in rest)])


def literal(text: str) -> str:
    """``text`` as inline code, whatever it holds."""
    if "`" not in text:
        return f"``{text}``"
    escaped = text.replace("\\", "\\\\").replace("`", "\\`")
    return f":code:`{escaped}`"


class SettingsDirective(SphinxDirective):
    """Every ``TASKHUB_*`` setting, as ``confval`` entries ``:confval:`` can link to."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(taskhub_root() / "conf.py"))
        out = []
        for setting in settings_from_conf():
            if not setting.description:
                logger.warning(
                    "TASKHUB_%s has no comment above it in taskhub/conf.py's DEFAULTS: "
                    "say there what it is for, and the reference will too",
                    setting.name,
                    location=self.get_location(),
                )
            multiline = "\n" in setting.default
            default = "below" if multiline else literal(setting.default)
            try:
                ast.literal_eval(setting.default)
            except ValueError:  # an expression (``5 * 60``): its value too
                if not multiline:
                    default += f" ({literal(repr(setting.value))})"
            out += [
                f".. confval:: TASKHUB_{setting.name}",
                f"   :type: ``{type(setting.value).__name__}``",
                f"   :default: {default}",
                "",
                f"   {escape(setting.description)}",
                "",
            ]
            if multiline:
                out += ["   .. code-block:: python", ""]
                out += [f"      {line}" for line in setting.default.splitlines()] + [""]
        return self.parse_rst(out)

    def parse_rst(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        return container.children


def escape(text: str) -> str:
    """Comments and messages are prose with code in them: keep rST from reading ``*``,
    ``_`` and backquotes as markup."""
    return re.sub(r"([*`|_\\])", r"\\\1", text)


# System checks --------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckMessage:
    id: str
    level: str
    messages: tuple[str, ...]
    hints: tuple[str, ...]
    where: str


def resolve(expression: ast.expr, namespace: dict[str, Any]) -> Any:
    """The value of a constant or a module's attribute named in an f-string, or raise
    LookupError for anything else (a local variable, a call)."""
    if isinstance(expression, ast.Name) and expression.id in namespace:
        value = namespace[expression.id]
        if expression.id.isupper() or isinstance(value, ModuleType):
            return value
    if isinstance(expression, ast.Attribute):
        owner = resolve(expression.value, namespace)
        if isinstance(owner, ModuleType) and hasattr(owner, expression.attr):
            return getattr(owner, expression.attr)
    raise LookupError(ast.unparse(expression))


def render(node: ast.expr, namespace: dict[str, Any]) -> list[str]:
    """The texts a message expression can produce: constants filled in, other values
    left as ``{expression}``, both branches of ``a if test else b``."""
    if isinstance(node, ast.IfExp):
        return render(node.body, namespace) + render(node.orelse, namespace)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
                continue
            assert isinstance(value, ast.FormattedValue)
            conversion = "" if value.conversion == -1 else f"!{chr(value.conversion)}"
            try:
                found = resolve(value.value, namespace)
            except LookupError:
                parts.append(f"{{{ast.unparse(value.value)}{conversion}}}")
            else:
                parts.append(repr(found) if conversion == "!r" else str(found))
        return ["".join(parts)]
    return [f"{{{ast.unparse(node)}}}"]


@cache
def check_messages() -> list[CheckMessage]:
    """Every ``checks.<Level>(..., id="taskhub.X")`` call in taskhub's code."""
    found = []
    for path in python_files():
        tree = ast.parse(path.read_text())
        module = None
        owners = {
            id(method): f"{owner.name}."
            for owner in ast.walk(tree)
            if isinstance(owner, ast.ClassDef)
            for method in owner.body
        }
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for call in ast.walk(function):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in CHECK_LEVELS
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "checks"
                ):
                    continue
                keywords = {keyword.arg: keyword.value for keyword in call.keywords}
                check_id = keywords.get("id")
                if not (isinstance(check_id, ast.Constant) and isinstance(check_id.value, str)):
                    continue
                module = module or importlib.import_module(module_name(path))
                namespace = vars(module)
                message = call.args[0] if call.args else keywords.get("msg")
                hint = keywords.get("hint")
                found.append(
                    CheckMessage(
                        id=check_id.value,
                        level=call.func.attr,
                        messages=tuple(render(message, namespace)) if message else (),
                        hints=tuple(render(hint, namespace)) if hint else (),
                        where=f"{module.__name__}.{owners.get(id(function), '')}{function.name}",
                    )
                )
    return found


@cache
def code_check_ids() -> set[str]:
    return {message.id for message in check_messages()}


class CheckDirective(SphinxDirective):
    """One check id: what ``manage.py check`` prints for it, then the page's text."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        check_id = self.arguments[0]
        documented = documented_in(self.env, "checks")
        if check_id in documented:
            logger.warning(
                "%s is documented twice (also in %s)",
                check_id,
                documented[check_id],
                location=self.get_location(),
            )
        documented[check_id] = self.env.docname
        for path in python_files():
            self.env.note_dependency(str(path))
        variants = [message for message in check_messages() if message.id == check_id]
        if not variants:
            logger.warning(
                "%s: no check in taskhub's code has this id", check_id, location=self.get_location()
            )
            return []
        levels = sorted({variant.level for variant in variants})
        wheres = sorted({variant.where for variant in variants})
        lines = [
            f":Level: {', '.join(levels)}",
            f":Raised by: {', '.join(literal(where) for where in wheres)}",
            "",
            "What ``manage.py check`` says (``{...}`` is filled in from your configuration):",
            "",
            ".. code-block:: text",
            "",
        ]
        for variant in variants:
            for message in variant.messages:
                # As Django prints it, one message per hint the code may give with it.
                for hint in variant.hints or ("",):
                    text = f"?: ({check_id}) {message}"
                    lines += [
                        f"   {line}"
                        for line in textwrap.wrap(
                            text, 92, break_on_hyphens=False, break_long_words=False
                        )
                    ]
                    if hint:
                        lines += [
                            f"       {line}"
                            for line in textwrap.wrap(
                                f"HINT: {hint}", 88, break_on_hyphens=False, break_long_words=False
                            )
                        ]
                    lines.append("")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        self.state.nested_parse(self.content, self.content_offset, container)
        return container.children


# HTTP endpoints -------------------------------------------------------------------------


def url_patterns() -> dict[str, tuple[str, Any, bool]]:
    """Every URL name of ``taskhub.urls``: its route, its view, and whether
    ``taskhub.api_urls`` mounts it too."""
    from taskhub import api_urls, urls

    api_names = {pattern.name for pattern in api_urls.urlpatterns}
    return {
        pattern.name: (f"/{pattern.pattern}", pattern.callback, pattern.name in api_names)
        for pattern in urls.urlpatterns
    }


def view_restrictions(view: Any) -> tuple[tuple[str, ...] | None, dict[str, list[str]]]:
    """The methods a view accepts (None: any) and its content types by method, read from
    the closures of ``taskhub.api.api_view`` and Django's ``require_http_methods``, in the
    view and in every function it wraps (``__wrapped__``, or held in a closure)."""
    methods: tuple[str, ...] | None = None
    content_types: dict[str, list[str]] = {}
    seen: set[int] = set()
    layers = [view]
    while layers:
        layer = layers.pop(0)
        if id(layer) in seen or not inspect.isfunction(layer):
            continue
        seen.add(id(layer))
        cells = {
            name: cell.cell_contents
            for name, cell in zip(layer.__code__.co_freevars, layer.__closure__ or (), strict=True)
        }
        for name in ("methods", "request_method_list"):
            if methods is None and name in cells:
                methods = tuple(cells[name])
        if not content_types and isinstance(cells.get("accepted"), dict):
            content_types = {k: list(v) for k, v in cells["accepted"].items()}
        layers += [getattr(layer, "__wrapped__", None), *cells.values()]
    return methods, content_types


class EndpointDirective(SphinxDirective):
    """One URL name: its route, methods (checked against the view) and view."""

    required_arguments = 1
    option_spec = {"methods": lambda text: tuple(text.split())}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        documented = documented_in(self.env, "urls")
        if name in documented:
            logger.warning(
                "URL %s is documented twice (also in %s)",
                name,
                documented[name],
                location=self.get_location(),
            )
        documented[name] = self.env.docname
        patterns = url_patterns()
        if name not in patterns:
            logger.warning("taskhub.urls has no URL named %r", name, location=self.get_location())
            return []
        route, view, in_api_urls = patterns[name]
        methods, content_types = view_restrictions(view)
        stated = self.options.get("methods")
        if methods is not None and stated is not None and set(stated) != set(methods):
            logger.warning(
                "%s: the page says %s, the view accepts %s",
                name,
                " ".join(stated),
                " ".join(methods),
                location=self.get_location(),
            )
        shown = stated or methods or ("any",)
        mounted = "``taskhub.urls`` and ``taskhub.api_urls``" if in_api_urls else "``taskhub.urls``"
        lines = [
            f":URL: {literal(route)} (name ``taskhub:{name}``)",
            f":Methods: {', '.join(f'``{method}``' for method in shown)}",
        ]
        for method, types in content_types.items():
            lines.append(f":{method} body: {', '.join(literal(t) for t in types)}")
        lines += [
            f":View: {literal(f'{view.__module__}.{view.__qualname__}')}",
            f":Mounted by: {mounted}",
            "",
        ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        return container.children


# Management commands, models, tasks, signals -----------------------------------------------


class GeneratedDirective(SphinxDirective):
    """A directive whose rST is generated from the code."""

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        for path in python_files():
            self.env.note_dependency(str(path))
        content = StringList(self.lines(), source=self.get_source_info()[0])
        return nested_parse_to_nodes(self.state, content, allow_section_headings=True)


def table(header: list[str], rows: list[list[str]], widths: str = "auto") -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0] or '..'}")
        lines += [f"     - {cell or '..'}" for cell in row[1:]]
    return [*lines, ""]


def docstring_lines(obj: Any, indent: str = "") -> list[str]:
    doc = inspect.getdoc(obj) or ""
    return [f"{indent}{line}" if line else "" for line in doc.splitlines()] + [""]


class CommandsDirective(GeneratedDirective):
    """Every management command of taskhub: usage, options, and its module's docstring."""

    def lines(self) -> list[str]:
        from django.core.management import find_commands, load_command_class
        from django.core.management.base import BaseCommand

        import taskhub.management

        base = {action.dest for action in BaseCommand().create_parser("manage.py", "x")._actions}
        out = []
        for name in sorted(find_commands(str(Path(taskhub.management.__file__).parent))):
            command = load_command_class("taskhub", name)
            parser = command.create_parser("manage.py", name)
            own = [action for action in parser._actions if action.dest not in base]
            usage = " ".join(
                f"[{action.option_strings[-1]}"
                + ("" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}")
                + "]"
                for action in own
            )
            module = inspect.getmodule(type(command))
            out += [name, "-" * len(name), "", ".. code-block:: text", ""]
            out += [f"   python manage.py {name} {usage}".rstrip(), ""]
            out += [escape(str(command.help)), ""]
            out += docstring_lines(module)
            rows = [
                [
                    ", ".join(literal(option) for option in action.option_strings),
                    escape(action.help or ""),
                    "" if action.default in (None, False) else literal(repr(action.default)),
                ]
                for action in own
            ]
            out += table(["option", "what it does", "default"], rows)
            out += [
                "Django's own options (``--settings``, ``--verbosity``...) apply as to any "
                "command.",
                "",
            ]
        return out


def field_notes(field: Any) -> str:
    from django.db.models import NOT_PROVIDED

    notes = []
    if field.primary_key:
        notes.append("primary key")
    if field.unique and not field.primary_key:
        notes.append("unique")
    if field.null:
        notes.append("null")
    if getattr(field, "db_index", False) and not field.unique:
        notes.append("indexed")
    if getattr(field, "auto_now_add", False):
        notes.append("set on creation")
    if field.default is not NOT_PROVIDED:
        default = field.default
        if isinstance(default, Enum):  # a choice: its value, as stored
            default = default.value
        shown = getattr(default, "__name__", None) if callable(default) else repr(default)
        notes.append(f"default {literal(str(shown))}")
    if field.choices:
        notes.append("one of " + ", ".join(literal(str(value)) for value, _ in field.choices))
    if field.help_text:
        notes.append(escape(str(field.help_text)))
    return "; ".join(notes)


def field_type(field: Any) -> str:
    if field.is_relation and getattr(field, "swappable_setting", None):
        return f"{type(field).__name__} to ``settings.{field.swappable_setting}``"
    if field.is_relation and field.related_model is not None:
        return f"{type(field).__name__} to {literal(field.related_model._meta.label)}"
    return type(field).__name__


class ModelsDirective(GeneratedDirective):
    """Every model of the taskhub app: its docstring and its fields."""

    def lines(self) -> list[str]:
        from django.apps import apps

        out = []
        for model in apps.get_app_config("taskhub").get_models():
            out += [f".. py:class:: {model.__module__}.{model.__qualname__}", ""]
            doc = inspect.getdoc(model) or ""
            if not doc.startswith(f"{model.__name__}("):  # Django's generated docstring
                out += docstring_lines(model, "   ")
            rows = [
                [literal(field.name), field_type(field), field_notes(field)]
                for field in model._meta.get_fields()
                if field.concrete
            ]
            out += [f"   Table ``{model._meta.db_table}``:", ""]
            out += [
                f"   {line}" if line else "" for line in table(["field", "type", "notes"], rows)
            ]
        return out


def schedule_text(schedule: Any) -> str:
    if isinstance(schedule, timedelta):
        return f"every {schedule.total_seconds():g} s"
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    if all(hasattr(schedule, f"_orig_{field}") for field in fields):
        cron = " ".join(str(getattr(schedule, f"_orig_{field}")) for field in fields)
        return f"crontab {literal(cron)} (minute hour day month weekday)"
    return literal(str(schedule))


class TasksDirective(GeneratedDirective):
    """Every taskhub task: its queue, base class, default time limits and result."""

    def lines(self) -> list[str]:
        from celery import current_app

        from taskhub import conf, task_names
        from taskhub.worker import queues

        rows = []
        for name in sorted(current_app.tasks):
            if not name.startswith(task_names.PREFIX):
                continue
            task = current_app.tasks[name]
            base = type(task).__mro__[1]
            soft, hard = conf.DEFAULTS["TIME_LIMITS"][task.family]
            rows.append(
                [
                    literal(name),
                    f":py:obj:`taskhub.tasks.{task.__wrapped__.__name__}`",
                    literal(queues.ROUTES.get(name, "(the default queue)")),
                    f":py:obj:`{base.__name__} <{base.__module__}.{base.__qualname__}>`",
                    f"{literal(task.family)}: {soft} s / {hard} s",
                    "ignored" if task.ignore_result else "stored",
                ]
            )
        return table(
            ["name", "import", "queue", "base", "time limits (soft / hard)", "result"], rows
        )


class ScheduleDirective(GeneratedDirective):
    """The periodic jobs of ``taskhub.worker.schedule.BEAT_SCHEDULE``."""

    def lines(self) -> list[str]:
        from taskhub.worker import schedule

        rows = [
            [literal(job), literal(entry["task"]), schedule_text(entry["schedule"])]
            for job, entry in schedule.BEAT_SCHEDULE.items()
        ]
        return table(["job", "task", "when"], rows)


class ReceiversDirective(GeneratedDirective):
    """The signals ``TaskhubConfig.ready`` connects, and to what."""

    def lines(self) -> list[str]:
        import taskhub.apps

        source = Path(taskhub.apps.__file__).read_text()
        tree = ast.parse(source)
        ready = next(
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == "ready"
        )
        namespace: dict[str, Any] = dict(vars(taskhub.apps))
        origins = {name: f"taskhub.apps.{name}" for name in namespace}
        for node in ast.walk(ready):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    value = getattr(module, alias.name, None)
                    if value is None:
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    namespace[alias.asname or alias.name] = value
                    origins[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        conditions = {
            id(call): ast.unparse(branch.test)
            for branch in ast.walk(ready)
            if isinstance(branch, ast.If)
            for call in ast.walk(branch)
        }
        rows = []
        for call in ast.walk(ready):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "connect"
            ):
                continue
            signal, receiver = call.func.value, call.args[0]
            function = evaluate(receiver, namespace)
            where = f"{function.__module__}.{function.__qualname__}"
            summary = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
            when = conditions.get(id(call))
            name = ast.unparse(signal)
            head, _, rest = name.partition(".")
            rows.append(
                [
                    literal(".".join(filter(None, [origins.get(head, head), rest]))),
                    literal(where),
                    (f"only if {literal(when)}: " if when else "") + escape(summary),
                ]
            )
        return table(["signal", "receiver", "what it does"], rows)


class DjangoTasksDirective(GeneratedDirective):
    """The Django tasks a module defines: signature, queue, and the function's docstring."""

    required_arguments = 1

    def lines(self) -> list[str]:
        from taskhub.tasks_api.compat import Task

        module = importlib.import_module(self.arguments[0])
        out = []
        for name, task in vars(module).items():
            if not isinstance(task, Task) or task.func.__module__ != module.__name__:
                continue
            signature = inspect.signature(task.func)
            out += [f".. py:function:: {module.__name__}.{name}{signature}", ""]
            out += [
                f"   A Django task on the queue ``{task.queue_name}``: "
                f"``{name}.enqueue(...)`` with these arguments.",
                "",
            ]
            out += docstring_lines(task.func, "   ")
        return out


def evaluate(expression: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(expression, ast.Name):
        return namespace[expression.id]
    if isinstance(expression, ast.Attribute):
        return getattr(evaluate(expression.value, namespace), expression.attr)
    raise LookupError(ast.unparse(expression))


# Names written in prose -------------------------------------------------------------------


def unknown_names(text: str) -> list[str]:
    """The ``TASKHUB_*`` settings and ``taskhub.<id>`` checks ``text`` names that do not
    exist."""
    from taskhub import conf

    known_ids = {check_id.removeprefix("taskhub.") for check_id in code_check_ids()}
    unknown = [f"TASKHUB_{name}" for name in SETTING.findall(text) if name not in conf.DEFAULTS]
    unknown += [f"taskhub.{found}" for found in CHECK_ID.findall(text) if found not in known_ids]
    return sorted(set(unknown))


def check_source(app: Sphinx, docname: str, source: list[str]) -> None:
    for name in unknown_names(source[0]):
        logger.warning("%s: no such setting or check in taskhub's code", name, location=docname)


HEADING = re.compile(r"^(#{1,6})(\s)")
FENCE = re.compile(r"^(```|~~~)")


def consecutive_headings(text: str) -> str:
    """``text`` (Markdown) with no heading level skipped (``##`` then ``####`` becomes
    ``##`` then ``###``), code blocks untouched."""
    lines, level, fenced = [], 0, False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        found = None if fenced else HEADING.match(line)
        if found:
            level = min(len(found.group(1)), level + 1)
            line = "#" * level + line[len(found.group(1)) :]
        lines.append(line)
    return "".join(lines)


def check_include(app: Sphinx, path: Path, docname: str, content: list[str]) -> None:
    """An included Markdown file (``benchmarks/README.md``, whose headings are not the
    site's to change) is held to the same names, and read with no heading level skipped."""
    check_source(app, docname, content)
    if Path(path).suffix == ".md":
        content[0] = consecutive_headings(content[0])


def check_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    for unknown in unknown_names("\n".join(lines)):
        logger.warning("%s: the docstring of %s names it; no such setting or check", unknown, name)


LIST_ITEM = re.compile(r"^([-*+]|\d+\.|#\.|:\w[^:]*:)\s")


def code_blocks(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """taskhub's docstrings show code as an indented block after a paragraph, as one
    reads it in the source; rST needs ``::`` for that, or reads a quote (or a definition
    list). Add it, unless the paragraph is a list item's or ends with ``::`` already."""
    for index in range(2, len(lines)):
        before = lines[index - 2]
        if (
            lines[index - 1] == ""
            and lines[index].startswith(" ")
            and before.strip()
            and not before.startswith(" ")
            and not before.endswith("::")
            and not LIST_ITEM.match(before)
        ):
            lines[index - 2] = before + (":" if before.endswith(":") else " ::")


# Completeness ---------------------------------------------------------------------------


def documented_in(env: Any, kind: str) -> dict[str, str]:
    """What the pages document, by kind ("checks", "urls"): each key and its page."""
    if not hasattr(env, "taskhub_documented"):
        env.taskhub_documented = {}
    return env.taskhub_documented.setdefault(kind, {})


def purge(app: Sphinx, env: Any, docname: str) -> None:
    for documented in getattr(env, "taskhub_documented", {}).values():
        for key in [key for key, where in documented.items() if where == docname]:
            del documented[key]


def merge(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    for kind, documented in getattr(other, "taskhub_documented", {}).items():
        documented_in(env, kind).update(documented)


def check_completeness(app: Sphinx, env: Any) -> None:
    """Every check id and URL in the code is documented, and nothing else is."""
    for kind, in_code, directive in (
        ("checks", code_check_ids(), "taskhub-check"),
        ("urls", set(url_patterns()), "taskhub-endpoint"),
    ):
        pages = documented_in(env, kind)
        for missing in sorted(in_code - set(pages)):
            logger.warning(
                "%s is in taskhub's code and on no page: document it with a %s directive",
                missing,
                directive,
            )
        for stale in sorted(set(pages) - in_code):
            logger.warning(
                "%s is documented (in %s) and not in taskhub's code",
                stale,
                pages[stale],
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("taskhub-settings", SettingsDirective)
    app.add_directive("taskhub-check", CheckDirective)
    app.add_directive("taskhub-endpoint", EndpointDirective)
    app.add_directive("taskhub-commands", CommandsDirective)
    app.add_directive("taskhub-models", ModelsDirective)
    app.add_directive("taskhub-tasks", TasksDirective)
    app.add_directive("taskhub-schedule", ScheduleDirective)
    app.add_directive("taskhub-receivers", ReceiversDirective)
    app.add_directive("taskhub-django-tasks", DjangoTasksDirective)
    app.connect("source-read", check_source)
    app.connect("include-read", check_include)
    app.connect("autodoc-process-docstring", code_blocks)
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-check-consistency", check_completeness)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
