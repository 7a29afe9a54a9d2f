//! SAS tokens (owned by the blob/files work; placeholder until it lands).
