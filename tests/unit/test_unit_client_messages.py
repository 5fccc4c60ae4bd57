"""Server error messages reach errors and logs without student ids or the certificate."""

import pytest
import responses

from aeries_source import errors
from aeries_source.client import AeriesClient, RetryPolicy

BASE = "http://127.0.0.1:9/aeries"
CERT = "SYNTHETIC1234567CERT890123456789"  # digit runs: masked after the certificate


@responses.activate
def test_long_numbers_in_server_messages_are_masked():
    responses.get(f"{BASE}/api/v5/schools/101/students/10100042",
                  status=400, json={"Message": f"Invalid Student ID 10100042 for cert {CERT}"})
    client = AeriesClient(BASE, CERT, retry=RetryPolicy(max_attempts=1, backoff_factor=0, jitter=0))
    with pytest.raises(errors.AeriesRequestError) as info:
        client.student(101, 10100042)
    text = str(info.value)
    assert "10100042" not in text and CERT not in text and "SYNTHETIC" not in text
    assert "Invalid Student ID <number>" in text
    assert "school 101" in text  # the school code (3 digits) stays: it is not student data
