"""The sisimai bounce corpus through parse_bounce + detect_auto: no crash, and measured accuracy.

Each check is a pass rate over the files the expectation applies to; the thresholds sit just
under what the detectors achieve, so a regression fails the test while the rates are printed.
"""

from __future__ import annotations

import email.header
import email.parser
import email.policy
import email.utils
import json
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

from mailbridge.parse.auto import detect_auto
from mailbridge.parse.bounce import parse_bounce
from mailbridge.parse.model import Address

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "sisimai"
THRESHOLDS = {
    "bounce_detected": 0.99,
    "recipient_count": 0.97,
    "status": 0.92,
    "permanent": 0.99,
    "hard_is_permanent": 0.99,
    "vacation": 1.0,
    "feedback": 0.95,
    "delivered": 1.0,
    "not_bounce": 1.0,
}

pytestmark = pytest.mark.corpus


def corpus_or_skip() -> Path:
    """The corpus folder; skipped outside CI when a checkout has no ../shared/corpus."""
    if not (CORPUS / "EXPECTED.json").exists():
        if os.environ.get("CI"):
            pytest.fail(f"corpus missing in CI: {CORPUS}")
        pytest.skip(f"sisimai corpus not present at {CORPUS}")
    return CORPUS


def decode_subject(value) -> str:
    """Decode the subject with email.header (the parse module's own decoder does this for real)."""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value or ""))))
    except Exception:  # noqa: BLE001 - an undecodable subject only weakens one signal.
        return str(value or "")


def run(path: Path):
    """parse_bounce and detect_auto on one file, the way parse_message calls them."""
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(path.read_bytes())
    name, address = email.utils.parseaddr(str(msg.get("From", "")))
    sender = Address(name, address) if address else None
    bounce = parse_bounce(msg)
    auto = detect_auto(msg, subject=decode_subject(msg.get("Subject")), sender=sender, bounce=bounce)
    return bounce, auto


def expectation_for(relative: str, expected: dict) -> dict | None:
    """The bsd expectation also applies to the dos (CRLF) and mac (CR-only) variants."""
    for variant in ("/dos/", "/mac/"):
        relative = relative.replace(variant, "/bsd/")
    return expected.get(relative)


def score(root: Path) -> tuple[dict[str, list[bool]], list[str]]:
    """Per-check lists of pass/fail over every corpus file, and the failures for the log."""
    data = json.loads((root / "EXPECTED.json").read_text())
    results: dict[str, list[bool]] = defaultdict(list)
    misses: list[str] = []
    for path in sorted((root).rglob("*.eml")):
        relative = str(path.relative_to(root))
        bounce, auto = run(path)
        for check, ok in checks(relative, data, bounce, auto):
            results[check].append(ok)
            if not ok:
                misses.append(f"{check}: {relative} auto={auto} bounce={bounce}")
    return results, misses


def checks(relative: str, data: dict, bounce, auto):
    """(check name, passed) pairs for one file."""
    if relative in data["not_bounces"]:
        yield "not_bounce", bounce is None and (auto is None or auto.kind not in ("bounce", "delay"))
        return
    if relative in data["auto_replies"]:
        yield "vacation", auto is not None and auto.kind == "auto-reply"
        return
    expected = expectation_for(relative, data["expected"])
    if expected is None:
        # The older dos/mac files with no bsd twin are bounces with unknown detail.
        yield "bounce_detected", auto is not None and auto.kind in ("bounce", "delay")
        return
    reasons = {r["reason"] for r in expected["recipients"]}
    if reasons == {"vacation"}:
        yield "vacation", auto is not None and auto.kind == "auto-reply"
    elif reasons == {"feedback"}:
        yield "feedback", auto is not None and auto.kind == "complaint"
    elif reasons == {"delivered"}:
        yield "delivered", bounce is None
    else:
        yield from bounce_checks(expected["recipients"], bounce, auto)


def is_pseudo(status: str) -> bool:
    """sisimai's own X.0.9NN codes stand for a reason it inferred; no mail carries them."""
    return bool(re.fullmatch(r"\d\.0\.9\d\d", status))


def bounce_checks(wanted: list[dict], bounce, auto):
    """Detection, recipient count, status codes and permanence of one real bounce."""
    yield "bounce_detected", auto is not None and auto.kind in ("bounce", "delay")
    got = list(bounce.recipients) if bounce else []
    yield "recipient_count", len(got) == len(wanted) and all("@" in r.address for r in got)
    codes = [r.status for r in got]
    for index, want in enumerate(wanted):
        have = codes[index] if index < len(codes) else None
        if is_pseudo(want["dsn_status"]):
            continue
        if want["dsn_status"] and not want["dsn_status"].endswith(".0.0"):
            yield "status", have in (want["dsn_status"], want["smtp_reply_code"])
        statuses = want["dsn_status"] or want["smtp_reply_code"]
        if statuses[:1] in ("4", "5") and bounce is not None:
            yield "permanent", bounce.permanent == any(
                (w["dsn_status"] or w["smtp_reply_code"]).startswith("5") for w in wanted
            )
        if want["hard_bounce"]:
            yield "hard_is_permanent", bounce is not None and bounce.permanent


def test_sisimai_corpus_rates(capsys):
    root = corpus_or_skip()
    results, misses = score(root)
    rates = {check: sum(oks) / len(oks) for check, oks in results.items()}
    with capsys.disabled():
        print("\nsisimai corpus pass rates:")
        for check, oks in sorted(results.items()):
            print(f"  {check:18} {sum(oks):4}/{len(oks):<4} {rates[check]:.1%}")
    if os.environ.get("MAILBRIDGE_SHOW_MISSES"):
        print("\n".join(misses))
    for check, minimum in THRESHOLDS.items():
        assert rates.get(check, 0.0) >= minimum, f"{check} fell to {rates.get(check, 0.0):.1%}"
