"""Per-column parse figures of `parse_message` on ../shared/corpus: parse, sender, … quote stripping.

The columns are those of the acceptance measure (issue 18): every file of a set counts in each
column its upstream has an expectation for, and passes when no check of that column fails. The
checks themselves are the corpus tests' own (tests/test_corpus_*.py), so this script and the tests
cannot drift apart; this only sorts their findings into columns.

    .venv/bin/python -m bench.corpus_columns            # the table
    .venv/bin/python -m bench.corpus_columns --misses   # and every failed check, by column
    .venv/bin/python -m bench.corpus_columns --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from mailbridge.errors import ParseError
from mailbridge.parse import parse_message

PROJECT = Path(__file__).resolve().parents[1]
CORPUS = PROJECT.parent / "shared" / "corpus"
sys.path.insert(0, str(PROJECT / "tests"))

import test_corpus_mime as mime  # noqa: E402 - the tests folder is not a package.
import test_corpus_replies as replies  # noqa: E402
import test_corpus_sisimai as sisimai  # noqa: E402

COLUMNS = ("parse", "sender", "recipients", "subject", "body", "attachments", "auto verdicts",
           "bounce verdicts", "bounced recipients", "quote stripping")


class Tally:
    """Files counted and failed per column, with the failures for --misses."""

    def __init__(self) -> None:
        self.total: dict[str, int] = defaultdict(int)
        self.passed: dict[str, int] = defaultdict(int)
        self.misses: dict[str, list[str]] = defaultdict(list)

    def add(self, column: str, name: str, problems: list[str]) -> None:
        self.total[column] += 1
        self.passed[column] += not problems
        self.misses[column] += [f"{name}: {p}" for p in problems]

    def rows(self) -> list[tuple[str, int, int]]:
        return [(c, self.passed[c], self.total[c]) for c in COLUMNS if self.total[c]]


def column_of(problem: str) -> str:
    """The column a failed check of tests/test_corpus_mime.py belongs to, by its wording."""
    if problem.startswith("subject"):
        return "subject"
    if problem.startswith("from"):
        return "sender"
    if problem.startswith("to"):
        return "recipients"
    if "auto-reply" in problem:
        return "auto verdicts"
    if "bounce" in problem:
        return "bounce verdicts"
    if "attachment" in problem or " size " in problem or "unsafe names" in problem:
        return "attachments"
    return "body"


def parsed(tally: Tally, name: str, raw: bytes):
    """parse_message, counted in the parse column; None when it failed."""
    try:
        message = parse_message(raw)
    except ParseError as error:
        tally.add("parse", name, [f"ParseError: {error}"])
        return None
    except Exception as error:  # noqa: BLE001 - a crash is the worst miss, and must be counted.
        tally.add("parse", name, [f"crash: {type(error).__name__}: {error}"])
        return None
    tally.add("parse", name, [])
    return message


def mime_columns(tally: Tally) -> None:
    """stalwart, php, cpython and james: each file's checks, sorted into columns."""
    for set_name, cases in mime.SETS.items():
        root = CORPUS / set_name
        for name, raw, check in cases(root):
            message = parsed(tally, f"{set_name}/{name}", raw)
            by_column: dict[str, list[str]] = {c: [] for c in applicable(set_name, root, name)}
            for problem in check(message) if message is not None else []:
                by_column.setdefault(column_of(problem), []).append(problem)
            for column, found in by_column.items():
                # A file that did not parse fails every column it has expectations for.
                tally.add(column, f"{set_name}/{name}", found if message is not None else ["not parsed"])


def applicable(set_name: str, root: Path, name: str) -> set[str]:
    """The columns a file has an upstream expectation for."""
    if set_name == "cpython-test_email":
        return {"body"}
    if set_name == "james-mime4j":
        stem = name.rsplit(".", 1)[0]
        return {"body"} if any(root.glob(f"core/src/test/resources/*/{stem}_decoded_*")) else set()
    if set_name == "stalwart-mail-parser":
        return _stalwart_applicable(root, name)
    return _php_applicable(root, name)


