# ruff: noqa: E501 - raw MIME lines, kept whole so each mail program's layout stays readable
"""Writes the reply table's .eml files: `python -m tests.adapters.email.replies.build`.

Each mail is laid out as its mail program writes it (headers, MIME structure, charset and transfer
encoding, where the reply header or attribution line goes and how it is worded in that program's
Arabic or English interface, signatures and mobile footers), from samples of each program's
output. The bytes are written here rather than by hand so that base64 and quoted-printable are
right; the layout is each program's. `expected.yaml` beside them says what the hub must take.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).parent
RLM = "\u200f"  # the right-to-left mark Apple Mail puts around names and dates
SECRET = "reply-table-secret"
HANDOFF = "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V"
TOKEN = "h01jd7yq4zq8k3m2n1p0r9s8t7v-nc2xj3t3z27b6dry"
FORGED = "h01jd7yq4zq8k3m2n1p0r9s8t7v-aaaaaaaaaaaaaaaa"
HUB = f"tawasul-replies+{TOKEN}@hub.example.bh"
CASE_ID = "<tawasul.h_01jd7yq4zq8k3m2n1p0r9s8t7v.r1@hub.example.bh>"
SUBJECT = "[Tawasul TW-2026-004217] انقطاع المياه عن المنزل منذ ثلاثة أيام"
STAFF = "Ahmed Al-Kaabi <a.alkaabi@works.example.bh>"
CASE_TEXT_AR = [
    "شكوى جديدة من تواصل إلى وزارة الأشغال: انقطاع المياه عن المنزل منذ ثلاثة أيام",
    "",
    "الرقم المرجعي: TW-2026-004217",
    "اسم المواطن: فاطمة علي",
    "",
    "انقطعت المياه عن منزلي في مجمع 525 منذ يوم الأحد ولم يصل أي رد من الخط الساخن.",
]
CASE_TEXT_EN = ["New complaint from Tawasul for Ministry of Works", "", "Reference: TW-2026-004217"]
CASE_LINES = [*CASE_TEXT_AR, "", *CASE_TEXT_EN]


def b64(text: str, charset: str = "utf-8") -> str:
    """Base64 in 76-character lines, as mail programs write it."""
    raw = base64.b64encode(text.replace("\n", "\r\n").encode(charset)).decode("ascii")
    return "\r\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))


def qp(text: str, charset: str = "utf-8") -> str:
    """Quoted-printable, CRLF line ends."""
    return quopri.encodestring(text.replace("\n", "\r\n").encode(charset)).decode("ascii").replace("\r\n", "\r\n")


def word(text: str, charset: str = "utf-8", q: bool = False) -> str:
    """One RFC 2047 encoded word."""
    if q:
        data = "".join(
            chr(b) if chr(b).isalnum() and b < 128 else ("_" if b == 32 else f"={b:02X}") for b in text.encode(charset)
        )
        return f"=?{charset}?Q?{data}?="
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode('ascii')}?="


def headers(**fields: str) -> str:
    """Header lines; `_` in a name becomes `-`."""
    return "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in fields.items())


def reply_headers(subject_prefix: str = "RE: ", **extra: str) -> dict[str, str]:
    """What every reply to the case mail carries."""
    return {
        "From": STAFF,
        "To": f"{word('تواصل - Tawasul')} <{HUB}>",
        "Subject": word(subject_prefix + SUBJECT),
        "Date": "Sun, 22 Nov 2026 10:02:11 +0300",
        "Message-ID": "<%s@works.example.bh>",
        "In-Reply-To": CASE_ID,
        "References": CASE_ID,
        "MIME-Version": "1.0",
        **extra,
    }


def quoted(prefix: str = "> ") -> str:
    """The case mail's text quoted line by line."""
    return "\n".join((prefix + line).rstrip() for line in CASE_LINES)


def outlook_header_ar(sent_label: str = "أرسل") -> str:
    """Outlook desktop (Arabic interface) reply header, after its underscore line."""
    return (
        "________________________________\n"
        f"من: تواصل - Tawasul <{HUB}>\n"
        f"{sent_label}: الأحد، 22 نوفمبر، 2026 09:14 ص\n"
        "إلى: Complaints - Ministry of Works <complaints@works.example.bh>\n"
        f"الموضوع: {SUBJECT}\n"
    )


