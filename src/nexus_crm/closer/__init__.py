"""NGX_Closer upsell sequences: start, deliver (SMTP or signed webhook), convert, auto-upsell."""

from __future__ import annotations

from nexus_crm.closer.mailbox import (
    HOST,
    PAGE_PATH,
    DemoMailbox,
    Received,
    install_mailbox,
    installed_mailbox,
)
from nexus_crm.closer.service import wire_closer
from nexus_crm.closer.wiring import auto_upsell_hook
from nexus_crm.closer.worker import deliver_due, run_worker

__all__ = (
    "HOST",
    "PAGE_PATH",
    "DemoMailbox",
    "Received",
    "auto_upsell_hook",
    "deliver_due",
    "install_mailbox",
    "installed_mailbox",
    "run_worker",
    "wire_closer",
)
