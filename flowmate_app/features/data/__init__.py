"""Settings → Data: exports, retention, cross-border flows, erasure and deletion."""
