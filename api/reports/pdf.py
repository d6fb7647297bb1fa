"""Reports as PDF: the report's HTML (`html`) printed to A4 by headless Chromium, run as a subprocess.

The one module that starts Chromium. Each print gets a fresh temporary folder (the HTML, the PDF and
Chromium's profile), removed afterwards whatever happened; a print that outlives its timeout has its
whole process group killed. One print runs at a time per process (`_ONE_AT_A_TIME`): a print takes a
core for a second or two, and a burst of report downloads must not start a dozen browsers.

A server that renders PDFs needs Debian's `chromium` and `fonts-noto-cjk` (the Chinese text is set in
Noto Sans CJK SC); `LINGTAN_CHROMIUM` names another binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from lingtan.api.reports.html import render_html
from lingtan.api.reports.model import Report

ENV = "LINGTAN_CHROMIUM"
NAMES = ("chromium", "chromium-browser")
TIMEOUT_S = 60.0  # a 40-row report prints in about 2 s; a print still running after this is hung
INSTALL = "install Debian's chromium and fonts-noto-cjk (apt-get install chromium fonts-noto-cjk)"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-quic", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio")
KEEP_ENV = ("PATH", "LANG", "TZ", "TMPDIR", "FONTCONFIG_FILE", "FONTCONFIG_PATH")
FONT = "Noto Sans CJK SC"  # Debian's fonts-noto-cjk; the HTML sets every text in it
_ONE_AT_A_TIME = threading.Lock()
_fonts_found = False


class PdfError(RuntimeError):
    """A report could not be printed to PDF."""


class ChromiumMissing(PdfError):
    """No Chromium to print with: the API answers 503 with this message (what to install)."""


class FontsMissing(PdfError):
    """No Noto Sans CJK SC: Chinese text would print as empty boxes, so nothing is printed (503)."""


class PdfRenderFailed(PdfError):
    """Chromium ran but made no PDF (it exited with an error, or was killed at its timeout)."""


class PdfTimeout(PdfRenderFailed):
    """Chromium did not finish within the timeout; its process group was killed."""


def render_pdf(report: Report, lang: str = "zh", *, chromium: str | None = None,
               timeout_s: float = TIMEOUT_S) -> bytes:
    """The report in `lang` as PDF bytes. `chromium`: the binary (default: `LINGTAN_CHROMIUM`, else
    `chromium` or `chromium-browser` on PATH). Raises ChromiumMissing, FontsMissing, PdfTimeout or
    PdfRenderFailed (all PdfError)."""
    return html_to_pdf(render_html(report, lang), chromium=chromium, timeout_s=timeout_s)


def find_chromium(configured: str | None = None) -> str:
    """The Chromium binary to print with: `configured`, else `$LINGTAN_CHROMIUM`, else one on PATH."""
    named, source = (configured, "the configured chromium") if configured else (os.environ.get(ENV), ENV)
    if named:
        found = shutil.which(named)
        if found is None:
            raise ChromiumMissing(f"PDF reports: {source} is {named!r}, which is not an executable file; "
                                  f"point it at Chromium, or unset it and {INSTALL}")
        return found
    for name in NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ChromiumMissing(f"PDF reports need Chromium, and neither {' nor '.join(NAMES)} is on PATH: {INSTALL}, "
                          f"or set {ENV} to a Chromium binary")


def html_to_pdf(html: str, *, chromium: str | None = None, timeout_s: float = TIMEOUT_S) -> bytes:
    """A self-contained HTML document printed to PDF by headless Chromium."""
    binary = find_chromium(chromium)
    _check_fonts()
    with _ONE_AT_A_TIME:
        folder = Path(tempfile.mkdtemp(prefix="lingtan-pdf-"))
        try:
            page, out = folder / "report.html", folder / "report.pdf"
            page.write_text(html, encoding="utf-8")
            args = [binary, *FLAGS, f"--user-data-dir={folder / 'profile'}", f"--print-to-pdf={out}",
                    page.as_uri()]
            log = _run(args, timeout_s, folder)
            data = out.read_bytes() if out.exists() else b""
            if not data.startswith(b"%PDF"):
                raise PdfRenderFailed(f"Chromium ({binary}) made no PDF; the end of its output: {log or '(none)'}")
            return data
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _check_fonts() -> None:
    """Noto Sans CJK SC must be there (asked of fontconfig, as Chromium will); once found, not asked
    again. Without fontconfig's fc-list the check is skipped: Chromium then says nothing either."""
    global _fonts_found
    if _fonts_found:
        return
    try:
        out = subprocess.run(["fc-list", FONT, "family"], capture_output=True, text=True, timeout=30).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return
    if FONT not in out:
        raise FontsMissing(f"PDF reports: the font {FONT} is missing, so Chinese text would print as empty "
                           f"boxes: {INSTALL}")
    _fonts_found = True


def _run(args: list[str], timeout_s: float, folder: Path) -> str:
    """Runs Chromium in a process group of its own; returns the end of its log (noise left out)."""
    log_path = folder / "chromium.log"
    with log_path.open("wb") as log:
        # stdout and stderr to a file, not a pipe: Chromium's helpers keep inherited pipes open
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=folder, env=_environment(folder))
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise PdfTimeout(f"Chromium ({args[0]}) did not print the report within {timeout_s:g} s; "
                             f"it was stopped") from None
        finally:
            _kill_group(proc)  # helpers (zygote, GPU, renderer) that outlived the browser
    text = log_path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and "dbus" not in line and "bus.cc" not in line]
    tail = " | ".join(lines[-5:])[-800:]
    if code != 0:
        raise PdfRenderFailed(f"Chromium ({args[0]}) exited with status {code}: {tail or '(no output)'}")
    return tail


def _environment(folder: Path) -> dict[str, str]:
    """Chromium's environment: the locale, zone and font settings, HOME in the temporary folder, and
    nothing else of ours (the process's secrets stay out of the browser)."""
    keep = {k: v for k, v in os.environ.items() if k in KEEP_ENV or k.startswith("LC_")}
    return {**keep, "HOME": str(folder)}


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the process group Chromium leads, then reap the leader."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL did not end
        pass
