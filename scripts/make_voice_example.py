#!/usr/bin/env python3
"""Generate ftdecide's second bundled example: support replies rewritten into the brand's voice.

A support agent at Northwind Cloud (the fictional SaaS of the ``triage``
example) drafts a reply; the model rewrites it in the Northwind voice
(``corpus/voice-guide.md``): the customer's first name, what we did first,
plain words, one short apology only when we got something wrong, one clear
next step, the agent's name. Drafts come in four registers a real team
produces (stiff and formal, curt, full of internal jargon, over-apologetic),
so there is no single right answer to match exactly: the reference is one
good rewrite, and the example is scored with a similarity metric
(``rouge-l``), which is what a free-text task needs a judge or people for.

Each reply is built from one *situation* (a refund, a reconnected
integration, ...) written in every register. The eval set uses situations the
training set never shows, so a model has to carry the voice over to new
content and no eval draft is a near copy of a training one (the audit's
leak check stays clean).

Stdlib only and deterministic: the same ``--seed`` writes byte-identical
files. The script writes ``train.jsonl``, ``eval.jsonl`` and ``task.yaml``;
the corpus and the card (README.md) are hand-written, and the tables this
script prints are pasted into the card (a test checks they match).

Usage::

    python scripts/make_voice_example.py              # rewrite the committed files
    python scripts/make_voice_example.py --out DIR    # write somewhere else
    python scripts/make_voice_example.py --check      # exit 1 if committed files are stale
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SEED = 20251205
N_TRAIN = 300
N_EVAL = 60
REGISTERS = ("formal", "curt", "jargon", "apologetic")

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "ftdecide" / "examples" / "voice"

SYSTEM_PROMPT = (
    "Rewrite the support agent's draft reply to a Northwind Cloud customer in the Northwind voice: "
    "greet the customer by first name, say what we did first, use plain words, apologise once only "
    "if we got something wrong, end with one clear next step, and sign with the agent's first name."
)

TASK_DESCRIPTION = (
    "Support replies in the brand's voice for Northwind Cloud, a fictional project-management and "
    "invoicing SaaS: rewrite an agent's draft (formal, curt, jargon-heavy or over-apologetic) the way "
    "the voice guide in corpus/ asks. Free text with one reference rewrite per item. Synthetic data."
)

FIRST_NAMES = ["Priya", "Tomás", "Aisha", "Jonas", "Mei", "Ravi", "Elena", "Kwame", "Sofia", "Liam",
               "Hana", "Mateo", "Chloe", "Omar", "Ingrid", "Daniel", "Yuki", "Fatima", "Noah", "Leila",
               "Marco", "Zoe", "Arjun", "Nadia", "Erik", "Grace", "Samir", "Anya", "Felix", "Rosa"]
LAST_NAMES = ["Shah", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "García", "Brennan", "Weber",
              "Haddad", "Kowalski", "Mensah", "Rossi", "Larsen", "Chen", "O'Neill", "Fischer", "Silva",
              "Nakamura", "Dubois", "Petrov", "Adeyemi", "Costa", "Murphy", "Jansen"]
COMPANIES = ["Juniper Health Clinic", "Tidewater Surveying", "Brightline Architects", "Copperleaf Legal",
             "Harbour & Finch Design", "Northgate Builders", "Bluebell Events", "Kestrel Engineering",
             "Maple Street Accounting", "Orbit Creative", "Saltmarsh Consulting", "Fernhill Landscaping",
             "Quayside Media", "Redwood Physio", "Lumen Translation", "Alder & Rowe Surveyors"]
AGENTS = [("Sam", "Whitaker"), ("Lena", "Park"), ("Diego", "Alvarez"), ("Ruth", "Adebayo"),
          ("Marcus", "Hale"), ("Ines", "Sousa"), ("Theo", "Bergström"), ("Amara", "Diallo")]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
PLANS = ["Starter", "Team", "Business"]
INTEGRATIONS = ["QuickBooks", "Xero", "Slack", "Google Calendar", "Stripe", "HubSpot"]
FORMATS = ["CSV", "Excel"]
REPORTS = ["time summary", "profitability", "unbilled hours", "team utilisation"]


@dataclass(frozen=True)
class Situation:
    """One reply's content in every register: what happened, a detail, the next step.

    ``voice`` holds alternatives for (outcome, detail, next step); each register
    holds the same three parts as its drafts word them. ``sorry`` is the one
    short apology the voice allows when Northwind got something wrong.
    """

    key: str
    split: str
    sorry: str | None
    voice: tuple[list[str], list[str], list[str]]
    formal: tuple[list[str], list[str], list[str]]
    curt: tuple[list[str], list[str], list[str]]
    jargon: tuple[list[str], list[str], list[str]]


SITUATIONS: list[Situation] = []


def situation(key: str, split: str, sorry: str | None, **registers: tuple[list[str], list[str], list[str]]) -> None:
    SITUATIONS.append(Situation(key, split, sorry, **registers))


# ---- training situations -----------------------------------------------------------------------

situation(
    "double-charge-refund", "train", "Sorry about the double charge.",
    voice=(["We've refunded the extra {amount} taken for invoice {invoice}.",
            "The second {amount} payment for invoice {invoice} is on its way back to you."],
           ["It should reach your card within {days} business days."],
           ["If it hasn't arrived by {date}, reply to this email and we'll chase it with the bank.",
            "If it isn't there by {date}, just reply here and we'll follow it up."]),
    formal=(["Please be advised that a refund in the amount of {amount} has been processed in respect of the duplicate charge on invoice {invoice}."],
            ["Kindly allow up to {days} business days for the funds to be reflected in your account."],
            ["In the event that the funds have not been received by {date}, we would request that you contact us so that we may investigate the matter further."]),
    curt=(["refunded the dup charge on {invoice} ({amount})."], ["{days} business days to show."],
          ["not there by {date}? reply."]),
    jargon=(["The dup txn on {invoice} ({amount}) has been actioned and a refund pushed via our PSP."],
            ["Settlement SLA is ~{days} BD depending on your issuer."],
            ["If it hasn't landed by EOD {date}, raise a follow-up and we'll escalate to Payments."]),
)
situation(
    "seats-added", "train", None,
    voice=(["We've added {seats} seats to your workspace, so your team can start inviting people now.",
            "Your workspace now has {seats} more seats, ready for your new starters."],
           ["You'll see the change on your next invoice, prorated from today."],
           ["Invite people from Settings > Members, and reply here if anyone can't get in.",
            "Send the invites from Settings > Members; if anyone gets stuck, reply here."]),
    formal=(["We are pleased to confirm that {seats} additional user licences have been provisioned on your account."],
            ["Please note that the associated charges will be reflected on a pro-rata basis in your next billing cycle."],
            ["Invitations may be issued via the Members section of the Settings menu at your convenience."]),
    curt=(["+{seats} seats added."], ["prorated on next invoice."], ["invite via Settings > Members."]),
    jargon=(["Seat count bumped by {seats} on the sub, provisioning is complete."],
            ["Proration will flow through to the next billing run."],
            ["Go ahead and send invites from the Members admin panel, ping us if any seat allocation errors."]),
)
situation(
    "invoice-resent", "train", None,
    voice=(["We've sent invoice {invoice} again to {email}.", "Invoice {invoice} is back in your inbox at {email}."],
           ["It's the same invoice, with your company address now on it."],
           ["If it doesn't turn up in the next hour, check your spam folder or reply and we'll attach it here.",
            "Not there within the hour? Check spam, or reply and we'll attach it to this email."]),
    formal=(["As requested, a copy of invoice {invoice} has been re-issued to the following address: {email}."],
            ["The document has been amended to include your registered company address."],
            ["Should the email not be received, we would recommend reviewing your junk mail folder before contacting us again."]),
    curt=(["resent {invoice} to {email}."], ["address added."], ["check spam if missing."]),
    jargon=(["Re-triggered the invoice email for {invoice} to {email} from the billing console."],
            ["Bill-to address field has been patched on the doc."],
            ["If it's not in inbox within 60 min check spam/quarantine, else LMK and I'll attach the PDF."]),
)
situation(
    "export-ready", "train", None,
    voice=(["Your full workspace export is ready as a {format} file.", "We've finished your workspace export, in {format} as you asked."],
           ["The download link works for the next 7 days."],
           ["Download it from Settings > Data > Exports, and reply if any project looks incomplete.",
            "You'll find it under Settings > Data > Exports; tell us if anything is missing."]),
    formal=(["We are writing to inform you that the data export you requested has now been generated in {format} format."],
            ["Please be aware that the download link will expire seven days from the date of this correspondence."],
            ["The file may be retrieved from the Exports area within the Data section of Settings."]),
    curt=(["export done ({format})."], ["link valid 7 days."], ["Settings > Data > Exports."]),
    jargon=(["The async export job completed and the {format} artefact is staged."],
            ["Signed URL TTL is 7d."],
            ["Pull it from Settings > Data > Exports and flag any missing entities."]),
)
situation(
    "integration-reconnected", "train", None,
    voice=(["Your {integration} connection is working again, and the invoices from the last {days} days have synced.",
            "We've reconnected {integration}, and every invoice from the last {days} days is now there."],
           ["The connection had expired after a password change on the {integration} side."],
           ["Open {integration} and check that the latest invoices are there; if any are missing, reply with their numbers.",
            "Have a look in {integration}, and send us the numbers of any invoice that didn't come through."]),
    formal=(["We are pleased to advise that the connection between your workspace and {integration} has been re-established, and the backlog covering the previous {days} days has been synchronised."],
            ["Our investigation determined that the authorisation token had been invalidated following a credential change within {integration}."],
            ["We would be grateful if you could verify that all recent invoices are now present and advise us of any discrepancies."]),
    curt=(["{integration} reconnected, last {days} days synced."], ["token expired after a pw change."],
          ["check & send any missing invoice numbers."]),
    jargon=(["Re-auth'd the {integration} OAuth connection and replayed the sync queue for the last {days} days."],
            ["Root cause was a revoked token after a credential rotation on their end."],
            ["Pls sanity-check the ledger and send over any invoice IDs that didn't propagate."]),
)
situation(
    "downgrade-scheduled", "train", None,
    voice=(["Your plan will move from {plan} to {plan2} on {date}, the end of your current billing period.",
            "We've booked your move from {plan} to {plan2} for {date}, when this billing period ends."],
           ["Until then you keep everything in {plan}."],
           ["If you change your mind before {date}, reply here and we'll cancel the change.",
            "Want to stay on {plan} after all? Reply before {date} and we'll undo it."]),
    formal=(["Please be advised that your subscription is scheduled to be changed from the {plan} plan to the {plan2} plan with effect from {date}."],
            ["All {plan} features shall remain available to you until that date."],
            ["Should you wish to rescind this request, please notify us prior to {date}."]),
    curt=(["downgrade {plan} -> {plan2} set for {date}."], ["{plan} features until then."], ["reply before {date} to cancel."]),
    jargon=(["Scheduled a plan change {plan} -> {plan2} at period end ({date})."],
            ["Entitlements stay on {plan} until the renewal boundary."],
            ["If you want to roll it back, ping us pre-{date} and we'll void the scheduled change."]),
)
situation(
    "timesheet-bug-fixed", "train", "Sorry about the wrong totals.",
    voice=(["The weekly timesheet totals are right again: we fixed the bug that counted some entries twice.",
            "We've fixed the bug that doubled some entries, so your weekly timesheet totals add up again."],
           ["Your team's {hours} hours from last week now show correctly."],
           ["Reload the Timesheets page to see the fix, and reply if any total still looks wrong.",
            "Refresh Timesheets and tell us if a total still doesn't match."]),
    formal=(["We wish to inform you that the defect causing certain time entries to be counted twice in weekly timesheet totals has now been resolved."],
            ["The {hours} hours recorded by your team during the previous week are now displayed accurately."],
            ["We would ask that you refresh the Timesheets page and notify us should any further discrepancy be observed."]),
    curt=(["timesheet double-count bug fixed."], ["last week's {hours}h correct now."], ["reload, tell us if still off."]),
    jargon=(["Hotfix for the timesheet aggregation bug (dupe entries in weekly rollups) is deployed to prod."],
            ["Last week's {hours}h for your org re-computed."],
            ["Hard refresh the Timesheets view and flag any remaining variance."]),
)
situation(
    "feature-request-logged", "train", None,
    voice=(["Thanks for the idea of {feature}: we've added your vote to it on our roadmap board.",
            "We've added your vote for {feature} to our roadmap board."],
           ["We can't promise a date yet, but requests with more votes get looked at first."],
           ["Follow the request on the board to hear when it moves, or reply with any detail on how you'd use it.",
            "Subscribe to it on the board to get updates; if you have more detail on how you'd use it, reply here."]),
    formal=(["Thank you for your suggestion regarding {feature}, which has been duly recorded and submitted to our Product team for consideration."],
            ["Unfortunately we are unable to provide a timeline for delivery at this time."],
            ["We would encourage you to subscribe to the request on our public roadmap in order to receive updates."]),
    curt=(["logged your request for {feature}."], ["no ETA."], ["subscribe on the roadmap board for updates."]),
    jargon=(["I've +1'd {feature} in our feature request tracker on your account's behalf."],
            ["No ETA at this time, PM prioritisation is vote-weighted."],
            ["Subscribe to the card on the public roadmap, and send any use-case context that'd help PM."]),
)
situation(
    "sso-enabled", "train", None,
    voice=(["Single sign-on with your identity provider is now switched on for your workspace.",
            "SSO is live for your workspace: your team can sign in with your identity provider."],
           ["Passwords still work for the next {days} days, so nobody gets locked out while you test."],
           ["Ask two people to sign in with SSO today, and reply here if either of them can't.",
            "Have a couple of colleagues try SSO today and let us know how it goes."]),
    formal=(["We are pleased to confirm that Single Sign-On has been successfully enabled for your organisation's workspace."],
            ["Password-based authentication will remain available for a transitional period of {days} days."],
            ["We recommend that a limited number of users test the SSO login before the transitional period concludes."]),
    curt=(["SSO on."], ["passwords work {days} more days."], ["test with a couple of users."]),
    jargon=(["SAML SSO is enabled on the tenant, IdP metadata validated."],
            ["Password auth remains as fallback for a {days}d grace window."],
            ["Run a smoke test with a couple of users and LMK if any assertion errors."]),
)
situation(
    "data-deleted", "train", None,
    voice=(["We've deleted your former colleague's personal data, as you asked.",
            "The personal data of your former colleague is now deleted, as you asked."],
           ["Backups holding it are overwritten within {days} days."],
           ["You don't need to do anything else; keep this email as your confirmation.",
            "There's nothing more to do: this email is your confirmation."]),
    formal=(["Further to your request under data protection legislation, we hereby confirm that the personal data relating to the specified former employee has been erased."],
            ["Please note that residual copies held in backup systems will be overwritten within {days} days."],
            ["No further action is required on your part, and we advise that you retain this correspondence for your records."]),
    curt=(["personal data deleted."], ["backups overwritten within {days} days."], ["keep this as confirmation."]),
    jargon=(["The DSR erasure job for the ex-employee's PII completed successfully."],
            ["Backup retention purge is T+{days}d."],
            ["Nothing needed from your side, file this as the completion record."]),
)
situation(
    "trial-extended", "train", None,
    voice=(["We've extended your trial by {days} days, so it now ends on {date}.",
            "Your trial now runs until {date}: we've added {days} days."],
           ["Everything you've set up stays exactly as it is."],
           ["If you'd like a walkthrough of invoicing before then, reply with a time that suits you.",
            "Want a quick tour of invoicing before {date}? Reply with a time that works."]),
    formal=(["We are pleased to inform you that your trial period has been extended by {days} days and will now expire on {date}."],
            ["All data and configuration within your workspace will be retained."],
            ["Should you require a demonstration of the invoicing module, please do not hesitate to propose a suitable time."]),
    curt=(["trial +{days} days, ends {date}."], ["nothing lost."], ["want an invoicing demo? send a time."]),
    jargon=(["Trial entitlement extended +{days}d, new expiry {date}."],
            ["Workspace config/data untouched."],
            ["Happy to do an invoicing walkthrough, send over a slot."]),
)
situation(
    "reports-faster", "train", "Sorry it was so slow.",
    voice=(["Your {report} report loads in seconds again.", "The {report} report is fast again: it opens in a few seconds now."],
           ["A slow database query was holding it up, and we've fixed it for every workspace."],
           ["Try it now, and reply if it still takes more than ten seconds.",
            "Give it a try and let us know if it ever takes longer than ten seconds."]),
    formal=(["We are pleased to report that the performance issue affecting the {report} report has been resolved."],
            ["The issue was attributable to an inefficient database query, which has since been optimised across all accounts."],
            ["We would invite you to confirm that load times are now satisfactory."]),
    curt=(["{report} report fast again."], ["slow query fixed."], ["tell us if >10s."]),
    jargon=(["Perf regression on the {report} report endpoint is resolved, p95 back to baseline."],
            ["RCA: an unindexed query, patched platform-wide."],
            ["Pls retest and flag if latency is still >10s."]),
)
situation(
    "webhook-retries", "train", None,
    voice=(["Your webhook is getting our events again, and we've resent the {n} that failed.",
            "We've resent the {n} events your webhook missed, and new ones are arriving again."],
           ["Your endpoint had been returning errors, so we paused it after repeated failures."],
           ["Check that your endpoint answers within five seconds, and reply if events stop again.",
            "Make sure your endpoint replies within five seconds; if events stop again, reply here."]),
    formal=(["Please be advised that event delivery to your webhook endpoint has been resumed and the {n} failed deliveries have been re-attempted."],
            ["The endpoint had been automatically disabled following repeated error responses."],
            ["We recommend ensuring that your endpoint responds within five seconds to avoid recurrence."]),
    curt=(["webhook re-enabled, {n} events resent."], ["it was auto-paused after errors."], ["endpoint must answer in <5s."]),
    jargon=(["Webhook sub re-enabled and the {n} failed deliveries replayed from the DLQ."],
            ["Endpoint was circuit-broken after consecutive 5xx."],
            ["Make sure your handler ACKs within 5s or it'll trip again."]),
)
situation(
    "password-reset", "train", None,
    voice=(["We've sent a new password reset link to {email}.", "A fresh password reset link is on its way to {email}."],
           ["It works once and expires in an hour."],
           ["Use it from the same browser you'll sign in with, and reply if it doesn't arrive.",
            "Open it in the browser you sign in with; if it doesn't come, reply here."]),
    formal=(["A new password reset link has been dispatched to the email address associated with your account, {email}."],
            ["Please note that the link is valid for a single use and will expire after sixty minutes."],
            ["Should the email fail to arrive, kindly contact us and we will investigate further."]),
    curt=(["new reset link sent to {email}."], ["single use, 1h."], ["reply if missing."]),
    jargon=(["Re-issued a PW reset token to {email}."],
            ["Token is one-time, 60 min TTL."],
            ["Open it in the same browser session, and ping us if it bounces."]),
)

# ---- eval situations: never shown in training -----------------------------------------------------

situation(
    "vat-updated", "eval", None,
    voice=(["We've added your VAT number to your account, so it's on every invoice from now on.",
            "Your VAT number is now on your account and will show on every new invoice."],
           ["We've also reissued invoice {invoice} with it."],
           ["Download the new copy from Billing > Invoices, and reply if your accountant needs anything else.",
            "You'll find the new copy in Billing > Invoices; reply if your accountant needs more."]),
    formal=(["We can confirm that the VAT registration number provided has been recorded against your account and will appear on all future invoices."],
            ["In addition, invoice {invoice} has been re-issued to include this information."],
            ["The amended document is available for download from the Invoices section of the Billing area."]),
    curt=(["VAT number added."], ["{invoice} reissued with it."], ["Billing > Invoices."]),
    jargon=(["Tax ID field populated on the billing profile, will render on all invoices going forward."],
            ["Regenerated {invoice} with the VAT ID."],
            ["Grab the new PDF from Billing > Invoices, LMK if finance needs anything else."]),
)
situation(
    "project-restored", "eval", None,
    voice=(["We've restored the project {project}, with all its tasks and time entries.",
            "Your project {project} is back, tasks and time entries included."],
           ["It had been deleted on {date}, so it was still in our 30-day recovery window."],
           ["Check it in your project list, and reply if anything inside looks wrong.",
            "Open it from your project list and tell us if anything is missing."]),
    formal=(["Further to your request, we are pleased to confirm that the project {project} has been restored in its entirety, including all associated tasks and time records."],
            ["As the deletion took place on {date}, the project remained within the thirty-day recovery period."],
            ["We would ask that you review the restored project and advise us of any irregularities."]),
    curt=(["{project} restored incl. tasks + time."], ["deleted {date}, within 30-day window."], ["check it, reply if off."]),
    jargon=(["Un-deleted project {project} from soft-delete, tasks and time entries rehydrated."],
            ["Deletion was {date}, inside the 30d retention window."],
            ["Pls QA the restored project and flag any data gaps."]),
)
situation(
    "payout-explained", "eval", None,
    voice=(["The {amount} difference in your Stripe payout is Stripe's processing fee, not a missing payment.",
            "Your Stripe payout is {amount} short because Stripe takes its fee before paying out."],
           ["Every client payment for invoice {invoice} arrived in full."],
           ["To see fees and payments apart, turn on Show fees in Reports > Payments, and reply if the totals still don't match.",
            "Turn on Show fees under Reports > Payments to see both; if the totals still don't match, reply here."]),
    formal=(["Having reviewed your account, we can advise that the discrepancy of {amount} in your Stripe payout corresponds to processing fees deducted by Stripe."],
            ["We can confirm that payment for invoice {invoice} was received in full."],
            ["Fees may be displayed separately by enabling the Show fees option within the Payments report."]),
    curt=(["the {amount} gap is Stripe's fee."], ["{invoice} was paid in full."], ["Reports > Payments > Show fees."]),
    jargon=(["The {amount} delta on the payout is net-of-fees settlement on Stripe's side, not a recon issue."],
            ["{invoice} was captured in full."],
            ["Toggle Show fees in the Payments report to see gross vs net and ping us if it still doesn't reconcile."]),
)
situation(
    "user-unlocked", "eval", None,
    voice=(["{colleague} can sign in again: we've unlocked the account.",
            "We've unlocked {colleague}'s account, so they can sign in again."],
           ["It locks after five wrong passwords in a row, to keep your workspace safe."],
           ["Ask them to reset their password from the sign-in page, and reply if it locks again.",
            "They should reset their password from the sign-in page; reply if it happens again."]),
    formal=(["We can confirm that the account belonging to {colleague} has been unlocked and access has been restored."],
            ["Accounts are automatically locked following five consecutive unsuccessful login attempts as a security measure."],
            ["We would recommend that the user resets their password via the login page."]),
    curt=(["{colleague} unlocked."], ["locks after 5 bad passwords."], ["have them reset pw from login page."]),
    jargon=(["Cleared the lockout flag on {colleague}'s user record."],
            ["Brute-force protection trips at 5 failed auths."],
            ["Have them do a self-serve PW reset from the login screen and LMK if it re-locks."]),
)
situation(
    "dpa-signed", "eval", None,
    voice=(["Here's our data processing agreement, signed and attached to this email.",
            "We've signed the data processing agreement, and it's attached here."],
           ["It's the standard version, dated {date}."],
           ["Have it countersigned and send it back to this email, and we'll file it with your account.",
            "Countersign it and reply with the copy, and we'll keep it on your account."]),
    formal=(["Please find attached a copy of our Data Processing Agreement, duly executed on behalf of Northwind Cloud."],
            ["The agreement is our standard version and is dated {date}."],
            ["We would be grateful if you could arrange for countersignature and return the executed copy at your earliest convenience."]),
    curt=(["DPA attached, signed."], ["standard version, {date}."], ["countersign + send back."]),
    jargon=(["Attached is the executed DPA (std template)."],
            ["Effective date {date}."],
            ["Pls get it countersigned and bounce it back so we can attach to the account record."]),
)
situation(
    "calendar-delay", "eval", "Sorry for the late calendar updates.",
    voice=(["Changes in Google Calendar are reaching Northwind up to an hour late right now.",
            "Google Calendar changes are taking up to an hour to show in Northwind at the moment."],
           ["It's a known problem on our side, and a fix is due by {date}."],
           ["Until then, press Sync now in Settings > Integrations after a change, and reply if that doesn't help.",
            "In the meantime, use Sync now in Settings > Integrations; reply if it still lags."]),
    formal=(["Please be advised that we are currently experiencing delays of up to sixty minutes in the synchronisation of changes from Google Calendar."],
            ["This is a known issue, and a resolution is expected to be deployed by {date}."],
            ["In the interim, a manual synchronisation may be triggered via the Integrations section of Settings."]),
    curt=(["gcal sync lagging up to 1h."], ["known bug, fix by {date}."], ["use Sync now in Settings > Integrations."]),
    jargon=(["GCal webhook ingestion is backlogged, seeing up to 60 min lag."],
            ["Known issue, fix ETA {date}."],
            ["Workaround: force a manual sync from Integrations settings, ping us if still stale."]),
)

# ---- the frames around the content ----------------------------------------------------------------

GREETINGS = {
    "formal": ["Dear {first} {last},", "Dear Valued Customer,", "Good afternoon,", "Dear Sir or Madam,"],
    "curt": ["", "{first} -", "Hi,"],
    "jargon": ["Hi team,", "Hey {first},", "Hello,"],
    "apologetic": ["Hi {first}!!", "Dear {first},", "Hello {first},"],
}
OPENERS = {
    "formal": ["Thank you for contacting Northwind Cloud Support.", "We acknowledge receipt of your enquiry of {date2}.",
               "I trust this email finds you well.", ""],
    "curt": [""],
    "jargon": ["Following up on ticket NW-{ticket}.", "Quick update on NW-{ticket}.", ""],
    "apologetic": ["First of all, I am so very sorry for any inconvenience this may have caused you.",
                   "I sincerely apologise for the delay in getting back to you, and for all the trouble!",
                   "We are really, truly sorry about this."],
}
APOLOGY_TAIL = ["Once again, please accept our deepest apologies.", "Sorry again for all of this!!",
                "We really do apologise for the hassle."]
CLOSINGS = {
    "formal": ["Should you have any further questions, please do not hesitate to contact us.\n\nKind regards,\n{agent} {agent_last}\nCustomer Success Team, Northwind Cloud",
               "We thank you for your patience and understanding.\n\nYours sincerely,\nNorthwind Cloud Support ({agent})"],
    "curt": ["- {agent}", "{agent}", "thx\n{agent}"],
    "jargon": ["LMK if any blockers.\n\nBR,\n{agent} | Tier 2 Support | Northwind Cloud",
               "Cheers,\n{agent} (NW Support, L2)"],
    "apologetic": ["Please don't hesitate to reach out if there's ANYTHING else at all!\n\nWarmest regards,\n{agent}",
                   "Thank you so much for your patience!!\n\nBest wishes,\n{agent} {agent_last}"],
}


class Slots(dict):
    """The values one reply's templates are filled with."""


