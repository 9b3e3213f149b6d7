"""The HTTP face: FastAPI routes over the Engine, and the local web page.

App wiring, errors and the web UI (app.py, static/); the /v1 routes (routes.py), operations (operations.py) and
learning (learning.py); OpenAI-compatible chat (chat.py); MCP tools (mcp_tools.py); upload jobs (jobs.py);
rate and body limits (limits.py); runbook pages (runbooks.py); Ray Serve replicas (ray_serve.py)."""