def outlook_header_en() -> str:
    """Outlook desktop (English interface)."""
    return (
        f"From: Tawasul <{HUB}>\n"
        "Sent: Sunday, November 22, 2026 9:14 AM\n"
        "To: Complaints - Ministry of Works <complaints@works.example.bh>\n"
        f"Subject: {SUBJECT}\n"
    )


def alternative(plain: str, html: str, charset: str = "utf-8", cte: str = "quoted-printable") -> str:
    """multipart/alternative as Outlook writes it."""
    boundary = "_000_DB9PR01MB7345ABCDEF_"
    enc = qp if cte == "quoted-printable" else b64
    return (
        f'Content-Type: multipart/alternative;\r\n\tboundary="{boundary}"\r\n\r\n'
        f'--{boundary}\r\nContent-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
        f"{enc(plain, charset)}\r\n"
        f'--{boundary}\r\nContent-Type: text/html; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
        f"{enc(html, charset)}\r\n--{boundary}--\r\n"
    )


def html_para(text: str, rtl: bool = True) -> str:
    """Outlook's HTML paragraphs."""
    d = ' dir="RTL"' if rtl else ""
    return "".join(
        f'<p class="MsoNormal"{d}><span lang="AR-BH">{line or "&nbsp;"}</span></p>\n' for line in text.split("\n")
    )


def write(name: str, head: dict[str, str], body: str) -> None:
    """One .eml file."""
    head = (
        {**head, "Message-ID": head["Message-ID"].replace("%s", name.replace(".eml", ""))}
        if "Message-ID" in head
        else head
    )
    (HERE / name).write_bytes((headers(**head) + body).encode("ascii" if body.isascii() else "utf-8"))


