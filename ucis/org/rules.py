"""Object permissions (django-rules): a role's permission applies only inside the actor's subtree."""

from __future__ import annotations

import rules

from ucis.org import tree


@rules.predicate
def node_in_actor_subtree(user, node) -> bool:
    actor_node = getattr(user, "node", None)
    if node is None or actor_node is None:
        return False
    path = node.path if hasattr(node, "path") else node.node.path
    return tree.is_in_subtree(path, actor_node.path)


def _global(perm: str):
    @rules.predicate(name=f"has {perm}")
    def check(user) -> bool:
        # Ask the role-based backends only (asking user.has_perm would re-enter this rule).
        return user.is_active and (user.is_superuser or perm in user.get_all_permissions())

    return check


for _perm in ("org.view_orgnode", "org.change_orgnode", "org.add_orgnode", "org.move_orgnode",
              "org.add_company", "org.view_user", "org.change_user", "org.add_user"):
    rules.add_perm(_perm, _global(_perm) & node_in_actor_subtree)
