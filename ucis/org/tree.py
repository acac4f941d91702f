"""Rules of the organisation tree (组织机构树): kinds, allowed nesting, codes, paths, moves.

Pure: plain values in, results or ``DomainError`` out. A node's ``path`` is the chain of ids
from the root, ``/1/7/42/``; a subtree is every path starting with its root's path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _

GROUP = "group"
COMPANY = "company"
BRANCH = "branch"
STATION = "station"
OFFICE = "office"
DEPARTMENT = "department"

KINDS: tuple[str, ...] = (GROUP, COMPANY, BRANCH, STATION, OFFICE, DEPARTMENT)

# A group holds companies; a company (or a subsidiary company) holds branches, county offices and
# departments; branches hold stations and further branches. Anything deeper is allowed as long as
# a company is never nested under a branch (money would change owner by a tree edit).
ALLOWED_CHILDREN: dict[str, frozenset[str]] = {
    GROUP: frozenset({COMPANY, DEPARTMENT}),
    COMPANY: frozenset({COMPANY, BRANCH, OFFICE, STATION, DEPARTMENT}),
    BRANCH: frozenset({BRANCH, STATION, OFFICE, DEPARTMENT}),
    OFFICE: frozenset({STATION, DEPARTMENT}),
    STATION: frozenset({DEPARTMENT}),
    DEPARTMENT: frozenset({DEPARTMENT}),
}

COMMODITIES: tuple[str, ...] = ("water", "gas", "electricity")

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


@dataclass(frozen=True)
class NodeRef:
    """What the rules need to know about a node."""

    id: int
    kind: str
    path: str


def normalise_code(code: str) -> str:
    """Codes follow the data standard (CUS-5): upper-case letters, digits, '-' and '_', ≤ 32."""
    value = (code or "").strip().upper()
    if not value:
        raise DomainError("code", _("is required"))
    if not CODE_RE.match(value):
        raise DomainError("code", _("%(code)s is not a valid code: use 1–32 letters, digits, '-' or '_', "
                                    "starting with a letter or digit"), code=code)
    return value


def child_path(parent_path: str | None, node_id: int) -> str:
    return f"{parent_path or '/'}{node_id}/"


def depth_of(path: str) -> int:
    return path.strip("/").count("/")


def is_in_subtree(path: str, root_path: str) -> bool:
    return path.startswith(root_path)


def check_placement(*, kind: str, parent: NodeRef | None) -> None:
    """Refuse a node of ``kind`` under ``parent`` when the tree forbids it."""
    if kind not in KINDS:
        raise DomainError("kind", _("unknown kind %(kind)s; expected one of %(expected)s"), kind=kind,
                          expected=", ".join(KINDS))
    if parent is None:
        if kind != GROUP:
            raise DomainError("parent", _("only a group can be the root of the tree"))
        return
    if kind == GROUP:
        raise DomainError("kind", _("a group must be the root; it cannot have a parent"))
    if kind not in ALLOWED_CHILDREN[parent.kind]:
        raise DomainError("parent", _("a %(kind)s cannot be placed under a %(parent_kind)s"), kind=kind,
                          parent_kind=parent.kind)


def check_move(*, node: NodeRef, new_parent: NodeRef) -> None:
    """Refuse moves that would make a cycle or break the nesting rules."""
    if new_parent.id == node.id:
        raise DomainError("parent", _("a node cannot be its own parent"))
    if is_in_subtree(new_parent.path, node.path):
        raise DomainError("parent", _("a node cannot be moved under its own descendant"))
    check_placement(kind=node.kind, parent=new_parent)


def moved_path(old_path: str, old_root: str, new_root: str) -> str:
    """The new path of a descendant (or the node itself) after its subtree root moved."""
    if not old_path.startswith(old_root):
        raise DomainError("path", _("%(path)s is not under %(root)s"), path=old_path, root=old_root)
    return new_root + old_path[len(old_root):]


def owning_company(chain: Sequence[NodeRef]) -> NodeRef | None:
    """The nearest company on the chain root → node (inclusive); None for group-level nodes."""
    for ref in reversed(chain):
        if ref.kind == COMPANY:
            return ref
    return None


def check_unique_codes(codes: Iterable[str], *, existing: Iterable[str] = (), field: str = "code") -> None:
    """Every code in a batch must be new and unique within the batch; report all clashes at once."""
    seen: set[str] = set(existing)
    problems = []
    for index, code in enumerate(codes):
        if code in seen:
            problems.append(FieldProblem(f"{field}[{index}]" if field != "code" else field,
                                         _("code %(code)s is already used"), {"code": code}))
        seen.add(code)
    if problems:
        raise DomainError(problems=problems)
