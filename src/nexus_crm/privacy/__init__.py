"""Privacy (GDPR/CCPA): export, erasure, suppression of erased customers, retention."""
