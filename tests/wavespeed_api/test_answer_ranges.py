"""Every number read from WaveSpeed is range-checked: 1e400 in JSON reads as infinity, which no int
holds (int(inf) raises OverflowError), and a timing of a week or of -5 ms measures nothing."""

import pytest
import responses

from wavespeed_api import MalformedResponse, NotFound, Prediction, WaveSpeedClient

BASE = "https://api.wavespeed.test"


def raw_prediction(inference):
    return {"id": "p1", "status": "completed", "outputs": [], "timings": {"inference": inference}}


@pytest.mark.parametrize("inference", [float("inf"), float("-inf"), float("nan"), -5, 8 * 24 * 3600 * 1000, 1e400])
def test_a_timing_out_of_range_is_left_out_not_a_crash(inference):
    assert Prediction.from_data(raw_prediction(inference)).inference_ms is None


@pytest.mark.parametrize("inference, expected", [(2345, 2345), (2345.7, 2345), ("2345", 2345), (0, 0), (None, None)])
def test_a_timing_in_range_is_read_in_whole_milliseconds(inference, expected):
    assert Prediction.from_data(raw_prediction(inference)).inference_ms == expected


@pytest.mark.parametrize("inference", [True, "fast", [1], {"ms": 1}])
def test_a_timing_that_is_no_number_is_a_malformed_answer(inference):
    with pytest.raises(MalformedResponse):
        Prediction.from_data(raw_prediction(inference))


@pytest.fixture
def unretrying_client():
    return WaveSpeedClient(api_key="k", base_url=BASE, retry_backoff=0, retries=0)


@responses.activate
@pytest.mark.parametrize("balance", ["1e400", "-1e400", "NaN"])
def test_a_balance_that_is_no_finite_number_is_malformed(unretrying_client, balance):
    responses.get(f"{BASE}/api/v3/balance", body=f'{{"code": 200, "data": {{"balance": {balance}}}}}', content_type="application/json")

    with pytest.raises(MalformedResponse):
        unretrying_client.balance()


@responses.activate
@pytest.mark.parametrize("count", ["1e400", "-1", "7"])
def test_a_deleted_count_out_of_range_is_malformed(unretrying_client, count):
    responses.post(f"{BASE}/api/v3/predictions/delete", body=f'{{"code": 200, "data": {{"deleted_count": {count}}}}}', content_type="application/json")

    with pytest.raises(MalformedResponse):
        unretrying_client.delete_prediction("p1")


@responses.activate
def test_a_deleted_count_of_zero_still_means_nothing_was_deleted(unretrying_client):
    responses.post(f"{BASE}/api/v3/predictions/delete", json={"code": 200, "data": {"deleted_count": 0}})

    with pytest.raises(NotFound):
        unretrying_client.delete_prediction("p1")
