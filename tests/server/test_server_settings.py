"""Settings: defaults, YAML config, RMBG_API_KEYS, command-line overrides, validation; the serve command."""

from __future__ import annotations

import argparse

import pytest

from RMBG.server.settings import ServerSettings, load_settings, parse_api_keys, settings_from_mapping


def test_defaults_are_safe():
    settings = ServerSettings()
    assert settings.host == "127.0.0.1" and settings.port == 7860
    assert settings.allow_url_fetch is False
    assert settings.api_keys == ()
    assert settings.model_default == "u2netp"


def test_config_environment_and_overrides_combine(tmp_path):
    config = tmp_path / "server.yaml"
    config.write_text("port: 9000\napi_keys: [from-file-key-123456]\nmax_pixels: 1000000\nallow_url_fetch: true\nmodels: [u2netp]\n")
    settings = load_settings(config, environ={"RMBG_API_KEYS": " env-key-1234567890 , second-env-key-0987 ,"},
                             overrides={"port": 9100, "host": None, "api_keys": ["cli-key-abcdefghij"]})
    assert settings.port == 9100 and settings.host == "127.0.0.1"
    assert settings.max_pixels == 1_000_000 and settings.allow_url_fetch is True
    assert settings.api_keys == ("from-file-key-123456", "env-key-1234567890", "second-env-key-0987", "cli-key-abcdefghij")


def test_unknown_setting_and_wrong_types_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['max_upload'\].*max_upload_bytes"):
        settings_from_mapping({"max_upload": 5})
    with pytest.raises(ValueError, match="workers must be an integer"):
        settings_from_mapping({"workers": "two"})
    with pytest.raises(ValueError, match="allow_url_fetch must be true or false"):
        settings_from_mapping({"allow_url_fetch": "sometimes"})
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_settings(bad, environ={})
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_settings(tmp_path / "absent.yaml", environ={})


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"port": 0}, "port"), ({"port": 70000}, "port"), ({"workers": 0}, "workers"), ({"queue_size": -1}, "queue_size"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"), ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"models": ()}, "models"), ({"default_model": "u2net"}, "default_model"), ({"default_size": "giant"}, "default_size"),
        ({"api_keys": ("with,comma",)}, "api_keys"), ({"api_keys": (" padded",)}, "api_keys"),
    ],
)
def test_invalid_values_name_the_setting(changes, words):
    with pytest.raises(ValueError, match=words):
        ServerSettings(**changes)


def test_parse_api_keys():
    assert parse_api_keys("a, b,,c ") == ("a", "b", "c")
    assert parse_api_keys("") == ()


def test_serve_is_registered_and_reports_bad_configs(tmp_path, capsys):
    from RMBG.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["serve", "--port", "7999", "--api-key", "k1-aaaaaaaaaaaa", "--api-key", "k2-bbbbbbbbbbbb"])
    assert args.command == "serve" and args.port == 7999 and args.api_keys == ["k1-aaaaaaaaaaaa", "k2-bbbbbbbbbbbb"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("colour: red\n")
    code = args.func(argparse.Namespace(**{**vars(args), "config": bad}))
    assert code == 2
    assert "unknown setting" in capsys.readouterr().err
