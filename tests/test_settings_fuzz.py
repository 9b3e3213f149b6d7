"""Property-based test (Hypothesis) of the settings loader: any ragship.toml — broken TOML, wrong types, unknown
keys, TOML generated from arbitrary tables — loads or fails with a ConfigError naming the file or the field,
never with another exception (a traceback at the CLI)."""

import os
import tempfile
from pathlib import Path

import tomlkit
from hypothesis import strategies as st
from hypothesis_profiles import both_sizes

from ragship.errors import ConfigError
from ragship.settings import load_settings

SECTIONS = ["embed", "chunk", "search", "answer", "server", "ingest", "release", "monitor", "rerank", "bogus"]
KEYS = ["model", "size", "overlap", "mode", "top_k", "rrf_k", "max_file_mb", "generator", "qa_model", "golden",
        "auto_promote", "window_s", "query_text", "min_free_mb", "path", "x"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
VALUE = st.recursive(SCALARS.filter(lambda v: v is not None),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                                   max_size=3), max_leaves=6)
TABLES = st.dictionaries(st.sampled_from(SECTIONS), st.dictionaries(st.sampled_from(KEYS), VALUE, max_size=4),
                         max_size=4)
RAW = st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                st.sampled_from(["[embed\n", "[search]\ntop_k = \n", "x = 1\nx = 2\n", "[[sources]]\npath = 3\n",
                                 "\ufeff[chunk]\nsize = 'big'\n"]))
FOLDER = Path(tempfile.mkdtemp(prefix="ragship-settings-fuzz-"))


def settings_load_or_say_what_is_wrong(content):
    """Raw text, or TOML written from generated tables."""
    path = FOLDER / "ragship.toml"
    path.write_text(content if isinstance(content, str) else tomlkit.dumps(content), encoding="utf-8",
                    errors="surrogatepass")
    before = os.environ.get("RAGSHIP_CONFIG")
    os.environ["RAGSHIP_CONFIG"] = str(path)
    try:
        load_settings(home=FOLDER / "home")
    except ConfigError as e:
        assert "ragship.toml" in str(e) or "invalid settings" in str(e), e
    finally:
        os.environ.pop("RAGSHIP_CONFIG") if before is None else os.environ.__setitem__("RAGSHIP_CONFIG", before)


test_settings_load_or_explain, test_settings_load_or_explain_long = both_sizes(
    settings_load_or_say_what_is_wrong, content=st.one_of(RAW, TABLES))
