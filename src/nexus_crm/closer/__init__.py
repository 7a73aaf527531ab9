"""NGX_Closer upsell sequences: start, deliver (SMTP or signed webhook), convert, auto-upsell."""
