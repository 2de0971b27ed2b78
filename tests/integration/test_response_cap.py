"""A response body longer than the worker keeps (HTTP_MAX_BODY, 64 KiB in
src/http.h) is not read to its end: the transfer stops at the cap and the
kept prefix is classified like any response (issue 11, item 6)."""

import json

from test_pipeline import provider_calls, run_one

# 1 TiB of spaces after the JSON: never read to its end within the
# harness's 5 s call timeout, so a worker that drained the body would time
# out and retry instead.
PAD = 1 << 40


def test_endless_body_is_cut_at_the_cap_and_classified(workdir, provider, mock_kafka):
    provider.add_fault(provider="convai", status=200, times=1, pad_bytes=PAD,
                       body='{"status": "SUCCESSFULLY DELETED"}')
    calls, s = run_one(workdir, provider, mock_kafka, "r-cap", "convai")
    v = calls[0].value
    assert v["status"] == "deleted" and v["attempts"] == 1, v
    assert "write" not in json.dumps(v).lower(), v
    assert s["status"] == "completed"
    assert [c["status"] for c in provider_calls(provider, "convai")] == [200]


def test_a_long_error_body_is_classified_from_its_prefix(workdir, provider, mock_kafka):
    # Avaamo's "200 but not success" rule needs the JSON: it must be read
    # from the kept prefix, not mistaken for a transport failure.
    provider.add_fault(provider="avaamo", status=200, pad_bytes=PAD,
                       body='{"success": false, "message": "Agent must be locked for edit"}')
    calls, s = run_one(workdir, provider, mock_kafka, "r-cap2", "avaamo")
    v = calls[0].value
    assert (v["status"], v["retryable"], v["http_status"], v["attempts"]) == (
        "failed", False, 200, 1), v
    assert "Agent must be locked for edit" in v["error"], v
    assert len(provider_calls(provider, "avaamo")) == 1