def _stalwart_applicable(root: Path, name: str) -> set[str]:
    path = (root / "resources" / "eml" / name).with_suffix(".json")
    if not path.exists():
        return set()
    expected = json.loads(path.read_text())
    headers = {h["name"]: h["value"] for h in expected["parts"][0]["headers"] if isinstance(h["name"], str)}
    found = {"body"} if expected["text_body"] or expected["html_body"] else set()
    if isinstance(headers.get("subject"), dict) and "Text" in headers["subject"]:
        found.add("subject")
    for key, column in (("from", "sender"), ("to", "recipients")):
        value = headers.get(key)
        if isinstance(value, dict) and "List" in value.get("Address", {}):
            found.add(column)
    if expected["attachments"]:
        found.add("attachments")
    return found


_PHP_CASES: dict | None = None


def _php_applicable(root: Path, name: str) -> set[str]:
    global _PHP_CASES
    if _PHP_CASES is None:
        _PHP_CASES = json.loads((root / "EXPECTED.json").read_text())["cases"]
    case = _PHP_CASES.get(f"tests/mails/{name}", {})
    keys = {"subject": "subject", "from_addresses": "sender", "to_addresses": "recipients",
            "is_auto_reply": "auto verdicts", "is_bounce": "bounce verdicts",
            "attachment_count": "attachments", "attachments": "attachments"}
    found = {column for key, column in keys.items() if case.get(key)}
    if any(key.startswith(("text_", "html_", "inline_")) and case[key] for key in case):
        found.add("body")
    return found


def sisimai_columns(tally: Tally) -> None:
    """Bounce, auto-reply and complaint verdicts and recipient counts of the sisimai set."""
    root = CORPUS / "sisimai"
    data = json.loads((root / "EXPECTED.json").read_text())
    for path in sorted(root.rglob("*.eml")):
        relative = str(path.relative_to(root))
        message = parsed(tally, f"sisimai/{relative}", path.read_bytes())
        bounce = message.bounce if message else None
        auto = message.auto if message else None
        grouped: dict[str, list[str]] = defaultdict(list)
        for check, ok in sisimai.checks(relative, data, bounce, auto):
            column = {"recipient_count": "bounced recipients", "vacation": "auto verdicts",
                      "feedback": "auto verdicts", "delivered": "auto verdicts",
                      "not_bounce": "auto verdicts"}.get(check, "bounce verdicts")
            grouped[column] += [] if ok else [f"{check} (auto={auto}, bounce={bounce})"]
        for column, problems in grouped.items():
            tally.add(column, f"sisimai/{relative}", problems)


def reply_columns(tally: Tally) -> None:
    """Quote stripping: the three reply sets, one case each."""
    for set_name in replies.EXPECTED_SETS:
        root = CORPUS / set_name
        for case, expected in json.loads(replies._read(root / "EXPECTED.json"))["cases"].items():
            reply = replies.reply_part(replies._read(root / case))
            tally.add("quote stripping", f"{set_name}/{case}", replies._failures(reply, expected))
    root = CORPUS / replies.TRIMMER_SET
    for case, files in json.loads(replies._read(root / "EXPECTED.json"))["cases"].items():
        reply = replies.reply_part(replies._read(root / case))
        want = replies._read(root / files["expected_trimmed_file"])
        same = replies._normalise(reply) == replies._normalise(want)
        tally.add("quote stripping", f"{replies.TRIMMER_SET}/{case}", [] if same else ["differs"])


def measure() -> Tally:
    tally = Tally()
    mime_columns(tally)
    sisimai_columns(tally)
    reply_columns(tally)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print every failed check by column")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 1
    tally = measure()
    for column, passed, total in tally.rows():
        print(f"{column:<20} {passed:>4}/{total:<4} {100 * passed / total:6.1f} %")
    if args.misses:
        for column in COLUMNS:
            for miss in tally.misses[column]:
                print(f"[{column}] {miss}")
    if args.json:
        args.json.write_text(json.dumps({c: {"passed": p, "total": t} for c, p, t in tally.rows()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
