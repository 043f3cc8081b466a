"""Per-language markers of quoted history: attribution verbs, header keys, separators, phone signatures."""

from __future__ import annotations

import re

from mailbridge.parse.lazy_re import lazy_compile

# Every pattern here runs on one line (or a window of at most a few hundred characters) and is
# either anchored literal alternation or a single bounded `.*`, so none can backtrack badly.

# The verb that ends an attribution line ("On …, Jane wrote:"), in the languages our customers
# and their correspondents write in. Matched on casefolded text.
_VERBS = (
    "wrote", "writes", "has written", "schrieb", "hat geschrieben", "escribió", "escribio",
    "escreveu", "napisał\\(a\\)", "napisał", "napisała", "napisali", "napisana", "pisze",
    "a écrit", "ha scritto", "scrisse", "schreef", "geschreven", "skrev", "skriver", "kirjoitti",
    "napsal\\(a\\)", "napsal", "napísal", "írta", "yazdı", "написал\\(а\\)", "написал",
    "написала", "написав", "пише", "писал", "ha escrit", "va escriure", "escriu", "skrev følgende",
)
VERB_RE = lazy_compile(r"(?<!\w)(?:" + "|".join(_VERBS) + r")(?!\w)|写道|寫道|のメッセージ|작성")

# Gmail in Russian, Yandex and mail.ru write attributions without a verb: a date, a time and
# the sender's address, ending in a colon ("ср, 30 апр. 2025 г. в 15:19, Иван <ivan@x.ru>:",
# "30.04.2025, 15:19, \"Иван\" <ivan@x.ru>:", "Среда, 30 апреля 2025, 15:19 +03:00 от Иван <…>:").
VERBLESS_ATTRIBUTION_RE = lazy_compile(
    r"(?=.{0,200}(?<!\d)(?:19|20)\d\d(?!\d))(?=.{0,250}(?<!\d)\d{1,2}:\d{2}(?!\d))"
    r".{0,250}@[^\s>]{1,100}>?\s*[:：]$"
)

# "Reply above this line" markers: notification systems (ours included) put one above the
# notice, so everything from the marker down is the notice being answered.
REPLY_ABOVE_RE = re.compile(
    r"(?:above this line|above the line|encima de esta l[ií]nea|nad tą lini[aą]|nad tą lini"
    r"|über dieser zeile|au-dessus de cette ligne|acima desta linha|sopra questa (?:riga|linea)"
    r"|boven deze (?:regel|lijn)|ovenfor denne linje|över denna rad|выше этой строки"
    r"|在此行上方|在此行以上|この行より上)",
)
# …and says to answer there: "see the table above this line" in a customer's text is no marker.
REPLY_VERB_RE = lazy_compile(
    r"repl|respon|answer|type|write|escrib|contest|odpowi|odpisz|pisz|pisać|antwort|schreib"
    r"|répond|écri|rispond|scriv|svar|skriv|antwoord|ответ|пишите|回复|回覆|返信|답장",
)

# Words that open an attribution in its first line: "On", "Am", "Le", "El", "Em", "Op", "Il",
# "Den", "W dniu", "Dnia", Eudora's "At", Apple Mail's Polish "Wiadomość napisana przez",
# Chinese "在", a date ("23 mar 2017 …", "2016-03-03 …") or Gmail's abbreviated weekday and date
# ("pon., 4 mar 2024 o 10:15 …", "lun, 4 mar 2024 …").
OPENER_RE = lazy_compile(
    r"(?:on|am|le|el|em|op|il|den|dne|at|w dniu|dnia|wiadomość napisana przez)\s|\d|在"
    r"|[^\W\d_]{2,4}(?:\.,?|,)\s*\d"
)

# Gmail's old attribution starts with a numeric date and often has no verb at all:
# "2016-03-03 17:21 GMT+01:00 Jane <jane@example.com>:" or "2013/7/20 Jane <jane@example.com>".
GMAIL_DATE_RE = lazy_compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}\s")

# Keys of a header block that a client pastes above the quoted mail (Outlook's "From:/Sent:/
# To:/Subject:" and its translations). A block needs a From-like key and a date or subject key.
FROM_KEYS = frozenset({
    "from", "von", "de", "od", "da", "från", "fra", "van", "от", "від", "lähettäjä", "feladó",
    "kimden", "expéditeur", "remitente", "nadawca", "odesílatel", "发件人", "寄件者", "寄件人",
    "差出人", "送信者", "보낸 사람", "보낸사람",
})
DATE_SUBJECT_KEYS = frozenset({
    "sent", "date", "subject", "enviado el", "wysłano", "wysłane", "data", "temat", "enviado", "enviada",
    "fecha", "asunto", "gesendet", "datum", "betreff", "envoyé", "objet", "inviato", "oggetto",
    "assunto", "verzonden", "onderwerp", "skickat", "ämne", "sendt", "emne", "отправлено",
    "тема", "дата", "надіслано", "lähetetty", "aihe", "odesláno", "předmět", "message du",
    "发送时间", "日期", "主题", "寄件日期", "主旨", "送信日時", "件名", "보낸 날짜", "제목", "enviat",
    "assumpte", "data d'enviament", "sendt dato", "verstuurd", "gesendet am",
})
OTHER_KEYS = frozenset({
    "to", "cc", "bcc", "reply-to", "do", "dw", "kopia", "odpowiedź do", "para", "cco",
    "responder a", "an", "antwort an", "à", "a", "risposta", "aan", "till", "til", "kopie",
    "кому", "копия", "komu", "kenelle", "importance", "priority", "ważność", "importancia",
    "收件人", "抄送", "收件者", "副本", "宛先", "받는 사람", "참조", "per a",
})
HEADER_KEYS = FROM_KEYS | DATE_SUBJECT_KEYS | OTHER_KEYS