def slots(rng: random.Random) -> Slots:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    agent, agent_last = rng.choice(AGENTS)
    company = rng.choice(COMPANIES)
    plan, plan2 = rng.sample(PLANS, 2)
    if PLANS.index(plan) < PLANS.index(plan2):
        plan, plan2 = plan2, plan  # a downgrade goes down
    domain = re.sub(r"[^a-z]+", "", company.lower().split()[0]) + rng.choice([".com", ".co.uk", ".de", ".io"])
    colleague_first, colleague_last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return Slots(
        first=first, last=last, company=company, agent=agent, agent_last=agent_last,
        email=f"{first.lower().replace('á', 'a')}@{domain}" if rng.random() < 0.5 else f"accounts@{domain}",
        amount=f"{rng.choice(['$', '€', '£'])}{rng.choice([29, 49, 79, 99, 149, 240, 375, 612]) + rng.choice([0, 0.5, 0.99]):,.2f}",
        invoice=f"INV-{rng.randint(2024, 2025)}-{rng.randint(1, 9999):04d}",
        date=f"{rng.randint(1, 28)} {rng.choice(MONTHS)}", date2=f"{rng.randint(1, 28)} {rng.choice(MONTHS)}",
        days=str(rng.choice([3, 5, 7, 10, 14])), seats=str(rng.choice([2, 3, 5, 8, 10, 15])),
        plan=plan, plan2=plan2, hours=str(rng.randint(60, 480)), n=str(rng.randint(3, 140)),
        format=rng.choice(FORMATS), report=rng.choice(REPORTS), integration=rng.choice(INTEGRATIONS[:2]),
        feature=rng.choice(["recurring invoices per client", "a Gantt view for portfolios", "Outlook calendar sync",
                            "approval steps on expenses", "custom fields on time entries", "a mobile timer widget"]),
        project=rng.choice(["Website relaunch", "Q3 audit", "Harbour Street fit-out", "Client onboarding",
                            "Annual report", "Office move"]),
        colleague=f"{colleague_first} {colleague_last}", ticket=str(rng.randint(10000, 99999)),
    )


