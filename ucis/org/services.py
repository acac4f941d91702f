"""Use cases of the organisation tree and staff. Keyword-only; every write is audited."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.org import roles as role_rules
from ucis.org import tree
from ucis.org.models import OrgNode, User
from ucis.platform.audit import audit_context
from ucis.platform.bulk import next_ids
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id

log = logging.getLogger(__name__)


def _next_node_ids(count: int) -> list[int]:
    return next_ids("org_orgnode", count)


def _chain(node: OrgNode | None) -> list[tree.NodeRef]:
    if node is None:
        return []
    ids = [int(p) for p in node.path.strip("/").split("/")]
    by_id = {n.pk: n for n in OrgNode.objects.filter(pk__in=ids).only("pk", "kind", "path")}
    return [by_id[i].as_ref() for i in ids]


def _validate_commodities(kind: str, commodities: Sequence[str]) -> list[str]:
    values = sorted(set(commodities or ()))
    unknown = [c for c in values if c not in tree.COMMODITIES]
    if unknown:
        raise DomainError("commodities", _("unknown commodity %(unknown)s; expected %(expected)s"),
                          unknown=", ".join(unknown), expected=", ".join(tree.COMMODITIES))
    if kind == tree.COMPANY and not values:
        raise DomainError("commodities", _("a company must supply at least one commodity"))
    return values


def _build_node(*, node_id: int, parent: OrgNode | None, code: str, name: str, kind: str,
                name_en: str = "", commodities: Sequence[str] = (), address: str = "",
                phone: str = "", chain: list[tree.NodeRef]) -> OrgNode:
    if not (name or "").strip():
        raise DomainError("name", _("is required"))
    path = tree.child_path(parent.path if parent else None, node_id)
    me = tree.NodeRef(id=node_id, kind=kind, path=path)
    company = tree.owning_company([*chain, me])
    return OrgNode(id=node_id, parent=parent, code=code, name=name.strip(), name_en=name_en.strip(),
                   kind=kind, path=path, depth=tree.depth_of(path),
                   company_id=company.id if company else None,
                   commodities=_validate_commodities(kind, commodities), address=address, phone=phone)


def _insert_nodes(nodes: list[OrgNode]) -> None:
    try:
        with transaction.atomic():
            OrgNode.objects.bulk_create(nodes)
    except IntegrityError as exc:
        if "code" in str(exc):
            raise DomainError("code", _("a node with this code already exists")) from exc
        raise


def org_node_create(*, actor: Any, parent_id: Any, code: str, name: str, kind: str,
                    name_en: str = "", commodities: Sequence[str] = (), address: str = "",
                    phone: str = "") -> OrgNode:
    """Add a node under ``parent_id`` (None only for the root group)."""
    code = tree.normalise_code(code)
    with transaction.atomic(), audit_context(actor=actor, reason=f"create node {code}", source="service"):
        parent = None
        if parent_id is not None:
            parent = access_by_id(OrgNode, actor, parent_id, for_update=True)
            require(actor, "org.add_orgnode", parent)
        else:
            require(actor, "org.add_orgnode")
            if OrgNode.objects.filter(parent__isnull=True).exists():
                raise DomainError("parent", _("the tree already has a root group; give a parent"))
        tree.check_placement(kind=kind, parent=parent.as_ref() if parent else None)
        if kind == tree.COMPANY:
            require(actor, "org.add_company")
        if OrgNode.objects.filter(code=code).exists():
            raise DomainError("code", _("code %(code)s is already used"), code=code)
        [node_id] = _next_node_ids(1)
        node = _build_node(node_id=node_id, parent=parent, code=code, name=name, kind=kind,
                           name_en=name_en, commodities=commodities, address=address, phone=phone,
                           chain=_chain(parent))
        _insert_nodes([node])
    return node


@dataclass(frozen=True)
class UnitSpec:
    """A branch (or station/office) to create with a company; ``children`` nest below it."""

    code: str
    name: str
    kind: str = tree.BRANCH
    name_en: str = ""
    children: tuple[UnitSpec, ...] = field(default_factory=tuple)


def company_create(*, actor: Any, code: str, name: str, commodities: Sequence[str],
                   parent_id: Any = None, name_en: str = "", units: Sequence[UnitSpec] = (),
                   address: str = "", phone: str = "") -> OrgNode:
    """Create a company (subsidiary) with its branches and stations in one all-or-nothing step.

    Usable at once: staff can be placed on its nodes and see them in the same transaction."""
    require(actor, "org.add_company")
    code = tree.normalise_code(code)
    flat: list[tuple[UnitSpec, int]] = []  # (spec, parent index into flat or -1 for the company)

    def walk(specs: Iterable[UnitSpec], parent_index: int, prefix: str) -> None:
        for i, spec in enumerate(specs):
            flat.append((spec, parent_index))
            walk(spec.children, len(flat) - 1, f"{prefix}[{i}].children")

    walk(units, -1, "units")
    problems: list[FieldProblem] = []
    codes = [code]
    for index, (spec, _parent) in enumerate(flat):
        try:
            codes.append(tree.normalise_code(spec.code))
        except DomainError as exc:
            problems.append(exc.problems[0].at(f"units[{index}].code"))
            codes.append(spec.code)
        if not (spec.name or "").strip():
            problems.append(FieldProblem(f"units[{index}].name", _("is required")))
    seen: dict[str, int] = {}
    for index, value in enumerate(codes):
        if value in seen:
            problems.append(FieldProblem("code" if index == 0 else f"units[{index - 1}].code",
                                         _("code %(code)s appears twice"), {"code": value}))
        seen.setdefault(value, index)
    taken = set(OrgNode.objects.filter(code__in=codes).values_list("code", flat=True))
    for index, value in enumerate(codes):
        if value in taken:
            problems.append(FieldProblem("code" if index == 0 else f"units[{index - 1}].code",
                                         _("code %(code)s is already used"), {"code": value}))
    if problems:
        raise DomainError(problems=problems)

    with transaction.atomic(), audit_context(actor=actor, reason=f"create company {code}", source="service"):
        if parent_id is None:
            parent = OrgNode.objects.select_for_update().filter(parent__isnull=True).first()
            if parent is None:
                raise DomainError("parent", _("there is no root group yet; create the group first"))
            parent = access_by_id(OrgNode, actor, parent.pk)
        else:
            parent = access_by_id(OrgNode, actor, parent_id, for_update=True)
        require(actor, "org.add_company", parent)
        tree.check_placement(kind=tree.COMPANY, parent=parent.as_ref())
        ids = _next_node_ids(len(flat) + 1)
        chain = _chain(parent)
        company = _build_node(node_id=ids[0], parent=parent, code=code, name=name, kind=tree.COMPANY,
                              name_en=name_en, commodities=commodities, address=address, phone=phone,
                              chain=chain)
        built: list[OrgNode] = [company]
        chains: list[list[tree.NodeRef]] = [[*chain, company.as_ref()]]
        for index, (spec, parent_index) in enumerate(flat):
            owner = built[parent_index + 1]
            owner_chain = chains[parent_index + 1]
            try:
                tree.check_placement(kind=spec.kind, parent=owner.as_ref())
                node = _build_node(node_id=ids[index + 1], parent=owner, code=codes[index + 1],
                                   name=spec.name, kind=spec.kind, name_en=spec.name_en, chain=owner_chain)
            except DomainError as exc:
                raise DomainError(problems=[p.at(f"units[{index}].{p.field}") for p in exc.problems]) from exc
            built.append(node)
            chains.append([*owner_chain, node.as_ref()])
        _insert_nodes(built)
    return company


_EDITABLE_NODE_FIELDS = ("name", "name_en", "address", "phone", "is_active", "commodities")


def org_node_update(*, actor: Any, node_id: Any, **changes: Any) -> OrgNode:
    unknown = set(changes) - set(_EDITABLE_NODE_FIELDS)
    if unknown:
        raise DomainError(sorted(unknown)[0], _("cannot be changed here (use move for the parent; "
                                                "codes are permanent)"))
    with transaction.atomic(), audit_context(actor=actor, reason="edit node", source="service"):
        node = access_by_id(OrgNode, actor, node_id, for_update=True)
        require(actor, "org.change_orgnode", node)
        if "name" in changes and not (changes["name"] or "").strip():
            raise DomainError("name", _("is required"))
        if "commodities" in changes:
            changes["commodities"] = _validate_commodities(node.kind, changes["commodities"])
        for key, value in changes.items():
            setattr(node, key, value.strip() if isinstance(value, str) else value)
        node.save()
    return node


def org_node_move(*, actor: Any, node_id: Any, new_parent_id: Any, reason: str = "") -> OrgNode:
    """Move a node and its whole subtree under another parent; paths and owning company follow.

    One UPDATE rewrites the subtree, so the audit trail shows every moved row."""
    with transaction.atomic(), audit_context(actor=actor, reason=reason or "move node", source="service"):
        node = access_by_id(OrgNode, actor, node_id, for_update=True)
        require(actor, "org.move_orgnode", node)
        if node.parent_id is None:
            raise DomainError("node", _("the root group cannot be moved"))
        new_parent = access_by_id(OrgNode, actor, new_parent_id, for_update=True)
        tree.check_move(node=node.as_ref(), new_parent=new_parent.as_ref())
        if node.kind == tree.COMPANY or node.company_id != new_parent.company_id:
            # Business data belongs to a company; moving units between companies changes owners.
            raise DomainError("parent", _("a unit cannot be moved to another company (its accounts and "
                                          "bills belong to its company); create it in the new company"))
        old_root = node.path
        new_root = tree.child_path(new_parent.path, node.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE org_orgnode
                   SET path = %s || substr(path, length(%s) + 1),
                       depth = depth + %s,
                       parent_id = CASE WHEN id = %s THEN %s ELSE parent_id END,
                       updated_at = now()
                 WHERE path LIKE %s
                """,
                [new_root, old_root, tree.depth_of(new_root) - node.depth, node.pk, new_parent.pk,
                 old_root.replace("_", r"\_").replace("%", r"\%") + "%"],
            )
        node.refresh_from_db()
    return node


