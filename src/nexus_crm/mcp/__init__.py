"""NGX_Closer.Agent: the MCP server over the NexusCRM REST API."""
