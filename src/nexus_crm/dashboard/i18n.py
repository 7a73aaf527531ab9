"""Dashboard strings in English and Spanish; the locale comes from a cookie or LOCALE."""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("en", "es")
LOCALE_COOKIE: Final = "nexus_locale"

_STRINGS: Final[dict[str, tuple[str, str]]] = {
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
        "Upsell sequences arrive with the MCP server / NGX_Closer issue.",
        "Las secuencias de upsell llegan con el issue del servidor MCP / NGX_Closer.",
    ),
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
    "no_attempts": ("No upgrade attempts in the window.", "Sin intentos de upgrade en el periodo."),
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
    "churn_distribution": ("Churn probability distribution", "Distribución de prob. de abandono"),
    "customers": ("customers", "clientes"),
    "active_per_tier": ("Active users per tier", "Usuarios activos por plan"),
    "last_7": ("Last 7 days", "Últimos 7 días"),
    "last_30": ("Last 30 days", "Últimos 30 días"),
    "forecasts": ("Forecast: daily interactions", "Pronóstico: interacciones diarias"),
    "forecast_mean": ("Forecast", "Pronóstico"),
    "no_forecast": ("Not enough history to forecast.", "Sin historia suficiente para pronosticar."),
    "next_7": ("next 7 days", "próximos 7 días"),
    "next_30": ("next 30 days", "próximos 30 días"),
    "method": ("method", "método"),
    "probability": ("Probability", "Probabilidad"),
    "failed": ("Could not compute the metrics", "No se pudieron calcular las métricas"),
}


def translate(key: str, locale: str) -> str:
    """The string ``key`` in ``locale`` (English when the locale is unknown)."""
    english, spanish = _STRINGS[key]
    return spanish if locale == "es" else english


def pick_locale(cookie: str | None, default: str) -> str:
    """The cookie's locale when it is a known one, else the configured default."""
    return cookie if cookie in LOCALES else default