# --- staff -----------------------------------------------------------------------------------


def _role_groups(role_codes: Sequence[str]) -> list[Group]:
    codes = sorted(set(role_codes or ()))
    role_rules.permissions_for(codes)  # validates the codes
    groups = list(Group.objects.filter(name__in=codes))
    if len(groups) != len(codes):
        missing = set(codes) - {g.name for g in groups}
        raise DomainError("roles", _("roles not set up yet: %(roles)s (run ucis sync-roles)"),
                          roles=", ".join(sorted(missing)))
    return groups


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(problems=[FieldProblem("password", "%(message)s", {"message": str(m)})
                                    for m in exc.messages]) from exc


def staff_create(*, actor: Any, username: str, password: str, node_id: Any, roles: Sequence[str],
                 display_name: str = "", email: str = "", phone: str = "", employee_no: str = "",
                 is_staff: bool = False, is_superuser: bool = False, check_password: bool = True) -> User:
    username = (username or "").strip()
    if not username:
        raise DomainError("username", _("is required"))
    if node_id in (None, ""):
        raise DomainError("node", _("every staff member belongs to an organisation node"))
    with transaction.atomic(), audit_context(actor=actor, reason=f"create staff {username}", source="service"):
        node = access_by_id(OrgNode, actor, node_id)
        require(actor, "org.add_user", node)
        if User.objects.filter(username__iexact=username).exists():
            raise DomainError("username", _("%(username)s is already taken"), username=username)
        groups = _role_groups(roles)
        user = User(username=username, node=node, display_name=display_name, email=email, phone=phone,
                    employee_no=employee_no, is_staff=is_staff, is_superuser=is_superuser)
        if check_password:
            _check_password(password, user)
        user.set_password(password)
        user.save()
        user.groups.set(groups)
    return user


