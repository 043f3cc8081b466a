"""Compare ways of guessing an undeclared charset on the text of ../shared/corpus.

Every non-ASCII text part and RFC 2047 word of the corpus whose declared charset decodes it
cleanly is a sample: the bytes without their label, and the text the label gives. Each method
guesses from the bytes alone (headers also with the charsets the rest of their message
declares, as `decode_text` is given them) and scores when it gets the same text back.

    .venv/bin/python -m bench.charset_eval            # the table
    .venv/bin/python -m bench.charset_eval --misses   # and what each method got wrong
"""

from __future__ import annotations

import argparse
import codecs
import email
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailbridge.parse import charset, charset_guess
from mailbridge.parse.headers import RAW_POLICY

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\r\n]*)\?=")


@dataclass(frozen=True)
class Sample:
    """Bytes whose label was removed, the text the label gave, and the message's other labels."""

    where: str
    kind: str  # "body" or "header"
    label: str
    data: bytes
    truth: str
    hints: tuple[str, ...]


def samples(root: Path) -> Iterator[Sample]:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".eml", ".msg", ".txt")):
        try:
            msg = email.message_from_bytes(path.read_bytes(), policy=RAW_POLICY)
        except Exception:  # noqa: BLE001 - a file the stdlib cannot read gives no sample.
            continue
        hints = tuple(dict.fromkeys(c for c in (p.get_content_charset() for p in msg.walk()) if c))
        where = str(path.relative_to(root))
        yield from _body_samples(msg, where, hints)
        yield from _header_samples(msg, where, hints)


def _body_samples(msg, where: str, hints: tuple[str, ...]) -> Iterator[Sample]:
    for part in msg.walk():
        label = part.get_content_charset()
        if part.get_content_maintype() != "text" or not label:
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001
            continue
        if truth := _truth(data, label):
            yield Sample(where, "body", label, data, truth, tuple(h for h in hints if h != label))


def _header_samples(msg, where: str, hints: tuple[str, ...]) -> Iterator[Sample]:
    for name, value in msg.items():
        for match in _WORD.finditer(str(value)):
            label, data = match.group(1), _word_bytes(match.group(2), match.group(3))
            if data is not None and (truth := _truth(data, label)):
                yield Sample(f"{where} {name}", "header", label, data, truth, hints)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    import binascii
    import quopri

    try:
        if encoding in "Bb":
            return binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def _truth(data: bytes, label: str) -> str | None:
    """The text the label gives, for non-ASCII bytes it decodes strictly; else no sample."""
    codec = charset.normalise_charset(label)
    if data.isascii() or not codec or not charset._ascii_compatible(codec):
        return None
    try:
        codecs.lookup(codec)
        return data.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return None


# Our own sentences in the languages and legacy charsets support mail arrives in, for the
# charsets the corpus has few or no samples of: whole (a body) and cut short (a subject).
WRITTEN = {
    "Dzień dobry, proszę o pilną naprawę drukarki. Zgłoszenie dotyczy faktury nr 12 i błędu płatności.":
        ("windows-1250", "iso-8859-2"),
    "Buenos días, ¿podría revisar la factura Nº 45? El importe no coincide con el pedido del señor Muñoz.":
        ("windows-1252", "iso-8859-1"),
    "Sehr geehrte Damen und Herren, die Lieferung für Größe M ist fehlerhaft. Viele Grüße": ("windows-1252",),
    "Bonjour, la facture n'a pas été reçue. Merci de vérifier à nouveau, très cordialement.": ("windows-1252",),
    "Dobrý den, prosím o opravu účtu. Děkuji za rychlou odpověď a přeji hezký den.":
        ("windows-1250", "iso-8859-2"),
    "Здравствуйте, прошу проверить счёт номер 15. Оплата не прошла, спасибо за помощь.":
        ("windows-1251", "koi8-r"),
    "您好，我们的订单还没有收到，请尽快处理。谢谢您的帮助。": ("gbk", "gb2312", "gb18030"),
    "您好，我們的訂單還沒有收到，請儘快處理。謝謝您的幫助。": ("big5",),
    "お世話になっております。請求書の件でご連絡いたしました。よろしくお願いいたします。": ("shift_jis", "euc-jp"),
    "안녕하세요, 주문한 상품이 아직 도착하지 않았습니다. 확인 부탁드립니다.": ("euc-kr",),
}


def written_samples() -> Iterator[Sample]:
    for text, labels in WRITTEN.items():
        short = text[:24] if text.isascii() is False and ord(max(text)) > 0x2000 else text[:40]
        for label in labels:
            yield Sample(f"written {label}", "body", label, text.encode(label), text, ())
            yield Sample(f"written {label} (short)", "header", label, short.encode(label), short, ())


# --- the methods ---------------------------------------------------------------------------------

def heuristic(sample: Sample) -> str:
    """As before issue 18: UTF-8, else the most plausible of windows-1250/-1252/ISO-8859-2."""
    latin = ("windows-1250", "windows-1252", "iso-8859-2")
    return _utf8_or(sample.data, lambda data: data.decode(charset_guess.best_charset(data, latin)))


def normalizer(sample: Sample) -> str:
    """UTF-8, else charset-normalizer's best guess (falling back to the heuristic)."""
    from charset_normalizer import from_bytes

    def guess(data: bytes) -> str:
        best = from_bytes(data).best()
        return str(best) if best is not None else data.decode(charset.best_legacy(data))

    return _utf8_or(sample.data, guess)


def shipped(sample: Sample) -> str:
    """What `decode_text` does now with no label and the message's declared charsets as hints."""
    return charset.decode_text(sample.data, None, hints=sample.hints)[0]


def _utf8_or(data: bytes, other: Callable[[bytes], str]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return other(data)


def guess_only(sample: Sample) -> str:
    """`decode_text` without the message's hints: the guess alone."""
    return charset.decode_text(sample.data, None)[0]


METHODS = {"heuristic": heuristic, "charset-normalizer": normalizer, "guess": guess_only, "shipped": shipped}
try:
    import charset_normalizer  # noqa: F401 - only compared here, not a dependency of mailbridge.
except ImportError:
    del METHODS["charset-normalizer"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--method", action="append", choices=sorted(METHODS),
                        help="compare only these (default: all available)")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 1
    found = list(samples(CORPUS)) + list(written_samples())
    methods = {name: METHODS[name] for name in (args.method or METHODS)}
    print(f"{len(found)} samples: {sum(s.kind == 'body' for s in found)} bodies, "
          f"{sum(s.kind == 'header' for s in found)} header words")
    groups = {"corpus body": lambda s: s.kind == "body" and not s.where.startswith("written"),
              "corpus header": lambda s: s.kind == "header" and not s.where.startswith("written"),
              "written body": lambda s: s.kind == "body" and s.where.startswith("written"),
              "written short": lambda s: s.kind == "header" and s.where.startswith("written")}
    for name, method in methods.items():
        for kind, belongs in groups.items():
            subset = [s for s in found if belongs(s)]
            misses = [s for s in subset if method(s) != s.truth]
            print(f"  {name:<20} {kind:<14} {len(subset) - len(misses):>4}/{len(subset):<4}"
                  f" {100 * (len(subset) - len(misses)) / len(subset):5.1f} %")
            if args.misses:
                for s in misses:
                    print(f"      {s.label:<14} {s.where}: {method(s)[:40]!r} != {s.truth[:40]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
