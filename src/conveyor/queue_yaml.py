"""Queue settings from a file in App Engine's `queue.yaml` format, plus Conveyor's own keys.

    queue:
    - name: emails
      rate: 50/s                 # rate: tokens per second of the queue's token bucket
      bucket_size: 10            # burst
      max_concurrent_requests: 10
      retry_parameters:
        task_retry_limit: 4      # retries: max_attempts = task_retry_limit + 1
        task_age_limit: 2h
        min_backoff_seconds: 10
        max_backoff_seconds: 300
        max_doublings: 3
      max_per_key: 2             # Conveyor's own keys sit beside App Engine's
      priority: high
    - name: hooks
      target: https://svc.example.com/tasks/{type}   # a URL: push delivery
      secret: s3cret             # signs the requests (Conveyor-Signature)
      secret_fields: [api_key]   # payload keys shown as "***" to readers and in logs

The file is read with PyYAML's node API so that every problem names its file, line and
key (`queue.yaml:7: rate: '5/x' must look like 5/s, 30/m, 100/h or 1/d`). All problems
are collected and raised together as one `QueueFileError`; callers apply nothing unless
the whole file is valid. App Engine keys with no meaning here (`mode`, `target`, `acl`,
and `total_storage_limit`, `application`, `resume_paused_queues` at the top level) are
checked for shape and then ignored.

Choices, documented in the README too:

- `task_retry_limit` counts retries, Conveyor's `max_attempts` counts attempts, so
  `max_attempts = task_retry_limit + 1` (a limit of 0 runs a task once).
- `rate: 0` (App Engine's way to stop a push queue) pauses the queue.
- `target` is App Engine's service name, ignored; a URL there (or a mapping with `url`,
  `method`, `headers`, `deadline`) is Conveyor's push target instead, as Cloud Tasks'
  HTTP targets are.
- A file changes only the settings it names; `key: null` (or `~`) clears one back to its
  default. Queues the file does not name are left alone.

A top-level `cron:` list (the entries of App Engine's cron.yaml, naming a task instead of
a URL) defines schedules kept in the store:

    cron:
    - name: nightly-report       # optional: the task's name
      task: report
      schedule: "0 3 * * *"      # five cron fields, or "every 30 seconds" / "every 5 minutes"
      timezone: Europe/Berlin    # default UTC
      queue: reports             # default: default
      kwargs: {format: pdf}      # or args: [...]
      misfire: once              # or skip
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from conveyor.core.cron import Misfire, ScheduleSpec
from conveyor.core.limits import parse_duration, parse_rate
from conveyor.core.queue import MAX_SECRET_FIELDS, QueueSettings, coerce
from conveyor.core.target import Target
from conveyor.core.task import Priority
from conveyor.errors import ConfigurationError
from conveyor.schedules import schedule_of

LARGEST_WHOLE = 2_147_483_647
"""The largest count a setting may hold: every store keeps these in a 32-bit integer."""
RATE_PROBLEM = "must look like 5/s, 30/m, 100/h or 1/d"
DURATION_PROBLEM = "must look like 30s, 5m, 2h or 3d, or be a number of seconds"

ENTRY_KEYS = {
    "rate": "rate",
    "bucket_size": "burst",
    "max_concurrent_requests": "max_concurrent",
}
"""App Engine's keys of a queue entry and the Conveyor setting each one sets."""

RETRY_KEYS = {
    "task_retry_limit": "max_attempts",
    "task_age_limit": "age_limit",
    "min_backoff_seconds": "min_backoff",
    "max_backoff_seconds": "max_backoff",
    "max_doublings": "max_doublings",
}
"""App Engine's keys under `retry_parameters` and the Conveyor setting each one sets."""

CONVEYOR_KEYS = (
    "max_per_key",
    "lease_seconds",
    "paused",
    "priority",
    "age_limit",
    "completed_retention",
    "failed_retention",
    "secret",
    "previous_secret",
    "secret_fields",
)
"""Conveyor's own keys of a queue entry, named as the settings they set."""

