"""The costs page: estimated WaveSpeed spending this month against the budget, totals per month and
person, and, for admins only, the account balance (with a warning below FLUXSITE_LOW_BALANCE_USD)."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from team.access import browse_required
from team.models import allows

from .. import costs
from ..connection import report_wavespeed_errors


@browse_required
@require_GET
def costs_page(request):
    context = {"nav": "costs", "budget": costs.budget_status(), "months": costs.totals_by_month()}
    if allows(request.user, "manage"):
        balance = costs.account_balance()
        low = balance is not None and balance < settings.FLUXSITE_LOW_BALANCE_USD
        context.update(show_balance=True, balance=balance, low_balance=low)
        report_wavespeed_errors()
    return render(request, "variations/costs.html", context)
