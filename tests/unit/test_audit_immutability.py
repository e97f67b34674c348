"""Immutable by construction (issue 4 item 1), proved from the source: every module under
chalicelib/ is parsed, and audit items can only ever be *created* through
`WriteTransaction.create` (which adds `attribute_not_exists`); nothing updates, deletes,
overwrites or batch-writes them. The prod IAM policy denies the same operations on the
audit table. tests/functional/test_audit_immutability.py shows a re-put failing for real.
"""

from __future__ import annotations

import ast
import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
AUDIT_MODEL = "AuditEventModel"
REPOSITORY_MODULE = "chalicelib/store/audit.py"
MODELS_MODULE = "chalicelib/store/models.py"

# pynamodb Model methods, WriteTransaction methods and botocore operations that change items.
MODEL_MUTATORS = {
    "save",
    "update",
    "delete",
    "batch_write",
    "refresh_and_save",
    "delete_table",
    "create_table",
}
TX_WRITERS = {"put", "update", "delete", "update_unversioned", "save"}
LOW_LEVEL_MUTATORS = {
    "update_item",
    "delete_item",
    "put_item",
    "execute_statement",
    "batch_execute_statement",
    "execute_transaction",
    "transact_write_items",
}
# The one low-level batch write: the embedded stack (`make run`) restoring its own snapshot
# into freshly created tables at start. Puts only (checked below), never in a Lambda.
BATCH_WRITE_ALLOWED = {"chalicelib/local/aws.py"}


@dataclass(frozen=True)
class Module:
    path: str
    tree: ast.Module


def _modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found.append(Module(rel, ast.parse(path.read_text(), filename=rel)))
    return found


MODULES = _modules()


def _model_names(module: Module) -> set[str]:
    """The names under which a module can reach the audit model class."""
    names = {AUDIT_MODEL}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names if alias.name == AUDIT_MODEL}
        elif isinstance(node, ast.Assign) and _refers_to_model(node.value, names):
            if isinstance(node.value, ast.Name | ast.Attribute):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _refers_to_model(node: ast.AST, names: set[str]) -> bool:
    """`AuditEventModel` itself, by any alias, or as `models.AuditEventModel`."""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute):
        return node.attr == AUDIT_MODEL
    return False


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    return (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def _tainted(func: ast.AST, model_names: set[str]) -> set[str]:
    """Local names that hold audit items (or collections of them): built by the model,
    read through it (query/get/scan...), or derived from such names, to a fixpoint."""

    def mentions(expr: ast.AST, tainted: set[str]) -> bool:
        return any(
            _refers_to_model(n, model_names) or (isinstance(n, ast.Name) and n.id in tainted)
            for n in ast.walk(expr)
            if not isinstance(n, ast.Attribute) or n.attr == AUDIT_MODEL
        )

    tainted: set[str] = set()
    while True:
        before = len(tainted)
        for node in ast.walk(func):
            targets: list[ast.AST] = []
            value: ast.AST | None = None
            if isinstance(node, ast.Assign):
                targets, value = list(node.targets), node.value
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                targets, value = [node.target], node.iter
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets, value = [node.optional_vars], node.context_expr
            if value is None or not mentions(value, tainted):
                continue
            for target in targets:
                tainted |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        if len(tainted) == before:
            return tainted


def _receiver_and_method(call: ast.Call) -> tuple[ast.expr, str] | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.value, call.func.attr
    return None


def _is_tainted(expr: ast.AST, model_names: set[str], tainted: set[str]) -> bool:
    """The expression is, or is taken from, the audit model or an audit item
    (`item`, `items[0]`, `item.detail`, `AuditEventModel.get(...)`, `models.AuditEventModel(...)`)."""
    while True:
        if _refers_to_model(expr, model_names):
            return True
        if isinstance(expr, ast.Subscript | ast.Starred | ast.Attribute):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        else:
            return isinstance(expr, ast.Name) and expr.id in tainted


# -- the tests ------------------------------------------------------------------------------------


def test_the_enumeration_sees_the_whole_package() -> None:
    paths = {m.path for m in MODULES}
    assert {
        REPOSITORY_MODULE,
        MODELS_MODULE,
        "chalicelib/store/db.py",
        "chalicelib/services/audit.py",
    } <= paths
    assert len(paths) >= 60, len(paths)
    users = {m.path for m in MODULES if any(_refers_to_model(n, {AUDIT_MODEL}) for n in ast.walk(m.tree))}
    assert REPOSITORY_MODULE in users


def test_only_the_audit_repository_builds_audit_items() -> None:
    builders = {
        module.path
        for module in MODULES
        for call in _calls(module.tree)
        if _refers_to_model(call.func, _model_names(module))
    }
    assert builders == {REPOSITORY_MODULE}


def _offences(module: Module) -> list[str]:
    names = _model_names(module)
    offences = []
    for func in [module.tree, *_functions(module.tree)]:
        tainted = _tainted(func, names) if func is not module.tree else set()
        for call in _calls(func):
            target = _receiver_and_method(call)
            if target is None:
                continue
            receiver, method = target
            where = f"{module.path}:{call.lineno}"
            # AuditEventModel.delete(...), item.save(), items.batch_write() ...
            if method in MODEL_MUTATORS and _is_tainted(receiver, names, tainted):
                offences.append(f"{where} {method}() on an audit item")
            # tx.put(item) / tx.update(item, ...) / tx.delete(item): only tx.create(item) may
            # write one (it adds attribute_not_exists).
            args = [*call.args, *(k.value for k in call.keywords)]
            if method in TX_WRITERS and any(_is_tainted(a, names, tainted) for a in args):
                offences.append(f"{where} {method}() with an audit item")
    return offences


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.path)
def test_no_module_updates_deletes_or_overwrites_audit_items(module: Module) -> None:
    assert _offences(module) == []


