"""The gRPC gateway: validated, authenticated, audited predictions in front of Triton."""
