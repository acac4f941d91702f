import pytest
from django.db import connection, transaction

from ucis.org import services
from ucis.org.models import OrgNode, User
from ucis.platform import audit
from ucis.platform.tenancy import SYSTEM


def changes_of(entry):
    return {c.field: (c.before, c.after) for c in entry.changes}


def test_web_edit_records_who_where_before_after(org, login):
    client = login(org.admin_b)
    response = client.post(f"/org/nodes/{org.station_b.pk}/edit/", {"name": "乙一新站", "is_active": "on"},
                           REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="pytest-browser")
    assert response.status_code == 302
    last = audit.object_history(OrgNode.objects.get(pk=org.station_b.pk))[-1]
    assert last.label == "update"
    assert changes_of(last)["name"] == ("乙一服务站", "乙一新站")
    assert last.actor == "admin.b" and last.ip == "10.1.2.3"
    assert last.url == f"/org/nodes/{org.station_b.pk}/edit/"


def test_bulk_update_records_every_row_with_reason(org):
    ids = [org.clerk_b.pk, org.manager_b.pk]
    assert services.staff_set_active_bulk(actor=org.admin_b, staff_ids=ids, is_active=False, reason="调离") == 2
    for user in User.objects.filter(pk__in=ids):
        last = audit.object_history(user)[-1]
        assert changes_of(last)["is_active"] == (True, False)
        assert last.reason == "调离" and last.actor == "admin.b"


def test_raw_sql_is_captured_and_attributed(org):
    with transaction.atomic(), audit.audit_context(actor=SYSTEM, reason="data fix #12"):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE org_orgnode SET phone = '95598' WHERE company_id = %s", [org.water.pk])
    entries = audit.object_history(OrgNode.objects.get(pk=org.station_a.pk))
    assert changes_of(entries[-1])["phone"] == ("", "95598")
    assert entries[-1].reason == "data fix #12"
    assert entries[-1].actor == "system"


def test_role_changes_and_creation_show_in_staff_history(org):
    from ucis.org import selectors

    services.staff_update(actor=org.admin_b, staff_id=org.clerk_b.pk, roles=["counter_clerk", "meter_reader"])
    entries = selectors.staff_history(actor=org.admin_b, staff_id=org.clerk_b.pk)
    assert entries[0].label == "insert"
    assert any(c.field == "role" and c.after == "meter_reader" for e in entries for c in e.changes)
    assert not any(c.field == "password" for e in entries for c in e.changes)


def test_search_is_limited_to_the_subtree_and_keeps_deleted_rows(org):
    services.org_node_update(actor=org.admin_a, node_id=org.station_a.pk, name="甲站改名")
    services.org_node_update(actor=org.admin_b, node_id=org.station_b.pk, name="乙站改名")
    doomed = services.org_node_create(actor=SYSTEM, parent_id=org.branch_b.pk, code="TW-B-9", name="临时站",
                                      kind="station")
    OrgNode.objects.filter(pk=doomed.pk).delete()
    seen_by_b = audit.audit_search(actor=org.manager_b, model="org.orgnode")
    names = {e.object_repr for e in seen_by_b}
    assert "乙站改名" in names and "临时站" in names
    assert "甲站改名" not in names and not any(e.object_id == org.station_a.pk for e in seen_by_b)
    deleted = audit.audit_search(actor=org.manager_b, label="delete")
    assert [e.object_id for e in deleted] == [doomed.pk]
    assert audit.audit_search(actor=org.manager_b, text="乙站改名")
    assert not audit.audit_search(actor=org.manager_b, text="甲站改名")
    assert audit.audit_search(actor=org.group_admin, text="甲站改名")


def test_audit_page_and_api(org, login):
    services.org_node_update(actor=org.admin_b, node_id=org.station_b.pk, name="乙站改名")
    client = login(org.manager_b)
    page = client.get("/audit/", {"text": "乙站改名"}).content.decode()
    assert "乙站改名" in page and "乙一服务站" in page
    api = client.get("/api/v1/audit/events", {"model": "org.orgnode", "label": "update"}).json()
    assert api[0]["changes"][0]["after"] == "乙站改名" or any(
        c["after"] == "乙站改名" for e in api for c in e["changes"])
    assert login(org.clerk_b).get("/audit/").status_code == 403
    history = client.get(f"/api/v1/org/nodes/{org.station_b.pk}/history").json()
    assert history[-1]["changes"] == [{"field": "name", "before": "乙一服务站", "after": "乙站改名"}]


@pytest.mark.parametrize("url", ["/org/nodes/{id}/history/"])
def test_history_tab_renders(org, login, url):
    services.org_node_update(actor=org.admin_b, node_id=org.station_b.pk, name="乙站改名")
    body = login(org.admin_b).get(url.format(id=org.station_b.pk), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="history"' in body and "乙站改名" in body and "乙一服务站" in body


def test_system_wide_search_covers_every_audited_table(org):
    services.staff_update(actor=org.admin_b, staff_id=org.clerk_b.pk, roles=["meter_reader"])
    entries = audit.audit_search(actor=SYSTEM, limit=500)
    assert {e.model for e in entries} >= {"org.orgnode", "org.user"}
