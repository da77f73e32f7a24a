"""Spending is a ledger (issue 13, problem 8): what was charged stays charged, whatever is deleted; a refund
is its own entry; amounts keep WaveSpeed's precision on every page and message."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from tests.factories import make_job
from variations import costs, ledger
from variations.models import ErrorCode, LedgerEntry, Status, Variation

pytestmark = pytest.mark.django_db


def accepted(job, usd, prediction_id="p1", **fields):
    """`job` as WaveSpeed took it, at `usd`."""
    Variation.objects.filter(pk=job.pk).update(prediction_id=f"{prediction_id}-{job.pk.hex[:6]}", cost_usd=Decimal(usd), **fields)
    job.refresh_from_db()
    return job


def test_deleting_a_job_through_the_api_never_lowers_the_months_spending(api, source, member):
    kept = accepted(make_job(source, member, Status.COMPLETED), "0.625")
    gone = accepted(make_job(source, member, Status.COMPLETED), "0.025")
    assert costs.spent_this_month() == Decimal("0.65")

    assert api.delete(f"/api/v1/variations/{gone.pk}").status_code in (200, 204)

    assert not Variation.objects.filter(pk=gone.pk).exists()
    assert costs.spent_this_month() == Decimal("0.65")
    assert kept.ledger_entries.count() == 1


def test_a_job_deleted_before_spending_was_ever_read_still_counts(api, source, member):
    gone = accepted(make_job(source, member, Status.COMPLETED), "0.025")

    assert api.delete(f"/api/v1/variations/{gone.pk}").status_code in (200, 204)

    assert costs.spent_this_month() == Decimal("0.025")
    entry = LedgerEntry.objects.get()
    assert (entry.job, entry.owner_name, entry.kind) == (None, member.username, LedgerEntry.Kind.CHARGE)


def test_archive_delete_keeps_the_months_spending(source, member, tmp_path):
    for usd in ("0.10", "0.30"):
        accepted(make_job(source, member, Status.COMPLETED), usd)

    call_command("archive", "--all", "--delete")

    assert not Variation.objects.exists()
    assert costs.spent_this_month() == Decimal("0.40")
    assert costs.totals_by_month()[0]["usd"] == Decimal("0.40")


def test_a_refund_is_an_entry_of_its_own(source, member):
    job = accepted(make_job(source, member, Status.PROCESSING), "0.05")
    ledger.charge(job)
    Variation.objects.filter(pk=job.pk).update(status=Status.FAILED, error_code="1403")

    assert costs.spent_this_month() == Decimal(0)
    entries = sorted(LedgerEntry.objects.values_list("kind", "amount_usd"))
    assert entries == [("charge", Decimal("0.05")), ("refund", Decimal("-0.05"))]
    ledger.refund(job, job.prediction_id)  # a webhook and a poll both saw it: once is enough
    assert LedgerEntry.objects.count() == 2


def test_a_submit_that_may_have_reached_wavespeed_is_charged(source, member):
    job = make_job(source, member, Status.FAILED)
    Variation.objects.filter(pk=job.pk).update(cost_usd=Decimal("0.025"), error_code=ErrorCode.SUBMIT_AMBIGUOUS)

    assert costs.spent_this_month() == Decimal("0.025")


@pytest.mark.parametrize(
    "amount,shown",
    [(Decimal("0.025"), "$0.025"), (Decimal("0.4"), "$0.40"), (Decimal("0.0375"), "$0.0375"), (Decimal("12"), "$12.00"),
     (Decimal("0.630000"), "$0.63"), (None, "unknown")],
)
def test_amounts_show_cents_and_fractions_of_a_cent(amount, shown):
    assert ledger.format_usd(amount) == shown


def test_the_costs_page_keeps_fractions_of_a_cent(settings, signed_in, source, member):
    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("0.05")
    accepted(make_job(source, member, Status.COMPLETED), "0.025")

    page = signed_in.get("/costs/").content.decode()

    assert page.count("$0.025") >= 3  # spent, the person's row, the month's total
    assert "of a $0.05 monthly budget; $0.025 left" in page
    assert "0.03" not in page and "$0.02<" not in page


def test_admins_are_warned_of_a_low_balance(settings, client, simulator, admin):
    settings.WAVESPEED_BASE_URL = simulator.base_url
    settings.FLUXSITE_LOW_BALANCE_USD = Decimal("5")
    client.force_login(admin)

    simulator.config.balance = 4.5
    assert "The balance is low." in client.get("/costs/").content.decode()

    costs.cache.delete("wavespeed-balance")
    simulator.config.balance = 50.0
    assert "The balance is low." not in client.get("/costs/").content.decode()


def test_staff_read_the_ledger_in_the_admin_but_cannot_change_it(client, source, member, django_user_model):
    accepted(make_job(source, member, Status.COMPLETED), "0.025")
    costs.spent_this_month()
    entry = LedgerEntry.objects.get()
    boss = django_user_model.objects.create_superuser("boss", "", "pw-boss-12345")
    client.force_login(boss)

    listing = client.get("/admin/variations/ledgerentry/")
    assert listing.status_code == 200 and "0.025" in listing.content.decode()
    assert client.post(f"/admin/variations/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
