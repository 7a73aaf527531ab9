"""Security: webhook signatures (Standard Webhooks) and API keys with scopes."""
