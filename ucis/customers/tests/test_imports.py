"""Legacy registry imports against PostgreSQL: dry run → apply → re-import unchanged, all or nothing."""

from __future__ import annotations

import csv
import io
import random
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from ucis.customers import exchange, identity, imports, selectors, services
from ucis.customers.models import Account, Customer, ImportJob, Meter, Premise
from ucis.platform.tenancy import SYSTEM

TODAY = date(2026, 11, 23)
HEADER = ["客户编号", "户名", "客户类型", "证件号码", "联系电话", "户号", "营业单位", "缴费方式", "开户日期", "地址编号",
          "地址编码", "房号", "建筑面积", "人口数", "业务类别", "表号", "表类型", "表位数", "倍率", "生产厂家", "型号",
          "装表日期", "装表读数", "IC卡号"]
UNIT = "D01-S01-C01-B03-U2"


def legacy_row(i: int, **over: str) -> dict[str, str]:
    rng = random.Random(i)
    row = {"客户编号": f"LC{i:05d}", "户名": rng.choice("张王李赵") + "三", "客户类型": "居民",
           "证件号码": identity.make_resident_id(rng, birth=date(1960, 1, 1 + i % 28), seq=i % 1000),
           "联系电话": f"1381234{i:04d}", "户号": f"LA{i:05d}", "营业单位": "TW-B-1", "缴费方式": "微信",
           "开户日期": "2019/03/01", "地址编号": f"LP{i:05d}", "地址编码": UNIT, "房号": f"{100 + i}",
           "建筑面积": "89.50", "人口数": "3", "业务类别": "水", "表号": f"WM{i:06d}", "表类型": "IC卡表", "表位数": "5",
           "倍率": "1", "生产厂家": "宁波水表", "型号": "LXS-15", "装表日期": "2019-03-02", "装表读数": "12.5",
           "IC卡号": f"K{i:06d}"}
    row.update(over)
    return row


