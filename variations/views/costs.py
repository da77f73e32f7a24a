"""The costs page: estimated WaveSpeed spending this month against the budget, totals per month and
person, and, for admins only, the account balance."""

from django.views.decorators.http import require_GET

from .. import costs, metrics
from ..team import allows
from .access import browse_required, render_page


@browse_required
@require_GET
def costs_page(request):
    context = {"nav": "costs", "budget": costs.budget_status(), "months": costs.totals_by_month()}
    if allows(request.user, "manage"):
        context.update(show_balance=True, balance=costs.account_balance())
        metrics.record_wavespeed_errors()
    return render_page(request, "variations/costs.html", context)
