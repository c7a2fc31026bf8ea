"""Where a certificate PDF's time goes (quiz/certificate_pdf.py), in-process, no database.

    .venv/bin/python bench/certificate_cost.py [--rounds 40]

The audit package draws the PDF certificate of every signature in scope, one at a time. This
times one certificate's render and its parts: making the FPDF object and parsing the two
embedded fonts (``add_font``), the QR code's PNG, the drawing, and ``output`` (where fpdf2
subsets both fonts with fontTools and writes them), with and without fpdf2's stream
compression, each followed by the deflate the package's ZIP applies. Medians over rounds,
milliseconds. No target: it explains the estimate the Audit package page gives.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # measure this checkout's quiz

from common import machine_line  # noqa: E402
from fpdf import FPDF  # noqa: E402

from quiz import certificate_pdf  # noqa: E402
from quiz.engine import Certificate  # noqa: E402


def _certificate():
    attempt = SimpleNamespace(
        id=1,
        acknowledged_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
        score=4,
        acknowledged_name="Dana Whitfield",
        signed_statement=None,
        module_version="a" * 64,
        certificate_code="ABCDEFGHJKMN",
        certificate_revoked_at=None,
    )
    module = SimpleNamespace(
        title="Test module on callers",
        acknowledgement="I will verify callers before I share anything.",
        pass_score=4,
        policy_name="Test Verification Policy",
        policy_version="1.0",
        cites=["45 CFR 164.514(h)", "45 CFR 164.530(b)"],
    )
    record = SimpleNamespace(seq=123, hash="b" * 64)
    return Certificate(attempt, "Dana Whitfield", "front_desk", record), module  # type: ignore[arg-type]


def _deflated(data: bytes) -> int:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)  # as zipfile.ZIP_DEFLATED
    return len(packer.compress(data) + packer.flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    cert, module = _certificate()
    url = "https://rounds.example.org/c/ABCDEFGHJKMN"

    def fonts():
        pdf = FPDF()
        pdf.add_font("DejaVu", "", str(certificate_pdf.REGULAR))
        pdf.add_font("DejaVu", "B", str(certificate_pdf.BOLD))

    def output(compress: bool):
        def run():
            pdf = certificate_pdf._drawn(cert, module, 1.0, url)
            pdf.set_compression(compress)
            return bytes(pdf.output())

        return run

    steps = {
        "render (as the package does)": lambda: certificate_pdf.render(cert, module, url),
        "FPDF() + add_font x2 (font parsing)": fonts,
        "qr_png": lambda: certificate_pdf.qr_png(url),
        "_drawn (fonts, QR and drawing)": lambda: certificate_pdf._drawn(cert, module, 1.0, url),
        "_drawn + output, compressed": output(True),
        "_drawn + output, not compressed": output(False),
    }
    for step in steps.values():
        step()  # warm: imports, the font coverage cache
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):  # interleaved, so the machine's drift touches each alike
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1000)
    print(machine_line())
    for name, values in times.items():
        print(f"{name:40s} {statistics.median(values):7.1f} ms  (min {min(values):.1f}, max {max(values):.1f})")
    for compress in (True, False):
        data = output(compress)()
        print(f"bytes, compressed={compress}: {len(data):,}; in the ZIP (deflated): {_deflated(data):,}")


if __name__ == "__main__":
    main()
