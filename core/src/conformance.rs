//! Store conformance suite (filled in by the storage work).
