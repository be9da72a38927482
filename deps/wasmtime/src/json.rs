//! JSON checks and JSON Schema validation for the C side (src/json.c).
