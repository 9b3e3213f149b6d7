import tomllib

import pytest

from ragship.errors import ConfigError
from ragship.settings import Settings, load_settings, write_settings


def test_defaults():
    s = load_settings()
    assert (s.embed.model, s.chunk.tokens, s.chunk.overlap, s.search.mode) == ("all-MiniLM-L6-v2", 200, 32, "hybrid")


def test_toml_then_environment_then_arguments(tmp_path, monkeypatch):
    config = tmp_path / "ragship.toml"
    config.write_text('[search]\nrrf_k = 30\nmode = "bm25"\n[chunk]\ntokens = 128\n')
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    assert load_settings().search.rrf_k == 30
    monkeypatch.setenv("RAGSHIP_SEARCH__RRF_K", "10")
    s = load_settings()
    assert (s.search.rrf_k, s.search.mode, s.chunk.tokens) == (10, "bm25", 128)
    assert load_settings(home=tmp_path / "x").home == tmp_path / "x"


@pytest.mark.parametrize("env, field", [
    ({"RAGSHIP_SEARCH__MODE": "fuzzy"}, "search.mode"),
    ({"RAGSHIP_CHUNK__TOKENS": "0"}, "chunk.tokens"),
    ({"RAGSHIP_CHUNK__TOKENS": "64", "RAGSHIP_CHUNK__OVERLAP": "64"}, "chunk.overlap must be smaller"),
    ({"RAGSHIP_ANSWER__ABSTAIN_THRESHOLD": "1.5"}, "answer.abstain_threshold"),
])
def test_invalid_values_name_the_field(monkeypatch, env, field):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings()


def test_unknown_keys_are_rejected(tmp_path, monkeypatch):
    config = tmp_path / "ragship.toml"
    config.write_text("[search]\nrrf = 30\n")
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    with pytest.raises(ConfigError, match="search.rrf"):
        load_settings()


def test_write_keeps_the_rest_of_the_file(tmp_path):
    config = tmp_path / "ragship.toml"
    config.write_text('# mine\n[embed]\nbatch_size = 16\n\n[search]\nrrf_k = 60\ntop_k = 5\n\n'
                      '[answer]\nmax_sentences = 2\n')
    write_settings(config, "search", {"mode": "hybrid", "fusion": "convex", "rrf_k": 20, "dense_weight": 1.5})
    data = tomllib.loads(config.read_text())
    assert data["search"] == {"mode": "hybrid", "fusion": "convex", "rrf_k": 20, "dense_weight": 1.5, "top_k": 5}
    assert data["embed"] == {"batch_size": 16} and data["answer"] == {"max_sentences": 2}
    assert config.read_text().startswith("# mine\n")
    fresh = tmp_path / "new.toml"
    write_settings(fresh, "search", {"mode": "bm25"})
    assert tomllib.loads(fresh.read_text()) == {"search": {"mode": "bm25"}}


def test_write_keeps_comments_subtables_and_writes_valid_toml(tmp_path):
    """The old line editor wrote a dict as Python and ended [answer] at its [answer.llm] subtable."""
    config = tmp_path / "ragship.toml"
    config.write_text('[answer]\n# how many\nmax_sentences = 2  # short\n\n[answer.llm]\nmodel = "m"\n\n'
                      '[search]\ntop_k = 5\n')
    write_settings(config, "answer", {"fallback": "warn", "allowed_link_hosts": ["example.org"]})
    write_settings(config, "chunk", {"tokens": 128, "overlap": 16})
    text = config.read_text()
    data = tomllib.loads(text)
    assert data["answer"] == {"max_sentences": 2, "fallback": "warn", "allowed_link_hosts": ["example.org"],
                              "llm": {"model": "m"}}
    assert data["search"] == {"top_k": 5} and data["chunk"] == {"tokens": 128, "overlap": 16}
    assert "# how many" in text and "# short" in text
    load_settings()  # the file is still valid settings


def test_a_broken_toml_file_is_a_config_error_naming_it(tmp_path, monkeypatch):
    """Found by tests/test_settings_fuzz.py: TOML syntax errors escaped as a raw TOMLDecodeError traceback."""
    config = tmp_path / "ragship.toml"
    config.write_text("[search\ntop_k = 5\n")
    monkeypatch.setenv("RAGSHIP_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"ragship.toml is not valid TOML \(Expected '\]'"):
        load_settings(home=tmp_path / "home")


def test_every_setting_is_described_in_the_schema():
    """Issue 32: half the fields were documented in `#` comments, which reach neither the JSON schema nor the
    docs. Every field of every section (nested and list items too) carries a description."""
    schema = Settings.model_json_schema()
    undescribed = [f"{name}.{field}" for name, model in [("Settings", schema), *schema["$defs"].items()]
                   for field, spec in model.get("properties", {}).items() if not spec.get("description")]
    assert undescribed == [] and len(schema["$defs"]) >= 15


def test_the_qa_model_keeps_loading_under_its_old_name(tmp_path):
    """Issue 32: the QA model was `answer.reader`, the permission role's word; the old keys still load, and
    `adapt --qa-model` writing the new key drops the old one (two names for one key would be refused)."""
    old = load_settings(answer={"reader": "models/qa", "reader_passages": 4, "reader_quotes": True}).answer
    assert (old.qa_model, old.qa_passages, old.qa_quotes) == ("models/qa", 4, True)
    path = tmp_path / "ragship.toml"
    path.write_text('[answer]\nreader = "models/old"  # trained in May\n')
    write_settings(path, "answer", {"qa_model": "models/new"}, drop=("reader",))
    assert tomllib.loads(path.read_text())["answer"] == {"qa_model": "models/new"}
