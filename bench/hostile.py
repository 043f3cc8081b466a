"""Hostile mail that made the parser slow or hungry, and a measurement of each: `python -m bench.hostile`.

Each generator returns one message of at most ~20 MB (under the listener's 25 MiB limit), shaped
after what a probe sent: folded and single-line giant headers, millions of blank lines, RFC 2231
continuations, a DSN with 100k recipient blocks, quoted-printable soft breaks, 500k addresses, a
10 MB encoded word, a large HTML table, and a body saying "base64" on every third line (for the
parser's search for base64 runs). `measure(name)` parses one in a fresh process and
reports the wall time and the peak RSS above the process's size with the input in memory.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

MB = 1024 * 1024
HEAD = b"From: klient@example.org\r\nTo: pomoc@example.com\r\nMessage-ID: <hostile@example.org>\r\n"


def folded_subject(size: int = 20 * MB) -> bytes:
    fold = b"Zazolc gesla jazn" * 4 + b"\r\n "
    return HEAD + b"Subject: " + fold * (size // len(fold)) + b"end\r\n\r\nbody\r\n"


def blank_lines(count: int = 10_000_000) -> bytes:
    return HEAD + b"Subject: blank\r\n\r\nstart\r\n" + b"\r\n" * count + b"end\r\n"


def short_lines_multipart(count: int = 5_000_000) -> bytes:
    return (HEAD + b"Subject: lines\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"a\r\n" * count + b"--b--\r\n")


def rfc2231_continuations(count: int = 100_000) -> bytes:
    params = "".join(f";\r\n filename*{n}*=utf-8''p%C5%82{n}" for n in range(count)).encode()
    return (HEAD + b"Subject: params\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment" + params + b"\r\n\r\nx\r\n--b--\r\n")


def dsn_blocks(count: int = 100_000) -> bytes:
    blocks = b"".join(b"\r\nFinal-Recipient: rfc822; user%d@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n" % n
                      for n in range(count))
    return (b"From: MAILER-DAEMON@example.com\r\nTo: pomoc@example.com\r\nSubject: Undelivered\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.com\r\n" + blocks + b"\r\n--b--\r\n")


def qp_soft_breaks(size: int = 18 * MB) -> bytes:
    return (HEAD + b"Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + b"=\r\n" * (size // 3) + b"end\r\n")


def header_line(size: int = 20 * MB) -> bytes:
    return HEAD + b"Subject: line\r\nX-Long: " + b"a" * size + b"\r\n\r\nbody\r\n"


def many_addresses(count: int = 500_000) -> bytes:
    to = b", ".join(b"user%d@example.org" % n for n in range(count))
    return b"From: klient@example.org\r\nSubject: many\r\nTo: " + to + b"\r\n\r\nbody\r\n"


def encoded_word(size: int = 10 * MB) -> bytes:
    word = base64.b64encode(("Błąd płatności " * (size // 20)).encode())[:size]
    return HEAD + b"Subject: =?utf-8?B?" + word + b"?=\r\n\r\nbody\r\n"


def html_table(size: int = 900 * 1024, columns: int = 40) -> bytes:
    row = b"<tr>" + b"".join(b"<td>%d</td>" % n for n in range(columns)) + b"</tr>\n"
    table = b"<html><body><table>" + row * (size // len(row)) + b"</table></body></html>"
    return (HEAD + b"Subject: table\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            + table + b"\r\n")


def base64_mentions(count: int = 190_000) -> bytes:
    # Just under the line bound, so the MIME parse and its search for base64 runs both run.
    return HEAD + b"Subject: base64\r\n\r\n" + b"base64\r\n\r\nQUJD\r\n" * count


CASES = {f.__name__: f for f in (folded_subject, blank_lines, short_lines_multipart, rfc2231_continuations,
                                 dsn_blocks, qp_soft_breaks, header_line, many_addresses, encoded_word, html_table,
                                 base64_mentions)}

_CHILD = """
import json, resource, sys, time
from bench.hostile import CASES
from mailbridge.parse import parse_message
from mailbridge.parse.limits import time_limit
raw = CASES[sys.argv[1]]()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
with time_limit(float(sys.argv[2])):
    parsed = parse_message(raw)
took = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"case": sys.argv[1], "bytes": len(raw), "seconds": round(took, 2),
                  "rss_growth_mb": round((peak - before) / 1024, 1), "defects": len(parsed.defects),
                  "defect_lines": list(parsed.defects)}))
"""


def measure(name: str, deadline: float = 0) -> dict:
    """Parse one case in a fresh process: wall time, peak RSS growth, defects (under `deadline` s if set)."""
    result = subprocess.run([sys.executable, "-c", _CHILD, name, str(deadline)], capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        return {"case": name, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout)


def main() -> None:
    for name in sys.argv[1:] or CASES:
        result = measure(name)
        result.pop("defect_lines", None)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
