"""`mailbridge outbox …`, `tickets resolve|close|reopen` and `check-config` on templates, with the Maildir default."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailbridge.outgoing import outbox
from mailbridge.cli import _register, app
from mailbridge.store.types import utcnow

THREADS = Path(__file__).resolve().parent / "fixtures" / "threads"
CONFIG = THREADS / "mailbridge.toml"

_register()


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def cli(database, state):
    env = {"MAILBRIDGE_TEST_DATABASE_URL": database.url, "MAILBRIDGE_TEST_STATE_DIR": str(state)}

    def run(*args: str, config: Path = CONFIG):
        return CliRunner(env=env).invoke(app, [*args, "--config", str(config)])

    return run


def maildir(state: Path) -> list[email.message.EmailMessage]:
    files = sorted((state / "outbox-maildir" / "new").iterdir()) if (state / "outbox-maildir").exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


@pytest.fixture
def ticket(cli):
    result = cli("ingest", str(THREADS / "original_dynamics_pl.eml"))
    assert result.exit_code == 0, result.output


def test_outbox_list_send_and_the_maildir_default(cli, ticket, state):
    listed = cli("outbox", "list")
    assert listed.exit_code == 0, listed.output
    assert "queued   ack         DYN-000001  jan.kowalski@klient.pl" in listed.stdout
    rows = json.loads(cli("outbox", "list", "--json").stdout)
    assert sorted(r["kind"] for r in rows) == ["ack", "agent_new"]
    sent = cli("outbox", "send")
    assert sent.stdout.strip() == "sent 2; 0 still queued"
    subjects = sorted(m["Subject"] for m in maildir(state))
    assert subjects[0].startswith("[DYN-000001] Nowe zgłoszenie od Jan Kowalski")
    assert subjects[1].startswith("[DYN-000001] Otrzymaliśmy Twoje zgłoszenie")
    assert "no outgoing mail in state queued" in cli("outbox", "list", "--state", "queued").stdout
    assert cli("outbox", "list", "--state", "lost").exit_code == 2


def test_tickets_resolve_close_reopen_queue_the_customer_mail(cli, ticket, state):
    resolved = cli("tickets", "resolve", "DYN-000001")
    assert resolved.exit_code == 0, resolved.output
    assert resolved.stdout.strip() == "DYN-000001: new → resolved; mail queued"
    assert cli("tickets", "resolve", "DYN-000001").stderr.strip() == (
        "mailbridge: DYN-000001 is resolved: cannot resolve it")
    closed = cli("tickets", "close", "[DYN-000001]", "--json")
    assert json.loads(closed.stdout) == {"ticket": "DYN-000001", "before": "resolved", "after": "closed",
                                         "mail_queued": True}
    assert cli("tickets", "reopen", "DYN-000001").exit_code == 0
    unknown = cli("tickets", "close", "DYN-999999")
    assert (unknown.exit_code, unknown.stderr.strip()) == (1, "mailbridge: no ticket DYN-999999")
    cli("outbox", "send")
    to_customer = [m["Subject"] for m in maildir(state) if m["To"].addresses[0].addr_spec == "jan.kowalski@klient.pl"]
    assert len(to_customer) == 4
    assert any("zostało rozwiązane" in s for s in to_customer)
    assert any("zostało zamknięte" in s for s in to_customer)
    assert any("ponownie otwarte" in s for s in to_customer)


def test_outbox_retry_releases_held_mail_and_drop_gives_up(cli, database, ticket, state):
    with database.session() as session:
        outbox.mark_undeliverable("ola@klient.pl", session=session, until=utcnow() + timedelta(days=7),
                                  status="5.1.1", now=utcnow())
    raw = (THREADS / "original_dynamics_pl.eml").read_bytes()
    raw = raw.replace(b"Jan.Kowalski@Klient.pl", b"ola@klient.pl").replace(b"orig-dyn-1@", b"other-1@")
    other = state.parent / "other.eml"
    other.write_bytes(raw)
    cli("ingest", str(other))
    [held] = json.loads(cli("outbox", "list", "--state", "held", "--json").stdout)
    assert held["recipient"] == "ola@klient.pl" and held["last_error"].startswith("undeliverable until")
    assert cli("outbox", "retry", str(held["id"])).stdout.strip() == "1 mail(s) queued again; `mailbridge serve` sends them"
    again = cli("outbox", "retry", str(held["id"]))
    assert again.exit_code == 1 and "is not held, failed or bounced" in again.stderr
    assert cli("outbox", "drop", str(held["id"])).stdout.strip() == f"outbox {held['id']} dropped"
    assert cli("outbox", "drop", str(held["id"])).exit_code == 1
    assert cli("outbox", "retry").exit_code == 2
    assert cli("outbox", "retry", "--all").exit_code == 0


def test_check_config_reports_a_broken_template(cli, tmp_path):
    own = tmp_path / "templates"
    own.mkdir()
    (own / "ack.es.txt").write_text("Asunto {{ ticket.codigo }}\n\nCuerpo\n", encoding="utf-8")
    config = tmp_path / "broken.toml"
    config.write_text(CONFIG.read_text(encoding="utf-8") + f'\n[outbox]\ntemplates_dir = "{own}"\n', encoding="utf-8")
    result = cli("check-config", config=config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "templates: ack.es.txt: 'dict object' has no attribute 'codigo'"]
    assert cli("check-config").exit_code == 0