# Lines that start a forwarded or original message once decoration ("-----", "*", ":") is
# stripped and the line is casefolded.
HISTORY_MARKERS = frozenset({
    "original message", "original message follows", "ursprüngliche nachricht",
    "mensaje original", "wiadomość oryginalna", "oryginalna wiadomość", "message d'origine",
    "messaggio originale", "mensagem original", "oorspronkelijk bericht", "originalmeddelande",
    "opprinnelig melding", "forwarded message", "mensaje reenviado", "wiadomość przekazana",
    "przekazana wiadomość", "weitergeleitete nachricht", "message transféré",
    "messaggio inoltrato", "mensagem encaminhada", "doorgestuurd bericht",
    "videresendt melding", "vidarebefordrat meddelande", "begin forwarded message",
    "anfang der weitergeleiteten nachricht", "inicio del mensaje reenviado",
    "comienzo del mensaje reenviado", "początek przekazywanej wiadomości",
    "début du message réexpédié", "inizio messaggio inoltrato", "início da mensagem reencaminhada",
    "reply message", "исходное сообщение", "пересылаемое сообщение", "oprindelig besked",
    "oprindelig meddelelse", "videresendt besked", "videresendt meddelelse", "opprinnelig melding",
    "ursprungligt meddelande", "missatge original", "missatge reenviat", "originele bericht",
    "messaggio originale", "message d'origine", "original email message", "原始邮件", "原始郵件",
    "转发的邮件", "원본 메시지", "전달된 메시지", "元のメッセージ", "転送されたメッセージ",
})
MARKER_DECORATION = " \t-_*=:<>[]"

# A separator line is one character repeated: the Outlook rule above a header block, a footer
# rule, or Gmail's lone "ᐧ" tracking dot. "--" is the signature delimiter (RFC 3676 "-- ").
SEPARATOR_CHARS = frozenset("-_=*~#+")
SEPARATOR_SINGLE_CHARS = frozenset("ᐧ—―─━")

# Signatures that phones and mail apps append: removed only from the end of the reply.
MOBILE_SIGNATURE_RE = re.compile(
    r"[(<\[\s-]*(?:"
    r"(?:sent|envoyé|enviado|enviada|inviato|verzonden|sendt|skickat|gesendet|wysłane|wysłano"
    r"|отправлено|надіслано|enviat|odesláno)\s+(?:from|with|via|using|by|on|de|desde|do|depuis"
    r"|à partir de|da|dal|con|vanaf|met|fra|från|von|mit|z|przez|с|з|des de|des del|amb)\s.*"
    r"|von\s+(?:outlook|mail|gmail|yahoo|samsung)\b.{0,40}\bgesendet"
    r"|.{1,40}에서 보냄"
    r"|get\s+(?:\S+\s+)?outlook\s+(?:for|para)\s.*|obtener\s+outlook\s+para\s.*"
    r"|pobierz\s+(?:aplikację\s+)?outlook\s.*|outlook\s+für\s+\S+\s+herunterladen.*"
    r"|von\s+meinem\s+.*gesendet.*|diese\s+nachricht\s+wurde\s+von\s+meinem\s+.*gesendet.*"
    r"|(?:從|从|发自|寄自)我的.*|iphoneから送信.*"
    r"|(?:\w+\s+)?from\s+(?:my\s+)?(?:mobile|iphone|ipad|android|phone|cell|smartphone)\b.*"
    r")"
)
# After "my" ("Sent from my …"), only a device or a short name makes it a signature:
# "Sent from my desk, is much easier then my mobile phone." is a sentence, not a signature.
POSSESSIVE_RE = lazy_compile(r"\b(?:my|mi|mon|meinem|mijn|min|mojego|mojej|mio|meu)\s+(.*)")
DEVICE_WORDS = (
    "iphone", "ipad", "ipod", "android", "blackberry", "mobile", "phone", "cell", "samsung",
    "galaxy", "htc", "huawei", "xiaomi", "windows", "nokia", "sony", "lg", "motorola", "pixel",
    "smartphone", "tablet", "kindle", "móvil", "movil", "teléfono", "telefon", "mobilgerät",
    "handy", "téléphone", "portable", "dispositivo", "urządzenia", "komórki", "telefonu",
)
LINK_RE = re.compile(r"<[^<>\s]{1,500}>|\(https?://[^()\s]{1,500}\)|https?://\S{1,500}")
MARKDOWN_LINK_RE = re.compile(r"\[([^\[\]]{0,200})\]")
