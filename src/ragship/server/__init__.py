"""The HTTP face: FastAPI routes over the Engine, and the local web page.

App wiring, errors and the web UI (app.py, static/); what every route depends on: the Service, the caller, its role
and what it may see (deps.py); the routes by resource: health and metrics (health.py), the caller's key (keys.py),
search, ask and feedback (query.py), documents and upload jobs (documents.py), conversations (conversations.py),
OpenAI-compatible chat (chat.py), operations (operations.py), learning (learning.py); the one logged path of every
search and answer (logged.py); MCP tools (mcp_tools.py); rate and body limits (limits.py); runbook pages
(runbooks.py); Ray Serve replicas (ray_serve.py). The upload job queue the server processes work on is
ingest/jobs.py."""
