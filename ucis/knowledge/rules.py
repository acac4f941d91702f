"""Object permissions (django-rules) of the knowledge base: editing an article or a category needs
the role's permission *and* the row's owner inside the editor's subtree — or the editor's own
company, so the managers of a branch keep their company's answers current. The group's articles
are edited at the group."""

from __future__ import annotations

from typing import Any

import rules


def in_editor_scope(user: Any, node: Any) -> bool:
    """May ``user`` (a staff member) edit knowledge owned by ``node``?"""
    if getattr(user, "is_system", False) is True:
        return True
    actor_node = getattr(user, "node", None)
    if node is None or actor_node is None:
        return False
    return node.path.startswith(actor_node.path) or node.pk == actor_node.company_id


@rules.predicate
def owner_in_editor_scope(user: Any, row: Any) -> bool:
    return row is not None and in_editor_scope(user, row.node)


def _global(perm: str) -> Any:
    @rules.predicate(name=f"has {perm}")
    def check(user: Any) -> bool:
        # The role-based backends only (user.has_perm would re-enter this rule).
        return bool(user.is_active and (user.is_superuser or perm in user.get_all_permissions()))

    return check


for _perm in ("knowledge.change_knowledgearticle", "knowledge.change_knowledgecategory"):
    rules.add_perm(_perm, _global(_perm) & owner_in_editor_scope)
