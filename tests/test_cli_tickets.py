"""`mailbridge tickets list|show`, `explain` and `quarantine …` on ingested conversations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from mailbridge import present
from mailbridge.cli import _register, app
from mailbridge.store.models import Outbox

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
CONFIG = THREADS / "mailbridge.toml"

_register()


@pytest.fixture
def cli(database, tmp_path):
    """Run `mailbridge ARGS... --config` against the test database; returns the result."""
    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str, config: Path = CONFIG):
        return CliRunner(env=env).invoke(app, [*args, "--config", str(config)])

    return run


@pytest.fixture
def conversation(cli):
    names = ["original_dynamics_pl", "gmail_reply_with_references", "reply_from_cc_participant",
             "original_soporte_es"]
    result = cli("ingest", *(str(THREADS / f"{name}.eml") for name in names))
    assert result.exit_code == 0, result.output


def test_tickets_list_text_and_filters(cli, conversation):
    result = cli("tickets", "list")
    assert result.exit_code == 0, result.output
    assert "DYN-000001" in result.stdout and "SOP-000001" in result.stdout
    only_soporte = cli("tickets", "list", "--queue", "soporte")
    assert "SOP-000001" in only_soporte.stdout and "DYN-000001" not in only_soporte.stdout
    assert "no tickets" in cli("tickets", "list", "--status", "closed").stdout


def test_tickets_list_json(cli, conversation):
    result = cli("tickets", "list", "--json")
    tickets = {t["code"]: t for t in json.loads(result.stdout)}
    assert set(tickets) == {"DYN-000001", "SOP-000001"}
    assert tickets["SOP-000001"]["requester"] == "maria.gomez@cliente.co"
    assert tickets["DYN-000001"]["status"] == "new"


def test_tickets_list_refuses_an_unknown_queue_and_status(cli, conversation):
    unknown_queue = cli("tickets", "list", "--queue", "nope")
    assert unknown_queue.exit_code == 1
    assert "no queue named 'nope'" in unknown_queue.stderr
    assert cli("tickets", "list", "--status", "sleeping").exit_code == 2


def test_tickets_show_reads_as_a_conversation_with_attachments(cli, conversation):
    result = cli("tickets", "show", "DYN-000001")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("DYN-000001  Błąd przy księgowaniu faktury")
    assert "Ewa Nowak <ewa.nowak@klient.pl> (cc)" in out
    assert out.index("── 1. customer") < out.index("── 2. customer") < out.index("── 3. customer")
    assert "zrzut ekranu.png (image/png, 70 B)" in out
    # The reply text is shown, not the quoted history under it.
    assert "Jeszcze jedno" in out and "> Dzień dobry" not in out


def test_tickets_show_json_lists_messages_and_attachments(cli, conversation):
    data = json.loads(cli("tickets", "show", "dyn-000001", "--json").stdout)
    assert data["code"] == "DYN-000001"
    assert [m["thread"]["rule"] for m in data["messages"]] == ["new", "stored-reference", "subject-code"]
    [attachment] = data["messages"][0]["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("zrzut ekranu.png", 70)
    assert {p["role"] for p in data["participants"]} == {"requester", "cc"}


def _set_outbox(database, kind: str, **values) -> None:
    with database.session() as session:
        session.execute(update(Outbox).where(Outbox.kind == kind).values(**values))


def test_tickets_show_puts_the_mail_we_sent_on_the_timeline(cli, conversation, database):
    before = json.loads(cli("tickets", "show", "DYN-000001", "--json").stdout)
    received = [datetime.fromisoformat(m["received_at"]) for m in before["messages"]]
    # Ingesting queued the acknowledgement, the new-ticket notice and a reply notice per
    # follow-up just now; date them after the messages that caused them, and give them fates.
    minute = timedelta(minutes=1)
    _set_outbox(database, "ack", created_at=received[0] + minute, state="sent", attempts=1,
                sent_at=received[0] + 2 * minute)
    _set_outbox(database, "agent_new", created_at=received[0] + minute, attempts=2,
                next_attempt_at=received[0] + 5 * minute, last_error="451 4.3.0 relay busy")
    _set_outbox(database, "agent_reply", created_at=received[-1] + minute, state="failed", attempts=1,
                last_error="550 5.1.1 <anna.agent@example.com>: no such user")

    out = cli("tickets", "show", "DYN-000001").stdout
    ack = "→ 2026-02-03 08:13 UTC  acknowledgement to jan.kowalski@klient.pl: sent 2026-02-03 08:14 UTC"
    notice = ("→ 2026-02-03 08:13 UTC  new-ticket notice to anna.agent@example.com: retrying after 2 "
              "attempt(s), next 2026-02-03 08:17 UTC: 451 4.3.0 relay busy")
    failed = "reply notice to anna.agent@example.com: failed: 550 5.1.1 <anna.agent@example.com>: no such user"
    assert ack in out and notice in out and failed in out
    # In time order: each mail after the message that caused it, the reply notices at the end.
    assert out.index("── 1. customer") < out.index(ack) < out.index(notice) < out.index("── 2. customer")
    assert out.index("── 3. customer") < out.index(failed)
    # The customer of the other ticket and its mail stay there.
    assert "carlos.agente@example.com" not in out and "maria.gomez@cliente.co" not in out

    sent = json.loads(cli("tickets", "show", "DYN-000001", "--json").stdout)["sent"]
    assert [(m["kind"], m["state"]) for m in sent] == [
        ("ack", "sent"), ("agent_new", "queued"), ("agent_reply", "failed"), ("agent_reply", "failed")]
    assert sent[0]["recipient"] == "jan.kowalski@klient.pl" and sent[0]["what"] == "acknowledgement"
    assert sent[0]["subject"].startswith("[DYN-000001] Otrzymaliśmy Twoje zgłoszenie")
    assert sent[0]["sent_at"] == (received[0] + 2 * minute).isoformat()
    assert sent[1]["last_error"] == "451 4.3.0 relay busy" and sent[1]["attempts"] == 2
    assert sent[1]["next_attempt_at"] == (received[0] + 5 * minute).isoformat()


def test_tickets_show_a_mail_not_tried_yet_is_waiting(cli, conversation):
    out = cli("tickets", "show", "SOP-000001").stdout
    assert "acknowledgement to maria.gomez@cliente.co: waiting to be sent" in out
    assert "new-ticket notice to carlos.agente@example.com: waiting to be sent" in out
    # A ticket's sent list is in JSON even when nothing went out yet.
    data = json.loads(cli("tickets", "show", "SOP-000001", "--json").stdout)
    assert {m["state"] for m in data["sent"]} == {"queued"} and len(data["sent"]) == 2


@pytest.mark.parametrize(("state", "last_error", "shown"), [
    ("held", "rate limit: 5 automatic mails in 1 h", "held: rate limit: 5 automatic mails in 1 h"),
    ("bounced", "bounced: 5.1.1", "bounced: 5.1.1"),
    ("failed", "", "failed: no reason recorded"),
    ("dropped", "", "dropped by an operator"),
])
def test_the_fate_of_a_mail_that_did_not_go_reads_plainly(state, last_error, shown):
    when = datetime.fromisoformat("2026-02-03T08:12:00+00:00")
    row = Outbox(intent="x", kind="closed", message_id="m@example.com", mail_from="a@example.com",
                 recipient="b@example.com", state=state, last_error=last_error,
                 created_at=when, next_attempt_at=when)
    assert present.outgoing_line(row) == f"→ 2026-02-03 08:12 UTC  'closed' mail to b@example.com: {shown}"


def test_tickets_show_unknown_code_is_one_line_and_exit_1(cli, conversation):
    result = cli("tickets", "show", "DYN-424242")
    assert result.exit_code == 1
    assert result.stderr.strip() == "mailbridge: no ticket DYN-424242"


def test_explain_names_the_routing_header_and_the_threading_rule(cli, conversation):
    result = cli("explain", "<CAGmail-reply-2@mail.gmail.com>")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "went to ticket DYN-000001 in queue dynamics" in out
    assert "queue: rule to-header: To: pomoc-dynamics@example.com" in out
    assert "thread: rule stored-reference: refers to stored <orig-dyn-1@klient.pl> of DYN-000001" in out


def test_explain_says_why_a_stranger_got_a_new_ticket(cli, conversation):
    cli("ingest", str(THREADS / "stranger_with_foreign_ticket_code.eml"))
    data = json.loads(cli("explain", "stranger-5@inna-firma.example", "--json").stdout)
    assert (data["ticket"], data["thread"]["rule"]) == ("DYN-000002", "new")
    assert "ignored DYN-000001 in the subject" in data["thread"]["detail"]


def test_explain_unknown_message_id_is_exit_1(cli, conversation):
    result = cli("explain", "<nobody@nowhere>")
    assert result.exit_code == 1
    assert "no stored message with Message-ID <nobody@nowhere>" in result.stderr


# --- quarantine -----------------------------------------------------------------------------


def _with_sales_queue(tmp_path: Path) -> Path:
    """The test config plus a queue for sprzedaz@example.com: the fix a sysadmin would make."""
    fixed = tmp_path / "fixed.toml"
    fixed.write_text(
        CONFIG.read_text(encoding="utf-8")
        + '\n[[queues]]\nname = "sprzedaz"\naddress = "sprzedaz@example.com"\ncode_prefix = "SPR"\n',
        encoding="utf-8",
    )
    return fixed


def test_quarantine_list_show_and_raw(cli):
    raw = (THREADS / "to_unknown_address.eml").read_bytes()
    assert cli("ingest", str(THREADS / "to_unknown_address.eml")).exit_code == 1
    listing = cli("quarantine", "list")
    assert "route" in listing.stdout and "sprzedaz@example.com" in listing.stdout
    [entry] = json.loads(cli("quarantine", "list", "--json").stdout)
    shown = cli("quarantine", "show", str(entry["id"]))
    assert "stage route" in shown.stdout and "Subject: Oferta" in shown.stdout
    assert cli("quarantine", "show", str(entry["id"]), "--raw").stdout_bytes == raw


def test_quarantine_retry_after_the_fix_succeeds_exactly_once(cli, tmp_path):
    cli("ingest", str(THREADS / "to_unknown_address.eml"))
    [entry] = json.loads(cli("quarantine", "list", "--json").stdout)
    still_broken = cli("quarantine", "retry", str(entry["id"]))
    assert still_broken.exit_code == 1 and "failed again at stage route" in still_broken.stderr
    fixed = _with_sales_queue(tmp_path)
    retried = cli("quarantine", "retry", str(entry["id"]), config=fixed)
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"quarantine {entry['id']}: created SPR-000001 (rule new)"
    again = cli("quarantine", "retry", str(entry["id"]), config=fixed)
    assert again.exit_code == 1 and "is retried, not held" in again.stderr
    assert json.loads(cli("quarantine", "list", "--json").stdout) == []
    [done] = json.loads(cli("quarantine", "list", "--all", "--json").stdout)
    assert (done["state"], done["attempts"]) == ("retried", 2)


def test_quarantine_retry_all_and_drop(cli, tmp_path):
    cli("ingest", str(THREADS / "to_unknown_address.eml"))
    [entry] = json.loads(cli("quarantine", "list", "--json").stdout)
    dropped = cli("quarantine", "drop", str(entry["id"]))
    assert dropped.exit_code == 0 and "dropped" in dropped.stdout
    nothing = cli("quarantine", "retry", "--all", config=_with_sales_queue(tmp_path))
    assert (nothing.exit_code, nothing.stdout) == (0, "")
    assert cli("tickets", "list", "--json").stdout.strip() == "[]"


def test_quarantine_usage_and_unknown_ids(cli):
    assert cli("quarantine", "retry").exit_code == 2
    assert cli("quarantine", "retry", "1", "--all").exit_code == 2
    missing = cli("quarantine", "show", "99")
    assert missing.exit_code == 1 and "no quarantined message with id 99" in missing.stderr
    assert cli("quarantine", "drop", "99").exit_code == 1
