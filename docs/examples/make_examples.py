"""Makes the example reports in this folder from the demo's data: six weeks of the demo park's simulated
history (as tests/api/test_reports.py builds it), each report kind fetched through the API as XLSX and
PDF, and the PDF's first page as PNG (poppler's pdftoppm).

    .venv/bin/python docs/examples/make_examples.py            # from the repository root

Needs Debian's chromium, fonts-noto-cjk and poppler-utils. Takes about a minute.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from lingtan.accounting.service import Rollup
from lingtan.api.app import create_app
from lingtan.api.auth import Scope, create_key
from lingtan.cli.demo import demo_config, feed_history, prepare_history
from lingtan.ingest.ledger import Ledger
from lingtan.store.db import make_engine, sessions
from lingtan.store.timeseries import open_sink

HERE = Path(__file__).parent
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 December in Asia/Shanghai: November is closed
DAYS = 42
# kind, the API path under the park, the period, the file name (Chinese; the park's report in English too)
REPORTS = (("park-monthly", "reports/park-monthly", "2026-11", "park-monthly"),
           ("keu-monthly", "enterprises/ent-b/reports/keu-monthly", "2026-11", "keu-monthly"),
           ("annex4-annual", "reports/annex4-annual", "2026", "annex4-annual"),
           ("jiangxi-annex1", "reports/jiangxi-annex1", "2026", "jiangxi-annex1"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(out: Path = HERE) -> int:
    with tempfile.TemporaryDirectory(prefix="lingtan-examples-") as tmp:
        folder = Path(tmp)
        config = demo_config(folder, modbus_port=_free_port())
        sink, engine = open_sink(config.ingest.sink), make_engine(config.store.url)
        feed_history(prepare_history(config, sink, NOW, DAYS), sink, Ledger(config, engine), threading.Event())
        Rollup(config, sink, engine, clock=lambda: NOW).run_once()
        park = config.parks[0].id
        with sessions(engine).begin() as s:
            _, key = create_key(s, parks=[park], scopes=[Scope.READ, Scope.WRITE], name="examples", now=NOW)
        client = TestClient(create_app(config, engine, clock=lambda: NOW), headers={"Authorization": f"Bearer {key}"})
        r = client.put(f"/api/v1/parks/{park}/activity/2026",
                       json={"enterprises": {"ent-b": {"key_energy_user": True}}})
        r.raise_for_status()
        for kind, path, period, name in REPORTS:
            for lang, suffix in (("zh", ""), ("en", "-en")) if kind == "park-monthly" else (("zh", ""),):
                for fmt in ("xlsx", "pdf"):
                    params = {"period": period, "format": fmt, "lang": lang}
                    r = client.get(f"/api/v1/parks/{park}/{path}", params=params)
                    if r.status_code != 200:
                        print(f"{kind} {lang} {fmt}: {r.status_code} {r.text}", file=sys.stderr)
                        return 1
                    (out / f"{name}{suffix}.{fmt}").write_bytes(r.content)
                pdf = out / f"{name}{suffix}.pdf"
                subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                                str(out / f"{name}{suffix}-p1")], check=True)
                pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
                print(f"{pdf.name}: {len(r.content):,} bytes, "
                      f"{next(ln.split()[-1] for ln in pages.splitlines() if ln.startswith('Pages:'))} pages")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
