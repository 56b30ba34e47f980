"""trtc-ingest-reconciler: govern TRTC stream-ingest stop tasks from Git manifests."""

__version__ = "0.1.0"
