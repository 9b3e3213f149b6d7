import pytest

from ragship.errors import ConfigError
from ragship.settings import load_settings


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
