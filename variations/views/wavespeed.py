"""The admin's WaveSpeed page: `manage.py wavespeed_check` in the browser, for staff only. A GET runs the
checks that cost nothing; the form's POST also runs the one small test job (`--run`)."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from ..connection import report_wavespeed_errors
from ..wavespeed_check import Check

PAGE_RUN_SECONDS = 20  # a web request (and gunicorn's 30 s timeout) cannot wait as long as the command


@staff_member_required
@require_http_methods(["GET", "POST"])
def wavespeed_page(request):
    check = Check(run_timeout=PAGE_RUN_SECONDS).run(end_to_end=request.method == "POST")
    report_wavespeed_errors()
    context = {**admin.site.each_context(request), "title": "WaveSpeed", "check": check, "ran": request.method == "POST"}
    return render(request, "admin/wavespeed.html", context)
