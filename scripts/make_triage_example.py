#!/usr/bin/env python3
"""Generate ftdecide's bundled example task: support-ticket triage for Northwind Cloud.

Northwind Cloud is a fictional project-management, time-tracking and
invoicing SaaS. A model reads one customer ticket and answers with exactly one
JSON object, ``{"category": ..., "priority": ...}``. The task is narrow and
format-heavy, which is where fine-tuning should pay: after tuning a two-line
system prompt is enough, before it the model needs the long triage guidelines
(few-shot examples or retrieval over ``corpus/``).

The labels follow the written rules in ``corpus/priority-rules.md`` and
``corpus/triage-categories.md``; every issue template below carries the label
those rules give it, so retrieval over the corpus genuinely helps.

Stdlib only and deterministic: the same ``--seed`` writes byte-identical files.
The script writes ``train.jsonl``, ``eval.jsonl`` and ``task.yaml``; the corpus
and the dataset card (README.md) are hand-written, and the label tables that
this script prints are pasted into the card (a test checks they match).

Usage::

    python scripts/make_triage_example.py              # rewrite the committed files
    python scripts/make_triage_example.py --out DIR    # write somewhere else
    python scripts/make_triage_example.py --check      # exit 1 if committed files are stale
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20250611
N_TRAIN = 400
N_EVAL = 120

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "ftdecide" / "examples" / "triage"

CATEGORIES = [
    "billing",
    "account",
    "technical",
    "integration",
    "security",
    "data_privacy",
    "feature_request",
]
PRIORITIES = ["low", "medium", "high", "urgent"]
RANK = {p: i for i, p in enumerate(PRIORITIES)}

# Share of tickets per category in each split (a realistic helpdesk mix:
# mostly technical and billing, few security tickets).
CATEGORY_WEIGHTS = {
    "technical": 0.24,
    "billing": 0.19,
    "account": 0.16,
    "integration": 0.14,
    "feature_request": 0.10,
    "data_privacy": 0.09,
    "security": 0.08,
}

SYSTEM_PROMPT = (
    "Classify the Northwind Cloud support ticket. Reply with only a JSON object "
    '{"category": ..., "priority": ...} where category is one of billing, account, '
    "technical, integration, security, data_privacy, feature_request and priority is "
    "one of low, medium, high, urgent."
)

TASK_DESCRIPTION = (
    "Support-ticket triage for Northwind Cloud, a fictional project-management and "
    "invoicing SaaS: read one customer ticket and answer with one JSON object giving "
    "its category and priority. Synthetic data; the rules are in corpus/."
)


# --------------------------------------------------------------------------
# Slot values: who writes, about what. Drawn lazily, once per ticket, so a
# value used twice in one ticket (an amount, a date) stays the same.
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "Maria", "James", "Priya", "Tomasz", "Aisha", "Lukas", "Sofia", "Daniel", "Mei",
    "Oluwaseun", "Hannah", "Carlos", "Fatima", "Noah", "Ingrid", "Rahul", "Chloe",
    "Mateo", "Yuki", "Grace", "Ahmed", "Elena", "Ben", "Sanne", "Diego", "Nadia",
    "Oliver", "Camille", "Jonas", "Leila", "Marcus", "Anika", "Pedro", "Zoe", "Kwame",
    "Isabel", "Tariq", "Emma", "Felix", "Rosa", "Sean", "Ayumi", "Hugo", "Bianca",
    "Viktor", "Lina", "Patrick", "Chiara", "Samuel", "Freya",
]
LAST_NAMES = [
    "Okafor", "Schmidt", "Patel", "Kowalski", "Haddad", "Brennan", "Rossi", "Nguyen",
    "Lindqvist", "Garcia", "Müller", "Adeyemi", "Tanaka", "Dubois", "Novak", "Silva",
    "Fischer", "O'Connor", "Chen", "Jansen", "Moreau", "Walsh", "Kaur", "Bauer",
    "Ferreira", "Costa", "Andersen", "Reyes", "Hughes", "Romano", "Iyer", "Becker",
    "Murphy", "Yilmaz", "de Vries", "Santos", "Park", "Ahmed", "Keller", "Lopez",
]
# Customer companies and what they do (the "industry" slot follows the company).
COMPANIES = {
    "Brightline Studio": "design", "Kessler & Vogt GmbH": "engineering", "Harbor Lane Architects": "architecture",
    "Pixel & Pine": "web design", "Meridian Events": "events", "Oakridge Consulting": "management consulting",
    "Bluefin Marketing": "marketing", "Lumen Legal LLP": "legal", "Tallgrass Landscaping": "landscaping",
    "Copperleaf Accounting": "accounting", "Studio Nord": "interior design", "Vela Analytics": "data consulting",
    "Greenway Builders": "construction", "Atlas Translation Services": "translation",
    "Juniper Health Clinic": "physiotherapy", "Redwood Media": "video production", "Sundial Interiors": "interior design",
    "Quarry Hill Engineering": "civil engineering", "Fernández & Ruiz Abogados": "legal",
    "Maplewood Agency": "advertising", "Nimbus IT Services": "IT services", "Orchard Lane Bakery Group": "catering",
    "Polar Logistics": "logistics", "Beacon Nonprofit Alliance": "nonprofit", "Cobalt Creative": "branding",
    "Linden & Shaw": "recruitment", "Tidewater Surveying": "surveying", "Ember Coffee Roasters": "coffee roasting",
    "Sable Security Consulting": "security consulting", "Fjord Design AS": "product design",
    "Marigold Wedding Co": "wedding planning", "Ironbark Construction": "construction",
    "Halcyon Therapy Group": "therapy practice", "Westbrook Accountants": "accounting",
}
PLANS = ["Starter", "Team", "Business", "Enterprise"]
PLAN_WEIGHTS = [0.22, 0.42, 0.26, 0.10]
SEAT_PRICE = {"Starter": 9, "Team": 19, "Business": 35, "Enterprise": 31}
SEAT_RANGE = {"Starter": (2, 10), "Team": (4, 40), "Business": (10, 120), "Enterprise": (60, 400)}
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]
PROJECTS = [
    "Website relaunch", "Q3 audit", "Baker St kitchen remodel", "Spring campaign",
    "Client onboarding", "Warehouse move", "Annual report 2024", "Mobile app v2",
    "Hollis Dental rebrand", "Office fit-out Level 4", "Trade show Berlin",
    "SEO retainer", "Payroll migration", "Harbour Bridge survey", "Product photography",
    "Brand refresh", "Tax season", "Riverside apartments", "Podcast season 3",
]
CLIENTS = [
    "Hollis Dental", "Meridian Logistics", "Green Pantry", "Akers & Sons", "Blue Harbor Hotel",
    "Northgate School", "Vantage Realty", "Castell Winery", "Drummond Physio", "Solano Foods",
]
BROWSERS = [
    "Chrome 126", "Chrome 124", "Firefox 127", "Firefox 115 ESR", "Safari 17.5", "Edge 125",
    "Brave", "Safari 16",
]
OSES = [
    "Windows 11", "Windows 10", "macOS Sonoma 14.5", "macOS Ventura", "Ubuntu 22.04",
    "ChromeOS", "macOS Sequoia",
]
PHONES = [
    "iPhone 15 (iOS 17.5)", "iPhone 12 (iOS 17.4)", "Pixel 8 (Android 14)",
    "Samsung Galaxy S23 (Android 14)", "iPad Air (iPadOS 17)", "OnePlus 11 (Android 13)",
]
APP_VERSIONS = ["5.12.1", "5.12.0", "5.11.4", "5.13.0 beta", "5.10.2"]
IDPS = ["Okta", "Microsoft Entra ID", "Azure AD", "Google Workspace", "OneLogin", "JumpCloud"]
OTHER_TOOLS = ["Trello", "Asana", "Excel", "Monday.com", "Basecamp", "ClickUp", "Jira"]
COUNTRIES = [
    "Brazil", "Singapore", "Romania", "Vietnam", "Russia", "Indonesia", "Ukraine",
    "Turkey", "the Netherlands", "South Africa", "Argentina", "Hong Kong",
]
REGIONS = ["the UK", "Germany", "Ireland", "California", "Ontario", "Australia", "Spain",
           "the Netherlands", "Texas", "New York", "France", "Sweden"]
STREETS = ["14 Canal Street", "Friedrichstraße 112", "3 Harcourt Road", "Calle Mayor 27",
           "88 King William Street", "Keizersgracht 451", "220 Front Street W",
           "Rua Augusta 15", "Unit 5, Riverside Business Park"]
TIMES = ["9:40", "around 10 this morning", "14:15 CET", "8am EST", "about 7:30",
         "lunchtime", "11:05 UK time", "roughly an hour ago"]
# (noun phrase, short title for subjects, why the customer wants it)
FEATURES = [
    ("task dependencies on the Timeline view", "task dependencies", "We plan construction jobs and need to see what blocks what."),
    ("multi-currency invoicing", "multi-currency invoices", "Half our clients pay in USD and half in EUR."),
    ("custom fields on tasks", "custom fields", "We need to track a PO number and a cost centre on every task."),
    ("a HubSpot integration", "HubSpot integration", "Our sales team lives in HubSpot and we re-type every new client by hand."),
    ("an importer for Asana projects", "Asana import", "We're moving about 60 projects over and doing it by CSV is painful."),
    ("an offline mode in the mobile app", "offline mode", "Our crews log time on sites with no signal."),
    ("bulk editing of tasks", "bulk edit", "Changing the assignee on 40 tasks one by one takes forever."),
    ("different hourly rates per task type", "rates per task type", "Design work and meetings are billed at different rates."),
    ("custom branding in the client portal", "client portal branding", "Clients get confused when they see a different logo and colours."),
    ("keyboard shortcuts for moving cards between columns", "keyboard shortcuts", "I'm a keyboard person and the mouse slows me down."),
    ("an API endpoint for expenses", "expenses API", "We want to push expenses from our card provider automatically."),
    ("sub-tasks more than one level deep", "nested sub-tasks", "Our work breakdown structure has three levels."),
    ("a DATEV export for timesheets", "DATEV export", "Our German accountant needs everything in DATEV format."),
    ("a Notion integration", "Notion integration", "Our docs live in Notion and we'd love to link pages to tasks."),
    ("baselines on the Gantt chart", "Gantt baselines", "We need to compare the original plan with the current one."),
    ("a read-only share link for reports", "shareable reports", "I want to send a report to a client without giving them a login."),
    ("a way to lock timesheets after approval", "timesheet locking", "People keep editing last month's hours after we've invoiced."),
    ("e-invoicing (Peppol / XRechnung) support", "e-invoicing", "Some of our public-sector clients require it from next year."),
    ("a Monday.com importer", "Monday.com import", "We're switching over and don't want to rebuild 30 boards by hand."),
    ("a weekly digest email for managers", "weekly digest", "I don't want a notification per task, just a summary on Mondays."),
]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(company: str) -> str:
    words = [w for w in re.split(r"[^a-z0-9]+", _ascii(company).lower()) if w]
    words = [w for w in words if w not in {"gmbh", "llp", "ltd", "co", "as", "group", "and"}]
    return "-".join(words[:2])


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _org_size(industry: str, seats: int) -> str:
    if seats <= 25:
        return f"a small {industry} business with {seats} people"
    article = "an" if industry[0] in "aeiouAEIOU" else "a"
    return f"{article} {industry} business with {seats} people"


def identity(rng: random.Random) -> dict[str, object]:
    """Who writes the ticket: the slots that stay fixed across its issues."""
    first, last = _person(rng)
    company = rng.choice(list(COMPANIES))
    slug = _slug(company)
    domain = slug.replace("-", "") + rng.choice([".com", ".com", ".co.uk", ".de", ".io", ".net"])
    plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
    lo, hi = SEAT_RANGE[plan]
    seats = rng.randint(lo, hi)
    email_user = rng.choice([first.lower(), f"{first.lower()}.{_ascii(last).lower().replace(' ', '').replace(chr(39), '')}",
                             f"{first[0].lower()}{_ascii(last).lower().replace(' ', '').replace(chr(39), '')}"])
    return {
        "name": first,
        "fullname": f"{first} {last}",
        "company": company,
        "industry": COMPANIES[company],
        "org_size": _org_size(COMPANIES[company], seats),
        "slug": slug,
        "domain": domain,
        "workspace": slug,
        "email": f"{email_user}@{domain}",
        "plan": plan,
        "seats": seats,
        "currency": rng.choices(["$", "€", "£"], [0.55, 0.3, 0.15])[0],
    }


def _money(slots: "Slots", value: float) -> str:
    return f"{slots['currency']}{value:,.2f}"


def _dates(rng: random.Random, s: "Slots") -> dict[str, str]:
    month = rng.randrange(12)
    d1 = rng.randint(1, 20)
    d2 = d1 + rng.randint(2, 8)
    style = rng.randrange(3)

    def fmt(day: int) -> str:
        if style == 0:
            return f"{MONTHS[month]} {day}"
        if style == 1:
            return f"{day} {MONTHS[month]}"
        return f"{MONTHS[month][:3]} {day}"

    return {"date": fmt(d1), "date2": fmt(d2), "month": MONTHS[month]}


def _plan_pair(rng: random.Random, s: "Slots") -> dict[str, str]:
    i = rng.randrange(2)
    return {"plan_lower": PLANS[i], "plan_higher": PLANS[i + 1]}


def _amounts(rng: random.Random, s: "Slots") -> dict[str, str]:
    price = SEAT_PRICE[s["plan"]]
    seats = s["seats"]
    extra = rng.randint(max(1, seats // 8), max(2, seats // 3))
    removed = rng.randint(1, max(1, seats // 4))
    return {
        "amount": _money(s, seats * price),
        "amount2": _money(s, (seats + extra) * price),
        "seat_diff": _money(s, removed * price),
        "active": str(max(1, seats - removed)),
        "removed": str(removed),
    }


def _feature(rng: random.Random, s: "Slots") -> dict[str, str]:
    feat, short, why = rng.choice(FEATURES)
    return {"feature": feat, "feature_short": short, "feature_why": why}


def _colleague(rng: random.Random, s: "Slots") -> dict[str, str]:
    first, last = _person(rng)
    while first == s["name"]:
        first, last = _person(rng)
    return {"colleague": f"{first} {last}", "colleague_first": first,
            "colleague_email": f"{first.lower()}@{s['domain']}"}


def _browsers(rng: random.Random, s: "Slots") -> dict[str, str]:
    b1, b2 = rng.sample(["Chrome", "Firefox", "Safari", "Edge"], 2)
    full = {b: [x for x in BROWSERS if x.startswith(b)] for b in (b1, b2)}
    return {"browser": rng.choice(full[b1]), "browser2": b2}


def _hours(rng: random.Random, s: "Slots") -> dict[str, str]:
    h2 = rng.randint(80, 400) + rng.choice([0, 0.25, 0.5, 0.75])
    h1 = h2 - rng.randint(4, 40) - rng.choice([0, 0.5])
    return {"hours1": f"{h1:g}", "hours2": f"{h2:g}"}


def _vat(rng: random.Random, s: "Slots") -> str:
    if s["currency"] == "£":
        return "GB" + "".join(str(rng.randrange(10)) for _ in range(9))
    country = rng.choice(["DE", "NL", "FR", "ES", "IE", "AT", "BE", "IT"])
    vat = country + "".join(str(rng.randrange(10)) for _ in range(9))
    return vat + ("B01" if country == "NL" else "")


SLOT_FUNCS = {
    "date": _dates, "date2": _dates, "month": _dates,
    "plan_lower": _plan_pair, "plan_higher": _plan_pair,
    "amount": _amounts, "amount2": _amounts, "seat_diff": _amounts,
    "active": _amounts, "removed": _amounts,
    "feature": _feature, "feature_short": _feature, "feature_why": _feature,
    "colleague": _colleague, "colleague_first": _colleague, "colleague_email": _colleague,
    "browser": _browsers, "browser2": _browsers,
    "hours1": _hours, "hours2": _hours,
    "vat": _vat,
    "nw_invoice": lambda r, s: f"NW-{r.choice(['2024', '2025'])}-{r.randint(1000, 99999):05d}",
    "client_invoice": lambda r, s: f"INV-{r.randint(100, 4999):04d}",
    "card4": lambda r, s: f"{r.randint(0, 9999):04d}",
    "days": lambda r, s: r.choice(["3", "5", "7", "two", "three"]),
    "times": lambda r, s: r.choice(["three", "four", "five", "like six", "several"]),
    "year": lambda r, s: r.choice(["2023", "2024", "last year"]),
    "billing_email": lambda r, s: r.choice(["accounts", "finance", "ap", "invoices", "billing"]) + "@" + s["domain"],
    "address": lambda r, s: r.choice(STREETS),
    "idp": lambda r, s: r.choice(IDPS),
    "n_some": lambda r, s: str(r.randint(2, 9)),
    "req_id": lambda r, s: "req_" + "".join(r.choice("0123456789abcdef") for _ in range(12)),
    "newdomain": lambda r, s: r.choice([s["slug"].split("-")[0] + "group.com", s["slug"].replace("-", "") + ".io",
                                         "the" + s["slug"].split("-")[0] + ".com"]),
    "n_projects": lambda r, s: str(r.randint(12, 180)),
    "n_tasks": lambda r, s: str(r.randint(40, 900)),
    "n_entries": lambda r, s: str(r.randint(30, 400)),
    "project": lambda r, s: r.choice(PROJECTS),
    "client": lambda r, s: r.choice(CLIENTS),
    "time": lambda r, s: r.choice(TIMES),
    "region": lambda r, s: r.choice(REGIONS),
    "os": lambda r, s: r.choice(OSES),
    "phone": lambda r, s: r.choice(PHONES),
    "app_ver": lambda r, s: r.choice(APP_VERSIONS),
    "other_tool": lambda r, s: r.choice(OTHER_TOOLS),
    "country": lambda r, s: r.choice(COUNTRIES),
    "ip": lambda r, s: r.choice(["203.0.113.", "198.51.100.", "192.0.2."]) + str(r.randint(2, 254)),
    "leak_hours": lambda r, s: str(r.randint(2, 30)),
    "othercompany": lambda r, s: r.choice([c for c in COMPANIES if c != s["company"]]),
    "fullname2": lambda r, s: " ".join(_person(r)),
    "year_started": lambda r, s: str(r.randint(2017, 2023)),
    "minutes": lambda r, s: r.choice(["20", "30", "45", "60", "90"]),
    "row": lambda r, s: str(r.randint(2, 340)),
}


class Slots(dict):
    """A dict that draws a missing slot on first use (``str.format_map`` calls it)."""

    def __init__(self, rng: random.Random, fixed: dict[str, object]) -> None:
        super().__init__(fixed)
        self.rng = rng

    def __missing__(self, key: str) -> object:
        fn = SLOT_FUNCS[key]
        value = fn(self.rng, self)
        if isinstance(value, dict):
            for k, v in value.items():
                self.setdefault(k, v)
            return self[key]
        self[key] = value
        return value


# --------------------------------------------------------------------------
# Issue templates. Each carries the label the written rules give it; the
# comment after the priority names the rule (see corpus/priority-rules.md).
# --------------------------------------------------------------------------


@dataclass
class Variant:
    """One way a customer describes an issue, with the subjects and chat one-liners that fit it."""

    text: str
    subjects: list[str] | None = None
    terse: list[str] | None = None
    details: list[str] | None = None


@dataclass
class Issue:
    key: str
    category: str
    priority: str
    kind: str  # "problem", "request" or "question": picks a closing line that fits
    variants: list[Variant]
    subjects: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    terse: list[str] = field(default_factory=list)
    deadline_ok: bool = True  # a medium issue that may carry a <24h deadline (rule H6)
    weight: float = 1.0


ISSUES: list[Issue] = []


def v(text: str, s: list[str] | None = None, t: list[str] | None = None, d: list[str] | None = None) -> Variant:
    return Variant(text, s, t, d)


def issue(key: str, category: str, priority: str, kind: str, core: list, **kw: object) -> None:
    variants = [c if isinstance(c, Variant) else Variant(c) for c in core]
    ISSUES.append(Issue(key, category, priority, kind, variants, **kw))  # type: ignore[arg-type]


# ---- billing: Northwind's own charges to the customer ----------------------

issue("double_charge", "billing", "high", "problem",  # H1 money taken wrongly
      subjects=["Charged twice this month", "Duplicate charge on our card", "Double payment - please refund",
                "Billing error: two charges of {amount}"],
      core=["We were charged twice for our {plan} subscription this month: two identical charges of {amount} on {date}.",
            "Our card was billed {amount} twice on {date} for the same {plan} renewal.",
            "I just noticed two payments of {amount} to Northwind Cloud on our company card, both dated {date}. We only have one workspace."],
      details=["Both charges show as completed on our bank statement, not pending.",
               "The card ends in {card4}.",
               "Only one invoice ({nw_invoice}) appears under Settings > Billing, so I assume the second charge is a mistake.",
               "Please refund the duplicate to the same card.",
               "Our finance team spotted it during the monthly reconciliation."],
      terse=["charged twice for {plan} on {date} ({amount} each). refund the extra one pls",
             "double charge on our card, {amount} x2, workspace {workspace}"])

issue("charged_after_cancel", "billing", "high", "problem",  # H1
      subjects=["Charged after cancelling", "Why was I charged? We cancelled", "Unauthorised charge after cancellation"],
      core=["I cancelled our Northwind subscription on {date} but we were still charged {amount} on {date2}.",
            "We're no longer customers. The subscription was cancelled on {date} and I have the confirmation email, yet another {amount} went out on {date2}.",
            v("We downgraded to the Free plan on {date}, and today there's a new charge of {amount} for the {plan} plan on our card.",
              s=["Charged after downgrading to Free", "Still being charged on the Free plan"],
              t=["moved to free plan on {date} but got charged {amount} for {plan} today??"])],
      details=["Please refund it and confirm that no further charges will be made.",
               "The card ends in {card4}.",
               "Nobody on our side has logged in since then."],
      terse=["cancelled on {date}, still got charged {amount} on {date2}?? pls refund"])

issue("payment_failed", "billing", "high", "problem",  # H1 service at risk
      subjects=["Payment failed - workspace suspension warning", "Card declined for renewal", "Suspension notice but card is fine"],
      core=["Our renewal payment failed and there's now a red banner saying the workspace will be suspended in {days} days.",
            "We got an email saying the payment for invoice {nw_invoice} failed. The card is valid and has plenty of limit, so I don't understand why.",
            "Your system keeps declining our card for the {plan} renewal and now we're getting suspension warnings."],
      details=["I tried updating the card details twice, same result.",
               "Our bank says they never even saw an authorisation attempt.",
               "The error just says 'Your card was declined (card_declined)'.",
               "We have {seats} people who rely on Northwind every day."],
      terse=["payment failing for renewal, banner says suspension in {days} days. card is fine",
             "card declined on renewal, now getting suspension emails. help"])

issue("suspended_paid_transfer", "billing", "high", "problem",  # H1 service at risk
      subjects=["Workspace read-only but invoice is paid", "Overdue balance message - already paid", "Account suspended by mistake"],
      core=["Our workspace has been switched to read-only because invoice {nw_invoice} is marked as unpaid, but we paid it by bank transfer on {date}.",
            "We can't create or edit anything; there's a message about an overdue balance of {amount}. That invoice was paid on {date} and I can send the remittance."],
      details=["The bank reference on the transfer was {nw_invoice}.",
               "I've attached the remittance advice from our bank.",
               "Our annual contract is paid by transfer, not card."],
      terse=["workspace is read-only for 'overdue balance' but we paid {nw_invoice} by transfer on {date}"])

issue("refund", "billing", "medium", "request",  # M4 refunds
      core=[v("One of our admins upgraded us from {plan_lower} to {plan_higher} by mistake on {date}. Can we switch back and get the difference refunded?",
              s=["Upgraded by mistake", "Refund request - accidental upgrade"],
              t=["upgraded to {plan_higher} by accident, can we get a refund and go back to {plan_lower}?"],
              d=["Nobody has used any of the {plan_higher} features yet.", "The charge was {amount}."]),
            v("We accidentally signed up for annual billing instead of monthly. Is it possible to get a refund and switch to monthly?",
              s=["Annual plan by mistake", "Refund request", "Switch annual to monthly"],
              t=["picked annual by mistake, can we get a refund and go monthly?"],
              d=["The charge was {amount}.", "Happy to keep paying monthly, we just can't commit to a year right now."]),
            v("I'd like to request a refund for the {amount} charged on {date}. We only used {plan_higher} for two days before realising it's more than we need.",
              s=["Refund request", "Refund for {plan_higher} upgrade"],
              t=["can i get a refund for the {amount} from {date}? only used {plan_higher} 2 days"],
              d=["We've already moved back to {plan_lower}."])])

issue("invoice_correction", "billing", "medium", "request",  # M4 corrections
      core=[v("Our invoice {nw_invoice} doesn't show our VAT number, so our accountant can't book it. Can you reissue it with VAT ID {vat}?",
              s=["Invoice missing VAT number", "VAT ID on invoice {nw_invoice}"],
              t=["need invoice {nw_invoice} reissued with our VAT id {vat}"],
              d=["I added the VAT number under Settings > Billing but it only seems to apply to future invoices.",
                 "Our accountant says we can't reclaim the VAT without it.", "Please send the corrected PDF to {billing_email}."]),
            v("The company address on our invoices is outdated; we moved to {address} in {month}. Could you correct invoice {nw_invoice} and the future ones?",
              s=["Wrong address on invoice", "Please correct our invoice"],
              t=["invoice {nw_invoice} has our old address, can you fix + reissue?"],
              d=["Please send the corrected PDF to {billing_email}.", "I've already updated the address in the billing settings."]),
            v("Our legal entity name changed and the invoices still show the old one. We need corrected copies of the last three invoices made out to {company}.",
              s=["Company name on invoices", "Corrected invoices needed"],
              d=["Please send the corrected PDFs to {billing_email}."])])

issue("seat_count", "billing", "medium", "problem",  # M4 wrong amount
      subjects=["Billed for too many seats", "Seat count on invoice is wrong", "Question about user count on invoice"],
      core=["We're being billed for {seats} seats but only {active} people actually use Northwind. We deactivated several users in {month}.",
            "Our latest invoice charged us for {seats} users. We removed {removed} people who left the company, so why are they still billed?"],
      details=["The Members page shows {active} active users.",
               "The difference is about {seat_diff} a month.",
               "Please credit the extra seats on the next invoice."],
      terse=["billed for {seats} seats, we only have {active} active. can you fix?"])

issue("bill_went_up", "billing", "medium", "question",  # M4 unexplained change
      subjects=["Invoice higher than usual", "Why did our bill go up?", "Unexpected amount on {nw_invoice}"],
      core=["Our bill went from {amount} to {amount2} this month and nobody here changed the plan. Can you explain the difference?",
            "Why is this month's invoice {nw_invoice} {amount2}? It's normally {amount}."],
      details=["I couldn't find any announcement about a price change.",
               "We haven't added any users as far as I know.",
               "A line-by-line breakdown would help."],
      terse=["invoice jumped from {amount} to {amount2}, why?"])

issue("pricing_question", "billing", "low", "question",  # L1 general questions
      core=[v("What would it cost us to switch from monthly to annual billing on the {plan} plan? We have {seats} users.",
              s=["Annual billing question", "Cost of annual plan"], t=["does annual billing on {plan} come with a discount?"],
              d=["We're planning next year's budget."]),
            v("Do you offer a discount for nonprofits? We're a registered charity with {seats} staff.",
              s=["Discount for nonprofits?", "Charity pricing"], t=["any nonprofit discount?"]),
            v("If we move from {plan_lower} to {plan_higher} in the middle of the month, is the charge prorated?",
              s=["Proration question", "Upgrading mid-cycle"], t=["is it prorated if we upgrade mid month?"],
              d=["Just want to understand the options before I talk to our finance director."]),
            v("Is there an education discount? We'd use Northwind for a university research group.",
              s=["Education pricing", "Academic discount?"])])

issue("download_invoices", "billing", "low", "question",  # L4 paperwork
      core=[v("Where can I download our past invoices? Our accountant needs all of them for {year}.",
              s=["Past invoices", "Where are our invoices?"], t=["where do i download old invoices?"],
              d=["I'm the account owner but I can't find the billing history.", "A zip file would be ideal."]),
            v("Can I get the receipts for the last 12 months in one go?",
              s=["Receipts for the last year", "Receipts"], t=["can i get all receipts for last 12 months at once?"],
              d=["A zip file would be ideal."]),
            v("How do I change the email address that receives our Northwind invoices? It should go to {billing_email}.",
              s=["Change invoice recipient", "Billing email address"], t=["how do i change the billing email"],
              d=["At the moment they go to a colleague who left."])])

issue("update_payment_method", "billing", "low", "question",  # L1 how-to
      core=[v("Our company card expires at the end of the month. How do I update the payment method before the next renewal?",
              s=["Update card on file", "New company card"], t=["how to update the card on file?"]),
            v("We'd like to pay by bank transfer instead of card from now on. Is that possible on the {plan} plan?",
              s=["Pay by bank transfer?", "Payment by invoice"], t=["can we pay by bank transfer on {plan}?"])])

# ---- account: access to accounts, users, workspace admin ------------------

issue("reset_missing", "account", "high", "problem",  # H2 user cannot log in
      subjects=["Can't log in", "Password reset email not arriving", "Locked out of my account"],
      core=["I can't log in and the password reset email never arrives. I've requested it {times} times.",
            "I'm locked out of my account: the reset link says it has expired every time I click it, even straight away.",
            "I'm unable to sign in. It says 'Invalid email or password' but I'm sure the password is right, and the reset email isn't coming through."],
      details=["I've checked spam and our quarantine folder.",
               "My login email is {email}.",
               "I need to get in to approve my team's timesheets.",
               "Other people on my team can log in fine."],
      terse=["can't log in, reset email not arriving. {email}", "locked out, reset link expires immediately"])

issue("lost_2fa", "account", "high", "problem",  # H2
      subjects=["Lost 2FA device", "Locked out - new phone", "Can't get past two-factor"],
      core=["I got a new phone and didn't move my authenticator app over, so I can't get past the two-factor step any more.",
            "My phone was stolen on {date} and my 2FA codes went with it. I can't log in to Northwind.",
            "I lost my backup codes and my authenticator was on my old phone. How can I get back in?"],
      details=["I'm the workspace owner, so nobody else can reset it for me.",
               "I can verify my identity however you need, for example with our last invoice number.",
               "My email is {email}."],
      terse=["lost my 2fa phone, cant log in. {email}"])

issue("sso_some_users", "account", "high", "problem",  # H2 some users cannot log in
      subjects=["SSO login failing for some users", "SAML error for a few people", "{idp} login loop"],
      core=["Since this morning {n_some} of our users get 'SAML response invalid' when they sign in through {idp}. Everyone else is fine.",
            "A few people on our team ({n_some} so far) can't log in with {idp} SSO; they're sent back to the login page in a loop."],
      details=["We haven't changed anything in {idp} as far as I know.",
               "The affected users were all added in the last two weeks.",
               "Error ID from the page: {req_id}."],
      terse=["{n_some} users stuck in an SSO login loop with {idp}"])

issue("sso_all_users", "account", "urgent", "problem",  # U1 nobody in the workspace can log in
      subjects=["Entire company locked out", "SSO broken for everyone", "Nobody can log in after certificate change"],
      core=["Nobody at {company} can log in. We rotated our {idp} signing certificate this morning and since then every SSO login fails with 'Signature validation failed'.",
            "All {seats} of our users are locked out. SSO through {idp} stopped working after our IT team updated the SAML certificate, and password login is disabled for our workspace."],
      details=["We uploaded the new certificate under Settings > Security > SSO but it still fails.",
               "Can you temporarily allow password login for the owner account so we can fix the configuration?",
               "Error ID: {req_id}."],
      terse=["entire company locked out after {idp} cert rotation, SSO fails for everyone"],
      weight=1.2)

issue("invites_missing", "account", "medium", "problem",  # M5
      subjects=["Invitations not arriving", "New team member never got invite", "Pending invites"],
      core=["I invited {n_some} new team members yesterday and none of them received the invitation email.",
            v("Our new hire {colleague} never got the invite to join our workspace. I've resent it three times.",
              t=["{colleague_first} never got our workspace invite, resent 3x"])],
      details=["Their addresses are on our company domain and other external emails reach them fine.",
               "Is there a way to get an invite link I can send directly?",
               "They show as 'Pending' on the Members page."],
      terse=["invites not arriving for new users, pending for 2 days"])

issue("ownership_transfer", "account", "medium", "request",  # M5
      subjects=["Transfer workspace ownership", "Workspace owner left the company", "Change account owner"],
      core=["The owner of our workspace, {colleague}, has left the company and we need ownership transferred to me. I'm already an admin.",
            "We need to change the workspace owner: {colleague} is no longer with us and their email has been deactivated."],
      details=["I'm the new operations manager.",
               "Our CEO can confirm by email if needed.",
               "Only the owner can see the billing settings, so we're a bit stuck."],
      terse=["need workspace ownership moved from {colleague} (left the company) to me"])

issue("domain_change", "account", "medium", "request",  # M5
      subjects=["Email domain change", "Rebrand - new email addresses", "Bulk update user emails"],
      core=["We're rebranding and our email domain is changing to @{newdomain}. Can you update all {seats} user accounts at once?",
            "Our company changed its email domain. How do we move everybody's login to the new addresses without losing their history?"],
      details=["The old addresses will keep working until the end of {month}.",
               "We use Google logins, not passwords."],
      terse=["domain change for all our users, can you bulk update the emails?"])

issue("merge_close_workspace", "account", "medium", "request",  # M5
      core=[v("We have two workspaces by accident ({workspace} and {workspace}-team) and want to merge them into one.",
              s=["Merge two workspaces", "Duplicate workspace"], t=["can you merge our 2 workspaces?"],
              d=["We need to keep the invoices and time entries.", "There are about {n_projects} projects in the second one."]),
            v("Please close our workspace at the end of the current billing period. We're moving to a different tool.",
              s=["Close our workspace", "Cancellation"], t=["pls close our workspace at end of billing period"],
              d=["Thanks for the last few years."]),
            v("We'd like to close our old workspace and move its {n_projects} projects into our main one. Is that something you can do?",
              s=["Move projects between workspaces", "Consolidate workspaces"],
              d=["We need to keep the invoices and time entries."])],
      deadline_ok=False)

issue("remove_leaver", "account", "medium", "request",  # M5 no admin available
      subjects=["Remove former employee", "Deactivate user", "Leaver still has access"],
      core=["{colleague} left the company last week and still has access to our workspace. Our only admin is on leave; can you deactivate the account?",
            "Please remove {colleague_email} from our workspace. They left us on {date} and I'm not an admin."],
      details=["There's no sign they've logged in since, we just want it tidy.",
               "Our manager can confirm."],
      terse=["pls deactivate {colleague_email}, left the company, our admin is away"])

issue("change_profile", "account", "low", "question",  # L1 how-to
      core=[v("How do I change the email address I log in with? I'm moving from {email} to my new work address.",
              s=["Change login email", "New email address"], t=["how do i change my login email"]),
            v("I got married and would like to change my display name. Where do I do that?",
              s=["Update my name", "Change display name"], t=["where do i change my display name?"]),
            v("How do I set up two-factor authentication on my own account?",
              s=["Setting up 2FA", "Two-factor setup"], t=["where do i turn on 2fa for my account"])])

issue("roles_guests", "account", "low", "question",  # L1 how-to
      core=[v("Can I invite a client to see just one project without paying for a seat?",
              s=["Guest access question", "Client access to one project"], t=["can guests see only one project?"]),
            v("How do guests work? We want our freelancers to log time on a couple of projects only.",
              s=["Freelancer access", "Guests and time tracking"], t=["can freelancers log time as guests?"]),
            v("What's the difference between the Admin and Member roles? I want to give project leads more rights without giving them billing access.",
              s=["User roles", "Admin vs Member"], t=["difference between admin and member role?"])])

# ---- technical: the product itself ----------------------------------------

issue("outage", "technical", "urgent", "problem",  # U1 whole workspace down
      subjects=["Northwind is down", "App not loading for anyone", "Complete outage?"],
      core=[v("Northwind is completely down for us. Nobody on our team can load the app; we just get a '502 Bad Gateway' page.",
              s=["502 errors for the whole team", "Northwind is down"], t=["app down for our whole team, 502 everywhere"]),
            v("The whole app has been returning 'Something went wrong (500)' for everyone at our company since {time}.",
              t=["whole workspace getting error 500 for everyone since {time}"]),
            v("None of our {seats} users can open anything in Northwind. Pages spin and then time out.",
              t=["none of us can load anything, pages just time out"])],
      details=["The status page says all systems operational, but it's definitely not.",
               "We're in {region}, if that matters.",
               "We tried different networks and devices, same thing.",
               "Request ID from the error page: {req_id}."],
      weight=1.5)

issue("data_loss", "technical", "urgent", "problem",  # U2
      core=[v("All the tasks in our project '{project}' have disappeared. They're not in the Trash and nobody deleted them.",
              s=["Project tasks disappeared", "Tasks gone from '{project}'"], t=["all tasks in '{project}' vanished, not in trash!!"],
              d=["This is a client project with {n_tasks} tasks and months of comments.", "The activity log doesn't show any deletions."]),
            v("About {n_entries} time entries from last week are gone from everyone's timesheets. They were there on Friday.",
              s=["Time entries missing!", "Timesheets wiped"], t=["time entries from last week gone for everyone"],
              d=["The activity log doesn't show any deletions.", "We haven't invoiced those hours yet."]),
            v("Three of our client invoices ({client_invoice} and two others) vanished from the Invoices list overnight. They're not in the Trash either.",
              s=["Invoices vanished", "Missing invoices"], t=["3 invoices incl {client_invoice} disappeared overnight"],
              d=["The activity log doesn't show any deletions."])],
      details=["Please tell me you have a backup."],
      weight=1.3)

issue("cannot_send_invoices", "technical", "high", "problem",  # H3 core workflow blocked
      subjects=["Can't send invoices", "Invoices not going out", "Invoice sending broken"],
      core=[v("When I click Send on an invoice to our client I get 'Could not send invoice (error 422)'. I can't send any invoices at all.",
              s=["Error 422 when sending invoice", "Can't send invoices"], t=["can't send any invoices, error 422 on send"]),
            v("Invoices won't go out. The Send button spins for a while and then shows an error, and nothing reaches our clients.",
              t=["invoices won't send, button spins then errors"])],
      details=["I tried several clients and invoices, same error.",
               "Emailing the PDF by hand isn't an option because our clients pay through the portal link.",
               "It started after {date}."])

issue("user_blank_screen", "technical", "high", "problem",  # H3 one user, no workaround
      core=[v("Since this morning I get an error 500 on every page after logging in. My colleagues can use Northwind, but I can't do any work.",
              s=["Error 500 on every page", "Can't use Northwind at all"], t=["error 500 on every page for me only, can't work"]),
            v("Every time I log in I get a blank white screen. Colleagues are fine. I've tried two browsers and two computers.",
              s=["Blank screen after login", "White screen"], t=["blank screen after login on every page, only me, tried 2 browsers"])],
      details=["I'm on {os} with {browser}.",
               "I've cleared the cache and cookies.",
               "Request ID: {req_id}."])

issue("time_tracking_broken", "technical", "high", "problem",  # H3
      subjects=["Time tracker not working", "Can't log hours", "Timesheet validation error"],
      core=["The time tracker has stopped working for our team: clicking Start does nothing and manual entries fail with 'Validation error'. We can't log any hours.",
            "Nobody on my team can save time entries since {date}. Every attempt ends with 'Could not save entry'."],
      details=["We bill clients by the hour, so this is our core workflow.",
               "Same on web and mobile."],
      terse=["nobody on the team can save time entries, 'could not save entry'"])

issue("timer_stops", "technical", "medium", "problem",  # M1 workaround
      core=[v("The timer sometimes stops on its own after about an hour and I lose the time. I've been adding it back manually.",
              s=["Timer stops by itself", "Losing tracked time"], t=["timer keeps stopping after ~1h, adding time manually for now"]),
            v("My running timer resets to 0:00 when I switch projects. Manual entries still work, so I'm using those for now.",
              s=["Timer resets when switching projects", "Timer bug"], t=["timer resets to 0 when i switch project"])],
      details=["I'm on {os} with {browser}.", "It's happened five or six times this week."])

issue("timeline_browser", "technical", "medium", "problem",  # M1 workaround (other browser)
      subjects=["Timeline view not loading", "Timeline empty in {browser}", "Gantt bug"],
      core=["The Timeline view doesn't load in {browser}, it's just an empty grid. It works in {browser2}, so I'm using that for now.",
            "In {browser} the Gantt bars don't render at all on the '{project}' project. {browser2} is fine."],
      details=["I'm on {os}.", "I've cleared the cache and disabled extensions."],
      terse=["timeline empty in {browser}, works in {browser2}"])

issue("slow", "technical", "medium", "problem",  # M2 slowness
      subjects=["Very slow", "Performance issues", "Northwind really slow"],
      core=[v("Boards have become really slow this week. Opening '{project}' takes 20 to 30 seconds.",
              s=["Boards take forever to load"], t=["boards super slow, '{project}' takes 20s+ to open"],
              d=["The project has about {n_tasks} tasks."]),
            v("Northwind is crawling today: every click takes several seconds, although it does eventually work.",
              t=["everything super slow today but it works eventually"]),
            v("Searching tasks has gotten very slow, around 15 seconds per search.",
              s=["Search is slow"], t=["search takes ~15s"])],
      details=["Our internet connection is fine, other sites are fast.", "I'm on {os} with {browser}."])

issue("mobile_crash", "technical", "medium", "problem",  # M1 web works
      core=[v("The mobile app (version {app_ver}) crashes as soon as I open a timesheet on my {phone}. The web version works fine.",
              s=["Mobile app crash", "App closes when opening timesheet"], t=["app {app_ver} crashes on timesheet on {phone}, web ok"]),
            v("Since the last update the Android app closes immediately when I tap a task. I can still use the website.",
              s=["Android app crashes", "Android app closes on tap"], t=["android app crashes when i tap a task since update"])],
      details=["I've reinstalled the app.", "It happens to two colleagues as well."])

issue("notifications_missing", "technical", "medium", "problem",  # M1
      core=[v("I'm not getting email notifications any more when I'm assigned a task. My notification settings look right.",
              s=["Not getting notifications", "Missing assignment emails"], t=["no email when i get assigned tasks anymore"],
              d=["I've checked spam.", "In-app notifications still show up."]),
            v("Mentions in comments no longer trigger notifications for our team since {date}.",
              s=["@mentions not notifying", "Mention notifications broken"], t=["@mentions stopped notifying since {date}"],
              d=["In-app notifications still show up for assignments."])])

issue("csv_import", "technical", "medium", "problem",  # M1 non-core
      subjects=["CSV import fails", "Import error", "Can't import tasks"],
      core=[v("Importing tasks from CSV fails with 'Row {row}: unknown column Due date'. The file was exported from {other_tool}.",
              t=["csv import fails at row {row}, unknown column due date"]),
            v("The CSV importer stops at 'Processing...' and never finishes. The file has about {n_tasks} rows.",
              t=["csv import stuck on processing forever"], d=["Smaller files work."])],
      details=["I used your template as a starting point."])

issue("pdf_export", "technical", "medium", "problem",  # M1 workaround
      core=[v("Exporting a report to PDF gives a blank page. Excel export works, so I'm using that for now.",
              s=["PDF export blank", "Report export broken"], t=["pdf export of reports is blank, excel works"]),
            v("Invoice PDFs download with the logo missing and the line items cut off. Printing from the browser works.",
              s=["Invoice PDF layout broken", "Logo missing on invoice PDF"], t=["invoice pdf cuts off line items, logo missing"])])

issue("report_totals", "technical", "medium", "problem",  # M1
      core=[v("The hours in Reports > Time summary don't match the timesheets: the report says {hours1}h, adding up the entries gives {hours2}h.",
              s=["Report totals wrong", "Hours don't add up"], t=["time summary report says {hours1}h, entries add up to {hours2}h"]),
            v("Our utilisation report for {month} counts some time entries twice, so a few people show over 100%.",
              s=["Utilisation report double counting", "Reports bug"], t=["utilisation report double counts entries"])],
      details=["We use the report for payroll, so we need the right numbers."])

issue("cosmetic", "technical", "low", "problem",  # L3 cosmetic
      core=[v("Small thing: in dark mode the due dates on cards are almost unreadable (dark grey on black).",
              s=["Dark mode readability", "Small UI issue"], t=["dark mode due dates unreadable"]),
            v("There's a typo on the invoice settings page: 'Reciept' instead of 'Receipt'.",
              s=["Typo in the app"], t=["typo on invoice settings page: 'Reciept'"]),
            v("The Save button in the task panel overlaps the comment box on my 13-inch laptop.",
              s=["Button overlapping", "Small UI issue"], t=["save button overlaps comment box on small screen"]),
            v("The project colour picker shows two identical greens.",
              s=["Colour picker", "Minor UI thing"])])

issue("howto", "technical", "low", "question",  # L1 how-to
      core=[v("How do I set up recurring tasks? We have a weekly report that should be created every Monday.",
              s=["How to set up recurring tasks", "Recurring tasks"], t=["how do i make a task recurring?"]),
            v("Is there a way to make an invoice repeat every month for a retainer client?",
              s=["Recurring invoices?", "Monthly retainer invoice"], t=["can invoices repeat monthly?"]),
            v("How can I duplicate a project with all its tasks as a template?",
              s=["Question about templates", "Project templates"], t=["can i copy a project as a template?"]),
            v("Can I change the first day of the week to Monday in the timesheet?",
              s=["Timesheet settings", "Week start day"], t=["how to make the week start on monday?"]),
            v("How do I move a task from one project to another without losing the comments?",
              s=["Moving tasks between projects"], t=["how do i move a task to another project?"])])

# ---- integration: connectors, public API, webhooks -------------------------

issue("qbo_stopped", "integration", "high", "problem",  # H4 stopped completely
      subjects=["QuickBooks sync stopped", "QBO-401 error", "Invoices not syncing to QuickBooks"],
      core=["Our QuickBooks Online sync has stopped completely. Nothing has synced since {date} and the integration page shows 'QBO-401: authorization expired'.",
            "Invoices are no longer pushed to QuickBooks at all. The last successful sync was on {date}."],
      details=["I clicked Reconnect but it goes back to the same error.",
               "Our bookkeeper can't reconcile anything until this works again.",
               "We're on QuickBooks Online Plus."],
      terse=["quickbooks sync dead since {date}", "nothing syncing to QBO since {date}, QBO-401"])

issue("stripe_not_marking_paid", "integration", "high", "problem",  # H4
      subjects=["Stripe payments not marking invoices paid", "Invoices stay unpaid", "Stripe sync broken"],
      core=["Clients are paying invoices through Stripe, but the invoices stay 'Unpaid' in Northwind. This has been the case for every payment since {date}.",
            "None of the Stripe payments from the last few days have been matched to invoices. {client} paid {client_invoice} and it still shows as overdue."],
      details=["The payments are definitely in our Stripe dashboard.",
               "Overdue reminders are now going out to clients who have already paid."],
      terse=["stripe payments not marking invoices paid since {date}"])

issue("api_stopped", "integration", "high", "problem",  # H4
      core=[v("Every call to the /v2/time-entries endpoint has returned 500 since {date}, so our payroll export has stopped completely.",
              s=["API returning 500", "/v2/time-entries errors"], t=["/v2/time-entries returns 500 on every call since {date}"],
              d=["Other endpoints seem to work."]),
            v("Our internal tool uses the Northwind API and since {time} every request fails with 401, although the API key hasn't changed.",
              s=["API 401 errors", "Our integration is down"], t=["every api call gets 401 since {time}, key unchanged"])],
      details=["Request ID: {req_id}."])

issue("xero_duplicates", "integration", "medium", "problem",  # M3 partly working
      core=[v("Every time Northwind syncs with Xero it creates duplicate contacts for our clients. We now have three '{client}' contacts in Xero.",
              s=["Xero duplicate contacts", "Xero sync creating duplicates"], t=["xero sync keeps duplicating contacts"],
              d=["I've been merging them by hand."]),
            v("Some invoices appear twice in Xero after the sync. Most are fine, but about one in ten gets duplicated.",
              s=["Duplicate invoices in Xero"], t=["some invoices duplicated in xero after sync"],
              d=["I've been voiding the duplicates by hand."])],
      details=["We connected Xero about a year ago."])

issue("slack_delayed", "integration", "medium", "problem",  # M3
      core=[v("Slack notifications from Northwind arrive {minutes} minutes late, sometimes not at all.",
              s=["Slack notifications delayed", "Slack integration late"], t=["slack notifs {minutes} min late"]),
            v("Task updates stopped posting to our #projects Slack channel for a few hours yesterday, then came in all at once.",
              s=["Slack messages missing", "Slack channel updates delayed"], t=["slack channel updates came hours late yesterday"])],
      details=["Email notifications arrive on time.", "We reinstalled the Slack app, no change."])

issue("gcal_duplicates", "integration", "medium", "problem",  # M3
      core=[v("The Google Calendar integration creates every task deadline twice in my calendar.",
              s=["Google Calendar duplicates", "Deadlines appear twice"], t=["gcal shows every deadline twice"]),
            v("Changing a due date in Northwind doesn't update the Google Calendar event; it keeps the old date.",
              s=["Calendar sync issue", "Google Calendar not updating"], t=["gcal event keeps old due date"])],
      details=["Only my calendar is affected, colleagues seem fine.", "I disconnected and reconnected it."])

issue("zapier_intermittent", "integration", "medium", "problem",  # M3
      core=[v("Our Zap 'New invoice paid > add row in Google Sheets' fails every few runs with 'The app returned an error'.",
              s=["Zapier zap failing", "Intermittent Zapier failures"], t=["zapier 'new invoice paid' trigger fails every few runs"],
              d=["Most runs still succeed.", "Zap history shows the errors started around {date}."]),
            v("The Zapier trigger for new tasks sometimes fires twice and sometimes not at all.",
              s=["Zapier trigger unreliable"], t=["zapier new task trigger fires twice or not at all"])])

issue("webhook_issue", "integration", "medium", "problem",  # M3
      core=[v("Webhook signature verification fails for about one in ten events we receive. We use the secret from Settings > API.",
              s=["Webhook signature mismatch", "Webhooks failing verification"], t=["~10% of webhooks fail signature check"],
              d=["The failing ones seem to have non-ASCII characters in task names."]),
            v("We're receiving the same webhook event several times with different delivery IDs.",
              s=["Duplicate webhook deliveries"], t=["getting the same webhook event 3-4 times"])],
      details=["Our endpoint responds with 200 within a second."])

issue("dev_tools_partial", "integration", "medium", "problem",  # M3
      core=[v("Jira issues linked to tasks no longer update their status in Northwind, although new links still work.",
              s=["Jira links not updating", "Jira integration issue"], t=["jira status on linked tasks not updating"]),
            v("Commits from one of our GitHub repos stopped appearing on tasks; the other repos are fine.",
              s=["GitHub commits not showing"], t=["commits from one github repo not showing on tasks"])])

issue("integration_howto", "integration", "low", "question",  # L1 how-to
      core=[v("How do I connect our GitHub repos so that commits show up on tasks?",
              s=["Connecting GitHub"], t=["how do i connect github?"]),
            v("Is the Microsoft Teams integration available on the {plan} plan?",
              s=["Teams integration", "Microsoft Teams"], t=["is teams integration on {plan}?"]),
            v("What are the rate limits for the public API? We're planning to sync time entries every five minutes.",
              s=["API rate limits"], t=["api rate limits?"]),
            v("How do I connect Xero? I can't find it under Integrations.",
              s=["How to connect Xero"], t=["where is xero in integrations?"])])

# ---- security: threats, vulnerabilities, workspace security controls -------

issue("suspicious_login", "security", "urgent", "problem",  # U3 account takeover suspected
      subjects=["Someone else logged into my account", "Suspicious login", "Account hacked?"],
      core=[v("I got a new sign-in alert from {country} at 3am ({ip}). That wasn't me, and my password has been changed.",
              t=["someone logged into my account from {country} ({ip}), password changed. not me"],
              d=["Nobody on our team travels there.", "I got back in through the reset link."]),
            v("Someone logged into our admin account from an IP we don't recognise ({ip}) and changed the bank details on our invoice template.",
              t=["unknown login from {ip} changed the bank details on our invoices!!"],
              d=["We've changed the admin password.", "Two invoices already went out with the wrong bank details."]),
            v("There are sessions on my account from {country} that aren't mine, and two projects were shared with an outside email address.",
              t=["sessions from {country} on my account that aren't mine"],
              d=["Nobody on our team travels there.", "I've already changed my password."])],
      details=["Please lock the account and tell us what they accessed."])

issue("phishing_entered", "security", "urgent", "problem",  # U3 credentials entered on phishing site
      subjects=["Phishing - staff entered password", "Fake Northwind email", "Compromised credentials"],
      core=["One of our staff got an email that looked like it came from Northwind ('Your workspace will be deleted') and entered their password on the linked page.",
            "{colleague} clicked a fake Northwind login link this morning and typed in their password before realising."],
      details=["The email came from northwind-support-team@mail-notice.net.", "We've reset that user's password.", "They're an admin on our workspace."],
      terse=["colleague entered their northwind password on a phishing page"])

issue("api_key_leaked", "security", "urgent", "problem",  # U3 exposed credential
      subjects=["API key exposed", "Leaked API key", "Credential committed to GitHub"],
      core=[v("A developer accidentally committed our Northwind API key to a public GitHub repository. It was public for about {leak_hours} hours before we noticed.",
              t=["our api key was on public github for {leak_hours}h"], d=["We've deleted the commit, but it's probably been scraped."]),
            v("Our Northwind API token was pasted into a public forum post by mistake.",
              s=["API key exposed", "Token posted publicly"], t=["api token got posted on a public forum"])],
      details=["The key has admin scope.", "How do we revoke it and see what it was used for?"])

issue("cross_tenant", "security", "urgent", "problem",  # U3 other workspace's data visible
      subjects=["Seeing another company's data", "Privacy breach - wrong data visible", "Data from another workspace"],
      core=[v("When I search for a client, the results include projects that aren't ours; they belong to a company called '{othercompany}'.",
              t=["search shows projects from another company ({othercompany})"], d=["I haven't opened them beyond the preview."]),
            v("Our client portal is showing invoices from another business ({othercompany}) to our clients.",
              t=["our client portal shows invoices of {othercompany}!"], d=["One of our clients pointed it out."])],
      details=["Screenshot attached."])

issue("vuln_report", "security", "high", "problem",  # H5 vulnerability, no exploitation
      subjects=["Security vulnerability report", "Responsible disclosure", "Possible security issue"],
      core=[v("I'm a security researcher and found a stored XSS in task comments: a comment with a crafted SVG runs JavaScript when opened. I haven't seen any exploitation.",
              s=["Stored XSS in comments", "Responsible disclosure"], t=["reporting a stored xss in task comments (responsible disclosure)"]),
            v("I think I found a vulnerability: the invoice share link lets you change the ID and view other invoices. I tested it only with our own invoices.",
              t=["changing the id in an invoice share link shows other invoices, tested on ours only"]),
            v("The password reset endpoint lets anyone find out whether an email address has a Northwind account. Reporting it under your disclosure policy.",
              s=["User enumeration in password reset"], t=["password reset leaks which emails have accounts"])],
      details=["I can share a proof of concept privately.", "I haven't shared this with anyone else."])

issue("phishing_reported", "security", "medium", "problem",  # M7 phishing, nobody entered credentials
      subjects=["Phishing email pretending to be Northwind", "Suspicious email", "Is this email from you?"],
      core=["Several of us got an email pretending to be from Northwind billing asking us to 'confirm payment details'. Nobody clicked it, but you should know.",
            "I received an email saying my Northwind account will be suspended unless I log in via a link. The sender looks fake. I didn't click anything."],
      details=["I've attached the original email with headers.", "The link goes to northwind-cloud-login.com."],
      terse=["got a phishing email posing as northwind, didn't click"],
      deadline_ok=False)

issue("security_controls", "security", "low", "question",  # L1 workspace security controls
      core=[v("Is it possible to require two-factor authentication for everyone in our workspace?",
              s=["Enforce 2FA", "Require 2FA for all users"], t=["can we enforce 2fa for everybody?"]),
            v("Do you support IP allowlisting? Our IT policy requires it.",
              s=["IP allowlisting"], t=["ip allowlist supported?"]),
            v("Can we set a shorter session timeout so people are logged out after a few hours?",
              s=["Session timeout setting"], t=["can we shorten the session timeout?"]),
            v("Is there an audit log showing who logged in and from where?",
              s=["Audit log question"], t=["do you have an audit log?"])])

# ---- data_privacy: personal data requests and compliance paperwork --------

issue("gdpr_access", "data_privacy", "medium", "request",  # M6 legal clock
      subjects=["Subject access request", "GDPR data request", "Request for my personal data"],
      core=["Under Article 15 GDPR I request a copy of all personal data Northwind holds about me.",
            "I'm a former user and would like to know what personal data you still keep about me and who it has been shared with."],
      details=["My account email was {email}.", "Please reply within the statutory deadline."],
      terse=["GDPR access request for my data ({email})"])

issue("gdpr_erasure", "data_privacy", "medium", "request",  # M6
      core=[v("A former client contact, {fullname2}, has asked us to delete all their personal data. It's in our client portal and on invoices. How do we erase it completely, including backups?",
              s=["Erasure request from a client", "GDPR deletion for a contact"], t=["client contact wants all their data erased, incl backups. how?"],
              d=["We're the controller for this data, so we need to confirm the deletion to them."]),
            v("Please delete all personal data you hold about me under Article 17 GDPR. I no longer use Northwind.",
              s=["Erasure request", "Right to be forgotten"], t=["please erase all my personal data (GDPR art. 17)"],
              d=["My email address is {email}."]),
            v("I'm a California resident. Please delete my personal information and confirm when it's done.",
              s=["CCPA deletion request", "Delete my personal information"], t=["CCPA request: delete my personal info"],
              d=["My email address is {email}."])])

issue("full_export", "data_privacy", "medium", "request",  # M6 full data export
      subjects=["Full data export", "Export all our data", "Data portability"],
      core=["We're leaving Northwind at the end of {month} and need a complete export of our workspace data (projects, time entries, invoices, files), as the DPA promises.",
            "For a legal hold we need a full export of everything in our workspace, including comments and deleted items."],
      details=["The export in Settings only gives us projects and tasks.", "Machine-readable format is fine."],
      terse=["need full export of all workspace data incl. time entries + invoices"])

issue("dpa_request", "data_privacy", "low", "request",  # L4 paperwork
      subjects=["DPA signature", "Data Processing Agreement", "Signed DPA needed"],
      core=["Can you send us your Data Processing Agreement for signature? Our legal team needs it before we roll out Northwind.",
            "We need a countersigned DPA for our records. Where can we get one?"],
      terse=["where can we get a signed DPA?"])

issue("residency_retention", "data_privacy", "low", "question",  # L4
      core=[v("Where is our data hosted? We need it to stay in the EU.",
              s=["Data residency", "Where is our data stored?"], t=["is data hosted in the EU?"]),
            v("Could you send the current list of subprocessors?",
              s=["Subprocessor list"], t=["current subprocessor list?"]),
            v("How long do you keep our data after we cancel?",
              s=["Data retention after cancellation"], t=["how long is data kept after cancelling?"])])

issue("soc2_questionnaire", "data_privacy", "low", "request",  # L4
      core=[v("Our procurement team needs your SOC 2 Type II report and would like you to fill in a security questionnaire (attached, 84 questions).",
              s=["Security questionnaire", "Vendor assessment"], t=["can you fill in our vendor security questionnaire?"]),
            v("Do you have an ISO 27001 certificate or a SOC 2 report you can share under NDA?",
              s=["SOC 2 report request", "ISO 27001?"], t=["can you share your SOC 2 report?"])])

# ---- feature_request: always low -------------------------------------------

issue("feature_polite", "feature_request", "low", "request",  # L2
      subjects=["Feature request", "Suggestion", "Idea for Northwind", "Feature idea: {feature_short}",
                "Feature request - {feature_short}"],
      core=["It would be great if Northwind had {feature}. {feature_why}",
            "Feature request: {feature}. {feature_why}",
            "Any plans to add {feature}? {feature_why}",
            "Are you planning to support {feature} at some point? {feature_why}",
            "I'd love to see {feature} in Northwind. {feature_why}"],
      details=["We've been really happy with Northwind otherwise.", "Happy to be a beta tester."],
      terse=["any plans for {feature}?", "feature request: {feature}", "+1 for {feature_short} pls"],
      weight=2.0)

issue("feature_angry", "feature_request", "low", "request",  # L2 tone does not raise priority
      subjects=["Still no {feature_short}??", "Missing basic feature", "Third time asking: {feature_short}"],
      core=["I honestly can't believe Northwind still doesn't have {feature}. {feature_why} Every other tool we looked at has it.",
            "We've asked for {feature} three times now. {feature_why} If it's not on the roadmap soon we'll have to look elsewhere."],
      terse=["still no {feature_short}?? seriously"])

issue("feature_vote", "feature_request", "low", "request",  # L2
      subjects=["Vote for {feature_short}", "Roadmap question", "Top request from our team"],
      core=["Please count our vote for {feature}. We have {seats} users on {plan} and it's the most requested thing on our team.",
            "Any news on {feature}? Is it on the roadmap? {feature_why}"],
      terse=["pls add our vote for {feature_short}"])

issue("feature_disguised", "feature_request", "low", "problem",  # L2 never-supported behaviour is not a bug
      core=[v("Bug report: there's no way to assign one task to two people. Please fix.",
              s=["Bug: can't assign two people", "Multiple assignees bug"], t=["bug? can't assign a task to 2 people"]),
            v("The mobile app only lets me view invoices, not create them. Is that a bug?",
              s=["Mobile app missing invoice creation", "Is this a bug?"], t=["mobile app can't create invoices??"]),
            v("I can't find a way to set a different hourly rate per task type, the rate field only exists on the project. Broken?",
              s=["Hourly rate per task broken?", "Is this a bug?"], t=["rate per task type missing, bug?"])])

ISSUES_BY_CAT = {c: [i for i in ISSUES if i.category == c] for c in CATEGORIES}

# --------------------------------------------------------------------------
# Ticket assembly: channel, tone, language, extra issues, typos.
# --------------------------------------------------------------------------

LANGS = {
    "de": {"greet": ["Hallo zusammen,", "Guten Tag,", "Hallo,"], "sign": ["Viele Grüße", "Beste Grüße", "Danke und Gruß"],
           "phrase": ["Danke im Voraus!", "Entschuldigung für mein Englisch.", "Vielen Dank für die Hilfe."]},
    "es": {"greet": ["Hola,", "Buenos días,", "Hola equipo,"], "sign": ["Saludos", "Un saludo", "Gracias"],
           "phrase": ["¡Gracias de antemano!", "Perdón por mi inglés.", "Muchas gracias por la ayuda."]},
    "fr": {"greet": ["Bonjour,", "Bonjour à tous,"], "sign": ["Cordialement", "Bien à vous", "Merci"],
           "phrase": ["Merci d'avance !", "Désolé pour mon anglais.", "Merci beaucoup pour votre aide."]},
    "pt": {"greet": ["Olá,", "Bom dia,"], "sign": ["Abraços", "Atenciosamente", "Obrigado"],
           "phrase": ["Obrigado desde já!", "Desculpe pelo meu inglês.", "Agradeço a ajuda."]},
    "nl": {"greet": ["Hallo,", "Goedemorgen,"], "sign": ["Met vriendelijke groet", "Groeten", "Bedankt"],
           "phrase": ["Alvast bedankt!", "Sorry voor mijn Engels.", "Dank je wel voor de hulp."]},
    "it": {"greet": ["Ciao,", "Buongiorno,"], "sign": ["Cordiali saluti", "Grazie", "Saluti"],
           "phrase": ["Grazie mille in anticipo!", "Scusate il mio inglese.", "Grazie per l'aiuto."]},
}

GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hi Northwind team,", "Dear Support,", "Good morning,",
             "Hey,", "Hello support team,", "Hi all,", "Dear Northwind Support,", "Hiya,"]
GREETINGS_FORMAL = ["Dear Support,", "Dear Northwind Support,", "Dear Sir or Madam,", "Hello,", "Good afternoon,"]
SIGNOFFS = ["Thanks,", "Best,", "Best regards,", "Cheers,", "Kind regards,", "Regards,", "Thank you,", "Many thanks,",
            "Thanks in advance,", "All the best,"]
TITLES = ["Office Manager", "Operations Lead", "Founder", "Finance Manager", "Project Manager", "IT Administrator",
          "Managing Director", "Head of Delivery", "Bookkeeper", "Studio Manager", "COO"]
RAMBLE_INTROS = [
    "Hope you're well.",
    "I work at {org_size}, and we've been on Northwind since {year_started}.",
    "I'm not very technical, so please bear with me.",
    "I already tried the chat last week but the conversation got closed before anyone replied.",
    "We mostly love the product, so this is a bit frustrating.",
    "First of all, thanks for a great tool, our whole office uses it.",
    "I'm writing on behalf of the team at {company}.",
]
RAMBLE_EXTRAS = {
    "problem": ["My colleague thinks it might be something on our side, but I'm not so sure.",
                "We've had a busy few weeks, so it's possible I missed an email from you about it.",
                "I asked around the office and nobody else has changed any settings recently.",
                "I'm normally the one who sorts these things out, so the team is waiting on me."],
    "request": ["I'm normally the one who sorts these things out, so it landed on my desk.",
                "We discussed it in our team meeting and agreed I'd write to you.",
                "I wasn't sure whether to use the form or email, so apologies if this is the wrong place."],
    "question": ["I looked through the help centre first but couldn't find anything about this.",
                 "It's probably a simple question, sorry if it's in the docs somewhere.",
                 "A colleague said it's possible but neither of us could find where."],
}
# Neutral context: never changes scope, impact or deadline, so never the label.
CONTEXT_ANY = [
    "For context, we mostly use Northwind for projects, time tracking and client invoicing.",
    "We're on the {plan} plan with {seats} users.",
    "Our workspace is {workspace}.northwind.app.",
    "I'm happy to jump on a call if that's easier.",
    "I searched the help centre first but didn't find an answer.",
    "My manager asked me to get in touch with you directly.",
    "We moved over from {other_tool} in {year_started} and have been happy overall.",
    "I'm the main admin for our account, so questions can come to me.",
    "Our office hours are 9 to 5 {region} time, in case you want to call.",
]
CONTEXT_PROBLEM = [
    "I first noticed it on {date} but assumed it would sort itself out.",
    "I've attached a couple of screenshots.",
    "I logged out and back in, which didn't change anything.",
    "Nothing changed on our side as far as I know: no new settings, no new users.",
    "I'm not sure if this is related to your last update.",
    "I can reproduce it every time, so let me know if you want me to test anything.",
]
ANGRY_LINES = {
    "any": ["We pay for the {plan} plan and expect better than this.",
            "I've been waiting for a reply for two days.",
            "Honestly, I'm really disappointed.",
            "Please don't send me another link to the help centre."],
    "problem": ["This is the second time this month and frankly it's unacceptable.",
                "If this isn't sorted out we'll be looking at other tools.",
                "Seriously, how is this still a problem?"],
    "request": ["Why does something this simple need a support ticket?",
                "I asked for this last week already."],
    "question": ["Why is this so hard to find?",
                 "This should be obvious for what we pay."],
}
# Closing lines by the kind of issue (problem / request / question) and tone.
CLOSINGS = {
    "problem": ["Can you look into this?", "Any idea what's going on?", "Please advise.", "Can you help?",
                "Let me know if you need anything else from me.", "What should I do?"],
    "request": ["Please let me know what you need from us.", "Can you help?", "Please advise.",
                "Let me know if you need anything else.", "What are the next steps?"],
    "question": ["Thanks!", "Thanks in advance.", "Cheers!", "Appreciate it.", "Thanks for any pointers."],
    "polite": ["Thanks so much in advance!", "I'd really appreciate your help with this.", "Thank you for your time!",
               "Many thanks.", "Sorry to bother you with this, and thanks!"],
    "angry": ["I expect a proper answer today.", "Sort it out please.", "I want someone to call me back.",
              "Please just fix it."],
}
# Noise the rules say to ignore: pressure words without a concrete deadline.
ASAP_NOISE = ["Please treat this as urgent.", "Need an answer ASAP.", "This is urgent!!", "Please escalate.",
              "High priority please."]
# Rule H6: a medium issue blocking something due within 24 hours becomes high.
DEADLINES = [
    "I need this sorted by tomorrow morning, we have a client meeting at 9.",
    "We have to get this resolved today; our auditor is here tomorrow at 9.",
    "Our finance team closes the month tonight and needs this done before then.",
    "I'm presenting to the board first thing tomorrow and this has to be resolved before that.",
    "This needs to be done by end of day today, it's holding up our payroll run this evening.",
    "We have a client handover tomorrow at 10am and need this done before it.",
]
# Time pressure beyond 24 hours: does not change the priority.
NO_DEADLINES = [
    "No rush, whenever you get a chance.",
    "Would be good to have this sorted by the end of the month.",
    "It's not blocking us right now.",
    "We'd like this fixed before our quarter closes in a few weeks.",
    "Next week is fine.",
]
FORM_TOPICS = {
    "billing": "Billing & payments", "account": "Account & login", "technical": "Technical problem",
    "integration": "Integrations", "security": "Security", "data_privacy": "Privacy & data",
    "feature_request": "Feedback & ideas",
}
FORM_TOPIC_LIST = list(FORM_TOPICS.values()) + ["Other", "Other", "Sales question"]

# Sentence openers that may be lower-cased after "Also, " and similar.
LOWERABLE = {
    "the", "our", "we", "we're", "we've", "my", "when", "since", "every", "all", "one", "a", "an", "is", "can",
    "how", "what", "where", "there", "there's", "it", "this", "several", "some", "clients", "invoices", "none",
    "we'd", "nobody", "please", "do", "are", "any", "would", "could", "why", "small", "in", "commits", "task",
    "search", "everything", "entire", "time", "payment", "card", "workspace", "app", "whole", "charged",
    "double", "cancelled", "upgraded", "need", "got", "lost", "locked", "users", "colleague", "nothing",
    "invoice", "moved", "picked", "client", "sessions", "unknown", "reporting", "changing", "gcal", "slack",
    "jira", "importing", "exporting", "searching", "boards", "changing", "someone", "three", "about", "under",
    "for", "mentions", "your", "after", "if", "just", "bug", "feature", "mobile", "only", "through", "webhook",
}


def _decap(text: str) -> str:
    first = text.split(" ", 1)[0].strip(",.:;!?'\"").lower()
    if first in LOWERABLE:
        return text[0].lower() + text[1:]
    return text


def _fill(template: str, slots: Slots) -> str:
    return template.format_map(slots)


def _typos(rng: random.Random, text: str, n: int) -> str:
    """Introduce ``n`` human typos (swap, drop, double a letter) in ordinary words."""
    words = [m for m in re.finditer(r"\b[a-z]{5,}\b", text)]
    if not words:
        return text
    picks = sorted(rng.sample(range(len(words)), min(n, len(words))), reverse=True)
    for idx in picks:
        m = words[idx]
        w = m.group(0)
        op = rng.randrange(3)
        i = rng.randint(1, len(w) - 2)
        if op == 0:
            w2 = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        elif op == 1:
            w2 = w[:i] + w[i + 1:]
        else:
            w2 = w[:i] + w[i] + w[i:]
        text = text[: m.start()] + w2 + text[m.end():]
    return text


@dataclass
class Ticket:
    text: str
    category: str
    priority: str
    keys: tuple[str, ...]


def _pick_issue(rng: random.Random, pool: list[Issue]) -> Issue:
    return rng.choices(pool, [i.weight for i in pool])[0]


def make_ticket(rng: random.Random, main: Issue) -> Ticket:
    """One ticket about ``main`` (maybe plus a lesser issue); the label follows the rules."""
    category = main.category
    ident = identity(rng)
    slots = Slots(rng, ident)
    priority = main.priority

    # Rule H6: deadline within 24 hours lifts a medium issue to high.
    deadline = None
    if main.priority == "medium" and main.deadline_ok and rng.random() < 0.2:
        deadline = rng.choice(DEADLINES)
        priority = "high"
    time_noise = None
    if deadline is None and main.priority in ("low", "medium") and rng.random() < 0.15:
        time_noise = rng.choice(NO_DEADLINES)

    # A second, strictly less severe issue from another category (rule: several
    # issues -> the most severe one sets category and priority).
    second = None
    if RANK[priority] > 0 and rng.random() < 0.18:
        pool = [i for i in ISSUES if i.category != category and RANK[i.priority] < RANK[priority]]
        second = _pick_issue(rng, pool)
    second_slots = Slots(rng, ident)
    variant = rng.choice(main.variants)
    second_variant = rng.choice(second.variants) if second else None

    tone = rng.choices(["neutral", "polite", "angry", "terse", "rambling"], [0.34, 0.24, 0.14, 0.14, 0.14])[0]
    channel = rng.choices(["email", "form", "chat", "forward"], [0.5, 0.2, 0.22, 0.08])[0]
    if tone == "terse" and channel == "forward":
        channel = "email"
    lang = rng.choice(list(LANGS)) if rng.random() < 0.1 else None
    noise = time_noise is None and rng.random() < (0.25 if tone == "angry" else 0.08)

    if channel == "chat":
        text = _chat(rng, main, variant, slots, second, second_variant, second_slots, tone, deadline, time_noise, lang, noise)
    else:
        text = _written(rng, main, variant, slots, second, second_variant, second_slots, tone, channel, deadline,
                        time_noise, lang, noise)

    keys = (main.key,) + ((second.key,) if second else ())
    return Ticket(text=text, category=category, priority=priority, keys=keys)


def _terse(issue_: Issue, variant: Variant) -> list[str]:
    return variant.terse or issue_.terse or [variant.text]


def _details(issue_: Issue, variant: Variant) -> list[str]:
    return (variant.details or []) + issue_.details


def _chat(rng, main, variant, slots, second, second_variant, second_slots, tone, deadline, time_noise, lang,
          noise) -> str:
    lines: list[str] = []
    if rng.random() < 0.35:
        lines.append(rng.choice(["hi", "hello", "hey", "hi there", "hi,", "hello?"]))
    if rng.random() < 0.25:
        core = _fill(variant.text, slots)  # some chat users write full sentences
    else:
        core = _fill(rng.choice(_terse(main, variant)), slots)
    lines.append(core)
    details = _details(main, variant)
    if details and rng.random() < 0.35:
        lines.append(_fill(rng.choice(details), slots))
    if deadline:
        lines.append(deadline)
    elif time_noise and rng.random() < 0.5:
        lines.append(time_noise)
    if second:
        s = _fill(rng.choice(_terse(second, second_variant)), second_slots)
        lines.append(rng.choice(["also ", "oh and ", "also, ", "+ "]) + s)
    if noise:
        lines.append(rng.choice(["URGENT", "asap pls", "need help asap", "this is urgent"]))
    if tone == "angry":
        lines.append(rng.choice(["ridiculous", "why is this so hard", "!!!", "come on"]))
    if lang:
        lines.append(rng.choice(LANGS[lang]["phrase"]))
    if rng.random() < 0.5:
        lines = [ln[0].lower() + ln[1:] if ln[:1].isupper() and not ln.startswith(("I ", "I'm", "URGENT")) else ln
                 for ln in lines]
    text = "\n".join(lines)
    if rng.random() < 0.2:
        text = _typos(rng, text, rng.choice([1, 1, 2]))
    return text


def _written(rng, main, variant, slots, second, second_variant, second_slots, tone, channel, deadline, time_noise,
             lang, noise) -> str:
    paras: list[str] = []
    ramble = tone == "rambling"

    # First paragraph: optional intro, then the core statement.
    first: list[str] = []
    if ramble:
        first += [_fill(s, slots) for s in rng.sample(RAMBLE_INTROS, rng.randint(1, 2))]
    elif tone == "polite" and rng.random() < 0.4:
        first.append(rng.choice(["Hope you're doing well.", "I hope you can help.", "Thanks for reading."]))
    if tone == "terse" and rng.random() < 0.5:
        core = _fill(rng.choice(_terse(main, variant)), slots)
    else:
        core = _fill(variant.text, slots)
    if tone == "terse":
        core = core[0].upper() + core[1:]

    second_text = None
    second_first = False
    if second is not None:
        second_text = _fill(second_variant.text, second_slots)
        second_first = rng.random() < 0.35

    if second_first:
        first.append(second_text)
        paras.append(" ".join(first))
        lead = rng.choice(["Also, ", "More importantly, ", "But the bigger problem: ", "Second thing: ",
                           "And the real reason I'm writing: "])
        paras.append(lead + _decap(core))
    else:
        first.append(core)
        paras.append(" ".join(first))

    # Detail paragraph(s).
    n_det = {"terse": 0, "neutral": rng.randint(0, 2), "polite": rng.randint(0, 2),
             "angry": rng.randint(0, 1), "rambling": rng.randint(2, 3)}[tone]
    pool = _details(main, variant)
    dets = [_fill(d, slots) for d in rng.sample(pool, min(n_det, len(pool)))]
    context = CONTEXT_ANY + (CONTEXT_PROBLEM if main.kind == "problem" else [])
    if ramble:
        n_ctx = rng.randint(2, 4)
    elif tone in ("neutral", "polite") and rng.random() < 0.3:
        n_ctx = rng.randint(1, 2)
    else:
        n_ctx = 0
    for sentence in rng.sample(context, n_ctx):
        dets.insert(rng.randint(0, len(dets)), _fill(sentence, slots))
    if ramble and rng.random() < 0.7:
        dets.insert(rng.randint(0, len(dets)), rng.choice(RAMBLE_EXTRAS[main.kind]))
    if dets:
        if len(dets) > 2 and (ramble or rng.random() < 0.4):
            cut = rng.randint(1, len(dets) - 1)
            paras.append(" ".join(dets[:cut]))
            paras.append(" ".join(dets[cut:]))
        else:
            paras.append(" ".join(dets))

    tail: list[str] = []
    if deadline:
        tail.append(deadline)
    elif time_noise:
        tail.append(time_noise)
    if tone == "angry":
        tail += [_fill(s, slots) for s in rng.sample(ANGRY_LINES["any"] + ANGRY_LINES[main.kind], rng.randint(1, 2))]
    if noise:
        tail.append(rng.choice(ASAP_NOISE))
    if tail:
        paras.append(" ".join(tail))

    ps = None
    if second_text and not second_first:
        lead = rng.choice(["Also, ", "Separately, ", "One more thing: ", "Unrelated, but ", "While I have you: ", "P.S. "])
        if lead == "P.S. ":
            ps = lead + second_text
        else:
            paras.append(lead + _decap(second_text))

    if tone != "terse":
        options = list(CLOSINGS[main.kind])
        if tone in ("polite", "angry"):
            options += CLOSINGS[tone] * 2
        closing = rng.choice(options)
        if rng.random() < 0.75:
            paras.append(closing)
    if lang and rng.random() < 0.6:
        paras.append(rng.choice(LANGS[lang]["phrase"]))

    body = "\n\n".join(paras)
    if rng.random() < (0.1 if tone != "terse" else 0.2):
        body = _typos(rng, body, rng.choice([1, 1, 2]))

    # Greeting and signature.
    if lang and rng.random() < 0.7:
        greet = rng.choice(LANGS[lang]["greet"])
    elif tone == "terse":
        greet = rng.choice(["", "", "Hi,"])
    elif tone == "polite":
        greet = rng.choice(GREETINGS_FORMAL + GREETINGS)
    else:
        greet = rng.choice(GREETINGS + [""])
    if greet.endswith(",") and rng.random() < 0.25:
        greet = greet[:-1]  # plenty of people skip the comma
    sign_name = slots["name"] if rng.random() < 0.6 else slots["fullname"]
    if tone == "terse":
        signature = rng.choice(["", "", f"- {slots['name']}", slots["name"]])
    else:
        if lang and rng.random() < 0.7:
            signoff = rng.choice(LANGS[lang]["sign"]) + ("," if rng.random() < 0.5 else "")
        else:
            signoff = rng.choice(SIGNOFFS)
        lines = [signoff, sign_name]
        if rng.random() < 0.35:
            lines.append(rng.choice(TITLES) + (", " + slots["company"] if rng.random() < 0.6 else ""))
        if rng.random() < 0.08:
            lines.append("Sent from my iPhone")
        signature = "\n".join(lines)

    parts = [p for p in [greet, body, signature] if p]
    letter = "\n\n".join(parts)
    if ps:
        letter += "\n\n" + ps

    subject = _fill(rng.choice(variant.subjects or main.subjects), slots)
    if noise and rng.random() < 0.5:
        subject = rng.choice(["URGENT: ", "URGENT - ", "[URGENT] ", "ASAP: "]) + subject
    elif tone == "angry" and rng.random() < 0.3:
        subject = subject.upper() if rng.random() < 0.3 else subject + "!!"

    if channel == "form":
        topic = FORM_TOPICS[main.category] if rng.random() < 0.6 else rng.choice(FORM_TOPIC_LIST)
        fields = [f"Name: {slots['fullname']}", f"Email: {slots['email']}"]
        if rng.random() < 0.7:
            fields.append(f"Workspace: https://{slots['workspace']}.northwind.app")
        if rng.random() < 0.6:
            fields.append(f"Plan: {slots['plan']}")
        fields.append(f"Topic: {topic}")
        fields.append("Message:")
        return "\n".join(fields) + "\n" + body
    if channel == "forward":
        # The body was written by the ticket's identity; a teammate forwards it.
        colleague = Slots(rng, {"name": slots["name"], "domain": slots["domain"]})
        while colleague["colleague"] == slots.get("colleague"):
            colleague = Slots(rng, {"name": slots["name"], "domain": slots["domain"]})
        intro = rng.choice([
            "Hi support, forwarding this from {name} on our team. Can you help?",
            "Forwarding below. Could you take a look?",
            "FYI, see below from {name}. Please advise.",
            "Hi, passing this on from one of our team members.",
        ])
        intro = _fill(intro, colleague)
        fwd_body = f"Hi {colleague['colleague_first']},\n\n{body}\n\n{slots['name']}"
        sent = (f"{rng.choice(['Mon', 'Tue', 'Wed', 'Thu', 'Fri'])}, {rng.randint(1, 28)} "
                f"{rng.choice(MONTHS)[:3]} at {rng.randint(7, 18)}:{rng.randrange(60):02d}")
        return (f"Subject: Fwd: {subject}\n\n{intro}\n\n{colleague['colleague_first']}\n\n"
                f"---------- Forwarded message ---------\n"
                f"From: {slots['fullname']} <{slots['email']}>\n"
                f"Date: {sent}\n"
                f"Subject: {subject}\n\n{fwd_body}")
    # email
    if rng.random() < 0.7:
        return f"Subject: {subject}\n\n{letter}"
    return letter


# --------------------------------------------------------------------------
# Splits, checks, output.
# --------------------------------------------------------------------------


def _apportion(n: int, weights: list[float]) -> list[int]:
    """Split ``n`` in proportion to ``weights`` (largest-remainder rounding, ties to the first)."""
    total = sum(weights)
    raw = [w * n / total for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def quotas(n: int) -> dict[str, int]:
    """Tickets per category for a split of ``n``."""
    return dict(zip(CATEGORIES, _apportion(n, [CATEGORY_WEIGHTS[c] for c in CATEGORIES])))


def deck(n: int) -> list[Issue]:
    """The main issue of each of ``n`` tickets: categories by quota, templates by weight.

    Dealing from a deck instead of drawing independently keeps the label
    counts close to their expected values for any seed.
    """
    cards: list[Issue] = []
    for cat, k in quotas(n).items():
        pool = ISSUES_BY_CAT[cat]
        for issue_, m in zip(pool, _apportion(k, [i.weight for i in pool])):
            cards += [issue_] * m
    return cards


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def generate(seed: int = SEED, n_train: int = N_TRAIN, n_eval: int = N_EVAL) -> tuple[list[Ticket], list[Ticket]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: list[list[Ticket]] = []
    for n in (n_train, n_eval):
        plan = deck(n)
        rng.shuffle(plan)
        tickets = []
        for main in plan:
            for _ in range(100):
                t = make_ticket(rng, main)
                key = _norm(t.text)
                if key not in seen:
                    seen.add(key)
                    tickets.append(t)
                    break
            else:  # pragma: no cover - would need a far smaller template set
                raise RuntimeError(f"could not make a unique {main.key} ticket")
        splits.append(tickets)
    train, eval_ = splits
    overlap = {_norm(t.text) for t in train} & {_norm(t.text) for t in eval_}
    if overlap:
        raise RuntimeError(f"{len(overlap)} tickets appear in both train and eval")
    for tickets in splits:
        for t in tickets:
            assert t.category in CATEGORIES and t.priority in PRIORITIES, t
    return train, eval_


def to_jsonl(tickets: list[Ticket]) -> str:
    lines = []
    for t in tickets:
        answer = json.dumps({"category": t.category, "priority": t.priority})
        record = {"messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": t.text},
            {"role": "assistant", "content": answer},
        ]}
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def task_yaml(seed: int) -> str:
    cats = ", ".join(CATEGORIES)
    prios = ", ".join(PRIORITIES)
    return (
        f"# Written by scripts/make_triage_example.py (seed {seed}); edit the script, not this file.\n"
        "name: triage\n"
        f"description: {json.dumps(TASK_DESCRIPTION)}\n"
        "train: train.jsonl\n"
        "eval: eval.jsonl\n"
        "corpus: corpus\n"
        "metric: json-fields\n"
        "answer_format: json\n"
        f"system_prompt: {json.dumps(SYSTEM_PROMPT)}\n"
        "labels:\n"
        f"  category: [{cats}]\n"
        f"  priority: [{prios}]\n"
    )


def stats_markdown(train: list[Ticket], eval_: list[Ticket]) -> str:
    """The label tables pasted into the dataset card (README.md)."""
    out = []
    for field_name, values in (("category", CATEGORIES), ("priority", PRIORITIES)):
        tr = Counter(getattr(t, field_name) for t in train)
        ev = Counter(getattr(t, field_name) for t in eval_)
        out.append(f"| {field_name} | train | eval |")
        out.append("|---|---:|---:|")
        for v in values:
            out.append(f"| `{v}` | {tr[v]} | {ev[v]} |")
        out.append(f"| **total** | {len(train)} | {len(eval_)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render(seed: int) -> tuple[dict[str, str], str]:
    """The files to write (name -> text) and the label tables for the dataset card."""
    train, eval_ = generate(seed)
    files = {"train.jsonl": to_jsonl(train), "eval.jsonl": to_jsonl(eval_), "task.yaml": task_yaml(seed)}
    return files, stats_markdown(train, eval_)


def main(argv: list[str] | None = None) -> int:
    from example_cli import main as run

    return run(argv, description=__doc__.split("\n\n")[0], seed=SEED, out=DEFAULT_OUT,
               render=render, tables="label tables")


if __name__ == "__main__":
    sys.exit(main())
