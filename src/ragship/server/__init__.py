"""The HTTP face: FastAPI routes over the Engine, and the local web page."""
