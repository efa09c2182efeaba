"""The edge client's Python API.

    from coe.edge import EdgeClient
    client = EdgeClient("http://127.0.0.1:8000", edge_tiers=1)   # refuses on a hash mismatch
    answer = client.classify(open("cat.jpg", "rb").read())
    answer.answered_at, answer.label, answer.bytes_up, answer.cloud_usd, answer.latency_ms

The implementation lives in serve_app.edge_client (below load_tests, which runs many).
"""

from serve_app.edge_client import (
    EdgeClient,
    EdgeMismatchError,
    EdgePrediction,
    EdgeRequestError,
)

__all__ = ["EdgeClient", "EdgeMismatchError", "EdgePrediction", "EdgeRequestError"]