def _fill(template: str, s: Slots) -> str:
    return template.format_map(s)


@dataclass(frozen=True)
class Reply:
    situation: str
    register: str
    draft: str
    reference: str
    customer: str
    agent: str


def make_reply(rng: random.Random, sit: Situation, register: str) -> Reply:
    s = slots(rng)
    parts = getattr(sit, "formal" if register == "apologetic" else register)
    outcome, detail, step = (_fill(rng.choice(p), s) for p in parts)
    if register == "curt" and rng.random() < 0.5:
        detail = ""  # a curt draft often drops the detail; the voice keeps it only where the draft has it
    body = [x for x in (outcome, detail, step) if x]
    greeting = _fill(rng.choice(GREETINGS[register]), s)
    opener = _fill(rng.choice(OPENERS[register]), s)
    closing = _fill(rng.choice(CLOSINGS[register]), s)
    if register == "curt":
        text = " ".join(body)
        paragraphs = [greeting + " " + text if greeting else text, closing]
    else:
        if register == "apologetic":
            body.append(rng.choice(APOLOGY_TAIL))
        split = rng.randint(1, len(body))
        paragraphs = [greeting, opener, " ".join(body[:split]), " ".join(body[split:]), closing]
    draft = "\n\n".join(p for p in paragraphs if p.strip())

    v_outcome, v_detail, v_step = (_fill(rng.choice(p), s) for p in sit.voice)
    first_para = " ".join(x for x in (sit.sorry, v_outcome, v_detail if detail else "") if x)
    reference = f"Hi {s['first']},\n\n{first_para}\n\n{v_step}\n\n{s['agent']}, Northwind Support"
    customer = f"{s['first']} {s['last']}, {s['company']}"
    return Reply(sit.key, register, draft, reference, customer, s["agent"])


