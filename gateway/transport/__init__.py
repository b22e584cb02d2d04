"""The gRPC transport: request decoding, the servicer, the error interceptor."""
