"""The load-test tool's pieces (the full run is manual: python -m RMBG.server.loadtest, see docs/serving.md)."""

from __future__ import annotations

from server_helpers import AUTH, decode
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)

from RMBG.server.loadtest import PNG_SIGNATURE, LoadReport, free_port, multipart_body, scaled_image


def test_its_multipart_body_is_accepted_by_the_server(client, small_photo):
    body, content_type = multipart_body({"size": "full", "format": "png"}, small_photo, "p.png")
    response = client.post("/api/removebg", headers={**AUTH, "Content-Type": content_type}, content=body)
    assert response.status_code == 200, response.text
    assert response.content.startswith(PNG_SIGNATURE) and decode(response.content).size == (240, 177)


def test_report_text_and_free_port():
    report = LoadReport(requests=10, concurrency=2, image="a.png", size="full", wall_s=5.0, errors=1,
                        statuses={"200": 9, "429": 1}, p50_s=0.5, p95_s=0.9, p99_s=1.0, max_s=1.1, throughput_rps=2.0,
                        rss_start_mib=900, rss_peak_mib=950, rss_end_mib=910, rss_samples=20, error_examples=["429: busy"],
                        rss_ready_mib=880)
    text = report.text()
    assert "p50 0.500 s" in text and "errors        1" in text
    assert "ready 880 MiB, start 900 MiB (after 2 warm-up requests), peak 950 MiB, end 910 MiB" in text
    assert 1024 <= free_port() <= 65535


def test_scaled_image_reaches_the_asked_megapixels(horse_path, tmp_path):
    from PIL import Image

    path = scaled_image(horse_path, 2.0, tmp_path)
    with Image.open(path) as image:
        assert image.format == "JPEG" and abs(image.width * image.height / 1e6 - 2.0) < 0.01
        assert abs(image.width / image.height - 800 / 590) < 0.01