_EDITABLE_STAFF_FIELDS = ("display_name", "email", "phone", "employee_no", "is_active", "language")


def staff_update(*, actor: Any, staff_id: Any, node_id: Any = None, roles: Sequence[str] | None = None,
                 **changes: Any) -> User:
    unknown = set(changes) - set(_EDITABLE_STAFF_FIELDS)
    if unknown:
        raise DomainError(sorted(unknown)[0], _("cannot be changed here"))
    with transaction.atomic(), audit_context(actor=actor, reason="edit staff", source="service"):
        user = access_by_id(User, actor, staff_id, for_update=True)
        require(actor, "org.change_user", user)
        if node_id not in (None, "") and int(node_id) != user.node_id:
            user.node = access_by_id(OrgNode, actor, node_id)
        for key, value in changes.items():
            setattr(user, key, value.strip() if isinstance(value, str) else value)
        user.save()
        if roles is not None:
            user.groups.set(_role_groups(roles))
    return user


def staff_set_password(*, actor: Any, staff_id: Any, password: str) -> None:
    with transaction.atomic(), audit_context(actor=actor, reason="set password", source="service"):
        user = access_by_id(User, actor, staff_id, for_update=True)
        if getattr(actor, "pk", None) != user.pk:
            require(actor, "org.change_user", user)
        _check_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])


