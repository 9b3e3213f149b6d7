"""Size limits of docs/decisions/0001, checked in `make test`: no module over 400 lines, no function over 60.

    python scripts/check_sizes.py [--list] [FOLDER ...]    (default: src)

Prints each breach (and with --list, the longest functions) and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def functions(tree: ast.AST, path: Path):
    """(lines, "path:line name") of every function and method, decorators included."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield node.end_lineno - start + 1, f"{path}:{node.lineno} {node.name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[Path("src")])
    ap.add_argument("--list", type=int, default=0, metavar="N", help="also list the N longest functions")
    args = ap.parse_args()
    breaches, sizes = [], []
    for path in sorted(p for folder in args.folders for p in folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            breaches.append(f"{path}: {n} lines (max {MAX_MODULE_LINES})")
        for lines, name in functions(ast.parse(text), path):
            sizes.append((lines, name))
            if lines > MAX_FUNCTION_LINES:
                breaches.append(f"{name}: {lines} lines (max {MAX_FUNCTION_LINES})")
    for lines, name in sorted(sizes, reverse=True)[:args.list]:
        print(f"{lines:4d}  {name}")
    for b in breaches:
        print(f"too long: {b}", file=sys.stderr)
    print(f"{len(sizes)} functions in {len({n.split(':')[0] for _, n in sizes})} modules; "
          f"{len(breaches)} over the limits", file=sys.stderr)
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
