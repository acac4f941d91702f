import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.http import Http404

from conftest import PASSWORD
from ucis.kernel.errors import DomainError
from ucis.org import services
from ucis.org.models import OrgNode, User
from ucis.org.services import UnitSpec
from ucis.platform.tenancy import SYSTEM


def snapshot():
    return (list(OrgNode.objects.order_by("id").values_list("id", "code", "path", "parent_id", "company_id")),
            list(User.objects.order_by("id").values_list("id", "username", "node_id")))


def test_company_tree_has_paths_and_owning_company(org):
    assert org.station_a.path == f"{org.branch_a.path}{org.station_a.pk}/"
    assert org.station_a.company_id == org.water.pk
    assert org.water.company_id == org.water.pk
    assert org.group.company_id is None
    assert org.station_a.depth == 3


def test_duplicate_code_is_refused_and_nothing_written(org):
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.org_node_create(actor=SYSTEM, parent_id=org.branch_a.pk, code="tw-b", name="x", kind="station")
    assert exc.value.problems[0].field == "code"
    with pytest.raises(DomainError) as exc:
        services.company_create(actor=SYSTEM, code="TX", name="新公司", commodities=["gas"],
                                units=[UnitSpec("TX-1", "一"), UnitSpec("TW-A", "重复"), UnitSpec("TX-1", "再重复"),
                                       UnitSpec("bad code", "")])
    fields = {p.field for p in exc.value.problems}
    assert {"units[1].code", "units[2].code", "units[3].code", "units[3].name"} <= fields
    assert snapshot() == before


def test_unknown_node_and_wrong_nesting(org):
    with pytest.raises(Http404):
        services.org_node_create(actor=SYSTEM, parent_id=999999, code="X1", name="x", kind="station")
    with pytest.raises(DomainError) as exc:
        services.org_node_create(actor=SYSTEM, parent_id=org.station_a.pk, code="X2", name="x", kind="company")
    assert exc.value.problems[0].field in ("parent", "kind")
    with pytest.raises(DomainError):
        services.company_create(actor=SYSTEM, code="X3", name="x", commodities=["steam"])


def test_moving_a_node_under_its_own_descendant_is_refused(org):
    before = snapshot()
    with pytest.raises(DomainError, match="own descendant"):
        services.org_node_move(actor=SYSTEM, node_id=org.branch_a.pk, new_parent_id=org.station_a.pk)
    with pytest.raises(DomainError, match="another company"):
        services.org_node_move(actor=SYSTEM, node_id=org.station_a.pk, new_parent_id=org.power.pk)
    assert snapshot() == before


def test_move_rewrites_the_subtree(org):
    services.org_node_move(actor=SYSTEM, node_id=org.station_a.pk, new_parent_id=org.branch_b.pk)
    moved = OrgNode.objects.get(pk=org.station_a.pk)
    assert moved.parent_id == org.branch_b.pk
    assert moved.path == f"{org.branch_b.path}{moved.pk}/" and moved.depth == 3
    # The clerk of branch B now sees the station; branch A's admin no longer does.
    assert OrgNode.objects.visible_to(org.clerk_b).filter(pk=moved.pk).exists()
    assert not OrgNode.objects.visible_to(org.admin_a).filter(pk=moved.pk).exists()


def test_staff_need_a_node_and_valid_roles(org):
    with pytest.raises(DomainError) as exc:
        services.staff_create(actor=SYSTEM, username="nobody", password=PASSWORD, node_id=None, roles=[])
    assert exc.value.problems[0].field == "node"
    with pytest.raises(DomainError) as exc:
        services.staff_create(actor=SYSTEM, username="x", password=PASSWORD, node_id=org.branch_a.pk,
                              roles=["wizard"])
    assert exc.value.problems[0].field == "roles"
    with pytest.raises(DomainError) as exc:
        services.staff_create(actor=SYSTEM, username="y", password="123", node_id=org.branch_a.pk, roles=[])
    assert exc.value.problems[0].field == "password"
    with pytest.raises(IntegrityError):  # the database refuses a user without a node, whatever the path
        User.objects.create(username="direct")


def test_permissions_and_subtree_apply_to_services(org):
    with pytest.raises(PermissionDenied):
        services.org_node_update(actor=org.clerk_b, node_id=org.branch_b.pk, name="x")
    with pytest.raises(Http404):
        services.org_node_update(actor=org.admin_b, node_id=org.branch_a.pk, name="x")
    with pytest.raises(Http404):
        services.staff_create(actor=org.admin_b, username="z", password=PASSWORD, node_id=org.branch_a.pk, roles=[])
    node = services.org_node_update(actor=org.admin_b, node_id=org.station_b.pk, name="乙一站（新）")
    assert node.name == "乙一站（新）"


def test_passwords_are_argon2(org):
    assert org.clerk_b.password.startswith("argon2")


def test_new_company_by_command_is_usable_at_once(org, client):
    call_command("add_company", code="TR", name="测试热力", commodity=["gas"],
                 unit=["TR-01,城东分公司", "  TR-01-01,城东服务站,station", "TR-02,县营业所,office"])
    company = OrgNode.objects.get(code="TR")
    assert set(OrgNode.objects.filter(company=company).values_list("code", flat=True)) == {
        "TR", "TR-01", "TR-01-01", "TR-02"}
    assert OrgNode.objects.get(code="TR-01-01").parent.code == "TR-01"
    call_command("create_staff", "tr.clerk", node="TR-01", role=["administrator"], password=PASSWORD)
    client.force_login(User.objects.get(username="tr.clerk"), backend="django.contrib.auth.backends.ModelBackend")
    station = OrgNode.objects.get(code="TR-01-01")
    assert client.get(f"/org/nodes/{station.pk}/").status_code == 200
    assert client.get(f"/org/nodes/{org.branch_a.pk}/").status_code == 404
    response = client.post(f"/org/nodes/{station.pk}/add/", {"code": "TR-01-01-D", "name": "抄表班",
                                                              "kind": "department"})
    assert response.status_code == 302
    with pytest.raises(CommandError, match="code TR is already used"):
        call_command("add_company", code="TR", name="again", commodity=["gas"])
    with pytest.raises(CommandError, match="parent"):
        call_command("add_company", code="TQ", name="x", commodity=["gas"], parent="NOPE")


def test_company_from_file(org, tmp_path):
    import json

    spec = {"code": "TF", "name": "文件公司", "commodities": ["water"],
            "units": [{"code": "TF-1", "name": "一分", "children": [{"code": "TF-1-1", "name": "站", "kind": "station"}]}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    call_command("add_company", file=str(path))
    assert OrgNode.objects.get(code="TF-1-1").company.code == "TF"
