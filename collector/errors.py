"""Every error the collector answers a client with, and the HTTP status it maps to.

    CollectorError                   base; carries `status`, a machine `code` and a message
    ├── BadRequest (ValueError)      400: the body is not what the endpoint accepts
    │   ├── InvalidJSON              400: not parseable JSON
    │   ├── InvalidShape             400: valid JSON of the wrong shape
    │   └── InvalidEncoding          400: not valid data in its Content-Encoding
    ├── Unauthorized                 401: no write key, or one the collector does not know
    ├── PayloadTooLarge              413: body (or what it inflates to) over the limit
    ├── UnsupportedEncoding          415: a Content-Encoding the collector cannot decode
    ├── RateLimited                  429: the write key is over its event rate (`retry_after`)
    └── Unavailable                  503: try again later (carries `retry_after` seconds)
        ├── QueueFull                503: the producer's local queue is full (backpressure)
        ├── DeliveryFailed           503: Kafka reported a failed delivery
        └── DeliveryTimedOut         503: no delivery report in time; never reported as success

The response body is always JSON: {"error": code, "detail": message}.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of all errors that become an HTTP response."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, object]:
        return {"error": self.code, "detail": self.detail}


class BadRequest(CollectorError, ValueError):
    """The request body is not what the endpoint accepts; retrying it unchanged will not help."""

    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    """The body is not valid JSON (or not valid UTF-8)."""

    code = "invalid_json"


class InvalidShape(BadRequest):
    """The body is JSON, but not a batch of event objects."""

    code = "invalid_shape"


class Unauthorized(CollectorError):
    """No write key was presented, or one the collector does not know; nothing produced."""

    status = 401
    code = "unauthorized"


class InvalidEncoding(BadRequest):
    """The body is not valid (or is truncated) data in its declared Content-Encoding."""

    code = "invalid_encoding"


class PayloadTooLarge(CollectorError):
    """The body, or what it decompresses to, is larger than the limit; nothing produced."""

    status = 413
    code = "payload_too_large"


class UnsupportedEncoding(CollectorError):
    """The body's Content-Encoding is not one the collector decodes (gzip, deflate, zstd)."""

    status = 415
    code = "unsupported_encoding"


class RateLimited(CollectorError):
    """The write key sends more events than its quota; the client should slow down."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(CollectorError):
    """The collector cannot take the events right now; the client should retry later."""

    status = 503
    code = "unavailable"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class QueueFull(Unavailable):
    """librdkafka's local queue is full: Kafka is slower than the incoming load."""

    code = "queue_full"


class DeliveryFailed(Unavailable):
    """Kafka reported at least one event of the request as not delivered."""

    code = "delivery_failed"


class DeliveryTimedOut(Unavailable):
    """No delivery report arrived in time; the events may or may not be in Kafka."""

    code = "delivery_timeout"
