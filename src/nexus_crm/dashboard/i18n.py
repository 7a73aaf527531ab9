"""Dashboard strings in English and Spanish; the locale comes from a cookie or LOCALE."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

LOCALES: Final = ("en", "es")
LOCALE_COOKIE: Final = "nexus_locale"

_STRINGS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "live": ("Live", "En vivo"),
        "alerts": ("Alerts", "Alertas"),
        "business": ("Business", "Negocio"),
        "logout": ("Log out", "Cerrar sesión"),
        "login": ("Log in", "Iniciar sesión"),
        "email": ("Email", "Correo electrónico"),
        "password": ("Password", "Contraseña"),
        "login_failed": ("Wrong email or password.", "Correo o contraseña incorrectos."),
        "login_throttled": (
            "Too many failed attempts. Try again later.",
            "Demasiados intentos fallidos. Inténtalo más tarde.",
        ),
        "search": ("Customer ID…", "ID de cliente…"),
        "interactions": ("Interactions today", "Interacciones hoy"),
        "tokens": ("Tokens today", "Tokens hoy"),
        "active_users": ("Active users today", "Usuarios activos hoy"),
        "avg_response": ("Avg response time", "Tiempo de respuesta prom."),
        "vs_yesterday": ("vs yesterday", "vs ayer"),
        "no_change": ("no data yesterday", "sin datos ayer"),
        "agents": ("Agents", "Agentes"),
        "tiers": ("Users per tier", "Usuarios por plan"),
        "users": ("users", "usuarios"),
        "live_alerts": ("Live alerts", "Alertas en vivo"),
        "no_alerts": ("No open alerts.", "Sin alertas abiertas."),
        "activity": ("Recent activity", "Actividad reciente"),
        "no_activity": ("No activity yet.", "Sin actividad todavía."),
        "acknowledge": ("Acknowledge", "Reconocer"),
        "resolve": ("Resolve", "Resolver"),
        "dismiss": ("Dismiss", "Descartar"),
        "snooze": ("Snooze 24 h", "Posponer 24 h"),
        "acknowledged": ("acknowledged", "reconocida"),
        "active": ("active", "activa"),
        "resolved": ("resolved", "resuelta"),
        "dismissed": ("dismissed", "descartada"),
        "interactions_short": ("interactions", "interacciones"),
        "tokens_short": ("tokens", "tokens"),
        "response_short": ("avg response", "resp. prom."),
        "customer": ("Customer", "Cliente"),
        "usage_vs_limit": ("Usage vs limit (period)", "Uso vs límite (periodo)"),
        "daily_by_agent": ("Daily use by agent", "Uso diario por agente"),
        "churn": ("Churn probability", "Probabilidad de abandono"),
        "clv": ("Customer lifetime value", "Valor de vida del cliente"),
        "no_churn": ("Not scored (not active yet).", "Sin puntaje (aún no activo)."),
        "upsell": ("Start upsell sequence", "Iniciar secuencia de upsell"),
        "upsell_note": (
            "Three personalised emails (day 0, 3, 7); they stop when the customer upgrades.",
            "Tres correos personalizados (días 0, 3, 7); "
            "se detienen cuando el cliente sube de plan.",
        ),
        "recommended_tier": ("Recommended tier", "Plan recomendado"),
        "reason": ("Reason", "Motivo"),
        "upsell_started": ("Upsell sequence started", "Secuencia de upsell iniciada"),
        "upsell_existing": (
            "This customer already has an active sequence",
            "Este cliente ya tiene una secuencia activa",
        ),
        "upsell_top_tier": ("Already on the top tier.", "Ya está en el plan más alto."),
        "sequences": ("Upsell sequences", "Secuencias de upsell"),
        "no_sequences": ("No upsell sequence yet.", "Aún no hay secuencias de upsell."),
        "source": ("Source", "Origen"),
        "upgrade_alerts": ("Upgrade alerts", "Alertas de upgrade"),
        "upsell_sequences": ("Upsell sequences", "Secuencias de upsell"),
        "not_found": ("No customer with that ID.", "No hay cliente con ese ID."),
        "status": ("Status", "Estado"),
        "type": ("Type", "Tipo"),
        "all": ("All", "Todas"),
        "open": ("Open", "Abiertas"),
        "select_all": ("Select all", "Seleccionar todo"),
        "selected": ("selected", "seleccionadas"),
        "done": ("Done", "Hecho"),
        "forbidden": ("Your role cannot do that.", "Tu rol no puede hacer eso."),
        "period": ("Billing period", "Periodo de facturación"),
        "tier": ("Tier", "Plan"),
        "skipped": ("skipped", "omitidas"),
        "not_found_hint": (
            "Check the ID, or search again from the header.",
            "Revisa el ID o busca de nuevo desde la cabecera.",
        ),
        "back_live": ("Back to Live", "Volver a En vivo"),
        "tokens_used": ("Tokens", "Tokens"),
        "interactions_used": ("Interactions", "Interacciones"),
        "of_limit": ("of limit", "del límite"),
        "drivers": ("Top drivers", "Factores principales"),
        "lifetime": ("expected lifetime", "vida esperada"),
        "months": ("months", "meses"),
        "customer_alerts": ("Alerts of this customer", "Alertas de este cliente"),
        "no_customer_alerts": ("No alerts for this customer.", "Sin alertas para este cliente."),
        "filter_customer": ("Customer ID", "ID de cliente"),
        "read_only": (
            "Your role is read-only: alert actions are disabled.",
            "Tu rol es de solo lectura: las acciones sobre alertas están desactivadas.",
        ),
        "alerts_shown": ("alerts shown", "alertas mostradas"),
        "loading": ("Computing business metrics…", "Calculando métricas de negocio…"),
        "refresh": ("Refresh", "Actualizar"),
        "as_of": ("as of", "al"),
        "conversion": ("Conversion per tier", "Conversión por plan"),
        "started": ("Started", "Iniciadas"),
        "converted": ("Converted", "Convertidas"),
        "pending": ("Pending", "Pendientes"),
        "rate": ("Rate", "Tasa"),
        "no_attempts": (
            "No upgrade attempts in the window.",
            "Sin intentos de upgrade en el periodo.",
        ),
        "revenue": ("Revenue opportunity", "Oportunidad de ingresos"),
        "revenue_delta": ("Monthly revenue delta", "Delta de ingreso mensual"),
        "expected_revenue": ("Expected (× conversion)", "Esperado (× conversión)"),
        "opportunities": ("Opportunities", "Oportunidades"),
        "agent_performance": ("Agent performance", "Desempeño por agente"),
        "agent": ("Agent", "Agente"),
        "share": ("Share", "Participación"),
        "p95": ("p95 response", "Respuesta p95"),
        "top_clv": ("Top customers by CLV", "Clientes principales por CLV"),
        "total_clv": ("Total CLV", "CLV total"),
        "churn_distribution": (
            "Churn probability distribution",
            "Distribución de prob. de abandono",
        ),
        "customers": ("customers", "clientes"),
        "active_per_tier": ("Active users per tier", "Usuarios activos por plan"),
        "last_7": ("Last 7 days", "Últimos 7 días"),
        "last_30": ("Last 30 days", "Últimos 30 días"),
        "forecasts": ("Forecast: daily interactions", "Pronóstico: interacciones diarias"),
        "forecast_mean": ("Forecast", "Pronóstico"),
        "no_forecast": (
            "Not enough history to forecast.",
            "Sin historia suficiente para pronosticar.",
        ),
        "next_7": ("next 7 days", "próximos 7 días"),
        "next_30": ("next 30 days", "próximos 30 días"),
        "method": ("method", "método"),
        "probability": ("Probability", "Probabilidad"),
        "failed": ("Could not compute the metrics", "No se pudieron calcular las métricas"),
        "mailbox": ("Mailbox", "Buzón"),
        "mailbox_title": ("Demo mailbox", "Buzón de la demo"),
        "mailbox_note": (
            "Every email NGX_Closer sends in this demo lands here, in the demo's own SMTP server "
            "({server}): this is what the customer would read. Nothing leaves this machine.",
            "Cada correo que NGX_Closer envía en esta demo llega aquí, al servidor SMTP propio de "
            "la demo ({server}): es lo que leería el cliente. Nada sale de esta máquina.",
        ),
        "mailbox_empty": (
            "No email yet. Start an upsell sequence from a customer's page: its first email "
            "arrives here within {seconds} s.",
            "Aún no hay correos. Inicia una secuencia de upsell desde la página de un cliente: "
            "su primer correo llega aquí en menos de {seconds} s.",
        ),
        "mailbox_off": (
            "The demo mailbox runs only with nexus-crm demo (make demo); this server sends its "
            "emails through SMTP_HOST.",
            "El buzón de la demo solo funciona con nexus-crm demo (make demo); este servidor envía "
            "sus correos por SMTP_HOST.",
        ),
        "emails_received": ("emails received", "correos recibidos"),
        "received": ("Received", "Recibido"),
        "to": ("To", "Para"),
        "subject": ("Subject", "Asunto"),
        "from": ("From", "De"),
    }
)


def translate(key: str, locale: str) -> str:
    """The string ``key`` in ``locale`` (English when the locale is unknown)."""
    english, spanish = _STRINGS[key]
    return spanish if locale == "es" else english


def pick_locale(cookie: str | None, default: str) -> str:
    """The cookie's locale when it is a known one, else the configured default."""
    return cookie if cookie in LOCALES else default
