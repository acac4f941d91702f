"""``payments_post_one``: one counter/API payment posted in one round trip (issue #7).

Locks the account row, checks the clerk's shift under its shared advisory lock, inserts the payment
once per (channel, external_ref), allocates it oldest bill first exactly like
``ledger.allocation.allocate_oldest_first`` over ``ledger.selectors.open_items`` (period, bill,
commodity before fees for others before late fees, then code), the rest as customer credit, and
posts the balanced journal entry ``payment:<id>``. Each statement of a volatile PL/pgSQL function
takes a fresh snapshot, so the open items are read after the account lock is held. A reference
posted before (or by a concurrent twin, after it commits) returns ``created`` false and the first
payment's id, posting nothing. Refusals raise SQLSTATE UC001 (shift closed) or UC002 (period closed).
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION payments_post_one(
    p_company bigint, p_node bigint, p_account bigint, p_channel text, p_ref text, p_amount numeric,
    p_received timestamptz, p_day date, p_clerk bigint, p_payer text, p_memo text, p_shift_lock int,
    p_cash text, p_cash_kind text, p_credit text, p_credit_kind text, p_late_fee text,
    OUT created boolean, OUT payment_id bigint, OUT bills bigint[], OUT codes text[], OUT amounts numeric[],
    OUT credit numeric)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_cash bigint; v_credit bigint; v_entry bigint; v_la bigint[]; v_n int;
BEGIN
  PERFORM 1 FROM customers_account a WHERE a.id = p_account FOR NO KEY UPDATE;
  IF p_clerk IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock_shared(p_shift_lock, (p_clerk & 2147483647)::int);
    IF EXISTS (SELECT 1 FROM payments_shiftclose s WHERE s.clerk_id = p_clerk AND s.business_date = p_day) THEN
      RAISE EXCEPTION 'shift closed' USING ERRCODE = 'UC001';
    END IF;
  END IF;
  INSERT INTO payments_payment AS p (company_id, node_id, account_id, channel, external_ref, amount, received_at,
                                     business_date, collected_by_id, payer_name, memo, status)
  VALUES (p_company, p_node, p_account, p_channel, p_ref, p_amount, p_received, p_day, p_clerk, p_payer, p_memo,
          'posted')
  ON CONFLICT (channel, external_ref) DO NOTHING RETURNING p.id INTO payment_id;
  IF payment_id IS NULL THEN  -- posted before (or a concurrent twin won): the first outcome stands
    created := false;
    SELECT p.id INTO payment_id FROM payments_payment p WHERE p.channel = p_channel AND p.external_ref = p_ref;
    RETURN;
  END IF;
  created := true;
  IF EXISTS (SELECT 1 FROM ledger_ledgerperiod lp WHERE lp.company_id = p_company
                AND lp.period = date_trunc('month', p_day)::date AND lp.closed_at IS NOT NULL) THEN
    RAISE EXCEPTION 'period closed' USING ERRCODE = 'UC002';
  END IF;
  INSERT INTO ledger_ledgeraccount (company_id, code, kind, receivable)
  VALUES (p_company, p_cash, p_cash_kind, false), (p_company, p_credit, p_credit_kind, false)
  ON CONFLICT (company_id, code) DO NOTHING;
  SELECT la.id INTO STRICT v_cash FROM ledger_ledgeraccount la WHERE la.company_id = p_company AND la.code = p_cash;
  SELECT la.id INTO STRICT v_credit FROM ledger_ledgeraccount la
   WHERE la.company_id = p_company AND la.code = p_credit;
  WITH o AS (
    SELECT l.bill_id, l.ledger_account_id, a.code, sum(l.amount) AS open, b.period,
           CASE WHEN a.code = p_late_fee THEN 2 WHEN a.code LIKE 'RECEIVABLE:ON\_BEHALF:%' THEN 1 ELSE 0 END AS rank
      FROM ledger_journalline l
      JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id AND a.receivable AND a.company_id = p_company
      JOIN billing_bill b ON b.id = l.bill_id
     WHERE l.account_id = p_account AND l.bill_id IS NOT NULL
     GROUP BY l.bill_id, l.ledger_account_id, a.code, b.period HAVING sum(l.amount) > 0),
  r AS (SELECT o.*, sum(o.open) OVER (ORDER BY o.period, o.bill_id, o.rank, o.code ROWS UNBOUNDED PRECEDING)
                    - o.open AS o0 FROM o)
  SELECT coalesce(array_agg(r.bill_id ORDER BY r.o0), '{}'), coalesce(array_agg(r.ledger_account_id ORDER BY r.o0), '{}'),
         coalesce(array_agg(r.code ORDER BY r.o0), '{}'),
         coalesce(array_agg(least(p_amount - r.o0, r.open) ORDER BY r.o0), '{}')
    INTO bills, v_la, codes, amounts
    FROM r WHERE r.o0 < p_amount;
  v_n := cardinality(bills);
  credit := p_amount - coalesce((SELECT sum(x) FROM unnest(amounts) x), 0);
  INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, line_count, idempotency_key,
                                   source_type, source_id, memo, reverses_id, created_by_id)
  VALUES (p_company, p_node, 'payment', p_day, now(), 1 + v_n + (credit > 0)::int, 'payment:' || payment_id,
          'payment', payment_id, left(p_channel || ' ' || p_ref, 200), NULL, p_clerk)
  RETURNING id INTO v_entry;
  INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
  SELECT v_entry, 1, v_cash, NULL, NULL, p_amount
  UNION ALL
  SELECT v_entry, 1 + t.i, t.la, p_account, t.b, -t.m
    FROM unnest(v_la, bills, amounts) WITH ORDINALITY AS t(la, b, m, i)
  UNION ALL
  SELECT v_entry, 2 + v_n, v_credit, p_account, NULL, -credit WHERE credit > 0;
END;
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("ledger", "0003_prepaid_entries"),
        ("billing", "0002_bill_due_date"),
    ]

    operations = [migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS payments_post_one")]
