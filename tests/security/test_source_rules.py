"""Rules read off the source: no pickle (or any other deserialiser that runs code), and SQL
built only from fixed text with values bound as parameters.

The SQL rule looks at every `execute`-like call in `src/conveyor`: its statement must not
be an f-string, a `%` or `+` concatenation or a `.format()` call, directly or through a
variable assigned that way in the same function. The few statements that are built from
fixed fragments are listed in `REVIEWED`, each with the reason it is safe; a new one
fails this test until someone reviews it and adds it here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import conveyor

SOURCE = Path(conveyor.__file__).parent
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle"}
EXECUTING = {"execute", "executemany", "executescript", "_execute", "_count", "run_sql"}

REVIEWED: dict[tuple[str, str], str] = {
    ("store/sqlite/store.py", "SQLiteStore._open"): (
        "PRAGMA takes no parameter: synchronous is one of SYNCHRONOUS, checked by "
        "parse_sqlite_url before a connection opens; journal_size_limit an int constant"
    ),
    ("store/sqlite/store.py", "SQLiteStore.list"): (
        "the WHERE clause comes from store/listing.py: fixed fragments joined by AND, every "
        "value (queue, name, status, cursor) bound as a named parameter"
    ),
    ("store/postgres/store.py", "PostgresStore.list"): (
        "as SQLiteStore.list: fixed fragments from store/listing.py, values bound"
    ),
    ("store/postgres/listen.py", "*"): (
        "LISTEN takes no parameter; CHANNEL is a module constant, never user input"
    ),
}


def python_files() -> Iterator[Path]:
    yield from sorted(SOURCE.rglob("*.py"))


def test_no_module_that_unpickles_is_imported() -> None:
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            found += [f"{path.relative_to(SOURCE)}:{node.lineno} {n}" for n in names]
    assert [f for f in found if f.rsplit(" ", 1)[1] in FORBIDDEN_MODULES] == []


def test_yaml_is_only_read_safely() -> None:
    for path in python_files():
        text = path.read_text()
        for bad in ("yaml.load(", "yaml.unsafe_load(", "yaml.full_load(", "Loader=yaml.Loader"):
            assert bad not in text, f"{path.relative_to(SOURCE)} uses {bad}; use yaml.safe_load"


def built(node: ast.expr) -> bool:
    """True when `node` builds text at run time instead of naming fixed text."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


class StatementFinder(ast.NodeVisitor):
    """Statements handed to `execute`-like calls that are built at run time."""

    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.scope: list[str] = []
        self.assigned: list[dict[str, bool]] = [{}]
        self.found: list[tuple[str, str, int]] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.assigned.append({})
        self.generic_visit(node)
        self.assigned.pop()
        self.scope.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned[-1][target.id] = built(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if name in EXECUTING and node.args:
            statement = node.args[0]
            from_variable = isinstance(statement, ast.Name) and any(
                scope.get(statement.id, False) for scope in self.assigned
            )
            if built(statement) or from_variable:
                self.found.append((self.relative, ".".join(self.scope), node.lineno))
        self.generic_visit(node)


def built_statements() -> list[tuple[str, str, int]]:
    found = []
    for path in python_files():
        finder = StatementFinder(str(path.relative_to(SOURCE)))
        finder.visit(ast.parse(path.read_text(), str(path)))
        found += finder.found
    return found


def reviewed(relative: str, function: str) -> bool:
    return (relative, function) in REVIEWED or (relative, "*") in REVIEWED


def test_sql_is_built_only_where_reviewed() -> None:
    unreviewed = [f"{r}:{line} in {f}" for r, f, line in built_statements() if not reviewed(r, f)]
    assert unreviewed == [], (
        "SQL built with f-strings, % , + or .format(); bind values as parameters, or review "
        "the statement and add it to REVIEWED with the reason it is safe"
    )


def test_every_reviewed_case_still_exists() -> None:
    """A stale entry would quietly allow the next statement built in its place."""
    seen = {(r, f) for r, f, _ in built_statements()} | {(r, "*") for r, _, _ in built_statements()}
    assert set(REVIEWED) <= seen


def test_the_finder_catches_built_statements() -> None:
    source = (
        "def f(conn, name):\n"
        "    conn.execute(f'SELECT * FROM t WHERE name = {name}')\n"
        "    conn.execute('SELECT %s' % name)\n"
        "    query = 'SELECT ' + name\n"
        "    conn.execute(query)\n"
        "    conn.execute('SELECT {}'.format(name))\n"
        "    conn.execute('SELECT * FROM t WHERE name = %s', (name,))\n"
    )
    finder = StatementFinder("example.py")
    finder.visit(ast.parse(source))
    assert [line for _, _, line in finder.found] == [2, 3, 5, 6]