def staff_set_active_bulk(*, actor: Any, staff_ids: Sequence[Any], is_active: bool, reason: str) -> int:
    """Activate or deactivate many staff at once (one UPDATE; each row audited by the trigger)."""
    if not (reason or "").strip():
        raise DomainError("reason", _("say why (it is kept in the audit trail)"))
    try:
        ids = sorted({int(i) for i in staff_ids})
    except (TypeError, ValueError) as exc:
        raise DomainError("staff_ids", _("must be a list of staff ids")) from exc
    if not ids:
        raise DomainError("staff_ids", _("choose at least one staff member"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        require(actor, "org.change_user")
        visible = User.objects.visible_to(actor).filter(pk__in=ids)
        found = set(visible.values_list("pk", flat=True))
        if found != set(ids):
            # Same answer as for a missing id: an invisible staff member does not exist for this actor.
            missing = sorted(set(ids) - found)
            raise DomainError("staff_ids", _("no such staff member: %(ids)s"), ids=", ".join(map(str, missing)))
        if getattr(actor, "pk", None) in found and not is_active:
            raise DomainError("staff_ids", _("you cannot deactivate yourself"))
        return visible.update(is_active=is_active)


# --- roles -----------------------------------------------------------------------------------


def roles_sync() -> list[str]:
    """Create one auth group per role with exactly its permissions; returns unknown permissions."""
    missing: list[str] = []
    perms = {f"{p.content_type.app_label}.{p.codename}": p
             for p in Permission.objects.select_related("content_type")}
    with transaction.atomic(), audit_context(actor=None, reason="sync roles", source="command"):
        for code in role_rules.ROLE_CODES:
            group, _created = Group.objects.get_or_create(name=code)
            wanted = []
            for name in role_rules.PERMISSIONS[code]:
                if name in perms:
                    wanted.append(perms[name])
                else:
                    missing.append(name)
            group.permissions.set(wanted)
    return sorted(set(missing))


def roles_sync_after_migrate(*, app_config: Any = None, **kwargs: Any) -> None:
    """Runs after the last app's post_migrate, when every app's permissions exist."""
    from django.apps import apps

    if app_config is not list(apps.get_app_configs())[-1]:
        return
    missing = roles_sync()
    if missing:
        log.warning("role permissions not found: %s", ", ".join(missing))


# --- bulk load (demo city, migrations from legacy systems) -----------------------------------


@dataclass(frozen=True)
class NodeRow:
    code: str
    name: str
    kind: str
    parent_code: str | None
    name_en: str = ""
    commodities: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaffRow:
    username: str
    node_code: str
    roles: tuple[str, ...]
    display_name: str = ""
    employee_no: str = ""
    is_staff: bool = False
    is_superuser: bool = False


def org_bulk_load(*, actor: Any, nodes: Sequence[NodeRow], staff: Sequence[StaffRow], password: str,
                  reason: str) -> dict[str, int]:
    """Load a whole tree and its staff with COPY, all or nothing. Parents come before children.

    Every row passes the same tree rules as a single create; one password hash is shared (demo
    and migration accounts must change it at first use)."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from ucis.platform.bulk import copy_rows

    require(actor, "org.add_company")
    codes = [tree.normalise_code(n.code) for n in nodes]
    tree.check_unique_codes(codes, existing=OrgNode.objects.filter(code__in=codes).values_list("code", flat=True))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="bulk"):
        existing = {n.code: n for n in OrgNode.objects.all().only("id", "code", "kind", "path", "company_id")}
        ids = next_ids("org_orgnode", len(nodes))
        refs: dict[str, tuple[tree.NodeRef, int | None]] = {
            code: (n.as_ref(), n.company_id) for code, n in existing.items()}
        now = timezone.now()
        node_rows = []
        for index, (row, code, node_id) in enumerate(zip(nodes, codes, ids, strict=True)):
            parent = refs.get(row.parent_code.upper()) if row.parent_code else None
            if row.parent_code and parent is None:
                raise DomainError(f"nodes[{index}].parent_code", _("unknown node %(code)s"), code=row.parent_code)
            parent_ref = parent[0] if parent else None
            if parent_ref is None and OrgNode.objects.filter(parent__isnull=True).exists():
                raise DomainError(f"nodes[{index}].parent_code", _("the tree already has a root group"))
            tree.check_placement(kind=row.kind, parent=parent_ref)
            path = tree.child_path(parent_ref.path if parent_ref else None, node_id)
            company_id = node_id if row.kind == tree.COMPANY else (parent[1] if parent else None)
            refs[code] = (tree.NodeRef(node_id, row.kind, path), company_id)
            node_rows.append((node_id, parent_ref.id if parent_ref else None, code, row.name, row.name_en, row.kind,
                              path, tree.depth_of(path), company_id,
                              list(_validate_commodities(row.kind, row.commodities)), "", "", True, now, now))
        copy_rows("org_orgnode", ["id", "parent_id", "code", "name", "name_en", "kind", "path", "depth",
                                  "company_id", "commodities", "address", "phone", "is_active", "created_at",
                                  "updated_at"], node_rows)
        groups = {g.name: g.pk for g in Group.objects.filter(name__in=role_rules.ROLE_CODES)}
        taken = set(User.objects.filter(username__in=[s.username for s in staff]).values_list("username", flat=True))
        if taken:
            raise DomainError("staff", _("usernames already taken: %(names)s"), names=", ".join(sorted(taken)[:10]))
        user_ids = next_ids("org_user", len(staff))
        hashed = make_password(password)
        user_rows, member_rows = [], []
        for index, (row, user_id) in enumerate(zip(staff, user_ids, strict=True)):
            ref = refs.get(row.node_code.upper())
            if ref is None:
                raise DomainError(f"staff[{index}].node_code", _("unknown node %(code)s"), code=row.node_code)
            user_rows.append((user_id, hashed, row.is_superuser, row.username, "", "", "", row.is_staff, True, now,
                              ref[0].id, row.display_name, row.employee_no, "", ""))
            for role in row.roles:
                if role not in groups:
                    raise DomainError(f"staff[{index}].roles", _("unknown role %(role)s (run ucis sync-roles)"),
                                      role=role)
                member_rows.append((user_id, groups[role]))
        copy_rows("org_user", ["id", "password", "is_superuser", "username", "first_name", "last_name", "email",
                               "is_staff", "is_active", "date_joined", "node_id", "display_name", "employee_no",
                               "phone", "language"], user_rows)
        copy_rows("org_user_groups", ["user_id", "group_id"], member_rows)
    return {"nodes": len(node_rows), "staff": len(user_rows), "role_grants": len(member_rows)}
