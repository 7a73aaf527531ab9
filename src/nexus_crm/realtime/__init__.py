"""Real-time: the event bus (in process, PostgreSQL LISTEN/NOTIFY, Redis) and the WebSocket."""
