"""Other projects' MIME test mail through parse_message: no crash on any file, and pass rates.

Each set's expectations are checked as far as they mean the same thing as our contract; where a
set's upstream made a different but defensible choice, the check is left out and named in
DISAGREEMENTS. The test fails on any crash, or when a set's rate falls below its floor (set just
under what the parser achieves, so a regression shows).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailbridge.errors import ParseError
from mailbridge.parse import ParsedMessage, parse_message, safe_filename
from mailbridge.parse.charset import decode_text
from mailbridge.parse.uuencode import extract_uuencoded

pytestmark = pytest.mark.corpus

# Floors, in per cent of files whose every check passes.
FLOORS = {"stalwart-mail-parser": 85.5, "php-mime-mail-parser": 89.0, "cpython-test_email": 100.0,
          "james-mime4j": 96.0}

# Expectations we deliberately do not share with an upstream, and why.
DISAGREEMENTS = {
    "php text of HTML-only mail": "upstream returns '' as the text of an HTML-only message; our "
                                  "`text` is the HTML rendered to text, as the contract asks",
    "php control characters in filenames": "a newline inside an encoded filename is reported as "
                                           "sent; upstream replaces it with '_'",
    "php inline text part with a filename": "a text/plain part first in multipart/mixed with "
                                            "Content-Disposition: inline and a filename is body "
                                            "text (RFC 8621 4.1.4); upstream calls it an attachment",
    "php invented names": "upstream names unnamed parts 'noname1'; we report no filename (null)",
    "stalwart BinHex": "upstream decodes application/mac-binhex40; we keep such parts as sent",
    "stalwart backslashes in quoted filenames": "'C:\\TEMP\\x.png' keeps its backslashes as "
                                                "sent (Outlook means them); upstream unescapes them",
    "stalwart/dovecot malformed boundaries": "nested boundaries that are prefixes of each other, "
                                             "a missing close boundary and a garbled first header "
                                             "are split as the stdlib parser splits them; no text "
                                             "is lost (stray text is recovered with a defect)",
    "php sanitised filenames": "upstream rewrites path-traversal filenames; we report names as "
                               "sent and make them safe with safe_filename() where they are written",
    # The misses below stay counted (the checks are upstream's); they are named so that nobody
    # "fixes" the parser towards them.
    "stalwart x-uuencode transfer encoding": "a part sent with Content-Transfer-Encoding: "
                                             "x-uuencode is decoded to the file it carries; "
                                             "upstream keeps the encoded text (legacy/017, 048)",
    "text after base64 data": "letters appended after base64 data (a list footer, a mangled "
                              "boundary line, a word after the padding) are left out with a "
                              "defect; upstream decodes them into trailing garbage bytes "
                              "(stalwart thirdparty/002, mime4j multi-frag: our GIF ends at its "
                              "trailer, theirs 42 bytes later)",
    "mime4j truncated base64": "a base64 body cut off inside its last quantum keeps the bytes "
                               "its last characters encode; mime4j drops them (frag.msg, 2 bytes)",
    "stalwart delimiter inside a line": "a delimiter starts a line (RFC 2046 5.1.1); upstream "
                                        "also ends a part at '--b--' in the middle of a line "
                                        "(thirdparty/005)",
    "duplicate Content-Type": "a part with two Content-Type fields is read by its first, as the "
                              "stdlib does; upstream takes the last and shows a whole "
                              "multipart/alternative as plain text (malformed/020, 021; the "
                              "text the sender put before the alternative's first delimiter "
                              "is then its preamble and not shown)",
    "mime4j field after a non-field line": "a line that is not a field ends the header block and "
                                           "the rest is body, as the stdlib reads it; mime4j "
                                           "reads the next 'AnotherHeader:' line as a field "
                                           "again (malformedHeaderStartsBody-nocrlfcrlf)",
}


@dataclass
class SetResult:
    """Files and failed checks of one corpus set."""

    files: int = 0
    passed: int = 0
    failures: list[str] = field(default_factory=list)

    def record(self, name: str, problems: list[str]) -> None:
        self.files += 1
        self.passed += not problems
        self.failures.extend(f"{name}: {problem}" for problem in problems)

    @property
    def rate(self) -> float:
        return 100.0 * self.passed / self.files if self.files else 0.0


def normalise(text: str | None) -> str:
    """The corpus README's normalisation: LF newlines, right-stripped lines, no outer blank lines."""
    lines = [line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


# --- stalwart-mail-parser ---------------------------------------------------------------------

def stalwart_checks(message: ParsedMessage, expected: dict) -> list[str]:
    parts = expected["parts"]
    headers = {h["name"]: h["value"] for h in parts[0]["headers"] if isinstance(h["name"], str)}
    problems = _stalwart_headers(message, headers)
    problems += _stalwart_bodies(message, expected, parts)
    problems += _stalwart_attachments(message, [parts[i] for i in expected["attachments"]])
    return problems


def _stalwart_headers(message: ParsedMessage, headers: dict) -> list[str]:
    problems = []
    subject = headers.get("subject")
    if isinstance(subject, dict) and "Text" in subject and not same_text(message.subject, subject["Text"], False):
        problems.append(f"subject {message.subject!r} != {subject['Text']!r}")
    for name, ours in (("from", [message.from_] if message.from_ else []), ("to", list(message.to))):
        value = headers.get(name)
        if isinstance(value, dict) and "List" in value.get("Address", {}):
            want = [(a["address"] or "").lower() for a in value["Address"]["List"] if a["address"]]
            got = [a.address.lower() for a in ours if a.address]
            if want != got:
                problems.append(f"{name} {got} != {want}")
    return problems


def _stalwart_bodies(message: ParsedMessage, expected: dict, parts: list[dict]) -> list[str]:
    problems = []
    text_parts = [parts[i]["body"] for i in expected["text_body"]]
    if text_parts and all("Text" in body for body in text_parts):
        # DISAGREEMENTS: upstream leaves uuencoded files in the text; we cut them out.
        want = extract_uuencoded("\n".join(normalise(body["Text"]) for body in text_parts))[0]
        if not same_text(message.text, want, flowed=b"format=flowed" in message.raw.lower()):
            problems.append(f"text {normalise(message.text)[:60]!r} != {normalise(want)[:60]!r}")
    html_parts = [parts[i]["body"] for i in expected["html_body"]]
    if html_parts and all("Html" in body for body in html_parts):
        want = "\n".join(normalise(body["Html"]) for body in html_parts)
        if not same_text(message.html, want, flowed=False):
            problems.append(f"html {normalise(message.html)[:60]!r} != {want[:60]!r}")
    return problems


def same_text(ours: str | None, want: str, flowed: bool) -> bool:
    """Equal after normalising; U+FFFD in `want` (upstream's replacement) matches any character,
    since we decode by a fallback chain where upstream gave up; format=flowed text compares with
    its line breaks ignored, since we unwrap it (RFC 3676) and upstream does not."""
    ours, want = normalise(ours), normalise(want)
    if flowed:
        ours, want = " ".join(ours.split()), " ".join(want.split())
    if "\ufffd" in want:
        pattern = ".{1,2}".join(re.escape(piece) for piece in want.split("\ufffd"))
        return re.fullmatch(pattern, ours, re.DOTALL) is not None
    return ours == want


def _stalwart_attachments(message: ParsedMessage, expected: list[dict]) -> list[str]:
    want_sizes = sorted(len(p["body"].get("Binary") or p["body"].get("InlineBinary") or [])
                        for p in expected if {"Binary", "InlineBinary"} & set(p["body"]))
    got_sizes = sorted(a.size for a in message.attachments if not a.content_type.startswith("text/"))
    problems = []
    if not set(want_sizes) <= set(got_sizes):
        problems.append(f"binary attachment sizes {got_sizes} lack {want_sizes}")
    want_names = sorted(n for n in (_stalwart_filename(p) for p in expected) if n)
    got_names = sorted(a.filename for a in message.attachments if a.filename)
    if not all(any(same_text(got, want, False) for got in got_names) for want in want_names):
        problems.append(f"attachment names {got_names} lack {want_names}")
    return problems


def _stalwart_filename(part: dict) -> str | None:
    for header in part["headers"]:
        value = header["value"]
        if header["name"] in ("content_disposition", "content_type") and isinstance(value, dict):
            for attribute in (value.get("ContentType") or {}).get("attributes") or []:
                if attribute["name"] in ("filename", "name"):
                    return attribute["value"]
    return None


def stalwart_cases(root: Path) -> Iterator[tuple[str, bytes, Callable[[ParsedMessage], list[str]]]]:
    for path in sorted((root / "resources" / "eml").glob("*/*.eml")):
        expectation = path.with_suffix(".json")
        expected = json.loads(expectation.read_text()) if expectation.exists() else None
        check = (lambda m, e=expected: stalwart_checks(m, e)) if expected else (lambda m: [])
        yield f"{path.parent.name}/{path.name}", path.read_bytes(), check


# --- php-mime-mail-parser ---------------------------------------------------------------------

def php_checks(message: ParsedMessage, case: dict) -> list[str]:
    problems = []
    if "subject" in case and message.subject != case["subject"]:
        problems.append(f"subject {message.subject!r} != {case['subject']!r}")
    for key, ours in (("from_addresses", [message.from_] if message.from_ else []), ("to_addresses", message.to)):
        if key in case:
            want = [a["address"].lower() for a in case[key]]
            got = [a.address.lower() for a in ours]
            if want != got:
                problems.append(f"{key} {got} != {want}")
    problems += _php_body(message.text, case.get("text_expectation"), "text", message.html is not None)
    problems += _php_body(message.html, case.get("html_expectation"), "html", False)
    problems += _php_exact(message, case)
    problems += _php_attachments(message, case)
    return problems


def _php_body(ours: str | None, expectation: list | None, label: str, rendered: bool) -> list[str]:
    if not expectation:
        return []
    if expectation[0] == "MATCH":
        if expectation[1].strip() == "" and rendered:
            return []  # DISAGREEMENTS["php text of HTML-only mail"]
        if normalise(ours) != normalise(expectation[1]):
            return [f"{label} {normalise(ours)[:60]!r} != {normalise(expectation[1])[:60]!r}"]
        return []
    count, needle = expectation[1], expectation[2]
    found = (ours or "").replace("\r\n", "\n").count(needle.replace("\r\n", "\n"))
    return [] if found == count else [f"{label} has {found}x {needle[:40]!r}, want {count}"]


def _php_exact(message: ParsedMessage, case: dict) -> list[str]:
    problems = []
    for key, ours in (("text_body_exact", message.text), ("html_body_exact", message.html)):
        if key in case and case[key] and normalise(ours) != normalise(case[key]):
            problems.append(f"{key}: {normalise(ours)[:60]!r} != {normalise(case[key])[:60]!r}")
    for key, ours in (("text_body_contains", message.text), ("html_body_contains", message.html)):
        if key in case and case[key].replace("?", "") not in (ours or ""):
            # Upstream wrote "?" where it could not map a character; we must do at least as well.
            if not all(piece in (ours or "") for piece in case[key].split("?") if piece):
                problems.append(f"{key}: {case[key]!r} not found")
    if case.get("is_auto_reply") and (message.auto is None or message.auto.kind != "auto-reply"):
        problems.append(f"not an auto-reply: {message.auto}")
    if case.get("is_bounce") and message.bounce is None and (message.auto is None or message.auto.kind != "bounce"):
        problems.append("not recognised as a bounce")
    for piece in case.get("inline_text_parts", []):
        if normalise(piece) not in normalise(message.text):
            problems.append(f"inline text part {piece[:40]!r} missing from text")
    return problems


def _php_attachments(message: ParsedMessage, case: dict) -> list[str]:
    problems = []
    if "attachment_count" in case and len(message.attachments) != case["attachment_count"]:
        problems.append(f"{len(message.attachments)} attachments, want {case['attachment_count']}")
    ours = [(a.filename, a.size) for a in message.attachments]
    sanitised = "sanitised" in case.get("source", "")
    for want in case.get("attachments", []):
        if sanitised:
            # DISAGREEMENTS["php sanitised filenames"]: what we write to disk must be safe.
            names = [safe_filename(a.filename, "x") for a in message.attachments]
            if any("/" in n or n.startswith(".") for n in names):
                problems.append(f"unsafe names on disk: {names}")
            continue
        matches = [size for name, size in ours if _visible(name) == want["filename"]]
        if not matches:
            problems.append(f"no attachment named {want['filename']!r} in {[n for n, _ in ours]}")
        elif "size" in want and want["size"] not in matches:
            problems.append(f"{want['filename']!r} size {matches} != {want['size']}")
    return problems


def _visible(name: str | None) -> str | None:
    # DISAGREEMENTS["php control characters in filenames"]: upstream turns them into "_".
    return "".join("_" if ord(ch) < 32 else ch for ch in name) if name else name


def php_cases(root: Path):
    cases = json.loads((root / "EXPECTED.json").read_text())["cases"]
    for path in sorted((root / "tests" / "mails").iterdir()):
        case = cases.get(f"tests/mails/{path.name}", {})
        yield path.name, path.read_bytes(), (lambda m, c=case: php_checks(m, c))


# --- cpython test_email -----------------------------------------------------------------------

def cpython_checks(message: ParsedMessage, raw: bytes) -> list[str]:
    """Where the stdlib (policy.default) finds a non-empty text body, we must have text too."""
    reference = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        body = reference.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else ""
    except (LookupError, KeyError, ValueError, AttributeError):
        return []
    if isinstance(content, str) and content.strip() and not message.text.strip():
        return ["the stdlib finds a text body, we have none"]
    return []


def cpython_cases(root: Path):
    for path in sorted((root / "Lib" / "test" / "test_email" / "data").glob("msg_*.txt")):
        raw = path.read_bytes()
        yield path.name, raw, (lambda m, r=raw: cpython_checks(m, r))


# --- james-mime4j -----------------------------------------------------------------------------

def james_checks(message: ParsedMessage, decoded_files: list[Path]) -> list[str]:
    """Every decoded part mime4j wrote must be found: as an attachment's bytes or in a body."""
    hashes, texts = _everything_decoded(message, depth=0)
    # The decoded files are bytes in the part's charset, which the file does not name.
    charsets = [None, *{m.decode() for m in re.findall(rb'charset="?([\w.:-]+)', message.raw, re.I)}]
    problems = []
    for path in decoded_files:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() in hashes:
            continue
        # DISAGREEMENTS: we cut uuencoded files out of text parts; mime4j keeps them in.
        readings = {normalise(extract_uuencoded(normalise(decode_text(data, c)[0]))[0]) for c in charsets}
        if all(r and not any(r in candidate for candidate in texts) for r in readings):
            problems.append(f"decoded part {path.name} not found")
    return problems


def _everything_decoded(message: ParsedMessage, depth: int) -> tuple[set[str], list[str]]:
    hashes = {a.sha256 for a in message.attachments}
    texts = [normalise(message.text), normalise(message.html)]
    texts += [normalise(decode_text(a.payload, None)[0]) for a in message.attachments
              if a.content_type.startswith(("text/", "message/"))]
    for attachment in message.attachments:
        if attachment.content_type.startswith("message/") and depth < 5:
            try:
                inner = parse_message(attachment.payload)
            except ParseError:
                continue
            inner_hashes, inner_texts = _everything_decoded(inner, depth + 1)
            hashes |= inner_hashes
            texts += inner_texts
    return hashes, texts


def james_cases(root: Path):
    for path in sorted(root.glob("core/src/test/resources/*/*.msg")):
        decoded = sorted(path.parent.glob(f"{path.stem}_decoded_*"))
        yield path.name, path.read_bytes(), (lambda m, d=decoded: james_checks(m, d))


SETS = {
    "stalwart-mail-parser": stalwart_cases,
    "php-mime-mail-parser": php_cases,
    "cpython-test_email": cpython_cases,
    "james-mime4j": james_cases,
}


def run_set(root: Path, cases) -> tuple[SetResult, list[str]]:
    """Parse every file of one set; crashes are returned apart from failed checks."""
    result, crashes = SetResult(), []
    for name, raw, check in cases(root):
        try:
            message = parse_message(raw)
        except ParseError as error:
            result.record(name, [f"ParseError: {error}"])
            continue
        except Exception as error:  # noqa: BLE001 - any other exception is the bug we look for.
            crashes.append(f"{name}: {type(error).__name__}: {error}")
            continue
        result.record(name, check(message))
    return result, crashes


def test_corpus_sets_parse_without_crash_and_meet_their_floors(corpus_dir, capsys):
    results, crashes = {}, []
    for name, cases in SETS.items():
        results[name], set_crashes = run_set(corpus_dir / name, cases)
        crashes += [f"{name}/{c}" for c in set_crashes]
    with capsys.disabled():
        print("\nMIME corpus pass rates (files whose every check passes):")
        for name, result in results.items():
            print(f"  {name:<22} {result.passed:>4}/{result.files:<4} {result.rate:5.1f}%  (floor {FLOORS[name]}%)")
            for failure in result.failures:
                print(f"      - {failure}")
    assert not crashes, crashes
    low = {name: r.rate for name, r in results.items() if r.rate < FLOORS[name]}
    assert not low, f"pass rate under the floor: {low}"
