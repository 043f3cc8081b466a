"""The `#` commands at the top of an agent's mail, read into names and arguments (pure).

Lines at the top of the answer that start with `#` and a letter are commands; several may
share a line (`#resolve #priority urgent`). The first other line ends them; the rest is the
answer. Names and values are compared without case and accents, and each has its Polish and
Spanish forms (`#notatka`, `#nota`, `#prioridad urgente`). `#note` may carry text on its own
line (`#note called the customer`): that text is part of the note.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# canonical name → the words accepted for it (folded: lowercase, no accents).
NAMES: dict[str, tuple[str, ...]] = {
    "note": ("note", "notatka", "nota"),
    "resolve": ("resolve", "rozwiaz", "rozwiazane", "resolver", "resuelto"),
    "close": ("close", "zamknij", "cerrar"),
    "pending": ("pending", "oczekuje", "pendiente"),
    "open": ("open", "otworz", "abrir"),
    "priority": ("priority", "priorytet", "prioridad"),
    "type": ("type", "typ", "tipo"),
    "assign": ("assign", "przypisz", "asignar"),
    "take": ("take", "biore", "tomar"),
    "fwd": ("fwd", "forward", "przekaz", "reenviar"),
    "phone": ("phone", "telefon", "telefono"),
}
VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "priority": {
        "routine": ("routine", "zwykly", "zwykle", "normalny", "rutina", "normal"),
        "urgent": ("urgent", "pilny", "pilne", "urgente"),
        "critical": ("critical", "krytyczny", "krytyczne", "critico", "critica"),
    },
    "type": {
        "question": ("question", "pytanie", "pregunta"),
        "incident": ("incident", "awaria", "incydent", "incidente", "incidencia"),
        "petition": ("petition", "petycja", "wniosek", "peticion"),
        "complaint": ("complaint", "skarga", "queja"),
        "claim": ("claim", "reklamacja", "reclamo", "reclamacion"),
    },
}
# Commands that act on a ticket an answer is placed on; `fwd` and `phone` open one instead.
TICKET_COMMANDS = ("note", "resolve", "close", "pending", "open", "priority", "type", "assign", "take")
OPENING_COMMANDS = ("fwd", "phone")
_ARGUMENTS = {"priority": "value", "type": "value", "assign": "address", "phone": "address"}
_BY_WORD = {word: name for name, words in NAMES.items() for word in words}
_COMMAND_LINE = re.compile(r"#[^\W\d_]")
_SPLIT = re.compile(r"(?<!\S)(?=#[^\W\d_])")
_ADDRESS = re.compile(r"<?([^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+)>?")


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its canonical name, its argument (a canonical value or an address) and the text written."""

    name: str
    argument: str
    written: str


@dataclass(frozen=True, slots=True)
class Commands:
    """What the top of a mail says: the commands, the text after them, or the first line not understood."""

    commands: tuple[Command, ...]
    body: str
    error: str | None = None

    def has(self, name: str) -> bool:
        return any(command.name == name for command in self.commands)

    def first(self, name: str) -> Command | None:
        return next((command for command in self.commands if command.name == name), None)


def fold(word: str) -> str:
    """Lowercase without accents (`Notatka` → `notatka`, `Rozwiąż` → `rozwiaz`, `Petición` → `peticion`)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold().replace("ł", "l"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def read_commands(text: str) -> Commands:
    """The commands at the top of `text` (see the module docstring)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[Command] = []
    note_text: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line and not _COMMAND_LINE.match(line):
            break
        index += 1
        pieces = [piece.strip() for piece in _SPLIT.split(line) if piece.strip()]
        for number, written in enumerate(pieces):
            command = _command(written)
            if command is None:
                return Commands(tuple(found), "", error=written)
            if command.name == "note":
                # The rest of the line is the note's text, `#` words in it included.
                text = " ".join([command.argument, *pieces[number + 1:]]).strip()
                note_text += [text] if text else []
                found.append(Command("note", "", written))
                break
            found.append(command)
    body = "\n".join([*note_text, *lines[index:]]).strip("\n")
    return Commands(tuple(found), body)


def _command(written: str) -> Command | None:
    """One `#name argument`, or None when the name is unknown or the argument wrong."""
    word, _, rest = written[1:].partition(" ")
    name = _BY_WORD.get(fold(word.strip().rstrip(":")))
    rest = rest.strip()
    if name is None:
        return None
    expects = _ARGUMENTS.get(name)
    if name == "note":
        return Command(name, rest, written)
    if expects is None:
        return Command(name, "", written) if not rest else None
    if expects == "address":
        match = _ADDRESS.fullmatch(rest)
        return Command(name, match.group(1).lower(), written) if match else None
    value = _value(name, rest)
    return Command(name, value, written) if value else None


def _value(name: str, written: str) -> str | None:
    wanted = fold(written)
    for value, words in VALUES[name].items():
        if wanted in words:
            return value
    return None


def help_lines() -> list[str]:
    """The commands with their arguments and Polish and Spanish forms, one per line (for mail to agents)."""
    arguments = {"priority": " routine|urgent|critical", "type": " question|incident|petition|complaint|claim",
                 "assign": " agent@address", "phone": " customer@address"}
    return [f"#{name}{arguments.get(name, '')}   ({', '.join('#' + w for w in words[1:])})"
            for name, words in NAMES.items()]
