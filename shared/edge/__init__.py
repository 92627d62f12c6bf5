"""The HTTP edge every request passes, in middleware: request ids, security headers, body
limits, compression, rate limits, the client's address."""