def prompt_text(r: Reply) -> str:
    return f"Customer: {r.customer}\nAgent: {r.agent}\n\nDraft:\n{r.draft}"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def generate(seed: int = SEED, n_train: int = N_TRAIN, n_eval: int = N_EVAL) -> tuple[list[Reply], list[Reply]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    splits = []
    for split, n in (("train", n_train), ("eval", n_eval)):
        pool = [s for s in SITUATIONS if s.split == split]
        # every situation and every register equally often, and each situation in every register
        k = len(REGISTERS)
        plan = [(pool[(i // k) % len(pool)], REGISTERS[i % k]) for i in range(n)]
        rng.shuffle(plan)
        replies = []
        for sit, register in plan:
            for _ in range(100):
                r = make_reply(rng, sit, register)
                if _norm(prompt_text(r)) not in seen:
                    seen.add(_norm(prompt_text(r)))
                    replies.append(r)
                    break
            else:  # pragma: no cover - would need a far smaller template set
                raise RuntimeError(f"could not make a unique {sit.key} reply")
        splits.append(replies)
    train, eval_ = splits
    assert not {r.situation for r in train} & {r.situation for r in eval_}
    return train, eval_


def to_jsonl(replies: list[Reply]) -> str:
    lines = []
    for r in replies:
        record = {"messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt_text(r)},
            {"role": "assistant", "content": r.reference},
        ]}
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def task_yaml(seed: int) -> str:
    return (
        f"# Written by scripts/make_voice_example.py (seed {seed}); edit the script, not this file.\n"
        "name: voice\n"
        f"description: {json.dumps(TASK_DESCRIPTION, ensure_ascii=False)}\n"
        "train: train.jsonl\n"
        "eval: eval.jsonl\n"
        "corpus: corpus\n"
        "metric: rouge-l\n"
        "answer_format: text\n"
        f"system_prompt: {json.dumps(SYSTEM_PROMPT)}\n"
        f"registers: [{', '.join(REGISTERS)}]\n"
    )


def stats_markdown(train: list[Reply], eval_: list[Reply]) -> str:
    """The tables pasted into the dataset card (README.md)."""
    out = ["| draft register | train | eval |", "|---|---:|---:|"]
    tr, ev = Counter(r.register for r in train), Counter(r.register for r in eval_)
    for reg in REGISTERS:
        out.append(f"| `{reg}` | {tr[reg]} | {ev[reg]} |")
    out.append(f"| **total** | {len(train)} | {len(eval_)} |")
    out += ["", "| situation | split | items |", "|---|---|---:|"]
    counts = Counter(r.situation for r in train + eval_)
    for sit in SITUATIONS:
        out.append(f"| `{sit.key}` | {sit.split} | {counts[sit.key]} |")
    words = sorted(len(r.reference.split()) for r in train + eval_)
    out += ["", f"Reference rewrites run from {words[0]} to {words[-1]} words "
                f"(median {words[len(words) // 2]})."]
    return "\n".join(out) + "\n"


def render(seed: int) -> tuple[dict[str, str], str]:
    """The files to write (name -> text) and the tables for the dataset card."""
    train, eval_ = generate(seed)
    files = {"train.jsonl": to_jsonl(train), "eval.jsonl": to_jsonl(eval_), "task.yaml": task_yaml(seed)}
    return files, stats_markdown(train, eval_)


def main(argv: list[str] | None = None) -> int:
    from example_cli import main as run

    return run(argv, description=__doc__.split("\n\n")[0], seed=SEED, out=DEFAULT_OUT,
               render=render, tables="tables")


if __name__ == "__main__":
    sys.exit(main())
