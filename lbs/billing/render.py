"""Statements as CSV and as a printable HTML page (pure functions of a :class:`Statement`)."""

from __future__ import annotations

import csv
import html
import io

from lbs.billing.rating import format_minor, period_label
from lbs.billing.statements import Statement

CSV_HEADER = ("kind", "event_type", "short_code", "description", "quantity", "amount_minor", "currency")


def to_csv(s: Statement) -> str:
    """One row per line, then one row per total; amounts in minor units (no float, no locale formatting)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for ln in s.lines:
        writer.writerow(
            (
                ln.kind,
                ln.event_type or "",
                ln.short_code or "",
                ln.description,
                ln.quantity,
                ln.amount_minor,
                s.currency,
            )
        )
    t = s.totals
    for label, amount in (
        ("usage", t.usage_minor),
        ("fees", t.fees_minor),
        ("revenue_share", -t.share_minor),
        ("total_excl_tax", t.total_minor),
        ("prepaid", -t.prepaid_minor),
        ("due", t.due_minor),
    ):
        writer.writerow(("total", "", "", label, "", amount, s.currency))
    return out.getvalue()


_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%}"
    "th,td{padding:4px 8px;border-bottom:1px solid #ccc;text-align:left}td.n{text-align:right}"
    "tfoot td{font-weight:bold}@media print{body{margin:0}}"
)


def to_html(s: Statement) -> str:
    """A self-contained printable page (no scripts, no external resources); every value is escaped."""
    esc = html.escape

    def money(amount: int) -> str:
        return esc(format_minor(amount, s.currency))

    rows = "".join(
        f"<tr><td>{esc(ln.description)}</td><td class=n>{ln.quantity:,}</td>"
        f"<td class=n>{money(ln.amount_minor)}</td></tr>"
        for ln in s.lines
    )
    t = s.totals
    foot = "".join(
        f"<tr><td colspan=2>{esc(label)}</td><td class=n>{money(v)}</td></tr>"
        for label, v in (
            ("Usage", t.usage_minor),
            ("Recurring and one-off fees", t.fees_minor),
            ("Revenue share credited", -t.share_minor),
            ("Total excluding tax", t.total_minor),
            ("Already paid from prepaid credit", -t.prepaid_minor),
            ("Amount due excluding tax", t.due_minor),
        )
    )
    title = f"Statement {period_label(s.period)} — {s.provider_name}"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>"
        f"<p>Account: {esc(s.account)} · status: {esc(s.status)} · currency: {esc(s.currency)}</p>"
        "<table><thead><tr><th>Line</th><th>Quantity</th><th>Amount</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot>{foot}</tfoot></table></body></html>"
    )
