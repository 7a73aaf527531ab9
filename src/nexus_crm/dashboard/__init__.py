"""The live dashboard: NiceGUI pages on the API's FastAPI app (docs/dashboard.md)."""
