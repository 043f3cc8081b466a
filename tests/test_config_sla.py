"""Config of calendars, classification rules, customers and SLA policies: defaults and problem lines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailbridge.sla import bizcal
from mailbridge.config import ConfigError, load_config
from mailbridge.config.sla import queue_calendar, ticket_deadline, ticket_policy

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mailbridge.example.toml"
QUEUE = """
[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
"""


def load(tmp_path, text):
    path = tmp_path / "mailbridge.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_embedded_defaults(tmp_path):
    config = load(tmp_path, QUEUE)
    queue = config.queues[0]
    assert (queue.time_zone, queue.calendar, queue.default_priority, queue.default_type) == (
        "UTC", "", "routine", "question")
    calendar = queue_calendar(config, queue)
    assert calendar.weekly[0] == (bizcal.Block(540, 1020),) and calendar.weekly[5] == ()
    policy = ticket_policy(config, queue, priority="routine", type_="question", plan=None)
    assert (policy.name, str(policy.first_response)) == ("email", "2 business hours")
    critical = ticket_policy(config, queue, priority="critical", type_="question", plan=None)
    assert critical.calendar.always_open and str(critical.first_response) == "1 clock hour"
    assert ticket_deadline(config, queue, "petition").days == 15
    assert ticket_deadline(config, queue, "question") is None
    assert [rule.name for rule in config.classify.rules][:2] == ["critical-words", "urgent-words"]


def test_the_example_config_resolves_its_calendars_and_policies():
    config = load_config(EXAMPLE, env={})
    dynamics, soporte = config.queue("dynamics"), config.queue("soporte")
    warsaw = queue_calendar(config, dynamics)
    assert (warsaw.zone, warsaw.country, warsaw.language) == ("Europe/Warsaw", "PL", "pl")
    assert not bizcal.is_open(warsaw, datetime(2026, 12, 24, 10, tzinfo=UTC))
    bogota = queue_calendar(config, soporte)
    assert bogota.country == "CO" and bizcal.is_open(bogota, datetime(2026, 1, 6, 15, tzinfo=UTC))
    assert ticket_policy(config, dynamics, priority="routine", type_="question", plan="gold").name == "gold"
    assert ticket_policy(config, dynamics, priority="critical", type_="question", plan="gold").name == "critical"
    assert [c.plan for c in config.customers] == ["gold"]


def test_a_calendar_table(tmp_path):
    config = load(tmp_path, QUEUE.replace('code_prefix = "DYN"', 'code_prefix = "DYN"\ncalendar = "madrid"') + """
[calendars.madrid]
zone = "Europe/Madrid"
hours = { mon = ["08:00-14:00", "15:00-17:30"], sat = ["10:00-13:00"] }
country = "es"
subdivision = "MD"
closed = [2026-12-31, "2026-12-30"]
open = { "2026-05-02" = ["10:00-12:00"] }
""")
    calendar = queue_calendar(config, config.queues[0])
    assert calendar.weekly[0] == bizcal.parse_blocks(["08:00-14:00", "15:00-17:30"])
    assert calendar.weekly[1] == () and calendar.weekly[5] == (bizcal.Block(600, 780),)
    assert calendar.country == "ES" and calendar.closed == frozenset({date(2026, 12, 31), date(2026, 12, 30)})
    assert calendar.extra_open == {date(2026, 5, 2): (bizcal.Block(600, 720),)}


@pytest.mark.parametrize(("text", "expected"), [
    ('[calendars.x]\nzone = "Europe/Nowhere"\n',
     "calendars.x.zone: unknown time zone 'Europe/Nowhere' (an IANA name like Europe/Warsaw)"),
    ('[calendars.x]\nhours = { mon = ["9-17"] }\n',
     "calendars.x.hours: not an opening block like 09:00-17:00: '9-17'"),
    ('[calendars.x]\nhours = { monday = ["09:00-17:00"] }\n',
     "calendars.x.hours: unknown day 'monday': days are mon, tue, wed, thu, fri, sat, sun"),
    ('[calendars.x]\nhours = { mon = ["09:00-13:00", "12:00-17:00"] }\n',
     "calendars.x.hours: blocks 09:00-13:00 and 12:00-17:00 overlap"),
    ('[calendars.x]\ncountry = "XX"\n', "calendars.x: the holidays library knows no country 'XX'"),
    # Names the library has that are no country: a month constant, a financial market.
    ('[calendars.x]\ncountry = "jan"\n', "calendars.x: the holidays library knows no country 'JAN'"),
    ('[calendars.x]\ncountry = "ECB"\n', "calendars.x: the holidays library knows no country 'ECB'"),
    ('[calendars.x]\ncountry = "ES"\nsubdivision = "ZZ"\n',
     "calendars.x: holidays for ES/ZZ: Entity `ES` does not have subdivision ZZ"),
    ('[calendars.x]\nsubdivision = "MD"\n', "calendars.x: subdivision needs country"),
    ('[calendars.x]\nclosed = ["31.12.2026"]\n', "calendars.x.closed: not a date like 2026-12-31: '31.12.2026'"),
    ('[calendars.x]\nzones = "UTC"\n', "calendars.x.zones: unknown key"),
    ('[calendars.X]\n', "calendars.X.[key]: must be lowercase letters, digits, '-' and '_' (e.g. pl-business): 'X'"),
    ('[[classify.rules]]\npriority = "high"\nkeywords = ["x"]\n',
     "classify.rules[0].priority: must be 'routine', 'urgent' or 'critical'"),
    ('[[classify.rules]]\nkeywords = ["x"]\n', "classify.rules[0]: a rule must set priority or type"),
    ('[[classify.rules]]\ntype = "claim"\n',
     "classify.rules[0]: a rule needs a condition: queues, to, keywords, headers, plans or languages"),
    ('[[customers]]\nmatch = ["acme.pl"]\nplan = "gold"\n',
     "customers[0].match: write an address (jan@firma.pl) or a domain as @firma.pl: 'acme.pl'"),
    ('[[sla.policies]]\nname = "x"\nfirst_response = "2h"\n',
     "sla.policies[0].first_response: not a target like '2 business hours', '15 business days' or '24 hours': '2h'"),
    ('[sla.deadlines.petition]\ndays = 0\n', "sla.deadlines.petition.days: must be greater than or equal to 1"),
    ('[sla.deadlines.wish]\ndays = 3\n',
     "sla.deadlines.wish.[key]: must be 'question', 'incident', 'petition', 'complaint' or 'claim'"),
])
def test_problem_lines(tmp_path, text, expected):
    assert expected in problems(tmp_path, QUEUE + text)


@pytest.mark.parametrize(("text", "expected"), [
    ('calendar = "nowhere"\n', "queues[0].calendar: no calendar 'nowhere' (24x7, business)"),
    ('time_zone = "Mars/Base"\n', "queues[0].time_zone: unknown time zone 'Mars/Base'"),
    ('default_priority = "high"\n', "queues[0].default_priority: must be 'routine', 'urgent' or 'critical'"),
])
def test_queue_problem_lines(tmp_path, text, expected):
    found = problems(tmp_path, QUEUE + text)
    assert any(expected in line for line in found), found


def test_names_of_missing_calendars_and_queues_are_problems(tmp_path):
    found = problems(tmp_path, QUEUE + """
[[sla.policies]]
name = "x"
calendar = "nope"
queues = ["ghost"]
[sla.deadlines.petition]
days = 15
calendar = "gone"
""")
    text = "\n".join(found)
    assert "sla.policies[0].calendar: no calendar 'nope'" in text
    assert "sla.policies[0].queues: no queue 'ghost'" in text
    assert "sla.deadlines.petition.calendar: no calendar 'gone'" in text


def test_each_missing_name_is_a_line_of_its_own_with_its_path(tmp_path):
    found = problems(tmp_path, QUEUE + """
[calendars.pl]
zone = "Europe/Warsaw"
[[sla.policies]]
name = "fine"
calendar = "pl"
[[sla.policies]]
name = "typo"
calendar = "pl-biz"
queues = ["dynamics", "ghost"]
[[classify.rules]]
type = "claim"
queues = ["nowhere"]
""")
    assert found == [
        "sla.policies[1].calendar: no calendar 'pl-biz'",
        "sla.policies[1].queues: no queue 'ghost'",
        "classify.rules[0].queues: no queue 'nowhere'",
    ]


def test_missing_names_are_reported_with_the_other_problems_of_the_file(tmp_path):
    found = problems(tmp_path, QUEUE.replace('code_prefix = "DYN"', 'code_prefix = "DYN"\ncalendar = "pl-biz"') + """
[listener]
port = "smtp"
""")
    assert "queues[0].calendar: no calendar 'pl-biz' (24x7, business)" in found
    assert any(line.startswith("listener.port:") for line in found), found
    assert not any(line.startswith("(top level)") for line in found), found


def test_a_config_built_in_code_still_refuses_missing_names():
    from pydantic import ValidationError

    from mailbridge.config import Config

    with pytest.raises(ValidationError, match="sla.policies\\[0\\].calendar: no calendar 'nope'"):
        Config.model_validate({"queues": [{"name": "q", "address": "q@example.com", "code_prefix": "QQ"}],
                               "sla": {"policies": [{"name": "x", "calendar": "nope"}]}})


def test_the_tick_interval(tmp_path):
    assert load(tmp_path, QUEUE).sla.tick_seconds == 60
    assert load(tmp_path, QUEUE + "[sla]\ntick_seconds = 15\n").sla.tick_seconds == 15
    found = problems(tmp_path, QUEUE + "[sla]\ntick_seconds = 0\n")
    assert "sla.tick_seconds: must be greater than or equal to 1" in found


def test_a_queue_name_that_is_a_list_is_one_problem_line_not_a_crash(tmp_path):
    found = problems(tmp_path, """
[[queues]]
name = ["a", "b"]
address = "help@example.com"
code_prefix = "HLP"

[[sla.policies]]
name = "x"
queues = ["a"]
""")
    assert any(line.startswith("queues[0].name") for line in found), found
