"""Helpers that tests, scripts and benchmarks share (like haystack.testing), so none keeps its own copy:

- server.py: `ragship serve` as a real process on a free 127.0.0.1 port, waited on until /readyz answers, stopped
  cleanly (`with Server(env) as server: server.url`); ServerNotReady shows the tail of its log
- commands.py: the `ragship` command as a process (`cli`, `cli_json`; `cli_process` left running)
- home.py: a home's environment, settings, Engine and state store (read through the modules that own each table)
- faults.py: the fault matrix's lab (scripts/fault_matrix.py): a copy of a template home per fault, the damage,
  and what a row measures
- bench.py: the machine, commit and date a benchmark records, and the docs/benchmarks.md sections it writes
- openai_stub.py: a scripted OpenAI-compatible LLM endpoint (imported on its own: it needs uvicorn)
"""

from ragship.testing.commands import CommandFailed, cli, cli_json, cli_process, command
from ragship.testing.home import engine_for, env_for, improvement_run, query_log, settings_for
from ragship.testing.server import Server, ServerNotReady, free_port, wait_for_job, wait_for_run

__all__ = ["CommandFailed", "Server", "ServerNotReady", "cli", "cli_json", "cli_process", "command", "engine_for",
           "env_for", "free_port", "improvement_run", "query_log", "settings_for", "wait_for_job", "wait_for_run"]