SETTING_KEYS = frozenset([*ENTRY_KEYS, *CONVEYOR_KEYS])
CRON_KEYS = ("name", "task", "schedule", "timezone", "queue", "args", "kwargs", "misfire")
IGNORED_CRON_KEYS = ("description", "url", "target", "retry_parameters")
_EVERY = re.compile(
    r"^every\s+([0-9]+(?:\.[0-9]+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)$"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

IGNORED_ENTRY_KEYS = ("mode", "target", "acl")
IGNORED_TOP_KEYS = ("total_storage_limit", "application", "resume_paused_queues")

SPELLED_AS = {
    "burst": "bucket_size",
    "max_concurrent": "max_concurrent_requests",
    "max_attempts": "retry_parameters.task_retry_limit (retries, not attempts)",
    "min_backoff": "retry_parameters.min_backoff_seconds",
    "max_backoff": "retry_parameters.max_backoff_seconds",
    "max_doublings": "retry_parameters.max_doublings",
    "task_retry_limit": "retry_parameters.task_retry_limit",
    "task_age_limit": "retry_parameters.task_age_limit",
    "min_backoff_seconds": "retry_parameters.min_backoff_seconds",
    "max_backoff_seconds": "retry_parameters.max_backoff_seconds",
}
"""Keys people will write that this format spells differently (or elsewhere)."""

_ZERO_RATE = re.compile(r"^\s*0+(?:\.0*)?\s*(?:/\s*[smhd])?\s*$")
_STORAGE_LIMIT = re.compile(r"^[0-9]+(?:\.[0-9]*)?[BKMGT]?$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file, where it is."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class QueueFileError(ConfigurationError):
    """A queue file that is not valid; `problems` lists every problem found."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{file}: {count} problem{'s' if count != 1 else ''}, nothing applied:\n{lines}"
        )


@dataclass(frozen=True, slots=True)
class QueueChange:
    """What the file says of one queue: settings to give `Conveyor.queue(name, **settings)`.

    Settings the entry does not name are absent (they keep their stored values); a
    setting present with None is cleared back to its default.
    """

    name: str
    settings: dict[str, Any]
    file: str = ""
    line: int | None = None
    ignored: tuple[str, ...] = ()
    """App Engine keys the entry gave that have no effect in Conveyor."""
    origins: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Setting name → (line, key as the file spells it), for reporting problems."""


@dataclass(frozen=True, slots=True)
class QueueDocument:
    """Everything a queue file defines: queue settings and stored schedules."""

    queues: list[QueueChange]
    schedules: list[ScheduleSpec]


def load_queue_file(path: str | os.PathLike[str]) -> list[QueueChange]:
    """Every queue the file defines, with its settings checked; raises `QueueFileError`
    naming every problem (file, line, key) when any is found."""
    return load_queue_document(path).queues


def load_queue_document(path: str | os.PathLike[str]) -> QueueDocument:
    """The queues and the `cron:` schedules of a file, all checked (`QueueFileError`)."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        problem = Problem(file, None, "", f"cannot read: {exc.strerror}")
        raise QueueFileError(file, [problem]) from None
    return parse_queue_document(data, file)


def parse_queue_yaml(data: str | bytes, file: str = "queue.yaml") -> list[QueueChange]:
    """`load_queue_file` for text already read; `file` is the name problems give."""
    return parse_queue_document(data, file).queues


def parse_queue_document(data: str | bytes, file: str = "queue.yaml") -> QueueDocument:
    """`load_queue_document` for text already read."""
    reader = _Reader(file, yaml.SafeLoader(data))
    try:
        changes = reader.read()
    finally:
        reader.loader.dispose()
    if reader.problems:
        raise QueueFileError(file, sorted(reader.problems, key=lambda p: p.line or 0))
    return QueueDocument(changes, reader.schedules)


def updated_settings(
    changes: Iterable[QueueChange], current: Callable[[str], QueueSettings]
) -> list[QueueSettings]:
    """Each queue's settings once its change is applied to `current(name)`, all checked
    before any is returned: a combination that is invalid only with a stored setting
    (say a stored max_backoff below the file's min_backoff) is a problem of the file too.
    """
    results: list[QueueSettings] = []
    problems: list[Problem] = []
    file = ""
    for change in changes:
        file = file or change.file
        try:
            results.append(current(change.name).updated(**coerce(change.settings)))
        except ConfigurationError as exc:
            line, key, message = _attribute(str(exc), change.name, change.line, change.origins)
            message = f"{message} (given its stored settings)"
            problems.append(Problem(change.file, line, key, message))
    if problems:
        raise QueueFileError(file, problems)
    return results


_Entry = TypeVar("_Entry")


class _Invalid(Exception):
    """A value the file gives that cannot be used; the message says why."""


class _Reader:
    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader
        self.problems: list[Problem] = []
        self.schedules: list[ScheduleSpec] = []

    def problem(self, node: Node | int | None, key: str, message: str) -> None:
        line = node if isinstance(node, int) or node is None else node.start_mark.line + 1
        self.problems.append(Problem(self.file, line, key, message))

    # -- the document ----------------------------------------------------------------

    def read(self) -> list[QueueChange]:
        try:
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = None if mark is None else mark.line + 1
            self.problem(line, "", f"not valid YAML: {exc.problem or exc.context}")
            return []
        except yaml.YAMLError as exc:
            self.problem(None, "", f"not valid YAML: {exc}")
            return []
        if root is None or _is_null(root):
            self.problem(None, "", "the file is empty; expected a top-level 'queue:' list")
            return []
        if not isinstance(root, MappingNode):
            self.problem(root, "", "expected a mapping with a top-level 'queue:' list")
            return []
        changes: list[QueueChange] = []
        for key, key_node, value in self.pairs(root, ""):
            if key == "queue":
                changes = self.queues(key_node, value)
            elif key == "cron":
                self.schedules = self.cron(key_node, value)
            elif key in IGNORED_TOP_KEYS:
                self.check_ignored(key, key_node, value)
            else:
                self.unknown(key_node, key, ["queue", "cron", *IGNORED_TOP_KEYS])
        return changes

    def queues(self, key_node: Node, node: Node) -> list[QueueChange]:
        shape = "must be a list of queue entries ('- name: ...')"
        return self.named_list(
            "queue", "queue", key_node, node, shape, self.entry, lambda c: c.name
        )

    def named_list(
        self,
        kind: str,
        noun: str,
        key_node: Node,
        node: Node,
        shape: str,
        read: Callable[[Node], _Entry | None],
        name_of: Callable[[_Entry], str],
    ) -> list[_Entry]:
        """The entries of a top-level list, each read by `read`; a name given twice is a
        problem on the second one's line."""
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(key_node, kind, shape)
            return []
        entries: list[_Entry] = []
        seen: dict[str, int] = {}
        for entry in node.value:
            value = read(entry)
            if value is None:
                continue
            name, line = name_of(value), entry.start_mark.line + 1
            if name in seen:
                self.problem(
                    line, "name", f"{noun} {name!r} is already defined on line {seen[name]}"
                )
                continue
            seen[name] = line
            entries.append(value)
        return entries

    # -- one queue entry ---------------------------------------------------------------

    def entry(self, node: Node) -> QueueChange | None:
        if not isinstance(node, MappingNode):
            self.problem(node, "queue", "each entry must be a mapping such as '- name: emails'")
            return None
        before = len(self.problems)
        name: str | None = None
        named = False
        settings: dict[str, Any] = {}
        origins: dict[str, tuple[int, str]] = {}
        ignored: list[str] = []
        for key, key_node, value in self.pairs(node, ""):
            if key == "name":
                named = True
                name = self.name(key_node, value)
            elif key in SETTING_KEYS:
                self.setting(settings, origins, key, ENTRY_KEYS.get(key, key), key_node, value)
            elif key == "retry_parameters":
                self.retry_parameters(settings, origins, key_node, value)
            elif key == "target" and _is_push_target(value):
                self.target(settings, origins, key_node, value)
            elif key in IGNORED_ENTRY_KEYS:
                self.check_ignored(key, key_node, value)
                ignored.append(key)
            else:
                known = ["name", *ENTRY_KEYS, "retry_parameters", *CONVEYOR_KEYS]
                self.unknown(key_node, key, [*known, *IGNORED_ENTRY_KEYS])
        line = node.start_mark.line + 1
        if name is None:
            self.unnamed(node, named)
            return None
        self.zero_rate(settings, origins)
        if len(self.problems) == before:
            self.combined(name, line, settings, origins)
        return QueueChange(name, settings, self.file, line, tuple(ignored), origins)

    def unnamed(self, node: Node, named: bool) -> None:
        """No usable name: a missing one is reported here, a bad one already was."""
        if not named:
            self.problem(node, "name", "every queue entry needs a name")

    def name(self, key_node: Node, value: Node) -> str | None:
        name = self.scalar("name", key_node, value)
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = str(value.value)  # `name: 2024` is the queue "2024", as written
        if not isinstance(name, str) or not name.strip():
            self.problem(key_node, "name", "must be a non-empty string")
            return None
        if len(name) > 200 or "\x00" in name:
            self.problem(key_node, "name", f"{name[:40]!r} must be 1 to 200 characters, no NUL")
            return None
        return name

    def retry_parameters(
        self,
        settings: dict[str, Any],
        origins: dict[str, tuple[int, str]],
        key_node: Node,
        node: Node,
    ) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            self.problem(key_node, "retry_parameters", "must be a mapping of retry settings")
            return
        for key, inner_key_node, value in self.pairs(node, "retry_parameters."):
            if key in RETRY_KEYS:
                spelled = f"retry_parameters.{key}"
                self.setting(settings, origins, spelled, RETRY_KEYS[key], inner_key_node, value)
            else:
                self.unknown(inner_key_node, f"retry_parameters.{key}", list(RETRY_KEYS))

    def target(
        self,
        settings: dict[str, Any],
        origins: dict[str, tuple[int, str]],
        key_node: Node,
        node: Node,
    ) -> None:
        """A push target: a URL, or a mapping of url, method, headers and deadline."""
        origins["target"] = (key_node.start_mark.line + 1, "target")
        try:
            value = self.loader.construct_object(node, deep=True)
            Target.parse(value)
        except yaml.YAMLError as exc:
            self.problem(key_node, "target", f"cannot be read: {exc}")
            return
        except ConfigurationError as exc:
            self.problem(key_node, "target", str(exc))
            return
        settings["target"] = value

    def setting(
        self,
        settings: dict[str, Any],
        origins: dict[str, tuple[int, str]],
        spelled: str,
        name: str,
        key_node: Node,
        node: Node,
    ) -> None:
        """Parse one value into `settings[name]`, or report why it cannot be used."""
        line = key_node.start_mark.line + 1
        if name in origins:
            first_line, first = origins[name]
            self.problem(
                key_node, spelled, f"sets {name}, already set by {first} on line {first_line}"
            )
            return
        origins[name] = (line, spelled)
        value = (
            self.key_list(spelled, key_node, node)
            if spelled == "secret_fields"
            else self.scalar(spelled, key_node, node)
        )
        if value is _MISSING:
            return
        bare = spelled.rpartition(".")[2]
        try:
            settings[name] = PARSERS[bare](value, _text(node))
        except _Invalid as exc:
            self.problem(key_node, spelled, str(exc))

    def zero_rate(self, settings: dict[str, Any], origins: dict[str, tuple[int, str]]) -> None:
        """App Engine stops a queue with `rate: 0`; here that pauses it."""
        if settings.get("rate") is not _ZERO:
            return
        settings["rate"] = None
        if settings.get("paused") is False:
            line, spelled = origins["paused"]
            self.problem(line, spelled, "false contradicts 'rate: 0', which pauses the queue")
            return
        settings["paused"] = True
        origins.setdefault("paused", origins["rate"])

    def combined(
        self,
        name: str,
        line: int,
        settings: dict[str, Any],
        origins: dict[str, tuple[int, str]],
    ) -> None:
        """Check the entry's settings together, as `Conveyor.queue` will."""
        try:
            QueueSettings(name).updated(**coerce(settings))
        except ConfigurationError as exc:
            self.problem(*_attribute(str(exc), name, line, origins))

    # -- cron entries ---------------------------------------------------------------------

    def cron(self, key_node: Node, node: Node) -> list[ScheduleSpec]:
        shape = "must be a list of schedules ('- task: ...')"
        return self.named_list(
            "cron", "schedule", key_node, node, shape, self.cron_entry, lambda s: s.name
        )

    def cron_entry(self, node: Node) -> ScheduleSpec | None:
        if not isinstance(node, MappingNode):
            self.problem(node, "cron", "each entry must be a mapping such as '- task: report'")
            return None
        values: dict[str, Any] = {}
        for key, key_node, value in self.pairs(node, "cron."):
            if key in ("args", "kwargs"):
                values[key] = self.json_value(key, key_node, value)
            elif key in CRON_KEYS:
                values[key] = self.scalar(key, key_node, value)
            elif key not in IGNORED_CRON_KEYS:
                self.unknown(key_node, key, [*CRON_KEYS, *IGNORED_CRON_KEYS])
        if any(v is _MISSING for v in values.values()):
            return None
        try:
            spec = _schedule_spec(values)
            schedule_of(spec)
        except (ConfigurationError, _Invalid) as exc:
            self.problem(node, "cron", str(exc))
            return None
        return spec

    def json_value(self, key: str, key_node: Node, node: Node) -> Any:
        wanted = SequenceNode if key == "args" else MappingNode
        if not isinstance(node, wanted):
            kind = "a list" if key == "args" else "a mapping"
            self.problem(key_node, key, f"must be {kind}")
            return _MISSING
        return self.loader.construct_object(node, deep=True)

    # -- shapes ------------------------------------------------------------------------

    def pairs(self, node: MappingNode, prefix: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, with `<<: *anchor` merges taken in
        (a key of the mapping's own wins over a merged one); non-string and repeated keys
        are reported and left out."""
        own = {id(key_node) for key_node, _ in node.value}
        flat = MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
        try:
            self.loader.flatten_mapping(flat)
        except yaml.YAMLError as exc:
            self.problem(node, prefix.rstrip("."), f"cannot merge: {exc}")
            return []
        found: dict[str, tuple[str, Node, Node]] = {}
        for key_node, value in flat.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self.problem(key_node, prefix.rstrip("."), f"key {_text(key_node)} is not a name")
                continue
            key = key_node.value
            if key in found and id(found[key][1]) in own:
                first = found[key][1].start_mark.line + 1
                self.problem(key_node, f"{prefix}{key}", f"given twice (first on line {first})")
                continue
            found[key] = (key, key_node, value)
        return list(found.values())

    def scalar(self, spelled: str, key_node: Node, node: Node) -> Any:
        """The value of a scalar node, or _MISSING after reporting why there is none."""
        if not isinstance(node, ScalarNode):
            kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
            self.problem(key_node, spelled, f"must be a single value, not {kind}")
            return _MISSING
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(key_node, spelled, f"cannot be read: {exc}")
            return _MISSING

    def key_list(self, spelled: str, key_node: Node, node: Node) -> Any:
        """A list of payload keys (`[password, card]`), None for null, or _MISSING after
        reporting why it is neither."""
        if _is_null(node):
            return None
        if not isinstance(node, SequenceNode):
            self.problem(key_node, spelled, "must be a list of payload keys such as [password]")
            return _MISSING
        return self.loader.construct_object(node, deep=True)

    def unknown(self, key_node: Node, key: str, known: Sequence[str]) -> None:
        bare = key.rpartition(".")[2]
        if bare in SPELLED_AS:
            hint = f"write {SPELLED_AS[bare]}"
        else:
            close = difflib.get_close_matches(bare, known, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
        self.problem(key_node, key, f"unknown key; {hint}")

    def check_ignored(self, key: str, key_node: Node, node: Node) -> None:
        """App Engine keys that mean nothing here: accepted if well formed, then ignored."""
        if key == "acl":
            if not (_is_null(node) or isinstance(node, SequenceNode)):
                self.problem(key_node, key, "must be a list of user_email/writer_email entries")
            return
        value = self.scalar(key, key_node, node)
        if value is _MISSING or value is None:
            return
        if key == "mode" and value not in ("push", "pull"):
            self.problem(key_node, key, f"{_text(node)} must be push or pull")
        elif key == "resume_paused_queues" and not isinstance(value, bool):
            self.problem(key_node, key, f"{_text(node)} must be true or false")
        elif key == "total_storage_limit" and not _STORAGE_LIMIT.match(str(value)):
            self.problem(key_node, key, f"{_text(node)} must look like 500M, 1.2G or 1024")
        elif key in ("target", "application") and not isinstance(value, str):
            self.problem(key_node, key, f"{_text(node)} must be a string")


# -- values ----------------------------------------------------------------------------


def _schedule_spec(values: dict[str, Any]) -> ScheduleSpec:
    """A schedule from a `cron:` entry's values; `_Invalid` says what is missing."""
    task, when = values.get("task"), values.get("schedule")
    if not isinstance(task, str) or not task:
        raise _Invalid("every schedule needs 'task', the name of the task to enqueue")
    if not isinstance(when, str) or not when.strip():
        raise _Invalid(f"schedule of {task!r} needs 'schedule': '0 3 * * *' or 'every 5 minutes'")
    every = _EVERY.match(when.strip().lower())
    misfire = values.get("misfire") or "once"
    if misfire not in ("once", "skip"):
        raise _Invalid(f"misfire {misfire!r} must be once or skip")
    return ScheduleSpec(
        name=str(values.get("name") or task),
        task=task,
        queue=str(values.get("queue") or "default"),
        cron=None if every else when.strip(),
        every=float(every.group(1)) * _UNIT_SECONDS[every.group(2)[0]] if every else None,
        timezone=str(values.get("timezone") or "UTC"),
        args=list(values.get("args") or []),
        kwargs=dict(values.get("kwargs") or {}),
        misfire=Misfire(misfire),
    )


_MISSING: Any = object()
_ZERO: Any = object()
"""`rate: 0`: the queue is paused."""


def _rate(value: Any, text: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"{text} {RATE_PROBLEM}")
    if _ZERO_RATE.match(str(value)):
        return _ZERO
    try:
        return parse_rate(value)
    except ConfigurationError:
        raise _Invalid(f"{text} {RATE_PROBLEM}") from None


def _whole(minimum: int, plus: int = 0) -> Callable[[Any, str], Any]:
    def parse(value: Any, text: str) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Invalid(f"{text} must be a whole number >= {minimum}")
        if value + plus > LARGEST_WHOLE:
            raise _Invalid(f"{text} must be at most {LARGEST_WHOLE - plus}")
        return value + plus

    return parse


def _duration(allow_zero: bool) -> Callable[[Any, str], Any]:
    def parse(value: Any, text: str) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Invalid(f"{text} {DURATION_PROBLEM}")
        try:
            seconds = parse_duration(value)
        except ConfigurationError:
            raise _Invalid(f"{text} {DURATION_PROBLEM}") from None
        if seconds == 0 and not allow_zero:
            raise _Invalid(f"{text} must be more than zero")
        return seconds

    return parse


def _paused(value: Any, text: str) -> Any:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Invalid(f"{text} must be true or false")
    return value


def _priority(value: Any, text: str) -> Any:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ConfigurationError(text)
        return Priority.parse(value)
    except ConfigurationError:
        raise _Invalid(f"{text} must be high, normal or low") from None


def _secret(value: Any, text: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a non-empty string")  # the value itself is never echoed
    return value


def _payload_keys(value: Any, text: str) -> Any:
    if value is None:
        return None
    bad = [key for key in value if not isinstance(key, str) or not 1 <= len(key) <= 200]
    if bad:
        raise _Invalid(f"entry {bad[0]!r} must be a payload key of 1 to 200 characters")
    if len(value) > MAX_SECRET_FIELDS:
        raise _Invalid(f"names {len(value)} keys; at most {MAX_SECRET_FIELDS}")
    return tuple(value)


PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "rate": _rate,
    "bucket_size": _whole(1),
    "max_concurrent_requests": _whole(1),
    "task_retry_limit": _whole(0, plus=1),
    "task_age_limit": _duration(allow_zero=False),
    "min_backoff_seconds": _duration(allow_zero=True),
    "max_backoff_seconds": _duration(allow_zero=False),
    "max_doublings": _whole(0),
    "max_per_key": _whole(1),
    "lease_seconds": _duration(allow_zero=False),
    "paused": _paused,
    "priority": _priority,
    "age_limit": _duration(allow_zero=False),
    "completed_retention": _duration(allow_zero=False),
    "failed_retention": _duration(allow_zero=False),
    "secret": _secret,
    "previous_secret": _secret,
    "secret_fields": _payload_keys,
}
"""A parser per key as the file spells it: (value, its text) → the setting's value."""


def _text(node: Node) -> str:
    """The node as written, for messages: `'5/x'`."""
    if isinstance(node, ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


def _is_push_target(node: Node) -> bool:
    """A mapping, or a URL: App Engine's `target` is a service name, with no `://`."""
    return isinstance(node, MappingNode) or (
        isinstance(node, ScalarNode) and "://" in str(node.value)
    )


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _attribute(
    message: str, name: str, line: int | None, origins: dict[str, tuple[int, str]]
) -> tuple[int | None, str, str]:
    """(line, key, message) for a problem `QueueSettings` found with the entry's settings:
    the line and key of the first setting the message names, else the entry's."""
    message = message.removeprefix(f"queue {name!r}: ")
    mentioned = [
        (match.start(), setting)
        for setting in origins
        if (match := re.search(rf"\b{setting}\b", message)) is not None
    ]
    if not mentioned:
        return line, "", f"queue {name!r}: {message}"
    for setting in origins:  # in the file's own words: max_backoff_seconds, not max_backoff
        bare = origins[setting][1].rpartition(".")[2]
        message = re.sub(rf"\b{setting}\b", bare, message)
    _, setting = min(mentioned)
    setting_line, spelled = origins[setting]
    return setting_line, spelled, message
