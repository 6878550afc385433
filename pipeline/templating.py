"""The Jinja2 environment every sink renders with: the project's own templates first, then the shipped ones."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Project
from pipeline.models import PriceTier
from pipeline.plugins import call_each_plugin
from pipeline.site import direction

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}

if TYPE_CHECKING:
    import jinja2


def build_environment(project: Project) -> tuple[jinja2.Environment, dict[str, Exception]]:
    """The environment, and the exceptions raised by plugins' `prepare_jinja_environment`, by plugin."""
    import jinja2  # here: `money` is wanted by runs that render nothing (a feed left unchanged)

    folders = [project.root / "templates", SHIPPED_TEMPLATES]
    loader = jinja2.FileSystemLoader([str(f) for f in dict.fromkeys(folders) if f.is_dir()])
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html", "mjml", "xml"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tz = project.tz
    env.filters["money"] = money
    env.filters["when"] = lambda moment, fmt="%A %-d %B %Y, %H:%M": _local(moment, tz).strftime(fmt)
    env.filters["day"] = lambda value, fmt="%-d %B %Y": _local(value, tz).strftime(fmt)
    env.globals["project"] = project.core
    env.filters["direction"] = direction  # a language tag's `dir`: "rtl" for "ar", "he"...; else "ltr"
    failures = call_each_plugin(project.host.pm, "prepare_jinja_environment",
                                lambda plugin: {"env": env, "project": project})
    return env, failures


def money(value: PriceTier | Decimal | int | float | str, currency: str = "GBP") -> str:
    """£125, £112.50: whole amounts without pence."""
    if isinstance(value, PriceTier):
        value, currency = value.amount, value.currency
    value = Decimal(str(value))
    amount = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def _local(value: date | datetime, tz):
    if isinstance(value, datetime):
        return value.astimezone(tz)
    return value
