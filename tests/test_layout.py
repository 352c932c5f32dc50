"""The package's layout rules, checked by reading the source (CONTRIBUTING.md, "Map of the code"):

- no module of ``fastseg/`` imports, or reaches through an attribute, a private (``_name``) name of
  another module; private *modules* (``_engine``, ``_validation``, ``_kernels`` ...) are fastseg's
  internal API and their names carry no underscore;
- a name taken from a public module by another module is in that module's ``__all__`` (no
  unofficial internal API hidden in public modules);
- numba is imported only by ``fastseg/_kernels/_jit.py``, and every kernel goes through its house
  decorator ``jit`` (one place for ``cache``, ``nogil``, ``fastmath``);
- no module is longer than 500 lines.
"""
import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "fastseg"
MAX_LINES = 500


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


MODULES = dict(_modules())


def _package_of(name, path):
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(name, path, node):
    """The absolute module name of an ``ImportFrom`` node inside module ``name``."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(name, path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_private_module(modname):
    return any(part.startswith("_") and not part.startswith("__") for part in modname.split("."))


def _exports(modname):
    return getattr(importlib.import_module(modname), "__all__", None)


def _imports(name, path):
    """``(line, source module, imported name, local alias)`` of every ``from fastseg... import``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            src = _resolve(name, path, node)
            if src.split(".")[0] != "fastseg":
                continue
            for alias in node.names:
                yield node.lineno, src, alias.name, alias.asname or alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fastseg" and alias.asname:
                    yield node.lineno, alias.name, None, alias.asname


def _violations():
    private, unexported = [], []
    for name, path in MODULES.items():
        module_aliases = {}
        for line, src, imported, local in _imports(name, path):
            if imported is None:
                module_aliases[local] = src
                continue
            full = f"{src}.{imported}"
            if full in MODULES:  # a submodule
                module_aliases[local] = full
                continue
            if imported.startswith("_") and not imported.startswith("__"):
                private.append(f"{path.relative_to(ROOT.parent)}:{line} imports {imported} from {src}")
            elif not _is_private_module(src) and src != name and not imported.startswith("__"):
                exported = _exports(src)
                if exported is not None and imported not in exported and imported != "*":
                    unexported.append(f"{path.relative_to(ROOT.parent)}:{line} imports {imported} from {src}, not in its __all__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases):
                src, attr = module_aliases[node.value.id], node.attr
                if attr.startswith("_") and not attr.startswith("__"):
                    private.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} uses {src}.{attr}")
                elif not _is_private_module(src) and f"{src}.{attr}" not in MODULES:
                    exported = _exports(src)
                    if exported is not None and attr not in exported:
                        unexported.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} uses {src}.{attr}, not in its __all__")
    return private, unexported


def test_no_private_name_crosses_modules():
    private, _ = _violations()
    assert not private, "private names used across modules:\n" + "\n".join(private)


def test_names_taken_from_public_modules_are_exported():
    _, unexported = _violations()
    assert not unexported, "\n".join(unexported)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The rules above must be able to fail: a module that takes another's private name is caught."""
    bad = ROOT / "_layout_probe_tmp.py"
    bad.write_text("from ._validation import _c_contiguous\nfrom . import evaluate as e\nx = e._fmt\n"
                   "from .metrics.surface import _resolve\n")
    try:
        MODULES["fastseg._layout_probe_tmp"] = bad
        private, _ = _violations()
    finally:
        del MODULES["fastseg._layout_probe_tmp"]
        bad.unlink()
    assert any("_c_contiguous" in p for p in private)
    assert any("fastseg.evaluate._fmt" in p for p in private)
    assert any("_resolve" in p for p in private)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_length(name):
    n = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[name]} has {n} lines; split it (CONTRIBUTING.md, Map of the code)."


def test_numba_only_in_the_house_decorator():
    offenders = []
    for name, path in MODULES.items():
        if name == "fastseg._kernels._jit":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numba" for a in node.names):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
                offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not offenders, "numba imported outside fastseg/_kernels/_jit.py: " + ", ".join(offenders)


def _decorator_name(d):
    if isinstance(d, ast.Call):
        d = d.func
    if isinstance(d, ast.Name):
        return d.id
    if isinstance(d, ast.Attribute):
        return ast.unparse(d)
    return ast.unparse(d)


def test_every_kernel_goes_through_the_house_decorator():
    """In ``fastseg/_kernels/``, a decorated function is decorated by ``jit`` from ``._jit`` (and
    nothing else), and every numba dispatcher there has the house options."""
    from numba.core.dispatcher import Dispatcher

    bad, n_kernels = [], 0
    for name, path in MODULES.items():
        if not name.startswith("fastseg._kernels.") or name == "fastseg._kernels._jit":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        jit_names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == "_jit" and node.level == 1 for a in node.names if a.name == "jit"}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for d in node.decorator_list:
                    if _decorator_name(d) not in jit_names:
                        bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} decorated by {_decorator_name(d)}")
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == name:
                n_kernels += 1
                opts = obj.targetoptions
                if not (opts.get("nogil") is True and not opts.get("fastmath")):
                    bad.append(f"{name}.{attr}: options {opts}")
    assert n_kernels > 20
    assert not bad, "\n".join(bad)
