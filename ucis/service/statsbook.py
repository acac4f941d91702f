"""The service statistics as an Excel workbook (one sheet per breakdown)."""

from __future__ import annotations

import io
from typing import Any

from django.utils.translation import gettext

from ucis.service.models import CHANNELS, ORDER_TYPES


def labels() -> dict[str, str]:
    return {code: str(label) for code, label in (*ORDER_TYPES, *CHANNELS)}


def workbook(stats: dict[str, Any], *, labels: dict[str, str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Summary")[:31]
    period = stats["period"]
    t = stats["timeliness"]
    s = stats["satisfaction"]
    for row in ([gettext("From"), period.date_from], [gettext("To (exclusive)"), period.date_to],
                [gettext("Orders"), stats["total"]], [gettext("On time"), t["on_time"]], [gettext("Late"), t["late"]],
                [gettext("Open and overdue"), t["open_overdue"]],
                [gettext("Timeliness rate"), float(t["rate"]) if t["rate"] is not None else None],
                [gettext("Return visits with a score"), s["visits"]],
                [gettext("Mean satisfaction"), float(s["mean"]) if s["mean"] is not None else None],
                [gettext("Satisfied (4–5)"), float(s["satisfied_rate"]) if s["satisfied_rate"] is not None else None]):
        sheet.append(row)

    def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
        ws = book.create_sheet(title[:31])
        ws.append(header)
        for r in rows:
            ws.append(r)

    table(gettext("By type"), [gettext("type"), gettext("Orders")],
          [[labels.get(k, k), n] for k, n in stats["by_type"]])
    table(gettext("By channel"), [gettext("channel"), gettext("Orders")],
          [[labels.get(k, k), n] for k, n in stats["by_channel"]])
    table(gettext("By area"), [gettext("District"), gettext("Orders")], [[k or "—", n] for k, n in stats["by_area"]])
    table(gettext("By day"), [gettext("Day"), gettext("Orders")], [[d, n] for d, n in stats["by_day"]])
    table(gettext("Timeliness"), [gettext("Unit"), gettext("On time"), gettext("Late"), gettext("Open and overdue"),
                                  gettext("Running"), gettext("Orders"), gettext("Timeliness rate")],
          [[d["name"], d["on_time"], d["late"], d["open_overdue"], d["running"], d["total"],
            float(d["rate"]) if d["rate"] is not None else None] for d in stats["departments"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
