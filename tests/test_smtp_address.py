"""The listener's quick reading of plain envelope paths gives what aiosmtpd's parser gives."""

import asyncio
import random

import pytest
from aiosmtpd.smtp import SMTP

from mailbridge.sources.smtp_address import QuickAddress


class _Quick(QuickAddress, SMTP):
    pass


@pytest.fixture
def servers():
    loop = asyncio.new_event_loop()
    yield SMTP(object(), loop=loop), _Quick(object(), loop=loop)
    loop.close()


CASES = ["<a@b>", "<a@b> SIZE=12", "<>", "<a.b@c.d>", "<a..b@c>", "<.a@b>", "<a@[1.2.3.4]>", '<"a b"@c>',
         "< a@b>", "<a@b >", "<a@b>x", "<a@b>  BODY=8BITMIME", "a@b", "<a@b", "<@x:a@b>", "<a(c)@b>", "<ą@b>",
         "<a@b@c>", "<support+tok-1=2@example.com> SMTPUTF8", "<" + "x" * 70 + "@b>", "<a@b> (c) SIZE=1",
         "<a@b>(c)", "<a@b> \x0b SIZE=1", "<a@b>\t\tX", "<a@b> ", "", None]


@pytest.mark.parametrize("limit", [0, 5, 64])
def test_same_address_and_parameters_as_aiosmtpd(servers, limit):
    plain, quick = servers
    plain.local_part_limit = quick.local_part_limit = limit
    rng = random.Random(7)
    atext = "abcXYZ019!#$%&'*+/=?^_`{|}~-...."
    generated = ["<" + "".join(rng.choice(atext) for _ in range(rng.randint(1, 9))) + "@"
                 + "".join(rng.choice(atext) for _ in range(rng.randint(1, 9))) + ">"
                 + rng.choice(["", " SIZE=1", " (c) X", "  ", "\t(x", "x"]) for _ in range(3000)]
    for arg in CASES + generated:
        assert quick._getaddr(arg) == plain._getaddr(arg), arg