def build() -> None:
    """Write every mail of the table."""
    # 1. Outlook desktop, Arabic interface: plain + HTML, UTF-8 quoted-printable, sign-off and signature block.
    answer = "السلام عليكم،\n\nتم إصلاح الخط وإعادة ضخ المياه إلى المنزل صباح اليوم."
    sig = "\n\nمع التحية،\nأحمد الكعبي\nقسم الشكاوى - وزارة الأشغال\nهاتف: 17000000\n"
    plain = f"{answer}{sig}\n{outlook_header_ar()}\n" + "\n".join(CASE_LINES)
    html = (
        '<html dir="rtl"><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style>'
        'p.MsoNormal{margin:0cm;}</style></head><body lang="EN-US" dir="RTL"><div class="WordSection1">'
        + html_para(answer + sig)
        + '<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        + html_para(outlook_header_ar()[33:])
        + "</div></div>"
        + html_para("\n".join(CASE_LINES))
        + "</div></body></html>"
    )
    write(
        "01-outlook-desktop-ar.eml",
        reply_headers(
            "رد: ",
            Thread_Topic=word(SUBJECT),
            Thread_Index="AQHawXyZ1234567890abcdef==",
            Content_Language="ar-BH",
            X_MS_Has_Attach="",
            X_Mailer="Microsoft Outlook 16.0",
        ),
        alternative(plain, html),
    )
    # 2. Outlook desktop, English interface, Arabic text: windows-1256 quoted-printable (Outlook's default for Arabic).
    answer = "تمت زيارة الموقع من قبل الفريق الفني وتم إصلاح التسريب في الأنبوب الرئيسي."
    plain = f"{answer}\n\nRegards,\nAhmed\n\n{outlook_header_en()}\n" + "\n".join(CASE_LINES)
    html = (
        "<html><body>"
        + html_para(answer + "\n\nRegards,\nAhmed")
        + "<hr>"
        + html_para(outlook_header_en())
        + "</body></html>"
    )
    write(
        "02-outlook-desktop-en-windows-1256.eml",
        {
            **reply_headers("RE: ", X_Mailer="Microsoft Outlook 16.0", Content_Language="en-US"),
            "Subject": word("RE: " + SUBJECT, "windows-1256", q=True),
        },
        alternative(plain, html, "windows-1256"),
    )
    # 3. An older mail program: "-----الرسالة الأصلية-----", iso-8859-6 base64 (no Arabic-Indic digits in that charset).
    answer = "نفيدكم بأنه تم تحويل البلاغ إلى الفريق المختص وسيتم التواصل مع المواطن خلال يومين."
    plain = (
        f"{answer}\n\n-----الرسالة الأصلية-----\nمن: Tawasul [mailto:{HUB}]\nأرسل: الأحد 22 نوفمبر 2026 09:14\n"
        f"إلى: complaints@works.example.bh\nالموضوع: TW-2026-004217\n\n" + "\n".join(CASE_TEXT_AR)
    )
    write(
        "03-old-client-original-message-iso-8859-6.eml",
        {**reply_headers("رد: "), "Subject": word("رد: TW-2026-004217", "iso-8859-6")},
        f'Content-Type: text/plain; charset="iso-8859-6"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(plain, "iso-8859-6")}\r\n',
    )
    # 4. Outlook on the web (OWA), Arabic: HTML only, divRplyFwdMsg, "تم الإرسال".
    answer = "تمت معالجة الطلب.\nتم تركيب عداد جديد للمنزل."
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body dir="rtl">'
        '<div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt;" dir="rtl">'
        + answer.replace("\n", "<br>")
        + '</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        + '<div id="divRplyFwdMsg" dir="rtl"><font face="Calibri, sans-serif" style="font-size:11pt"><b>من:</b> '
        + f"تواصل - Tawasul &lt;{HUB}&gt;<br><b>تم الإرسال:</b> الأحد، 22 نوفمبر 2026 09:14 ص<br><b>إلى:</b> "
        + f"complaints@works.example.bh<br><b>الموضوع:</b> {SUBJECT}</font><div>&nbsp;</div></div>"
        + "<div>"
        + "<br>".join(CASE_LINES)
        + "</div></body></html>"
    )
    write(
        "04-owa-ar-html-only.eml",
        reply_headers("رد: ", X_MS_Exchange_Organization_SCL="-1", Content_Language="ar-SA"),
        f'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(html)}\r\n',
    )
    # 5. Outlook for iOS, Arabic text: footer then the reply header in English (the app's own language).
    answer = "شكرا لتواصلكم، تم إبلاغ الفني وسيصل الموقع غدا."
    plain = (
        f"{answer}\n\nاحصل على Outlook لـ iOS<https://aka.ms/o0ukef>\n________________________________\n{outlook_header_en()}\n"
        + "\n".join(CASE_LINES)
    )
    html = (
        f'<html><body><div dir="rtl">{answer}</div><div id="ms-outlook-mobile-signature">احصل على <a href="https://aka.ms/o0ukef">Outlook لـ iOS</a></div><div id="mail-editor-reference-message-container"><hr>'
        + html_para(outlook_header_en())
        + "</div></body></html>"
    )
    write("05-outlook-ios-ar.eml", reply_headers("رد: "), alternative(plain, html, cte="base64"))
    # 6. Outlook for Android, English, asking for information (a keyword: needs_info).
    answer = "Please provide the building number and a photo of the meter, so that the team can find the house."
    plain = (
        f"{answer}\n\nGet Outlook for Android<https://aka.ms/ghei36>\n________________________________\n{outlook_header_en()}\n"
        + "\n".join(CASE_LINES)
    )
    html = (
        f"<html><body><div>{answer}</div><div>Get <a href='https://aka.ms/ghei36'>Outlook for Android</a></div><hr>"
        + html_para(outlook_header_en(), rtl=False)
        + "</body></html>"
    )
    write("06-outlook-android-en-needs-info.eml", reply_headers(), alternative(plain, html))
    # 7. Gmail web, Arabic interface: attribution wrapped over two lines, "> " quotes; HTML gmail_quote.
    answer = "تم إصلاح العطل في الشبكة، ونعتذر عن التأخير."
    attribution = f"في الأحد، 22 نوفمبر 2026 في 9:14 ص تواصل - Tawasul <\n{HUB}> كتب:"
    plain = f"{answer}\n\n{attribution}\n\n{quoted()}\n"
    html = (
        f'<div dir="rtl">{answer}</div><br><div class="gmail_quote"><div dir="rtl" class="gmail_attr">'
        f"في الأحد، 22 نوفمبر 2026 في 9:14 ص تواصل - Tawasul &lt;{HUB}&gt; كتب:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        + "<br>".join(CASE_LINES)
        + "</blockquote></div>"
    )
    gm = "000000000000a1b2c3d4e5f60718"
    write(
        "07-gmail-web-ar.eml",
        {**reply_headers("رد: "), "Message-ID": "<CAB7x=%s@mail.gmail.com>"},
        f'Content-Type: multipart/alternative; boundary="{gm}"\r\n\r\n--{gm}\r\nContent-Type: text/plain; charset="UTF-8"\r\n'
        f'Content-Transfer-Encoding: base64\r\n\r\n{b64(plain)}\r\n--{gm}\r\nContent-Type: text/html; charset="UTF-8"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{qp(html)}\r\n--{gm}--\r\n",
    )
    # 8. Gmail web, English: acknowledgement keyword, "-- " signature.
    answer = "Acknowledged. The case is with our maintenance team."
    plain = f"{answer}\n\n-- \nAhmed Al-Kaabi\nMinistry of Works\n\nOn Sun, Nov 22, 2026 at 9:14 AM Tawasul <{HUB}>\nwrote:\n\n{quoted()}\n"
    html = (
        f'<div dir="ltr">{answer}<br clear="all"><br><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature">Ahmed Al-Kaabi<br>Ministry of Works</div></div><br><div class="gmail_quote">On Sun, Nov 22, 2026 at 9:14 AM Tawasul &lt;{HUB}&gt; wrote:<br><blockquote class="gmail_quote">'
        + "<br>".join(CASE_LINES)
        + "</blockquote></div>"
    )
    write(
        "08-gmail-web-en-acknowledged.eml",
        {**reply_headers("Re: "), "Message-ID": "<CAB7x=%s@mail.gmail.com>"},
        f'Content-Type: multipart/alternative; boundary="{gm}"\r\n\r\n--{gm}\r\nContent-Type: text/plain; charset="UTF-8"\r\n'
        f'Content-Transfer-Encoding: quoted-printable\r\n\r\n{qp(plain)}\r\n--{gm}\r\nContent-Type: text/html; charset="UTF-8"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{qp(html)}\r\n--{gm}--\r\n",
    )
    # 9. Gmail for Android, Arabic interface: Arabic-Indic digits in the attribution, plain text only, base64.
    answer = "تم الانتهاء من الصيانة ويعمل الخط بشكل طبيعي الآن."
    plain = f"{answer}\n\nفي الأحد، ٢٢ نوفمبر ٢٠٢٦ ٩:١٤ ص تواصل - Tawasul <{HUB}> كتب:\n\n{quoted()}\n"
    write(
        "09-gmail-android-ar.eml",
        {**reply_headers("رد: "), "Message-ID": "<CAF9y%s@mail.gmail.com>"},
        f'Content-Type: text/plain; charset="UTF-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(plain)}\r\n',
    )
    # 10. Apple Mail on iPhone, Arabic: footer above the attribution, bidi marks in it, QP.
    answer = "تم التواصل مع المواطنة وتحديد موعد للزيارة يوم الثلاثاء."
    plain = (
        f"{answer}\n\nأُرسلت من الـ iPhone\n\n"
        f"> {RLM}في ٢٢{RLM}/١١{RLM}/٢٠٢٦، الساعة ٩:١٤ ص، كتب {RLM}تواصل - Tawasul{RLM} <{HUB}>:\n> \n{quoted()}\n"
    )
    write(
        "10-apple-iphone-ar.eml",
        {**reply_headers("رد: "), "Message-ID": "<9F1C2B3A-%s@works.example.bh>", "X-Mailer": "iPhone Mail (22B91)"},
        f"Content-Type: text/plain;\r\n\tcharset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(plain)}\r\n",
    )
    # 11. Apple Mail on iPhone, English: a transfer request (keyword), "Sent from my iPhone".
    answer = "Transfer request: this road belongs to the Northern Municipality, not to us."
    plain = (
        f"{answer}\n\nSent from my iPhone\n\n> On Nov 22, 2026, at 9:14 AM, Tawasul <{HUB}> wrote:\n> \n{quoted()}\n"
    )
    write(
        "11-apple-iphone-en-transfer.eml",
        {**reply_headers("Re: "), "Message-ID": "<5E6F7A8B-%s@works.example.bh>", "X-Mailer": "iPhone Mail (22B91)"},
        f"Content-Type: text/plain;\r\n\tcharset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{plain.replace(chr(10), chr(13) + chr(10))}\r\n"
        if plain.isascii()
        else f"Content-Type: text/plain;\r\n\tcharset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(plain)}\r\n",
    )
    # 12. Thunderbird, Arabic interface: format=flowed, 8bit, "في … كتب …:" and a "-- " signature.
    answer = "نود إفادتكم بأن المشكلة ناتجة عن كسر في الخط الرئيسي وقد تم إصلاحه."
    plain = f"{answer}\n\n-- \nقسم الشكاوى\nوزارة الأشغال\n\nفي 22/11/2026 9:14 ص، كتب تواصل - Tawasul:\n{quoted()}\n"
    write(
        "12-thunderbird-ar-8bit.eml",
        {**reply_headers("رد: "), "User-Agent": "Mozilla Thunderbird", "Content-Language": "ar"},
        "Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + plain.replace("\n", "\r\n"),
    )
    # 13. Thunderbird, English, HTML only: moz-cite-prefix and blockquote type=cite.
    answer = "The water supply was restored on Monday morning."
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=UTF-8"></head><body>'
        f'<p>{answer}</p><div class="moz-cite-prefix">On 22/11/2026 09:14, Tawasul wrote:<br></div>'
        f'<blockquote type="cite" cite="mid:{CASE_ID[1:-1]}">' + "<br>".join(CASE_LINES) + "</blockquote></body></html>"
    )
    write(
        "13-thunderbird-en-html-only.eml",
        {**reply_headers("Re: "), "User-Agent": "Mozilla Thunderbird"},
        f"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{html}\r\n",
    )
    # 14. Outlook desktop, Arabic, HTML only in windows-1256 (a rule that sends HTML alone).
    answer = "تم استبدال الأنبوب التالف.\nوتمت إعادة الخدمة للمنطقة بالكامل."
    html = (
        '<html dir="rtl"><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256"></head>'
        '<body dir="RTL"><div class="WordSection1">'
        + html_para(answer)
        + '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        + html_para(outlook_header_ar()[33:])
        + "</div>"
        + html_para("\n".join(CASE_TEXT_AR))
        + "</div></body></html>"
    )
    write(
        "14-outlook-ar-html-only-windows-1256.eml",
        reply_headers("رد: ", X_Mailer="Microsoft Outlook 16.0"),
        f'Content-Type: text/html; charset="windows-1256"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(html, "windows-1256")}\r\n',
    )
    # 15. A subject marker in brackets (acknowledgement), the subject in windows-1256 Q words, the body in base64.
    answer = "سيتم الرد النهائي خلال أسبوع."
    plain = f"{answer}\n\n{outlook_header_ar('تم الإرسال')}\n" + "\n".join(CASE_LINES)
    write(
        "15-subject-marker-acknowledged.eml",
        {**reply_headers("رد: "), "Subject": word("[تم الاستلام] رد: TW-2026-004217", "windows-1256", q=True)},
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(plain)}\r\n',
    )
    # 16. Outlook with attachments: a PDF named in RFC 2047 (windows-1256, Outlook's way) and a photo in RFC 2231.
    answer = "مرفق تقرير الصيانة وصورة بعد الإصلاح."
    plain = f"{answer}\n\n{outlook_header_ar()}\n" + "\n".join(CASE_LINES)
    mixed = "_004_DB9PR01MB7345MIXED_"
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    pdf_name = word("تقرير الصيانة.pdf", "windows-1256")
    photo_2231 = "utf-8''%D8%B5%D9%88%D8%B1%D8%A9%20%D8%A8%D8%B9%D8%AF%20%D8%A7%D9%84%D8%A5%D8%B5%D9%84%D8%A7%D8%AD.jpg"
    body = (
        f'Content-Type: multipart/mixed;\r\n\tboundary="{mixed}"\r\n\r\n--{mixed}\r\n'
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(plain)}\r\n'
        f'--{mixed}\r\nContent-Type: application/pdf; name="{pdf_name}"\r\nContent-Description: {pdf_name}\r\n'
        f'Content-Disposition: attachment; filename="{pdf_name}"; size={len(pdf)}\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{base64.b64encode(pdf).decode()}\r\n"
        f"--{mixed}\r\nContent-Type: image/jpeg; name*={photo_2231}\r\nContent-Disposition: attachment; filename*={photo_2231}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(jpeg).decode()}\r\n"
        f'--{mixed}\r\nContent-Type: application/x-msdownload; name="tool.exe"\r\nContent-Disposition: attachment; filename="tool.exe"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(b'MZ' + bytes(30)).decode()}\r\n--{mixed}--\r\n"
    )
    write("16-outlook-ar-attachments.eml", reply_headers("رد: ", X_MS_Has_Attach="yes"), body)
    # 17. A bounce: Postfix DSN (multipart/report) to the tokened envelope sender, the returned headers inside.
    dsn = "postfix-report"
    body = (
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{dsn}"\r\n\r\n'
        f"--{dsn}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.works.example.bh.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n<complaints@works.example.bh>: host mx.works.example.bh said: 550 5.1.1 User unknown\r\n\r\n"
        f"--{dsn}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.works.example.bh\r\nArrival-Date: Sun, 22 Nov 2026 09:14:05 +0300\r\n\r\n"
        "Final-Recipient: rfc822; complaints@works.example.bh\r\nOriginal-Recipient: rfc822;complaints@works.example.bh\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <complaints@works.example.bh>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{dsn}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Tawasul <tawasul@hub.example.bh>\r\nReply-To: {HUB}\r\nTo: complaints@works.example.bh\r\n"
        f"Subject: {word(SUBJECT)}\r\nMessage-ID: {CASE_ID}\r\n\r\n--{dsn}--\r\n"
    )
    write(
        "17-bounce-postfix-dsn.eml",
        {
            "From": "MAILER-DAEMON@mx.works.example.bh (Mail Delivery System)",
            "To": HUB,
            "Subject": "Undelivered Mail Returned to Sender",
            "Date": "Sun, 22 Nov 2026 09:14:06 +0300",
            "Message-ID": "<20261122061406.%s@mx.works.example.bh>",
            "Auto-Submitted": "auto-replied",
            "MIME-Version": "1.0",
        },
        body,
    )
    # 18. A bounce from Exchange in Arabic: "لا يمكن التسليم", the returned mail attached whole.
    ndr = "ndr-boundary"
    body = (
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{ndr}"\r\n\r\n'
        f'--{ndr}\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{b64('تعذر تسليم رسالتك إلى complaints@works.example.bh لأن صندوق البريد ممتلئ.')}\r\n"
        f"--{ndr}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns;EX01.works.example.bh\r\n\r\n"
        "Final-recipient: RFC822; complaints@works.example.bh\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp;554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException\r\n\r\n"
        f"--{ndr}\r\nContent-Type: message/rfc822\r\n\r\nFrom: Tawasul <tawasul@hub.example.bh>\r\nReply-To: {HUB}\r\n"
        f"Subject: {word(SUBJECT)}\r\nMessage-ID: {CASE_ID}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nnot shown\r\n--{ndr}--\r\n"
    )
    write(
        "18-bounce-exchange-ar.eml",
        {
            "From": "postmaster@works.example.bh",
            "To": HUB,
            "Subject": word("لا يمكن التسليم: " + SUBJECT),
            "Date": "Sun, 22 Nov 2026 09:15:00 +0300",
            "Message-ID": "<%s@EX01.works.example.bh>",
            "MIME-Version": "1.0",
        },
        body,
    )
    # 19. Out of office from Exchange, Arabic: "رد تلقائي:", Auto-Submitted.
    text = "أنا خارج المكتب حتى 30 نوفمبر. للحالات العاجلة يرجى الاتصال على 17000000."
    write(
        "19-out-of-office-exchange-ar.eml",
        {
            **reply_headers(""),
            "Subject": word("رد تلقائي: " + SUBJECT),
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
            "X-MS-Exchange-Inbox-Rules-Loop": "a.alkaabi@works.example.bh",
        },
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(text)}\r\n',
    )
    # 20. Vacation responder (Gmail), English: Auto-Submitted: auto-replied, no quote.
    write(
        "20-out-of-office-gmail-en.eml",
        {
            **reply_headers(""),
            "Subject": "Out of office",
            "Auto-Submitted": "auto-replied",
            "Message-ID": "<CAvac%s@mail.gmail.com>",
        },
        'Content-Type: text/plain; charset="UTF-8"\r\n\r\nI am on leave until 30 November with limited access to e-mail.\r\n',
    )
    # 21. A forged token: the plus-address names a handoff but the signature is made up; no thread headers.
    head = reply_headers("رد: ")
    for name in ("In-Reply-To", "References"):
        head.pop(name)
    head["To"] = f"tawasul-replies+{FORGED}@hub.example.bh"
    write(
        "21-forged-token.eml",
        head,
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64("تم حل المشكلة، يرجى إغلاق الطلب.")}\r\n',
    )
    # 22. Unrelated mail to the reply mailbox: a newsletter with neither token nor thread.
    write(
        "22-unrelated-newsletter.eml",
        {
            "From": "news@vendor.example.com",
            "To": "tawasul-replies@hub.example.bh",
            "Subject": "Our November offers",
            "Date": "Sun, 22 Nov 2026 11:00:00 +0300",
            "Message-ID": "<%s@vendor.example.com>",
            "MIME-Version": "1.0",
            "List-Unsubscribe": "<mailto:unsubscribe@vendor.example.com>",
        },
        'Content-Type: text/plain; charset="utf-8"\r\n\r\nSee our new products.\r\n',
    )
    # 23. A MIME bomb: multipart nested 60 deep.
    depth = 60
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    write("23-mime-bomb-nested.eml", reply_headers("رد: "), opening + "Content-Type: text/plain\r\n\r\nboom" + closing)
    # 24. A MIME bomb: 5,000 empty parts.
    parts = "".join("--many\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5000))
    write(
        "24-mime-bomb-many-parts.eml",
        reply_headers("رد: "),
        f'Content-Type: multipart/mixed; boundary="many"\r\n\r\n{parts}--many--\r\n',
    )
    # 25. Outlook desktop, Arabic, progress keyword, windows-1256 base64, "تم الإرسال" header (newer Outlook).
    answer = "قيد المعالجة: تم إرسال فريق الصيانة إلى الموقع."
    plain = f"{answer}\n\n{outlook_header_ar('تم الإرسال')}\n" + "\n".join(CASE_TEXT_AR)
    write(
        "25-outlook-ar-progress-windows-1256-base64.eml",
        reply_headers("رد: "),
        f'Content-Type: text/plain; charset="windows-1256"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64(plain, "windows-1256")}\r\n',
    )
    # 26. Samsung Email on Android: "-------- الرسالة الأصلية --------" and "تم الإرسال من هاتفي" footer.
    answer = "تمت إعادة المياه للمنزل."
    plain = (
        f"{answer}\n\n\nتم الإرسال من هاتفي Samsung Galaxy الذكي.\n\n-------- الرسالة الأصلية --------\n"
        f"من: تواصل - Tawasul <{HUB}>\nالتاريخ: 22/11/2026 09:14 (GMT+03:00)\nإلى: complaints@works.example.bh\n"
        f"الموضوع: {SUBJECT}\n\n" + "\n".join(CASE_TEXT_AR)
    )
    write(
        "26-samsung-email-ar.eml",
        reply_headers("رد: "),
        f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp(plain)}\r\n',
    )


if __name__ == "__main__":
    build()
