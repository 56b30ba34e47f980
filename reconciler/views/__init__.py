"""Views: how each command's results are shown, one module per command, each with a
human rendering (Terraform-style text) and a JSON one. Views write and decide
nothing; they import no operation (only the result values operations return).
"""

from reconciler.views.apply import ApplyHuman, ApplyJson, ApplyView
from reconciler.views.base import Streams, View, is_terminal
from reconciler.views.plan import PlanHuman, PlanJson, PlanView
from reconciler.views.quota import QuotaHuman, QuotaJson, QuotaView
from reconciler.views.state import StateHuman
from reconciler.views.validate import ValidateHuman, ValidateJson, ValidateView

__all__ = [
    "ApplyHuman",
    "ApplyJson",
    "ApplyView",
    "PlanHuman",
    "PlanJson",
    "PlanView",
    "QuotaHuman",
    "QuotaJson",
    "QuotaView",
    "StateHuman",
    "Streams",
    "ValidateHuman",
    "ValidateJson",
    "ValidateView",
    "View",
    "is_terminal",
]
