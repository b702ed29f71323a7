"""The validation report: a self-contained HTML page a data engineer can open from the UI.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

REPORT_SAMPLE_ROWS = 25

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:0.9em}th{background:#f3f3f3}
.ok{color:#17692b}.warn{color:#a05a00}.bad{color:#b00020}.status{font-size:1.4em;font-weight:bold}code{background:#f6f6f6}
"""


def render_report(result: dict[str, Any], quarantined: pd.DataFrame | None) -> str:
    """A self-contained HTML page a data engineer can read in the Airflow UI or a browser."""
    e = html.escape
    status = result["status"]
    cls = {"accepted": "ok", "partial": "warn"}.get(status, "bad")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation {e(result['use_case'])} "
        f"{e(result['date'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Batch validation: {e(result['use_case'])} / {e(result['date'])}</h1>",
        f"<p class='status {cls}'>{e(status.upper())}</p>",
        "<table><tr><th>received</th><th>accepted</th><th>quarantined</th><th>incoming</th><th>sha256</th></tr>",
        f"<tr><td>{result['received']}</td><td>{result['accepted']}</td><td>{result['quarantined']}</td>"
        f"<td><code>{e(result['incoming_key'])}</code></td><td><code>{e(result['incoming_sha256'][:16])}…</code></td>"
        "</tr></table>",
    ]
    notes = (result.get("parse") or {}).get("notes") or []
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    if result["reasons"]:
        parts.append("<h2>Reasons</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in result["reasons"]) + "</ul>")
    suite = (result.get("parse") or {}).get("suite") or {}
    parts.append(f"<h2>Expectations</h2><p>suite: <code>{e(str(suite.get('source', '-')))}</code>"
                 f" (in sync with config: {e(str(suite.get('in_sync_with_config', '-')))})</p>")  # fmt: skip
    if result["expectations"]:
        parts.append(
            "<table><tr><th>expectation</th><th>column</th><th>level</th><th>success</th>"
            "<th>unexpected</th><th>observed / examples</th></tr>"
        )
        for item in result["expectations"]:
            ok = "ok" if item["success"] else "bad"
            seen = item.get("error") or item.get("note") or item.get("observed_value", item.get("examples", ""))
            parts.append(
                f"<tr><td>{e(item['expectation'])}</td><td>{e(str(item['column'] or '(table)'))}</td>"
                f"<td>{e(item['level'])}</td><td class='{ok}'>{'yes' if item['success'] else 'NO'}</td>"
                f"<td>{e(str(item.get('unexpected_count', '')))}</td><td>{e(str(seen)[:300])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>Not run: the file could not be read as a table.</p>")
    if quarantined is not None and len(quarantined):
        sample = quarantined.head(REPORT_SAMPLE_ROWS)
        parts.append(f"<h2>Quarantined rows (first {len(sample)} of {result['quarantined']})</h2>")
        parts.append(sample.to_html(index=False, na_rep="", escape=True, border=0))
    parts.append("</body></html>\n")
    return "\n".join(parts)

