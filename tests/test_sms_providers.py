"""SMS providers against a local gateway started by the test: request shape, auth, 4xx/5xx/timeouts, keys."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mailbridge.cli import _register, app
from mailbridge.config import ConfigError, load_config
from mailbridge.escalation.sms.base import Outgoing, Permanent, Temporary
from mailbridge.escalation.sms.choose import provider_for
from mailbridge.escalation.sms.smsapi import idx_of
from sms_gateway import gateway

_register()
MESSAGE = Outgoing("esc:7:+48600100200", "+48600100200", "DYN-000123 dynamics KRYTYCZNE: bez odpowiedzi 5m",
                   "DYN-000123", "critical#1")


def write(tmp_path: Path, sms: str) -> Path:
    path = tmp_path / "mailbridge.toml"
    path.write_text(f'''[mailbridge]
state_dir = "{tmp_path / 'state'}"
secret = "sms-tests-secret-0123456789abcdef"

[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"

{sms}
''', encoding="utf-8")
    return path


def provider(tmp_path: Path, sms: str, env: dict | None = None):
    return provider_for(load_config(write(tmp_path, sms), env=env or {}))


@pytest.fixture
def gate(request):
    server = gateway(getattr(request, "param", "generic"))
    yield server
    server.close()


def test_http_provider_posts_the_form_with_its_headers_and_our_idempotency_key(tmp_path, gate):
    sms = provider(tmp_path, f'''[sms]
provider = "http"
[sms.http]
url = "{gate.url}/send"
headers = {{ Authorization = "Bearer env:X" }}
form = {{ to = "{{{{ sms.to_digits }}}}", text = "{{{{ sms.text }}}}", ref = "{{{{ sms.ticket }}}}" }}
''')
    receipt = sms.send(MESSAGE)
    [request] = gate.requests
    assert (request.method, request.path) == ("POST", "/send")
    assert request.form == {"to": "48600100200", "text": MESSAGE.text, "ref": "DYN-000123"}
    assert request.headers["Idempotency-Key"] == "esc:7:+48600100200"
    assert request.headers["Authorization"] == "Bearer env:X"
    assert receipt.answer.startswith("HTTP 200") and receipt.provider_id == "msg-1"


def test_http_provider_json_body_and_a_token_from_a_file(tmp_path, gate):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n", encoding="utf-8")
    provider(tmp_path, f'''[sms]
provider = "http"
[sms.http]
url = "{gate.url}/v1/messages"
headers = {{ X-Api-Key = "file:{token}" }}
json_body = {{ recipient = "{{{{ sms.to }}}}", body = "{{{{ sms.text }}}}" }}
''').send(MESSAGE)
    [request] = gate.requests
    assert request.json == {"recipient": "+48600100200", "body": MESSAGE.text}
    assert request.headers["X-Api-Key"] == "s3cr3t-token"


@pytest.mark.parametrize(("status", "kind"), [(400, Permanent), (401, Permanent), (404, Permanent),
                                              (429, Temporary), (500, Temporary), (503, Temporary)])
def test_http_answers_4xx_are_permanent_and_5xx_temporary(tmp_path, gate, status, kind):
    gate.answers.append((status, {"error": "nope"}))
    sms = provider(tmp_path, f'[sms]\nprovider = "http"\n[sms.http]\nurl = "{gate.url}"\nform = {{ to = "x" }}\n')
    with pytest.raises(kind, match=f"HTTP {status}"):
        sms.send(MESSAGE)


def test_a_gateway_slower_than_the_timeout_is_temporary(tmp_path, gate):
    gate.answers.append("hang")
    sms = provider(tmp_path, f'[sms]\nprovider = "http"\ntimeout_seconds = 1\n[sms.http]\nurl = "{gate.url}"\n')
    with pytest.raises(Temporary, match="Timeout"):
        sms.send(MESSAGE)


def test_a_gateway_that_is_not_there_is_temporary(tmp_path):
    sms = provider(tmp_path, '[sms]\nprovider = "http"\n[sms.http]\nurl = "http://127.0.0.1:9/"\n')
    with pytest.raises(Temporary, match="ConnectError"):
        sms.send(MESSAGE)


@pytest.mark.parametrize("gate", ["smsapi"], indirect=True)
def test_smsapi_sends_idx_and_check_idx_and_a_retry_is_not_sent_twice(tmp_path, gate):
    sms = provider(tmp_path, f'''[sms]
provider = "smsapi"
[sms.smsapi]
token = "env:SMSAPI_TOKEN"
url = "{gate.url}/sms.do"
sender = "Pomoc"
test = true
''', env={"SMSAPI_TOKEN": "oauth-token-123"})
    first = sms.send(MESSAGE)
    again = sms.send(MESSAGE)
    assert len(gate.requests) == 2 and len(gate.accepted) == 1
    form = gate.requests[0].form
    assert form == {"to": "48600100200", "message": MESSAGE.text, "format": "json", "encoding": "utf-8",
                    "idx": idx_of(MESSAGE.key), "check_idx": "1", "from": "Pomoc", "test": "1"}
    assert gate.requests[0].headers["Authorization"] == "Bearer oauth-token-123"
    assert (first.provider_id, first.duplicate) == ("smsapi-1", False)
    assert again.duplicate and "sent before" in again.answer


@pytest.mark.parametrize("gate", ["smsapi"], indirect=True)
@pytest.mark.parametrize(("answer", "kind"), [((200, {"error": 101, "message": "Authorization failed"}), Permanent),
                                              ((200, {"error": 13, "message": "No correct phone numbers"}), Permanent),
                                              ((200, {"error": 999, "message": "Internal error"}), Temporary),
                                              ((502, "Bad Gateway"), Temporary)])
def test_smsapi_errors(tmp_path, gate, answer, kind):
    gate.answers.append(answer)
    sms = provider(tmp_path, f'[sms]\nprovider = "smsapi"\n[sms.smsapi]\ntoken = "t"\nurl = "{gate.url}/sms.do"\n')
    with pytest.raises(kind):
        sms.send(MESSAGE)


@pytest.mark.parametrize("gate", ["twilio"], indirect=True)
def test_twilio_posts_to_the_account_messages_with_basic_auth(tmp_path, gate):
    sms = provider(tmp_path, f'''[sms]
provider = "twilio"
[sms.twilio]
account_sid = "AC0123"
auth_token = "tw-token"
from_number = "+48732000000"
url = "{gate.url}"
''')
    receipt = sms.send(MESSAGE)
    [request] = gate.requests
    assert request.path == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request.form == {"To": "+48600100200", "Body": MESSAGE.text, "From": "+48732000000"}
    assert request.headers["Authorization"] == "Basic " + __import__("base64").b64encode(b"AC0123:tw-token").decode()
    assert receipt.provider_id.startswith("SM")


def test_the_command_provider_runs_a_program_with_arguments_and_no_shell(tmp_path):
    script = tmp_path / "fake-inject"
    out = tmp_path / "injected.jsonl"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"open({str(out)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                      "sys.exit(int(__import__('os').environ.get('FAKE_EXIT', '0')))\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    sms = provider(tmp_path, f'''[sms]
provider = "command"
[sms.command]
argv = ["{script}", "TEXT", "{{{{ sms.to }}}}", "-text", "{{{{ sms.text }}}}"]
''')
    hostile = Outgoing("k", "+48600100200", "a; rm -rf / $(touch pwned) `id`")
    sms.send(hostile)
    assert json.loads(out.read_text().splitlines()[0]) == ["TEXT", "+48600100200", "-text", hostile.text]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("code", "kind"), [(65, Permanent), (1, Temporary)])
def test_the_command_provider_exit_codes(tmp_path, code, kind):
    sms = provider(tmp_path, f'[sms]\nprovider = "command"\n[sms.command]\nargv = ["{sys.executable}", "-c", '
                             f'"import sys; print(\'modem busy\'); sys.exit({code})"]\n')
    with pytest.raises(kind, match=f"exited {code}: modem busy"):
        sms.send(MESSAGE)


def test_the_log_provider_writes_one_line_per_sms_once(tmp_path):
    config = load_config(write(tmp_path, ""), env={})
    sms = provider_for(config)
    sms.send(MESSAGE)
    assert sms.send(MESSAGE).duplicate
    [line] = config.sms_log_path.read_text(encoding="utf-8").splitlines()
    written = json.loads(line)
    assert config.sms_log_path == tmp_path / "state" / "sms-outbox.jsonl"
    assert {k: written[k] for k in ("id", "to", "text", "ticket", "step")} == {
        "id": MESSAGE.key, "to": MESSAGE.to, "text": MESSAGE.text, "ticket": "DYN-000123", "step": "critical#1"}
    assert written["at"].endswith("+00:00")


def test_mock_transport_is_enough_for_a_unit_check_of_request_shape(tmp_path):
    seen = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 1, "list": [{"id": "x1"}]})

    config = load_config(write(tmp_path, '[sms]\nprovider = "smsapi"\n[sms.smsapi]\ntoken = "t"\n'), env={})
    provider_for(config, transport=httpx.MockTransport(handle)).send(MESSAGE)
    assert str(seen[0].url) == "https://api.smsapi.pl/sms.do"


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sms", "problem"), [
    ('[sms]\nprovider = "smsapi"\n', "sms: provider 'smsapi' needs smsapi.token"),
    ('[sms]\nprovider = "twilio"\n[sms.twilio]\naccount_sid = "AC1"\nauth_token = "t"\n',
     "sms: provider 'twilio' needs twilio.from_number (or messaging_service_sid)"),
    ('[sms]\nprovider = "http"\n[sms.http]\nurl = "https://x"\nheaders = { A = "file:/nonexistent/token" }\n',
     "sms.http.headers.A: cannot read /nonexistent/token: No such file or directory"),
    ('[sms]\nprovider = "pigeon"\n', "sms.provider: "),
])
def test_sms_config_problems_name_their_key(tmp_path, sms, problem):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, sms), env={})
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(("escalation", "problem"), [
    ('[escalation.phones]\n"anna@example.com" = "600 100 200"\n',
     "escalation.phones.anna@example.com: not a phone number in international form"),
    ('[escalation.phones]\n"anna@example.com" = "+48 123"\n', "escalation.phones.anna@example.com: not a valid phone"),
    ('[[escalation.ladders]]\nname = "x"\n[[escalation.ladders.steps]]\nsms = ["+48 600 100 20"]\n',
     "escalation.ladders[0].steps[0].sms[0]: not a valid phone number"),
    ('[[escalation.ladders]]\nname = "x"\n[[escalation.ladders.steps]]\nsms = ["piotr@example.com"]\n',
     "escalation.ladders[0].steps[0].sms: no number for 'piotr@example.com' in [escalation.phones]"),
    ('[[escalation.ladders]]\nname = "x"\ncalendar = "nope"\n[[escalation.ladders.steps]]\nemail = ["lead"]\n',
     "escalation.ladders[0].calendar: no calendar 'nope'"),
    ('[[escalation.ladders]]\nname = "x"\n[[escalation.ladders.steps]]\nafter = "2 days"\nemail = ["lead"]\n',
     "escalation.ladders[0].steps[0].after: write clock days as hours"),
    ('[[escalation.ladders]]\nname = "x"\n[[escalation.ladders.steps]]\nafter = "1 hours"\n',
     "escalation.ladders[0].steps[0]: a step needs at least one action"),
])
def test_escalation_config_problems_name_their_key(tmp_path, escalation, problem):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, escalation), env={})
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_phone_numbers_are_normalised_to_e164(tmp_path):
    config = load_config(write(tmp_path, '[escalation.phones]\n"Anna@Example.com" = "+48 (600) 100-200"\n'
                                         '"luis@example.com" = "+34 612 34 56 78"\n'), env={})
    assert config.escalation.phones == {"anna@example.com": "+48600100200", "luis@example.com": "+34612345678"}


def test_sms_test_command_prints_the_gateway_answer(tmp_path, gate):
    path = write(tmp_path, f'[sms]\nprovider = "http"\n[sms.http]\nurl = "{gate.url}"\n'
                           'form = { to = "{{ sms.to }}", text = "{{ sms.text }}" }\n')
    result = CliRunner().invoke(app, ["sms", "test", "+48 600 100 200", "--text", "Próba", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "to +48600100200 via http: 1 segment(s), UCS-2, 5 units" in result.output
    assert 'sent: HTTP 200: {"id": "msg-1"}' in result.output
    assert gate.requests[0].form == {"to": "+48600100200", "text": "Próba"}


def test_sms_test_command_reports_a_refusal_and_exits_1(tmp_path, gate):
    gate.answers.append((401, "bad token"))
    path = write(tmp_path, f'[sms]\nprovider = "http"\n[sms.http]\nurl = "{gate.url}"\n')
    result = CliRunner().invoke(app, ["sms", "test", "+48600100200", "--config", str(path)])
    assert result.exit_code == 1 and "permanent failure: HTTP 401: bad token" in result.output


def test_sms_test_command_refuses_a_bad_number(tmp_path):
    result = CliRunner().invoke(app, ["sms", "test", "600100200", "--config", str(write(tmp_path, ""))])
    assert result.exit_code == 2 and "international form" in result.output


def test_a_broken_provider_template_is_a_check_config_problem(tmp_path):
    path = write(tmp_path, '[sms]\nprovider = "http"\n[sms.http]\nurl = "https://gw.example/{{ sms.too }}"\n'
                           'form = { text = "{{ sms.text" }\n')
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 1
    assert "sms.http.url: 'dict object' has no attribute 'too'" in result.output
    assert "sms.http.form.text: unexpected end of template" in result.output