def legacy_file(rows: list[dict[str, str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


@pytest.fixture
def areas(db):
    return services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D01", "城东区"), ("street", "D01-S01", "解放路街道"), ("community", "D01-S01-C01", "幸福小区"),
        ("building", "D01-S01-C01-B03", "3幢"), ("unit", UNIT, "2单元")])


def check(actor, content, name="legacy.csv"):
    return imports.registry_import_check(actor=actor, content=content, filename=name, today=TODAY)


def apply(actor, content, name="legacy.csv"):
    return imports.registry_import_apply(actor=actor, content=content, filename=name, today=TODAY)


def reasons(report):
    return [(p.row, p.column, p.reason) for p in report.problems]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_dry_run_apply_then_reimport_changes_nothing(org, areas, encoding):
    content = legacy_file([legacy_row(i) for i in range(1, 6)], encoding)
    dry = check(org.admin_b, content)
    assert dry.clean, reasons(dry)
    assert dry.counts["new"] == 5 and dry.counts["new_customers"] == 5 and dry.counts["new_meters"] == 5
    assert Customer.objects.count() == 0, "a dry run writes nothing"
    applied = apply(org.admin_b, content)
    assert applied.applied and applied.clean
    account = Account.objects.select_related("customer", "node", "billing_premise").get(legacy_ref="LA00001")
    assert account.node == org.station_b and account.payment_method == "wechat"
    assert account.customer.legacy_ref == "LC00001" and account.customer.phone == "13812340001"
    assert account.billing_premise.legacy_ref == "LP00001"
    assert account.billing_premise.address == "城东区解放路街道幸福小区3幢2单元101室"
    meter = Meter.objects.get(serial="WM000001")
    assert meter.meter_type == "ic_prepaid" and meter.ic_card_no == "K000001" and meter.node == org.station_b
    assert meter.installations.get().install_reading == 12.5
    assert selectors.customer_search(actor=org.admin_b, q="13812340001") == [account.customer]
    before = (Customer.objects.count(), Account.objects.count(), Meter.objects.count())
    again = apply(org.admin_b, content)
    assert again.clean and again.counts["unchanged"] == 5 and again.counts["new"] == 0
    assert (Customer.objects.count(), Account.objects.count(), Meter.objects.count()) == before


def test_gbk_and_utf8_files_read_the_same(org, areas):
    rows = [legacy_row(i) for i in range(1, 4)]
    utf8 = exchange.parse_file(legacy_file(rows), "a.csv", today=TODAY, max_bytes=10**6)
    gbk = exchange.parse_file(legacy_file(rows, "gbk"), "a.csv", today=TODAY, max_bytes=10**6)
    assert gbk.encoding == "gb18030" and utf8.encoding == "utf-8"
    assert [(r.name, r.phone) for r in gbk.rows] == [(r.name, r.phone) for r in utf8.rows] != []


def test_one_bad_row_and_nothing_is_written(org, areas):
    rows = [legacy_row(i) for i in range(1, 5)]
    rows[2]["证件号码"] = rows[2]["证件号码"][:17] + ("0" if rows[2]["证件号码"][17] != "0" else "1")
    rows[3]["联系电话"] = "12345"
    report = apply(org.admin_b, legacy_file(rows))
    assert not report.applied
    assert [(p.row, p.column) for p in report.problems] == [(4, "证件号码"), (5, "联系电话")]
    assert "check digit" in report.problems[0].reason
    assert Customer.objects.count() == 0 and Meter.objects.count() == 0 and Premise.objects.count() == 0


def test_registry_checks_unknown_codes_foreign_units_and_taken_serials(org, areas, account):
    meter = services.meter_register(actor=SYSTEM, node_id=org.station_b.pk, serial="TAKEN-1", commodity="water",
                                    meter_type="smart")
    services.meter_install(actor=SYSTEM, meter_id=meter.pk,
                           service_point_id=account.agreements.get().service_point_id, installed_date=TODAY)
    services.meter_register(actor=SYSTEM, node_id=org.station_b.pk, serial="SPARE-1", commodity="water",
                            meter_type="smart")
    rows = [legacy_row(1, 地址编码="NOPE"), legacy_row(2, 营业单位="TW-A-1"), legacy_row(3, 表号="TAKEN-1"),
            legacy_row(4, 表号="SPARE-1"), legacy_row(5, 证件号码=account.customer.id_number),
            legacy_row(6, 营业单位="TE-A"), legacy_row(7)]
    report = check(org.admin_b, legacy_file(rows))
    got = {(p.row, p.column): p.reason for p in report.problems}
    assert "unknown address code NOPE" in got[(2, "地址编码")]
    assert "unknown unit code TW-A-1" in got[(3, "营业单位")]  # branch A is outside admin B's subtree
    assert "is installed at 城东区" in got[(4, "表号")]
    assert "already registered" in got[(5, "表号")]
    assert "already registered" in got[(6, "证件号码")]
    assert (7, "营业单位") in got  # power company's unit: not visible to branch B of the water company
    assert not any(p.row == 8 for p in report.problems)
    # The same unit codes are fine for the group administrator, except the power company's commodity.
    root = check(org.group_admin, legacy_file([legacy_row(2, 营业单位="TW-A-1"), legacy_row(6, 营业单位="TE-A")]))
    assert [(p.row, p.column) for p in root.problems] == [(3, "业务类别")]


def test_within_file_duplicates_and_meter_on_two_premises(org, areas):
    rows = [legacy_row(1), legacy_row(2, 表号="WM000001"), legacy_row(3, 表号="WM000001", 地址编号="LP00001",
                                                                  IC卡号="K000009"),
            legacy_row(4, 户名="别人", 客户编号="LC00001")]
    report = check(org.admin_b, legacy_file(rows))
    got = {(p.row, p.column): p.reason for p in report.problems}
    assert "a meter is on one premise at a time" in got[(3, "表号")]
    assert "duplicate meter serial" in got[(4, "表号")]
    assert "says 张三" in got[(5, "户名")] or "on row 2" in got[(5, "户名")]


def test_changed_reimport_is_a_conflict_naming_the_columns(org, areas):
    apply(org.admin_b, legacy_file([legacy_row(1), legacy_row(2)]))
    changed = apply(org.admin_b, legacy_file([legacy_row(1, 联系电话="13900000000", 倍率="2"), legacy_row(2)]))
    assert not changed.applied
    got = {(p.row, p.column): p.reason for p in changed.problems}
    assert "联系电话" in got[(2, "联系电话")] and "倍率" in got[(2, "倍率")]
    assert Customer.objects.get(legacy_ref="LC00001").phone == "13812340001"


def test_a_new_account_for_an_imported_customer(org, areas):
    apply(org.admin_b, legacy_file([legacy_row(1)]))
    same_place = legacy_row(1, 户号="LA-2", 表号="WM-NEW", IC卡号="")
    report = check(org.admin_b, legacy_file([same_place]))
    assert [(p.row, p.column) for p in report.problems] == [(2, "地址编号")]  # water there is on LA00001
    assert "already on another account" in report.problems[0].reason
    elsewhere = legacy_row(1, 户号="LA-2", 表号="WM-NEW", IC卡号="", 地址编号="LP-2", 房号="999")
    report = apply(org.admin_b, legacy_file([legacy_row(1), elsewhere]))
    assert report.applied, reasons(report)
    assert report.counts["new_customers"] == 0 and report.counts["new_accounts"] == 1
    assert report.counts["unchanged"] == 1
    assert Account.objects.filter(customer__legacy_ref="LC00001").count() == 2


def test_export_then_import_is_unchanged_csv_and_xlsx(org, areas, account):
    apply(org.admin_b, legacy_file([legacy_row(i) for i in range(1, 4)]))
    rows = list(selectors.registry_export_rows(actor=org.admin_b))
    assert len(rows) == 4  # the fixture's account (no meter) and the three imported ones
    content = exchange.write_xlsx(rows)
    report = apply(org.admin_b, content, "export.xlsx")
    assert report.clean, reasons(report)
    assert report.counts["unchanged"] == 4 and report.counts["new"] == 0
    out = io.StringIO()
    csv.writer(out).writerows([exchange.EXPORT_HEADERS, *rows])
    assert apply(org.admin_b, out.getvalue().encode("utf-8-sig"), "export.csv").counts["unchanged"] == 4
    # Branch A sees nothing of branch B's registry.
    assert list(selectors.registry_export_rows(actor=org.admin_a)) == []


def test_size_limit_and_damaged_excel(org, areas, settings):
    settings.UCIS_IMPORT_MAX_BYTES = 200
    content = legacy_file([legacy_row(i) for i in range(1, 4)])
    report = check(org.admin_b, content)
    assert report.problems[0].row == 0 and "at most 200 bytes" in report.problems[0].reason
    with pytest.raises(services.DomainError, match="at most 200 bytes"):
        imports.import_job_create(actor=org.admin_b, content=content, filename="big.csv")
    settings.UCIS_IMPORT_MAX_BYTES = 10**6
    whole = exchange.write_xlsx([exchange.EXPORT_HEADERS[:3]] * 2)
    broken = check(org.admin_b, whole[: len(whole) // 2], "broken.xlsx")
    assert not broken.clean and "damaged or incomplete" in broken.problems[0].reason


def test_job_check_then_apply_and_only_its_subtree_sees_it(org, areas, login, django_capture_on_commit_callbacks):
    content = legacy_file([legacy_row(i) for i in range(1, 4)], "gbk")
    client = login(org.admin_b)
    upload = io.BytesIO(content)
    upload.name = "legacy-gbk.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/customers/import/", {"file": upload})
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = ImportJob.objects.get()
    assert job.status == "checked" and job.total_rows == 3 and job.counts["new"] == 3
    page = client.get(f"/customers/import/{job.pk}/").content.decode()
    assert 'data-testid="import-apply"' in page and "3" in page
    progress = client.get(f"/customers/import/{job.pk}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert "progress" in progress
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/customers/import/{job.pk}/apply/").status_code == 302
    job.refresh_from_db()
    assert job.status == "applied" and job.content == "" and Account.objects.count() == 3
    twice = client.post(f"/customers/import/{job.pk}/apply/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "only a checked file without problems can be applied" in twice.content.decode()
    assert Account.objects.count() == 3
    assert login(org.admin_a).get(f"/customers/import/{job.pk}/").status_code == 404


def test_api_dry_run_then_apply_and_problems(org, areas, login, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = login(org.admin_b)
    good = legacy_file([legacy_row(i) for i in range(1, 3)], "gbk")
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/api/v1/registry/imports", {"file": SimpleUploadedFile("a.csv", good), "dry_run": "true"})
    assert posted.status_code == 202, posted.content
    job = client.get(f"/api/v1/registry/imports/{posted.json()['id']}").json()
    assert job["status"] == "checked" and job["counts"]["new"] == 2 and Customer.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/api/v1/registry/imports", {"file": SimpleUploadedFile("a.csv", good),
                                                          "dry_run": "false"})
    job = client.get(f"/api/v1/registry/imports/{posted.json()['id']}").json()
    assert job["status"] == "applied" and Customer.objects.count() == 2
    bad = legacy_file([legacy_row(3, 联系电话="123")])
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/api/v1/registry/imports", {"file": SimpleUploadedFile("b.csv", bad), "dry_run": "false"},
                             HTTP_ACCEPT_LANGUAGE="en")
    job = client.get(f"/api/v1/registry/imports/{posted.json()['id']}").json()
    assert job["status"] == "rejected" and job["problems"][0]["row"] == 2
    assert job["problems"][0]["column"] == "联系电话" and Customer.objects.count() == 2
    assert login(org.admin_a).get(f"/api/v1/registry/imports/{job['id']}").status_code == 404


def test_clerk_without_the_permission_cannot_import(org, areas, login):
    client = login(org.clerk_b)
    assert client.get("/customers/import/").status_code == 403
    with pytest.raises(PermissionDenied):
        check(org.clerk_b, legacy_file([legacy_row(1)]))


def test_cli_dry_run_apply_and_export(org, areas, tmp_path):
    from django.core.management import call_command

    path = tmp_path / "legacy.csv"
    path.write_bytes(legacy_file([legacy_row(i) for i in range(1, 4)], "gbk"))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_registry", str(path), "--dry-run", "--as", "admin.b", stdout=out, stderr=err)
    assert "checked (dry run" in out.getvalue() and "new=3" in out.getvalue()
    assert "reading rows" in err.getvalue() and "100%" in err.getvalue()
    assert Customer.objects.count() == 0
    call_command("import_registry", str(path), stdout=out, stderr=err)
    assert Customer.objects.count() == 3
    exported = tmp_path / "out.xlsx"
    call_command("export_registry", str(exported), "--as", "admin.b", stdout=out)
    again = io.StringIO()
    call_command("import_registry", str(exported), "--as", "admin.b", stdout=again, stderr=err)
    assert "unchanged=3" in again.getvalue()
    path.write_bytes(legacy_file([legacy_row(9, 地址编码="NOPE")]))
    bad = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("import_registry", str(path), stdout=bad, stderr=err)
    assert exit_.value.code == 1
    assert "row 2\t地址编码\tunknown address code NOPE" in bad.getvalue()


def test_export_pages_csv_and_xlsx(org, areas, login):
    apply(org.admin_b, legacy_file([legacy_row(i) for i in range(1, 3)]))
    client = login(org.admin_b)
    response = client.get("/customers/export/")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0].startswith("客户编号,户名") and "LA00001" in body and "13812340001" in body
    xlsx = client.get("/customers/export/", {"format": "xlsx"})
    parsed = exchange.parse_file(xlsx.content, "x.xlsx", today=TODAY, max_bytes=10**6)
    assert [r.account_key for r in parsed.rows] == ["LA00001", "LA00002"]
    assert login(org.manager_b).get("/customers/export/").status_code == 200
    assert login(org.clerk_b).get("/customers/export/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_job_runs_in_a_thread_with_progress(org, areas, settings):
    import time

    from ucis.customers import tasks

    settings.UCIS_TASKS_IN_THREAD = True
    job = tasks.import_submit(actor=org.admin_b, content=legacy_file([legacy_row(i) for i in range(1, 40)]),
                              filename="threaded.csv")
    deadline = time.monotonic() + 30
    while job.status in ("queued", "checking") and time.monotonic() < deadline:
        time.sleep(0.05)
        job.refresh_from_db()
    assert job.status == "checked", job.report
    assert job.done_rows == job.total_rows == 39 and job.percent == 100


def test_a_crash_marks_the_job_failed(org, areas, monkeypatch):
    from ucis.customers import tasks

    job = imports.import_job_create(actor=org.admin_b, content=legacy_file([legacy_row(1)]), filename="x.csv")

    def boom(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports, "import_job_check", boom)
    with pytest.raises(RuntimeError):
        tasks.import_check_task(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "disk on fire" in job.report["error"]