MUTATIONS = {
    "class batch write": "def f():\n    with AuditEventModel.batch_write() as b:\n        pass\n",
    "save a new item": "def f():\n    item = AuditEventModel(pk='x')\n    item.save()\n",
    "delete a queried item": "def f():\n    for item in AuditEventModel.query('x'):\n        item.delete()\n",
    "update one of a list": (
        "def f(tx):\n    items = list(AuditEventModel.query('x'))\n    tx.update(items[0], [])\n"
    ),
    "put without condition": "def f(tx):\n    tx.put(models.AuditEventModel(pk='x'))\n",
    "aliased import": "from m import AuditEventModel as A\ndef f():\n    A.get('x', 'y').delete()\n",
}


@pytest.mark.parametrize("source", sorted(MUTATIONS))
def test_the_checker_catches_what_it_is_meant_to(source: str) -> None:
    """The enumeration above cannot pass vacuously: each of these is flagged."""
    module = Module(f"<{source}>", ast.parse(MUTATIONS[source]))
    assert _offences(module), source


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.path)
def test_no_low_level_item_mutation_bypasses_the_models(module: Module) -> None:
    """All writes go through pynamodb and WriteTransaction; no raw UpdateItem, DeleteItem,
    PartiQL or DeleteRequest anywhere (so none can reach the audit table either)."""
    offences = []
    for node in ast.walk(module.tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
        if name in LOW_LEVEL_MUTATORS or name == "DeleteRequest":
            offences.append(f"{module.path}:{node.lineno} {name}")
        if name == "batch_write_item" and module.path not in BATCH_WRITE_ALLOWED:
            offences.append(f"{module.path}:{node.lineno} {name}")
    assert offences == []


def test_the_local_snapshot_restore_only_puts() -> None:
    [module] = [m for m in MODULES if m.path in BATCH_WRITE_ALLOWED]
    requests = {
        key.value
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.endswith("Request")
    }
    assert requests == {"PutRequest"}


def test_the_audit_repository_can_only_append() -> None:
    [module] = [m for m in MODULES if m.path == REPOSITORY_MODULE]
    [repository] = [
        n for n in module.tree.body if isinstance(n, ast.ClassDef) and n.name == "AuditRepository"
    ]
    methods = {f.name: f for f in repository.body if isinstance(f, ast.FunctionDef)}
    forbidden = (
        "update",
        "delete",
        "remove",
        "put",
        "save",
        "replace",
        "overwrite",
        "purge",
        "clear",
        "batch",
    )
    assert [m for m in methods if any(word in m.lower() for word in forbidden)] == []
    assert "add" in methods

    add = methods["add"]
    tx_param = add.args.args[1].arg
    writes = [
        call.func.attr
        for call in _calls(add)
        if isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == tx_param
    ]
    assert writes == ["create"], writes
    for name, method in methods.items():
        if name == "add":
            continue
        params = {a.arg for a in method.args.args}
        assert not params & {"tx", "transaction"}, f"{name} takes a transaction"


def test_write_transaction_create_refuses_an_existing_key() -> None:
    """`WriteTransaction.create` adds attribute_not_exists on the item's hash key."""
    from chalicelib.store.db import WriteTransaction
    from chalicelib.store.models import AuditEventModel

    tx = WriteTransaction(connection=None)  # type: ignore[arg-type]
    tx.create(AuditEventModel(pk="T#t", sk="2024-01-01T00:00:00.000000Z#01H"))
    [(kind, item, condition, actions)] = tx._ops
    assert (kind, actions) == ("put", None) and isinstance(item, AuditEventModel)
    names: dict[str, str] = {}
    values: dict[str, str] = {}
    expression = condition.serialize(names, values)
    assert expression.startswith("attribute_not_exists") and list(names) == ["pk"], (expression, names)


def test_prod_iam_denies_changing_the_audit_table() -> None:
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    prod = config["stages"]["prod"]
    assert prod["iam_policy_file"] == "policy-prod.json" and prod.get("autogen_policy") is False
    audit_table = prod["environment_variables"]["VAULTGUARD_AUDIT_TABLE"]
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{audit_table}"

    def as_list(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    def covers(statement: dict[str, object], action: str, resource: str) -> bool:
        actions = as_list(statement["Action"])  # type: ignore[arg-type]
        resources = as_list(statement["Resource"])  # type: ignore[arg-type]
        return any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        )

    statements = policy["Statement"]
    mutations = ["UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQLUpdate", "PartiQLDelete"]
    for operation in mutations:
        action = f"dynamodb:{operation}"
        denied = [s for s in statements if s["Effect"] == "Deny" and covers(s, action, arn)]
        assert denied, f"{action} on {audit_table} is not denied"
        assert not any(covers(s, action, arn + "/index/x") for s in statements if s["Effect"] == "Allow")
    allowed_here = {
        a
        for s in statements
        if s["Effect"] == "Allow" and covers(s, "dynamodb:PutItem", arn)
        for a in s["Action"]
    }
    assert not {f"dynamodb:{m}" for m in mutations} & allowed_here, allowed_here
    assert any(
        s["Effect"] == "Allow" and covers(s, "dynamodb:TransactWriteItems", arn) for s in statements
    ), "audit events are written in transactions"
