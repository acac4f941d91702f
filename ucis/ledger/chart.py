"""The chart of receivable accounts (科目) and how a bill line posts into it — pure, no Django.

Each company has its own accounts, named by code. A bill line carries the receivable it belongs
to: ``RECEIVABLE`` (the utility's own charge for the commodity) or ``ON_BEHALF:<fee>`` (sewage,
garbage, water-resources fees and government funds collected for someone else). The money of an
on-behalf fee never touches revenue: it is owed by the customer to us and by us to the fee's owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

ASSET, LIABILITY, REVENUE, EXPENSE = "asset", "liability", "revenue", "expense"
KINDS = (ASSET, LIABILITY, REVENUE, EXPENSE)

CUSTOMER_CREDIT = "CUSTOMER_CREDIT"
LATE_FEE_RECEIVABLE = "RECEIVABLE:LATE_FEE"
LATE_FEE_REVENUE = "LATE_FEE_REVENUE"
WRITE_OFF = "WRITE_OFF"
REFUND_PAYABLE = "REFUND_PAYABLE"

CHANNELS = ("counter", "bank", "wechat", "alipay", "kiosk", "card")


@dataclass(frozen=True)
class ChartAccount:
    code: str
    kind: str
    receivable: bool = False  # a customer's debt lives here (counts towards arrears)


def account_of(code: str) -> ChartAccount:
    """The kind of the account named ``code``; unknown shapes are refused, never guessed."""
    if code.startswith("RECEIVABLE:"):
        return ChartAccount(code, ASSET, receivable=True)
    if code.startswith("REVENUE:") or code == LATE_FEE_REVENUE:
        return ChartAccount(code, REVENUE)
    if code.startswith("PAYABLE:ON_BEHALF:") or code in (CUSTOMER_CREDIT, REFUND_PAYABLE):
        return ChartAccount(code, LIABILITY)
    if code.startswith("CASH:"):
        if code[5:] not in CHANNELS:
            raise DomainError("ledger_account", _("unknown payment channel %(channel)s"), channel=code[5:])
        return ChartAccount(code, ASSET)
    if code == WRITE_OFF:
        return ChartAccount(code, EXPENSE)
    raise DomainError("ledger_account", _("unknown ledger account %(code)s"), code=code)


def bill_line_accounts(receivable: str, commodity: str) -> tuple[str, str]:
    """(debit, credit) accounts of a bill line: the customer's receivable and where the money is due.

    ``RECEIVABLE`` → RECEIVABLE:<COMMODITY> / REVENUE:<COMMODITY>;
    ``ON_BEHALF:<FEE>`` → RECEIVABLE:ON_BEHALF:<FEE> / PAYABLE:ON_BEHALF:<FEE>."""
    if receivable == "RECEIVABLE":
        return f"RECEIVABLE:{commodity.upper()}", f"REVENUE:{commodity.upper()}"
    if receivable.startswith("ON_BEHALF:") and len(receivable) > len("ON_BEHALF:"):
        return f"RECEIVABLE:{receivable}", f"PAYABLE:{receivable}"
    raise DomainError("receivable", _("unknown receivable %(code)s on a bill line"), code=receivable)


def cash_account(channel: str) -> str:
    code = f"CASH:{channel}"
    account_of(code)
    return code


def allocation_rank(code: str) -> int:
    """Within a bill, what a payment settles first: the commodity charge (0), then the fees
    collected for others (1), then late fees (2)."""
    if code == LATE_FEE_RECEIVABLE:
        return 2
    return 1 if code.startswith("RECEIVABLE:ON_BEHALF:") else 0
